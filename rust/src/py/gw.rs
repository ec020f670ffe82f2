//! Entropic Gromov-Wasserstein and the GW loss for Python.

use super::arrays::{dense, marginal, matrix_out, square, vec_out, view_of, Matrix};
use super::monitor::PyMonitor;
use crate::error::{CoreError, CoreResult};
use crate::gw::{self, DenseCost, GwCost, Init, Loss, Options, Scheme};
use crate::memory;
use crate::real::{Dense, Real};
use crate::threads::install;
use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Whether a cost matrix is symmetric to numpy.allclose(C, C.T, atol=1e-10)'s tolerance, as POT
/// decides `symmetric=None`.
fn is_symmetric<T: Real>(c: &Dense<T>) -> bool {
    let scale = c.data.iter().fold(0.0f64, |m, v| m.max(v.f64().abs()));
    c.asymmetry() <= 1e-10 + 1e-5 * scale
}

fn check_kl<T: Real>(c: &Dense<T>, name: &str) -> CoreResult<()> {
    if c.data.iter().any(|v| v.f64() < 0.0) {
        return Err(CoreError::value(format!(
            "{name} has negative entries, but loss_fun='kl_loss' needs non-negative costs; shift \
             the costs or use loss_fun='square_loss'"
        )));
    }
    Ok(())
}

/// The dense cost for a pair of matrices, with symmetry decided or checked.
fn build_cost<T: Real>(
    c1: Dense<T>,
    c2: Dense<T>,
    p: &[f64],
    q: &[f64],
    loss: Loss,
    symmetric: Option<bool>,
) -> CoreResult<DenseCost<T>> {
    if loss == Loss::Kl {
        check_kl(&c1, "C1")?;
        check_kl(&c2, "C2")?;
    }
    let (s1, s2) = (is_symmetric(&c1), is_symmetric(&c2));
    let symmetric = match symmetric {
        None => s1 && s2,
        Some(true) if !(s1 && s2) => {
            let (name, c) = if s1 { ("C2", &c2) } else { ("C1", &c1) };
            return Err(CoreError::value(format!(
                "{name} is not symmetric (max |{name} - {name}.T| = {:e}) but symmetric=True; pass \
                 symmetric=False (or None) to use the asymmetric gradient",
                c.asymmetry()
            )));
        }
        Some(s) => s,
    };
    Ok(DenseCost::new(c1, c2, p, q, loss, symmetric))
}

fn check_budget<T: Real>(n: usize, m: usize) -> CoreResult<()> {
    // Three n×m work matrices, the cost matrices' copies and their transposes for asymmetric costs.
    let (n, m) = (n as u128, m as u128);
    memory::ensure_fits(
        3 * n * m + 2 * (n * n + m * m),
        std::mem::size_of::<T>(),
        "entropic GW",
        "use float32 cost matrices or fewer points",
    )
}

fn plan_init<T: Real>(
    g0: Option<&Bound<'_, PyAny>>,
    n: usize,
    m: usize,
) -> CoreResult<Option<Dense<T>>> {
    let Some(g0) = g0 else { return Ok(None) };
    let arr = g0.extract::<PyReadonlyArray2<'_, T>>().map_err(|_| {
        CoreError::Type(format!(
            "G0 must be a 2-D {} array like the cost matrices",
            T::NAME
        ))
    })?;
    let g = dense(view_of(&arr), "G0")?;
    if (g.rows, g.cols) != (n, m) {
        return Err(CoreError::value(format!(
            "G0 has shape ({}, {}) but the problem is ({n}, {m}); pass an n x m plan",
            g.rows, g.cols
        )));
    }
    if g.data.iter().any(|v| v.f64() < 0.0) || g.data.iter().all(|v| v.f64() == 0.0) {
        return Err(CoreError::value(
            "G0 must be non-negative with positive mass; pass a transport plan",
        ));
    }
    Ok(Some(g))
}

fn potentials_init(
    obj: Option<&Bound<'_, PyAny>>,
    n: usize,
    m: usize,
) -> CoreResult<Option<(Vec<f64>, Vec<f64>)>> {
    let Some(obj) = obj else { return Ok(None) };
    let (f, g): (PyReadonlyArray1<'_, f64>, PyReadonlyArray1<'_, f64>) = obj.extract().map_err(|_| {
        CoreError::Type("potentials must be a pair (f, g) of 1-D float64 arrays, as returned in a previous result".into())
    })?;
    let (f, g) = (f.as_array().to_vec(), g.as_array().to_vec());
    if f.len() != n || g.len() != m || f.iter().chain(&g).any(|v| !v.is_finite()) {
        return Err(CoreError::value(format!(
            "potentials must be finite with lengths ({n}, {m}); got lengths ({}, {})",
            f.len(),
            g.len()
        )));
    }
    Ok(Some((f, g)))
}

#[allow(clippy::too_many_arguments)]
fn solve_typed<'py, T: Real>(
    py: Python<'py>,
    c1: &PyReadonlyArray2<'py, T>,
    c2: &PyReadonlyArray2<'py, T>,
    p: Vec<f64>,
    q: Vec<f64>,
    loss: Loss,
    symmetric: Option<bool>,
    g0: Option<&Bound<'py, PyAny>>,
    potentials: Option<&Bound<'py, PyAny>>,
    opts: Options,
    callback: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let (n, m) = (p.len(), q.len());
    check_budget::<T>(n, m)?;
    let (c1, c2) = (dense(view_of(c1), "C1")?, dense(view_of(c2), "C2")?);
    let init = Init {
        plan: plan_init::<T>(g0, n, m)?,
        potentials: potentials_init(potentials, n, m)?,
    };
    let mut monitor = PyMonitor::new(callback);
    let outcome = py.detach(|| -> CoreResult<_> {
        let cost = install(|| build_cost(c1, c2, &p, &q, loss, symmetric))?;
        gw::solve(&cost, &p, &q, &opts, init, &mut monitor)
    })?;
    let d = PyDict::new(py);
    d.set_item("plan", matrix_out(py, outcome.plan)?)?;
    d.set_item("gw_dist", outcome.gw_dist)?;
    d.set_item("n_iter", outcome.n_iter)?;
    d.set_item("n_inner_iter", outcome.n_inner_iter)?;
    d.set_item("marginal_error", outcome.marginal_error)?;
    d.set_item("relative_change", outcome.relative_change)?;
    d.set_item("converged", outcome.converged)?;
    d.set_item("history", outcome.history)?;
    d.set_item("f", vec_out(py, outcome.f))?;
    d.set_item("g", vec_out(py, outcome.g))?;
    Ok(d)
}

fn positive(x: f64, name: &str, fix: &str) -> CoreResult<f64> {
    if !(x.is_finite() && x > 0.0) {
        return Err(CoreError::value(format!(
            "{name} must be a positive finite number, got {x}; {fix}"
        )));
    }
    Ok(x)
}

/// Entropic GW between two cost matrices; returns a dict (plan, gw_dist, potentials, diagnostics).
#[pyfunction]
#[pyo3(signature = (C1, C2, p=None, q=None, loss_fun="square_loss", epsilon=0.1, symmetric=None, G0=None,
                    potentials=None, max_iter=1000, tol=1e-9, solver="PGD", inner_max_iter=1000,
                    inner_tol=1e-9, relative_tol=true, accelerate=false, callback=None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn entropic_gw<'py>(
    py: Python<'py>,
    C1: &Bound<'py, PyAny>,
    C2: &Bound<'py, PyAny>,
    p: Option<&Bound<'py, PyAny>>,
    q: Option<&Bound<'py, PyAny>>,
    loss_fun: &str,
    epsilon: f64,
    symmetric: Option<bool>,
    G0: Option<&Bound<'py, PyAny>>,
    potentials: Option<&Bound<'py, PyAny>>,
    max_iter: i64,
    tol: f64,
    solver: &str,
    inner_max_iter: i64,
    inner_tol: f64,
    relative_tol: bool,
    accelerate: bool,
    callback: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let loss = Loss::parse(loss_fun)?;
    let scheme = Scheme::parse(solver)?;
    positive(
        epsilon,
        "epsilon",
        "GWOT studies search epsilon over about 1e-4 to 1e-1",
    )?;
    if max_iter < 1 || inner_max_iter < 1 {
        return Err(CoreError::value("max_iter and inner_max_iter must be at least 1").into());
    }
    if !(tol.is_finite() && tol >= 0.0) {
        return Err(
            CoreError::value(format!("tol must be a non-negative number, got {tol}")).into(),
        );
    }
    positive(inner_tol, "inner_tol", "use e.g. 1e-9")?;
    let (a, b) = (Matrix::extract(C1, "C1")?, Matrix::extract(C2, "C2")?);
    let n = square(a.shape(), "C1")?;
    let m = square(b.shape(), "C2")?;
    let (p, q) = (marginal(p, n, "p")?, marginal(q, m, "q")?);
    let opts = Options {
        epsilon,
        scheme,
        max_iter: max_iter as usize,
        tol,
        inner_max_iter: inner_max_iter as usize,
        inner_tol,
        relative_tol,
        accelerate,
    };
    match (a, b) {
        (Matrix::F64(a), Matrix::F64(b)) => solve_typed(
            py, &a, &b, p, q, loss, symmetric, G0, potentials, opts, callback,
        ),
        (Matrix::F32(a), Matrix::F32(b)) => solve_typed(
            py, &a, &b, p, q, loss, symmetric, G0, potentials, opts, callback,
        ),
        (a, b) => Err(CoreError::Type(format!(
            "C1 is {} but C2 is {}; pass both in the same dtype",
            a.dtype_name(),
            b.dtype_name()
        ))
        .into()),
    }
}

fn loss_typed<T: Real>(
    py: Python<'_>,
    c1: &PyReadonlyArray2<'_, T>,
    c2: &PyReadonlyArray2<'_, T>,
    t: &PyReadonlyArray2<'_, T>,
    loss: Loss,
) -> PyResult<f64> {
    let (c1, c2, t) = (
        dense(view_of(c1), "C1")?,
        dense(view_of(c2), "C2")?,
        dense(view_of(t), "T")?,
    );
    if (t.rows, t.cols) != (c1.rows, c2.rows) {
        return Err(CoreError::value(format!(
            "T has shape ({}, {}) but C1 and C2 give ({}, {}); pass the plan between them",
            t.rows, t.cols, c1.rows, c2.rows
        ))
        .into());
    }
    if t.data.iter().any(|v| v.f64() < 0.0) {
        return Err(CoreError::value("T has negative entries; pass a transport plan").into());
    }
    check_budget::<T>(t.rows, t.cols)?;
    Ok(py.detach(|| -> CoreResult<f64> {
        install(|| {
            // gw_loss takes the constant part at the plan's own marginals; these are the same.
            let (p, q) = gw::solver::plan_marginals(&t.data, t.rows, t.cols);
            let cost = build_cost(c1, c2, &p, &q, loss, None)?;
            let (n, m) = cost.shape();
            let mut scratch = memory::zeros::<T>(n * m, "scratch")?;
            let mut x = memory::zeros::<T>(n * m, "the gradient")?;
            cost.cross(&t.data, &mut scratch, &mut x);
            Ok(gw::solver::gw_loss(&cost, &t.data, &x))
        })
    })?)
}

/// The GW loss of plan T between C1 and C2 (no entropy term).
#[pyfunction]
#[pyo3(signature = (C1, C2, T, loss_fun = "square_loss"))]
#[allow(non_snake_case)]
fn gw_value(
    py: Python<'_>,
    C1: &Bound<'_, PyAny>,
    C2: &Bound<'_, PyAny>,
    T: &Bound<'_, PyAny>,
    loss_fun: &str,
) -> PyResult<f64> {
    let loss = Loss::parse(loss_fun)?;
    let (a, b, t) = (
        Matrix::extract(C1, "C1")?,
        Matrix::extract(C2, "C2")?,
        Matrix::extract(T, "T")?,
    );
    square(a.shape(), "C1")?;
    square(b.shape(), "C2")?;
    match (a, b, t) {
        (Matrix::F64(a), Matrix::F64(b), Matrix::F64(t)) => loss_typed(py, &a, &b, &t, loss),
        (Matrix::F32(a), Matrix::F32(b), Matrix::F32(t)) => loss_typed(py, &a, &b, &t, loss),
        _ => Err(
            CoreError::Type("C1, C2 and T must share one dtype (float32 or float64)".into()).into(),
        ),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(entropic_gw, m)?)?;
    m.add_function(wrap_pyfunction!(gw_value, m)?)?;
    Ok(())
}
