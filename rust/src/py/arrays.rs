//! numpy arrays in, core matrices out: any strides, f32 or f64, refused clearly when unusable.

use crate::error::{CoreError, CoreResult};
use crate::real::{Dense, Real};
use numpy::ndarray::{ArrayView1, ArrayView2};
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::borrow::Cow;

/// A 2-D float array as numpy gave it, without copying.
pub enum Matrix<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

impl<'py> Matrix<'py> {
    pub fn extract(obj: &Bound<'py, PyAny>, name: &str) -> CoreResult<Self> {
        if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, f64>>() {
            return Ok(Self::F64(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, f32>>() {
            return Ok(Self::F32(a));
        }
        Err(describe_mismatch(obj, name, 2))
    }

    pub fn shape(&self) -> (usize, usize) {
        let s = match self {
            Self::F32(a) => a.shape(),
            Self::F64(a) => a.shape(),
        };
        (s[0], s[1])
    }

    pub fn dtype_name(&self) -> &'static str {
        match self {
            Self::F32(_) => f32::NAME,
            Self::F64(_) => f64::NAME,
        }
    }
}

fn describe_mismatch(obj: &Bound<'_, PyAny>, name: &str, ndim: usize) -> CoreError {
    let what = match obj.cast::<numpy::PyUntypedArray>() {
        Ok(a) if a.ndim() != ndim => format!("a {}-D array", a.ndim()),
        Ok(a) => format!("an array of dtype {}", a.dtype()),
        Err(_) => format!(
            "a {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ),
    };
    CoreError::Type(format!(
        "{name} must be a {ndim}-D numpy array of float32 or float64, got {what}; convert it with \
         numpy.asarray({name}, dtype=float)"
    ))
}

/// Copies a view of any strides into a row-major matrix, refusing NaN and inf.
pub fn dense<T: Real>(view: ArrayView2<'_, T>, name: &str) -> CoreResult<Dense<T>> {
    let (rows, cols) = view.dim();
    let mut data = crate::memory::zeros::<T>(rows * cols, name)?;
    for (dst, (idx, &v)) in data.iter_mut().zip(view.indexed_iter()) {
        if !v.is_finite() {
            return Err(CoreError::value(format!(
                "{name} contains NaN or inf (first at [{}, {}]); remove or impute the non-finite values",
                idx.0, idx.1
            )));
        }
        *dst = v;
    }
    Ok(Dense::from_vec(data, rows, cols))
}

/// A probability vector: the right length, finite, positive, summing to 1 within 1e-6.
pub fn marginal(obj: Option<&Bound<'_, PyAny>>, len: usize, name: &str) -> CoreResult<Vec<f64>> {
    let Some(obj) = obj else {
        return Ok(vec![1.0 / len as f64; len]);
    };
    let arr = obj
        .extract::<PyReadonlyArray1<'_, f64>>()
        .map_err(|_| describe_mismatch(obj, name, 1))?;
    let v: ArrayView1<'_, f64> = arr.as_array();
    if v.len() != len {
        return Err(CoreError::value(format!(
            "{name} has {} entries but the cost matrix has {len} points; pass one weight per point",
            v.len()
        )));
    }
    if let Some((i, x)) = v
        .iter()
        .enumerate()
        .find(|(_, x)| !(x.is_finite() && **x > 0.0))
    {
        return Err(CoreError::value(format!(
            "{name}[{i}] = {x}; marginals must be finite and positive (drop points of zero mass)"
        )));
    }
    let total: f64 = v.iter().sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(CoreError::value(format!(
            "{name} sums to {total} but must sum to 1 (within 1e-6); divide it by its sum"
        )));
    }
    Ok(v.to_vec())
}

/// Fails fast on empty input, naming the argument.
pub fn non_empty(shape: (usize, usize), name: &str, min_rows: usize) -> CoreResult<()> {
    if shape.0 < min_rows || shape.1 == 0 {
        return Err(CoreError::value(format!(
            "{name} has shape {shape:?}; it needs at least {min_rows} row(s) and 1 column"
        )));
    }
    Ok(())
}

pub fn square(shape: (usize, usize), name: &str) -> CoreResult<usize> {
    if shape.0 != shape.1 {
        return Err(CoreError::value(format!(
            "{name} must be a square cost matrix, got shape {shape:?}; pass pairwise dissimilarities \
             (e.g. emoalign.rdm(X))"
        )));
    }
    if shape.0 == 0 {
        return Err(CoreError::value(format!(
            "{name} is empty; it needs at least one point"
        )));
    }
    Ok(shape.0)
}

/// Reads the readonly view out of a matrix known to be of type T.
pub fn view_of<'a, T: Real>(a: &'a PyReadonlyArray2<'_, T>) -> ArrayView2<'a, T> {
    a.as_array()
}

pub fn matrix_out<'py, T: Real>(
    py: Python<'py>,
    m: Dense<T>,
) -> CoreResult<Bound<'py, PyArray2<T>>> {
    let arr = numpy::ndarray::Array2::from_shape_vec((m.rows, m.cols), m.data)
        .map_err(|e| CoreError::value(format!("internal shape error: {e}")))?;
    Ok(PyArray2::from_owned_array(py, arr))
}

pub fn vec_out<'py, T: Real>(py: Python<'py>, v: Vec<T>) -> Bound<'py, PyArray1<T>> {
    PyArray1::from_vec(py, v)
}

/// A 1-D array's values: borrowed when contiguous (as the Python layer passes them), else copied.
pub fn contiguous<'a>(a: &'a PyReadonlyArray1<'_, f64>) -> Cow<'a, [f64]> {
    a.as_slice()
        .map_or_else(|_| Cow::Owned(a.as_array().to_vec()), Cow::Borrowed)
}
