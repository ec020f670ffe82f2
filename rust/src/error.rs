//! Errors the core reports; each becomes the Python exception a user expects.

use pyo3::create_exception;
use pyo3::exceptions::{PyFloatingPointError, PyMemoryError, PyTypeError, PyValueError};
use pyo3::PyErr;

create_exception!(
    _core,
    NumericalError,
    PyFloatingPointError,
    "A computation broke down numerically on valid input (for example entropic GW at an epsilon \
     too small for the costs' range). Bad input raises ValueError instead."
);

#[derive(Debug)]
pub enum CoreError {
    /// Bad values or shapes: becomes ValueError.
    Value(String),
    /// Bad types: becomes TypeError.
    Type(String),
    /// Not enough memory, found before allocating: becomes MemoryError.
    Memory(String),
    /// Valid input on which the numerics broke down: becomes NumericalError.
    Numerical(String),
    /// The caller's progress callback asked to stop (Ctrl-C); carries the Python error to re-raise.
    Interrupted(PyErr),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn value(msg: impl Into<String>) -> Self {
        Self::Value(msg.into())
    }

    pub fn numerical(msg: impl Into<String>) -> Self {
        Self::Numerical(msg.into())
    }
}

impl From<CoreError> for PyErr {
    fn from(e: CoreError) -> PyErr {
        match e {
            CoreError::Value(m) => PyValueError::new_err(m),
            CoreError::Type(m) => PyTypeError::new_err(m),
            CoreError::Memory(m) => PyMemoryError::new_err(m),
            CoreError::Numerical(m) => NumericalError::new_err(m),
            CoreError::Interrupted(err) => err,
        }
    }
}
