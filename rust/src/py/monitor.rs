//! A core Monitor that re-takes the GIL between steps: Ctrl-C raises KeyboardInterrupt, and an
//! optional Python callable receives each outer iteration's progress.

use crate::error::{CoreError, CoreResult};
use crate::monitor::{Monitor, Progress};
use pyo3::prelude::*;
use std::time::{Duration, Instant};

pub struct PyMonitor {
    callback: Option<Py<PyAny>>,
    /// Whether the callback takes the GW loss as a fifth argument.
    with_value: bool,
    last_check: Instant,
}

/// Signal checks cost a GIL round trip; a few per second keep Ctrl-C responsive.
const CHECK_EVERY: Duration = Duration::from_millis(100);

impl PyMonitor {
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        Self::with_value(callback, false)
    }

    /// A monitor whose callback also receives each iteration's GW loss (NaN where the solver
    /// has none).
    pub fn with_value(callback: Option<Py<PyAny>>, with_value: bool) -> Self {
        Self {
            with_value: with_value && callback.is_some(),
            callback,
            last_check: Instant::now(),
        }
    }
}

impl Monitor for PyMonitor {
    fn check(&mut self) -> CoreResult<()> {
        if self.last_check.elapsed() < CHECK_EVERY {
            return Ok(());
        }
        self.last_check = Instant::now();
        Python::attach(|py| py.check_signals()).map_err(CoreError::Interrupted)
    }

    fn progress(&mut self, p: &Progress) -> CoreResult<()> {
        self.last_check = Instant::now();
        Python::attach(|py| {
            py.check_signals()?;
            if let Some(cb) = &self.callback {
                let args = (
                    p.iteration,
                    p.relative_change,
                    p.marginal_error,
                    p.inner_iterations,
                );
                if self.with_value {
                    let (i, c, e, s) = args;
                    cb.call1(py, (i, c, e, s, p.gw_value.unwrap_or(f64::NAN)))?;
                } else {
                    cb.call1(py, args)?;
                }
            }
            Ok(())
        })
        .map_err(CoreError::Interrupted)
    }

    fn wants_value(&self) -> bool {
        self.with_value
    }
}
