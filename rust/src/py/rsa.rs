//! RSA between two upper triangles for Python (the Python layer extracts them from RDMs).

use super::arrays::contiguous;
use super::monitor::PyMonitor;
use crate::bootstrap::{self, Draws};
use crate::error::CoreError;
use crate::rsa::{self, items_for_pairs, Method};
use numpy::{PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

/// The upper triangle (pairs i < j, scipy's condensed order) of a square RDM, checking in the
/// same parallel pass that it is symmetric to numpy.allclose(D, D.T, rtol=1e-7, atol=1e-12).
#[pyfunction]
#[pyo3(signature = (D, name))]
#[allow(non_snake_case)]
fn upper_triangle(
    py: Python<'_>,
    D: PyReadonlyArray2<'_, f64>,
    name: &str,
) -> PyResult<Py<numpy::PyArray1<f64>>> {
    let d = D.as_array();
    let (n, m) = d.dim();
    if n != m {
        return Err(CoreError::value(format!(
            "{name} must be a square RDM or a condensed vector, got shape ({n}, {m})"
        ))
        .into());
    }
    let mut flat = vec![0.0; n * n.saturating_sub(1) / 2];
    // Each row's pairs go straight to their place in the condensed vector.
    let mut rows = Vec::with_capacity(n);
    let mut rest = &mut flat[..];
    for i in 0..n {
        let (row, tail) = std::mem::take(&mut rest).split_at_mut(n - i - 1);
        rows.push(row);
        rest = tail;
    }
    let asymmetric = py.detach(|| {
        crate::threads::install(|| {
            rows.into_par_iter()
                .enumerate()
                .filter_map(|(i, out)| {
                    let (upper, lower) = (d.row(i), d.column(i));
                    for (k, o) in out.iter_mut().enumerate() {
                        let (a, b) = (upper[i + 1 + k], lower[i + 1 + k]);
                        if !((a - b).abs() <= 1e-12 + 1e-7 * b.abs() || (a.is_nan() && b.is_nan()))
                        {
                            return Some((i, i + 1 + k));
                        }
                        *o = a;
                    }
                    None
                })
                .min()
        })
    });
    if let Some((i, j)) = asymmetric {
        return Err(CoreError::value(format!(
            "{name} is not symmetric ({name}[{i}, {j}] != {name}[{j}, {i}]); RSA compares \
             dissimilarities, so symmetrise it ((D + D.T) / 2) or pass the condensed upper triangle"
        ))
        .into());
    }
    Ok(numpy::PyArray1::from_vec(py, flat).unbind())
}

/// Correlation of two condensed RDMs (upper triangles in scipy's order), with an optional Mantel
/// permutation p-value.
#[pyfunction]
#[pyo3(signature = (x, y, method = "spearman", permutations = 0, seed = None))]
fn rsa_condensed<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    method: &str,
    permutations: i64,
    seed: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let method = Method::parse(method)?;
    if permutations < 0 {
        return Err(CoreError::value(format!(
            "permutations must be 0 or more, got {permutations}"
        ))
        .into());
    }
    let (x, y) = (contiguous(&x), contiguous(&y));
    if x.len() != y.len() {
        return Err(CoreError::value(format!(
            "D1 has {} pairs but D2 has {}; the RDMs must cover the same items",
            x.len(),
            y.len()
        ))
        .into());
    }
    let n = items_for_pairs(x.len()).ok_or_else(|| {
        CoreError::value(format!(
            "{} is not the pair count of any RDM (n(n-1)/2)",
            x.len()
        ))
    })?;
    if x.len() > u32::MAX as usize {
        return Err(CoreError::Memory("more than 2^32 pairs; subsample the items".into()).into());
    }
    let seed = seed.unwrap_or_else(|| {
        use rand::{rngs::OsRng, TryRngCore};
        OsRng.try_next_u64().unwrap_or(0x5eed)
    });
    let mut monitor = PyMonitor::new(None);
    let res = py.detach(|| {
        first_non_finite("D1", &x)?;
        first_non_finite("D2", &y)?;
        rsa::rsa(&x, &y, n, method, permutations as usize, seed, &mut monitor)
    })?;
    let d = PyDict::new(py);
    d.set_item("r", res.r)?;
    d.set_item("p_value", res.p_value)?;
    d.set_item("n_pairs", res.n_pairs)?;
    d.set_item("null", numpy::PyArray1::from_vec(py, res.null))?;
    Ok(d)
}

fn first_non_finite(name: &str, v: &[f64]) -> Result<(), CoreError> {
    match crate::threads::install(|| v.par_iter().position_first(|a| !a.is_finite())) {
        Some(k) => Err(CoreError::value(format!(
            "{name} contains NaN or inf (pair {k} of the upper triangle); remove or impute it"
        ))),
        None => Ok(()),
    }
}

/// Bootstrap over items of the correlation between a reference condensed RDM `x` and each row
/// of `ys` (candidates × pairs): an `n_boot × candidates` array. Samples are drawn from `seed`,
/// or given as `samples` (`n_boot × n` item indices).
#[pyfunction]
#[pyo3(signature = (x, ys, method = "spearman", n_boot = 1000, seed = 0, samples = None))]
fn rsa_bootstrap<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    ys: PyReadonlyArray2<'py, f64>,
    method: &str,
    n_boot: i64,
    seed: u64,
    samples: Option<PyReadonlyArray2<'py, i64>>,
) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
    let method = Method::parse(method)?;
    let x = contiguous(&x);
    let n = items_for_pairs(x.len()).ok_or_else(|| {
        CoreError::value(format!(
            "{} is not the pair count of any RDM (n(n-1)/2)",
            x.len()
        ))
    })?;
    if x.len() > u32::MAX as usize {
        return Err(CoreError::Memory("more than 2^32 pairs; subsample the items".into()).into());
    }
    first_non_finite("the reference", &x)?;
    let ys: Vec<Vec<f64>> = ys.as_array().outer_iter().map(|r| r.to_vec()).collect();
    for (k, y) in ys.iter().enumerate() {
        first_non_finite(&format!("candidate {k}"), y)?;
    }
    let given: Option<Vec<u32>> = match samples {
        None => None,
        Some(s) => {
            let s = s.as_array();
            if s.ncols() != n {
                return Err(CoreError::value(format!(
                    "samples must have one column per item ({n}), got shape {:?}",
                    s.shape()
                ))
                .into());
            }
            Some(
                s.iter()
                    .map(|&i| {
                        u32::try_from(i)
                            .ok()
                            .filter(|&i| (i as usize) < n)
                            .ok_or_else(|| {
                                CoreError::value(format!(
                                    "sample index {i} is out of range for {n} items"
                                ))
                            })
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    };
    let draws = match &given {
        Some(all) => Draws::Given(all),
        None if n_boot >= 0 => Draws::Seeded {
            n_boot: n_boot as usize,
            seed,
        },
        None => {
            return Err(CoreError::value(format!("n_boot must be 0 or more, got {n_boot}")).into())
        }
    };
    let rows = match &draws {
        Draws::Given(all) => all.len() / n,
        Draws::Seeded { n_boot, .. } => *n_boot,
    };
    let mut monitor = PyMonitor::new(None);
    let out = py.detach(|| bootstrap::bootstrap(&x, &ys, n, method, draws, &mut monitor))?;
    numpy::PyArray1::from_vec(py, out).reshape([rows, ys.len()])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rsa_bootstrap, m)?)?;
    m.add_function(wrap_pyfunction!(rsa_condensed, m)?)?;
    m.add_function(wrap_pyfunction!(upper_triangle, m)?)?;
    Ok(())
}
