//! The Python face of the core: argument checking, dtype dispatch, GIL release and monitoring.

mod arrays;
mod distance;
mod gw;
mod lowrank;
mod monitor;
mod rsa;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    distance::register(m)?;
    gw::register(m)?;
    lowrank::register(m)?;
    rsa::register(m)?;
    Ok(())
}
