//! How long-running kernels report progress and learn that the caller wants them to stop.
//!
//! Kernels call these from the thread that called them (never from pool workers), so a Python
//! binding can re-take the GIL there and run the main thread's signal handlers (Ctrl-C).

use crate::error::CoreResult;

/// Progress of one outer iteration of an iterative solver.
#[derive(Clone, Debug)]
pub struct Progress {
    pub iteration: usize,
    pub relative_change: f64,
    pub marginal_error: f64,
    pub inner_iterations: usize,
    /// The GW loss of the plan the iteration started from, when the monitor asked for it
    /// (`Monitor::wants_value`) or the solver has it for free.
    pub gw_value: Option<f64>,
}

pub trait Monitor {
    /// Called every so often; an error stops the work and is returned to the caller.
    fn check(&mut self) -> CoreResult<()>;
    /// Called after each outer iteration.
    fn progress(&mut self, progress: &Progress) -> CoreResult<()>;
    /// Whether `progress` should carry the GW loss where it costs the solver extra work (an
    /// n × m pass per outer iteration in the entropic solver).
    fn wants_value(&self) -> bool {
        false
    }
}

/// A monitor that never stops anything, for Rust callers and tests.
pub struct Unmonitored;

impl Monitor for Unmonitored {
    fn check(&mut self) -> CoreResult<()> {
        Ok(())
    }

    fn progress(&mut self, _: &Progress) -> CoreResult<()> {
        Ok(())
    }
}
