//! Low-rank GW for Python: the mirror-descent loop runs here with the GIL released; argument
//! checking and the k-means start stay in `emoalign.lowrank`.

use super::arrays::{dense, matrix_out, vec_out};
use super::monitor::PyMonitor;
use crate::error::{CoreError, CoreResult};
use crate::gw::lowrank::{self, Factors, Options, Problem};
use crate::memory;
use crate::real::Dense;
use crate::threads::install;
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Mirror descent of low-rank GW from (Q0, R0, g0); returns a dict of the solution and its
/// diagnostics. Inputs are validated by `emoalign.lowrank.lowrank_gw`.
#[pyfunction]
#[pyo3(signature = (A1, B1, A2, B2, p, q, Q0, R0, g0, gamma, max_iter, tol, inner_max_iter,
                    inner_tol, min_g, callback=None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn lowrank_gw_solve<'py>(
    py: Python<'py>,
    A1: PyReadonlyArray2<'py, f64>,
    B1: PyReadonlyArray2<'py, f64>,
    A2: PyReadonlyArray2<'py, f64>,
    B2: PyReadonlyArray2<'py, f64>,
    p: PyReadonlyArray1<'py, f64>,
    q: PyReadonlyArray1<'py, f64>,
    Q0: PyReadonlyArray2<'py, f64>,
    R0: PyReadonlyArray2<'py, f64>,
    g0: PyReadonlyArray1<'py, f64>,
    gamma: f64,
    max_iter: usize,
    tol: f64,
    inner_max_iter: usize,
    inner_tol: f64,
    min_g: f64,
    callback: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let (n, m, r) = (A1.shape()[0], A2.shape()[0], g0.len());
    let (k1, k2) = (A1.shape()[1], A2.shape()[1]);
    if B1.shape() != A1.shape() || B2.shape() != A2.shape() {
        return Err(
            CoreError::value("each cost's factors A and B must have the same shape").into(),
        );
    }
    if p.len() != n || q.len() != m || Q0.shape() != [n, r] || R0.shape() != [m, r] {
        return Err(
            CoreError::value("marginals and starting factors do not match the costs").into(),
        );
    }
    // Q, R, their kernels (log and exp), gradients, a trial and its rounding on each side, and
    // the factors side by side.
    memory::ensure_fits(
        12 * ((n + m) as u128) * (r as u128) + 2 * ((n * k1 + m * k2) as u128),
        std::mem::size_of::<f64>(),
        "low-rank GW",
        "lower the rank",
    )?;
    let a1 = dense(A1.as_array(), "C1's A")?.data;
    let b1 = dense(B1.as_array(), "C1's B")?.data;
    let a2 = dense(A2.as_array(), "C2's A")?.data;
    let b2 = dense(B2.as_array(), "C2's B")?.data;
    let q0 = dense(Q0.as_array(), "Q0")?.data;
    let r0 = dense(R0.as_array(), "R0")?.data;
    let (pv, qv, gv) = (
        p.as_array().to_vec(),
        q.as_array().to_vec(),
        g0.as_array().to_vec(),
    );
    let opts = Options {
        gamma,
        max_iter,
        tol,
        inner_max_iter,
        inner_tol,
        min_g,
    };
    let mut monitor = PyMonitor::new(callback);
    let out = py.detach(|| -> CoreResult<_> {
        install(|| {
            let f1 = Factors {
                a: &a1,
                b: &b1,
                rows: n,
                k: k1,
            };
            let f2 = Factors {
                a: &a2,
                b: &b2,
                rows: m,
                k: k2,
            };
            let prob = Problem::new(&f1, &f2, pv, qv);
            let constant = prob.constant;
            lowrank::solve(&prob, q0, r0, gv, &opts, &mut monitor).map(|o| (o, constant))
        })
    })?;
    let (o, constant) = out;
    let d = PyDict::new(py);
    d.set_item("Q", matrix_out(py, Dense::from_vec(o.q, n, r))?)?;
    d.set_item("R", matrix_out(py, Dense::from_vec(o.r, m, r))?)?;
    d.set_item("g", vec_out(py, o.g))?;
    d.set_item("gw_dist", o.value)?;
    d.set_item("converged", o.converged)?;
    d.set_item("n_iter", o.n_iter)?;
    d.set_item("n_inner_iter", o.n_inner_iter)?;
    d.set_item("history", o.history)?;
    d.set_item("capped", o.capped)?;
    d.set_item("worst_capped", o.worst_capped)?;
    d.set_item("constant", constant)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lowrank_gw_solve, m)?)?;
    Ok(())
}
