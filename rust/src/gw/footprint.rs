//! The memory model of an entropic GW solve, decided before anything is allocated.
//!
//! A solve needs its cost data, the plan, the plan it was computed from and the Sinkhorn kernel
//! (three n × m matrices). Two parts are optional and taken, in this order, only if they fit:
//! single-precision increments of X (dense float64 costs only) and Anderson acceleration. Each of
//! them also needs X in a buffer of its own; without them X is written into the plan's buffer,
//! which holds nothing between the gradient and the next projection, so a factored float32 solve
//! at n = m = 20,000 keeps three 1.6 GB matrices.

use super::anderson::Anderson;
use crate::error::CoreResult;
use crate::memory::Ledger;

/// Anderson memory: enough to model the few slowest modes, small enough to keep the extra
/// memory at 2·5 + 3 iterates (and the anchor its phase starts from).
pub const ANDERSON_MEMORY: usize = 5;

/// What a solve will hold: its decisions and the stated peak.
#[derive(Clone, Debug)]
pub struct Footprint {
    pub increments: bool,
    pub anderson: bool,
    /// X shares the plan's buffer (neither increments nor Anderson).
    pub lean: bool,
    /// Bytes at the peak, as budgeted.
    pub peak: u128,
}

impl Default for Footprint {
    /// Everything on, unbudgeted: for the core's own tests on small problems.
    fn default() -> Self {
        Self {
            increments: true,
            anderson: true,
            lean: false,
            peak: 0,
        }
    }
}

/// What a solve is made of, for its budget.
pub struct Problem {
    pub n: usize,
    pub m: usize,
    /// Bytes of a stored value (4 or 8).
    pub elem: usize,
    /// Bytes of the cost data the core keeps (copies of the matrices or factors).
    pub cost_bytes: u128,
    /// Bytes of the costs' float32 copy for increments, when the cost offers increments.
    pub single_cost_bytes: Option<u128>,
    /// Whether acceleration was asked for (PGD only).
    pub accelerate: bool,
}

/// The solve's budget in `ledger`: refused if its needs do not fit; optional parts taken while
/// they do.
pub fn plan(problem: &Problem, ledger: &mut Ledger) -> CoreResult<Footprint> {
    let nm = (problem.n as u128) * (problem.m as u128);
    let matrix = nm * problem.elem as u128;
    ledger.need("cost data", problem.cost_bytes);
    ledger.need("plan, previous plan and Sinkhorn kernel", 3 * matrix);
    ledger.check(
        "entropic GW",
        "use float32 costs, factored costs (emoalign.rdm_factors), or fewer points",
    )?;
    let increments = problem.single_cost_bytes.is_some_and(|single| {
        // X, and the previous plan (stored type) with three float32 n × m buffers.
        ledger.want(
            "gradient and single-precision increments",
            matrix + single + matrix + 3 * nm * 4,
        )
    });
    let anderson_bytes = (Anderson::<f64>::elements(1, ANDERSON_MEMORY) + 1) * matrix;
    let anderson = problem.accelerate
        && if increments {
            ledger.want("Anderson acceleration", anderson_bytes)
        } else {
            ledger.want(
                "gradient and Anderson acceleration",
                matrix + anderson_bytes,
            )
        };
    Ok(Footprint {
        increments,
        anderson,
        lean: !(increments || anderson),
        peak: ledger.total(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_float32_solve_keeps_three_matrices_within_six_gib() {
        let problem = Problem {
            n: 20_000,
            m: 20_000,
            elem: 4,
            cost_bytes: 2 * 2 * 20_000 * 36 * 4,
            single_cost_bytes: None,
            accelerate: true,
        };
        let fp = plan(&problem, &mut Ledger::new(Some(6 << 30))).unwrap();
        assert!(fp.lean && !fp.anderson && !fp.increments);
        assert!(fp.peak <= 3 * 1_600_000_000 + 50_000_000);
        assert!(plan(&problem, &mut Ledger::new(Some(4 << 30))).is_err());
    }
}
