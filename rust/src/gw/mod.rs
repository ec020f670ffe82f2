//! Entropic Gromov-Wasserstein optimal transport.
//!
//! - [`cost`]: what the solver needs of the two spaces (the gradient's parts), behind a trait so
//!   that dense cost matrices and factored low-rank costs ([`factored`]) plug into the same
//!   solver;
//! - [`cross`]: the gradient's GEMM term, advanced by single-precision increments where safe;
//! - [`sinkhorn`]: the inner entropic OT projection, stabilised and fused;
//! - [`footprint`]: the solve's memory, budgeted before anything is allocated;
//! - [`solver`]: the outer projected-gradient (PGD) / proximal-point (PPA) loop;
//! - [`lowrank`]: low-rank couplings (Scetbon et al. 2022) on factored costs, for large n.

pub mod anderson;
mod blocks;
pub mod cost;
mod cross;
pub mod factored;
#[cfg(test)]
mod fixtures;
pub mod footprint;
pub mod lowrank;
pub mod newton;
pub mod sinkhorn;
pub mod solver;

pub use cost::{DenseCost, GwCost, Loss};
pub use factored::{FactoredCost, Side};
pub use footprint::Footprint;
pub use solver::{solve, Init, Options, Outcome, Scheme};
