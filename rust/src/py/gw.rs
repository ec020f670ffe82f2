//! Entropic GW, the GW loss and the GW gradient for Python. Each cost is a dense matrix or a pair
//! of factors (A, B) with C = A Bᵀ (what `emoalign.LowRankRDM` passes); mixed pairs work.

use super::arrays::{dense, marginal, matrix_out, square, vec_out, view_of, Matrix};
use super::monitor::PyMonitor;
use crate::error::{CoreError, CoreResult};
use crate::gw::footprint::{self, Problem};
use crate::gw::{self, DenseCost, FactoredCost, GwCost, Init, Loss, Options, Scheme, Side};
use crate::memory::Ledger;
use crate::real::{Dense, Real};
use crate::threads::install;
use numpy::ndarray::ArrayView2;
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// A cost argument as Python passed it, not yet copied.
enum Arg<'py, T: Real> {
    Dense(PyReadonlyArray2<'py, T>),
    /// C = A Bᵀ.
    Factored(PyReadonlyArray2<'py, T>, PyReadonlyArray2<'py, T>),
}

/// The array whose dtype decides the computation's: the matrix, or the first factor.
fn dtype_of(obj: &Bound<'_, PyAny>, name: &str) -> CoreResult<&'static str> {
    let first = match obj.cast::<PyTuple>() {
        Ok(t) if t.len() == 2 => t.get_item(0).map_err(|e| CoreError::Type(e.to_string()))?,
        _ => obj.clone(),
    };
    Ok(Matrix::extract(&first, name)?.dtype_name())
}

fn typed<'py, T: Real>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> CoreResult<PyReadonlyArray2<'py, T>> {
    obj.extract::<PyReadonlyArray2<'py, T>>()
        .map_err(|_| match Matrix::extract(obj, name) {
            Ok(m) => CoreError::Type(format!(
                "{name} is {} but the first cost is {}; pass every matrix and factor in one dtype",
                m.dtype_name(),
                T::NAME
            )),
            Err(e) => e,
        })
}

impl<'py, T: Real> Arg<'py, T> {
    fn extract(obj: &Bound<'py, PyAny>, name: &str) -> CoreResult<Self> {
        let Ok(pair) = obj.cast::<PyTuple>() else {
            let c = typed::<T>(obj, name)?;
            square((c.shape()[0], c.shape()[1]), name)?;
            return Ok(Self::Dense(c));
        };
        if pair.len() != 2 {
            return Err(CoreError::Type(format!(
                "{name} must be a matrix or a pair of factors (A, B) with {name} = A @ B.T (as \
                 emoalign.LowRankRDM passes), got a tuple of {} items",
                pair.len()
            )));
        }
        let item = |i| pair.get_item(i).map_err(|e| CoreError::Type(e.to_string()));
        let a = typed::<T>(&item(0)?, &format!("{name}.A"))?;
        let b = typed::<T>(&item(1)?, &format!("{name}.B"))?;
        if a.shape() != b.shape() || a.shape()[0] == 0 || a.shape()[1] == 0 {
            return Err(CoreError::value(format!(
                "{name}'s factors have shapes {:?} and {:?}; they must both be (n, k) with n, k >= \
                 1, so that {name} = A @ B.T is n x n",
                a.shape(),
                b.shape()
            )));
        }
        Ok(Self::Factored(a, b))
    }

    fn points(&self) -> usize {
        match self {
            Self::Dense(c) => c.shape()[0],
            Self::Factored(a, _) => a.shape()[0],
        }
    }

    fn elements(&self) -> u128 {
        match self {
            Self::Dense(c) => c.len() as u128,
            Self::Factored(a, b) => (a.len() + b.len()) as u128,
        }
    }

    /// max |C − Cᵀ| (dense), or max |(C − Cᵀ) v| over a ±1 probe vector v (factors: O(n k)),
    /// and the tolerance under which the cost counts as symmetric: numpy.allclose(C, C.T,
    /// atol=1e-10) per entry as POT decides, summed over a row for the probe.
    fn asymmetry(&self) -> (f64, f64) {
        match self {
            Self::Dense(c) => {
                let v = view_of(c);
                let scale = v.iter().fold(0.0f64, |s, x| s.max(x.f64().abs()));
                (dense_asymmetry(v), 1e-10 + 1e-5 * scale)
            }
            Self::Factored(a, b) => {
                let (a, b) = (view_of(a), view_of(b));
                let n = a.nrows();
                // Fixed pseudo-random signs: no structured C − Cᵀ hides from them.
                let v: Vec<f64> = (0..n)
                    .map(|j| {
                        if (j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 63 == 0 {
                            1.0
                        } else {
                            -1.0
                        }
                    })
                    .collect();
                let apply = |l: &ArrayView2<'_, T>, r: &ArrayView2<'_, T>| -> Vec<f64> {
                    let k = r.ncols();
                    let rv: Vec<f64> = (0..k)
                        .map(|c| (0..n).map(|j| r[[j, c]].f64() * v[j]).sum())
                        .collect();
                    (0..n)
                        .map(|i| (0..k).map(|c| l[[i, c]].f64() * rv[c]).sum())
                        .collect()
                };
                let (cv, ctv) = (apply(&a, &b), apply(&b, &a));
                let gap = cv
                    .iter()
                    .zip(&ctv)
                    .fold(0.0f64, |s, (x, y)| s.max((x - y).abs()));
                let norm = |f: &ArrayView2<'_, T>| {
                    f.rows()
                        .into_iter()
                        .map(|r| r.iter().map(|x| x.f64() * x.f64()).sum::<f64>().sqrt())
                        .fold(0.0f64, f64::max)
                };
                (gap, n as f64 * (1e-10 + 1e-5 * norm(&a) * norm(&b)))
            }
        }
    }

    /// The core's copy, refusing NaN and inf.
    fn copy(&self, name: &str) -> CoreResult<Side<T>> {
        Ok(match self {
            Self::Dense(c) => Side::Dense(dense(view_of(c), name)?),
            Self::Factored(a, b) => Side::Factored {
                a: dense(view_of(a), &format!("{name}.A"))?,
                b: dense(view_of(b), &format!("{name}.B"))?,
            },
        })
    }
}

fn dense_asymmetry<T: Real>(v: ArrayView2<'_, T>) -> f64 {
    let n = v.nrows();
    let mut worst = 0.0f64;
    for i in 0..n {
        for j in (i + 1)..n {
            worst = worst.max((v[[i, j]].f64() - v[[j, i]].f64()).abs());
        }
    }
    worst
}

/// Whether the pair is treated as symmetric: decided as POT does for `None`, checked for `True`.
fn decide_symmetry<T: Real>(
    c1: &Arg<'_, T>,
    c2: &Arg<'_, T>,
    symmetric: Option<bool>,
) -> CoreResult<bool> {
    if symmetric == Some(false) {
        return Ok(false);
    }
    for (name, c) in [("C1", c1), ("C2", c2)] {
        let (gap, tol) = c.asymmetry();
        if gap > tol {
            if symmetric == Some(true) {
                return Err(CoreError::value(format!(
                    "{name} is not symmetric (max |{name} - {name}.T| = {gap:e}) but \
                     symmetric=True; pass symmetric=False (or None) to use the asymmetric gradient"
                )));
            }
            return Ok(false);
        }
    }
    Ok(true)
}

fn check_kl<T: Real>(c: &Arg<'_, T>, name: &str) -> CoreResult<()> {
    match c {
        Arg::Factored(..) => Err(CoreError::value(format!(
            "loss_fun='kl_loss' needs {name} as a dense matrix: its log has no low-rank factors; \
             pass {name}.to_dense() or use loss_fun='square_loss', which factored costs solve \
             exactly"
        ))),
        Arg::Dense(c) if view_of(c).iter().any(|v| v.f64() < 0.0) => {
            Err(CoreError::value(format!(
                "{name} has negative entries, but loss_fun='kl_loss' needs non-negative costs; \
                 shift the costs or use loss_fun='square_loss'"
            )))
        }
        Arg::Dense(_) => Ok(()),
    }
}

const FIX: &str = "use float32 costs, factored costs (emoalign.rdm_factors), or fewer points";

/// The pair of costs, checked, with its symmetry decided and its memory: what the core will copy
/// and, for a dense float64 pair, the float32 copy that increments would make.
struct Pair<'py, T: Real> {
    c1: Arg<'py, T>,
    c2: Arg<'py, T>,
    loss: Loss,
    symmetric: bool,
}

impl<'py, T: Real> Pair<'py, T> {
    /// Refuses, before the O(n²) checks of the values, a problem whose copies and three n × m
    /// matrices (what any solve or evaluation needs at least) cannot fit `max_memory`.
    fn new(
        c1: &Bound<'py, PyAny>,
        c2: &Bound<'py, PyAny>,
        loss: Loss,
        symmetric: Option<bool>,
        max_memory: Option<u64>,
        what: &str,
    ) -> CoreResult<Self> {
        let (c1, c2) = (Arg::extract(c1, "C1")?, Arg::extract(c2, "C2")?);
        let elem = std::mem::size_of::<T>() as u128;
        let nm = (c1.points() as u128) * (c2.points() as u128);
        let mut least = Ledger::new(max_memory);
        least.need("cost data", (c1.elements() + c2.elements()) * elem);
        least.need("three n x m matrices", 3 * nm * elem);
        least.check(what, FIX)?;
        if loss == Loss::Kl {
            check_kl(&c1, "C1")?;
            check_kl(&c2, "C2")?;
        }
        let symmetric = decide_symmetry(&c1, &c2, symmetric)?;
        Ok(Self {
            c1,
            c2,
            loss,
            symmetric,
        })
    }

    fn shape(&self) -> (usize, usize) {
        (self.c1.points(), self.c2.points())
    }

    fn all_dense(&self) -> bool {
        matches!((&self.c1, &self.c2), (Arg::Dense(_), Arg::Dense(_)))
    }

    /// Elements the cost keeps: the copies, and for a dense pair its transposes (asymmetric) and
    /// h2(C2) (kl_loss).
    fn cost_elements(&self) -> u128 {
        let own = self.c1.elements() + self.c2.elements();
        if !self.all_dense() {
            return own;
        }
        let pairs = if self.symmetric { 1 } else { 2 };
        let m2 = (self.c2.points() as u128).pow(2);
        pairs * own + if self.loss == Loss::Kl { pairs * m2 } else { 0 }
    }

    fn problem(&self, accelerate: bool) -> Problem {
        let (n, m) = self.shape();
        let elements = self.cost_elements();
        Problem {
            n,
            m,
            elem: std::mem::size_of::<T>(),
            cost_bytes: elements * std::mem::size_of::<T>() as u128,
            // Only a dense float64 pair offers float32 increments (see DenseCost::single).
            single_cost_bytes: (self.all_dense() && T::EPS < f64::from(f32::EPSILON))
                .then_some(elements * 4),
            accelerate,
        }
    }

    /// Copies (checking for NaN and inf) and builds the cost for marginals p, q.
    fn copies(&self) -> CoreResult<(Side<T>, Side<T>)> {
        Ok((self.c1.copy("C1")?, self.c2.copy("C2")?))
    }
}

fn build_cost<T: Real>(
    sides: (Side<T>, Side<T>),
    p: &[f64],
    q: &[f64],
    loss: Loss,
    symmetric: bool,
) -> Box<dyn GwCost<T> + Send> {
    match sides {
        (Side::Dense(c1), Side::Dense(c2)) => {
            Box::new(DenseCost::new(c1, c2, p, q, loss, symmetric))
        }
        (s1, s2) => Box::new(FactoredCost::new(s1, s2, p, q, symmetric)),
    }
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

/// The inputs of `entropic_gw` other than the costs, parsed.
struct Request<'a, 'py> {
    p: Option<&'a Bound<'py, PyAny>>,
    q: Option<&'a Bound<'py, PyAny>>,
    loss: Loss,
    symmetric: Option<bool>,
    g0: Option<&'a Bound<'py, PyAny>>,
    potentials: Option<&'a Bound<'py, PyAny>>,
    opts: Options,
    max_memory: Option<u64>,
    callback: Option<Py<PyAny>>,
    callback_value: bool,
}

fn solve_typed<'py, T: Real>(
    py: Python<'py>,
    c1: &Bound<'py, PyAny>,
    c2: &Bound<'py, PyAny>,
    req: Request<'_, 'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let pair = Pair::<T>::new(
        c1,
        c2,
        req.loss,
        req.symmetric,
        req.max_memory,
        "entropic GW",
    )?;
    let (n, m) = pair.shape();
    let (p, q) = (marginal(req.p, n, "p")?, marginal(req.q, m, "q")?);
    let mut opts = req.opts;
    let accelerate = opts.accelerate && opts.scheme == Scheme::Pgd;
    opts.footprint = footprint::plan(&pair.problem(accelerate), &mut Ledger::new(req.max_memory))?;
    let sides = pair.copies()?;
    let init = Init {
        plan: plan_init::<T>(req.g0, n, m)?,
        potentials: potentials_init(req.potentials, n, m)?,
    };
    let (loss, symmetric, peak) = (pair.loss, pair.symmetric, opts.footprint.peak);
    let mut monitor = PyMonitor::with_value(req.callback, req.callback_value);
    let outcome = py.detach(|| -> CoreResult<_> {
        let cost = install(|| build_cost(sides, &p, &q, loss, symmetric));
        gw::solve(cost.as_ref(), &p, &q, &opts, init, &mut monitor)
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
    d.set_item("peak_bytes", peak)?;
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

/// Entropic GW between two costs (dense matrices or factor pairs); returns a dict (plan,
/// gw_dist, potentials, diagnostics, peak_bytes).
#[pyfunction]
#[pyo3(signature = (C1, C2, p=None, q=None, loss_fun="square_loss", epsilon=0.1, symmetric=None, G0=None,
                    potentials=None, max_iter=1000, tol=1e-9, solver="PGD", inner_max_iter=1000,
                    inner_tol=1e-9, relative_tol=true, accelerate=false, callback=None, callback_value=false,
                    max_memory=None))]
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
    callback_value: bool,
    max_memory: Option<i64>,
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
    let max_memory = memory_limit(max_memory)?;
    let req = Request {
        p,
        q,
        loss,
        symmetric,
        g0: G0,
        potentials,
        opts: Options {
            epsilon,
            scheme,
            max_iter: max_iter as usize,
            tol,
            inner_max_iter: inner_max_iter as usize,
            inner_tol,
            relative_tol,
            accelerate,
            footprint: gw::Footprint::default(),
        },
        max_memory,
        callback,
        callback_value,
    };
    match dtype_of(C1, "C1")? {
        "float64" => solve_typed::<f64>(py, C1, C2, req),
        _ => solve_typed::<f32>(py, C1, C2, req),
    }
}

fn memory_limit(max_memory: Option<i64>) -> CoreResult<Option<u64>> {
    match max_memory {
        Some(b) if b <= 0 => Err(CoreError::value(format!(
            "max_memory must be a positive number of bytes, got {b}; e.g. 6 * 2**30 for 6 GiB"
        ))),
        b => Ok(b.map(|b| b as u64)),
    }
}

/// X at plan T (constant parts at T's own marginals), handed to `finish` for the loss or the
/// gradient; returns its result and the plan's shape.
fn at_plan<T: Real, R: Send>(
    py: Python<'_>,
    c1: &Bound<'_, PyAny>,
    c2: &Bound<'_, PyAny>,
    t: &Bound<'_, PyAny>,
    loss: Loss,
    what: &str,
    finish: impl FnOnce(&dyn GwCost<T>, &Dense<T>, Vec<T>) -> CoreResult<R> + Send,
) -> CoreResult<(R, (usize, usize))> {
    let pair = Pair::<T>::new(c1, c2, loss, None, None, what)?;
    let (n, m) = pair.shape();
    let t = typed::<T>(t, "T")?;
    if (t.shape()[0], t.shape()[1]) != (n, m) {
        return Err(CoreError::value(format!(
            "T has shape ({}, {}) but C1 and C2 give ({n}, {m}); pass the plan between them",
            t.shape()[0],
            t.shape()[1]
        )));
    }
    let mut ledger = Ledger::new(None);
    let elem = std::mem::size_of::<T>() as u128;
    ledger.need("cost data", pair.cost_elements() * elem);
    ledger.need(
        "plan copy, scratch and X",
        3 * (n as u128) * (m as u128) * elem,
    );
    ledger.check(what, FIX)?;
    let t = dense(view_of(&t), "T")?;
    if t.data.iter().any(|v| v.f64() < 0.0) {
        return Err(CoreError::value(
            "T has negative entries; pass a transport plan",
        ));
    }
    let sides = pair.copies()?;
    let symmetric = pair.symmetric;
    py.detach(|| {
        install(|| {
            // The constant part at the plan's own marginals: exact for any non-negative T.
            let (p, q) = gw::solver::plan_marginals(&t.data, n, m);
            let cost = build_cost(sides, &p, &q, loss, symmetric);
            let mut scratch = crate::memory::zeros::<T>(n * m, "scratch")?;
            let mut x = crate::memory::zeros::<T>(n * m, "X")?;
            cost.cross(&t.data, &mut scratch, &mut x);
            drop(scratch);
            finish(cost.as_ref(), &t, x)
        })
    })
    .map(|r| (r, (n, m)))
}

fn dispatch<R>(
    c1: &Bound<'_, PyAny>,
    f64_case: impl FnOnce() -> CoreResult<R>,
    f32_case: impl FnOnce() -> CoreResult<R>,
) -> CoreResult<R> {
    match dtype_of(c1, "C1")? {
        "float64" => f64_case(),
        _ => f32_case(),
    }
}

fn loss_typed<T: Real>(
    py: Python<'_>,
    c1: &Bound<'_, PyAny>,
    c2: &Bound<'_, PyAny>,
    t: &Bound<'_, PyAny>,
    loss: Loss,
) -> CoreResult<f64> {
    let (value, _) = at_plan::<T, f64>(py, c1, c2, t, loss, "the GW loss", |cost, t, x| {
        Ok(gw::solver::gw_loss(cost, &t.data, &x))
    })?;
    Ok(value)
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
    Ok(dispatch(
        C1,
        || loss_typed::<f64>(py, C1, C2, T, loss),
        || loss_typed::<f32>(py, C1, C2, T, loss),
    )?)
}

fn gradient_typed<'py, T: Real>(
    py: Python<'py>,
    c1: &Bound<'py, PyAny>,
    c2: &Bound<'py, PyAny>,
    t: &Bound<'py, PyAny>,
    loss: Loss,
) -> CoreResult<Bound<'py, PyAny>> {
    let (data, (n, m)) =
        at_plan::<T, Vec<T>>(py, c1, c2, t, loss, "the GW gradient", |cost, t, mut x| {
            let (alpha, beta, s) = (cost.alpha(), cost.beta(), cost.scale());
            for (row, &a) in x.chunks_mut(t.cols).zip(alpha) {
                for (xij, &b) in row.iter_mut().zip(beta) {
                    *xij = T::of(s * (a + b - xij.f64()));
                }
            }
            Ok(x)
        })?;
    Ok(matrix_out(py, Dense::from_vec(data, n, m))?.into_any())
}

/// The GW gradient M(T) = s (α ⊕ β − X) at plan T, with α, β at T's own marginals.
#[pyfunction]
#[pyo3(signature = (C1, C2, T, loss_fun = "square_loss"))]
#[allow(non_snake_case)]
fn gw_gradient<'py>(
    py: Python<'py>,
    C1: &Bound<'py, PyAny>,
    C2: &Bound<'py, PyAny>,
    T: &Bound<'py, PyAny>,
    loss_fun: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let loss = Loss::parse(loss_fun)?;
    Ok(dispatch(
        C1,
        || gradient_typed::<f64>(py, C1, C2, T, loss),
        || gradient_typed::<f32>(py, C1, C2, T, loss),
    )?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(entropic_gw, m)?)?;
    m.add_function(wrap_pyfunction!(gw_value, m)?)?;
    m.add_function(wrap_pyfunction!(gw_gradient, m)?)?;
    Ok(())
}
