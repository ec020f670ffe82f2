//! emoalign's numeric core: dissimilarity matrices, entropic Gromov-Wasserstein and RSA
//! statistics, exposed to Python as `emoalign._core`. The numeric modules are plain Rust (and
//! tested with `cargo test`); `py` holds the bindings.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod distance;
pub mod error;
pub mod gw;
pub mod memory;
pub mod monitor;
mod py;
pub mod rank;
pub mod real;
pub mod rsa;
pub mod simd;
pub mod threads;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NumericalError", m.py().get_type::<error::NumericalError>())?;
    threads::register(m)?;
    py::register(m)?;
    Ok(())
}
