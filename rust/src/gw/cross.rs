//! The gradient's cross term X = h1(C1) · T · h2(C2)ᵀ, kept current by single-precision
//! increments where their rounding cannot matter.
//!
//! X is linear in the plan, so X(T_k) = X(T_{k−1}) + h1(C1) · (T_k − T_{k−1}) · h2(C2)ᵀ. The two
//! GEMMs of the increment run in f32, twice as fast as f64 (they are most of an iteration's time
//! at n in the thousands), and their rounding scales with the step ‖ΔT‖₁, not with X: measured at
//! n = 2185 on the Cowen & Keltner RDMs, max |error| ≈ 0.03 · 2⁻²³ · ‖ΔT‖₁ · max|X| per unit mass.
//! An error δX moves the next plan's entries by a factor of about exp(s · δX / ε). Increments are
//! used while the perturbation so accumulated since the last exact product (counted at 0.1 · 2⁻²³,
//! three times the measured constant) stays within a hundredth of the plan's last change, the
//! share inexact projections get too. The solver declares convergence only on an exact product,
//! so the fixed points are those of the f64 map; only the path to them sees the rounding.

use super::cost::GwCost;
use crate::memory;
use crate::real::Real;
use rayon::prelude::*;

/// Rounding of an f32 increment, per unit of ‖ΔT‖₁ and of max|X| (see the module docs).
const ROUNDING_PER_MASS: f64 = 0.1 * f32::EPSILON as f64;

/// Steps smaller than this share of the plan's mass are left out of ΔT: far below the f32
/// rounding of any step that matters, and close enough to f32's subnormals to make them.
const NEGLIGIBLE: f64 = 1e-30;

/// Share of the plan's last relative change that accumulated rounding may take.
const SHARE_OF_CHANGE: f64 = 1e-2;

pub struct CrossTerm<T> {
    single: Option<Increments<T>>,
}

struct Increments<T> {
    cost: Box<dyn GwCost<f32> + Send>,
    /// Plan perturbation (relative, per entry) caused per unit of ‖ΔT‖₁.
    per_mass: f64,
    /// The plan X was last evaluated at.
    previous: Vec<T>,
    delta: Vec<f32>,
    scratch: Vec<f32>,
    step: Vec<f32>,
    /// Smallest step kept in ΔT.
    negligible: f64,
    /// Perturbation accumulated since the last exact product; None before the first.
    spent: Option<f64>,
}

impl<T: Real> CrossTerm<T> {
    /// Increments are set up only for costs that offer an f32 copy (dense f64), and only if the
    /// solve's budget has room for their buffers (`allowed`, see [`super::footprint`]): without
    /// them the solve is the same, slower.
    pub fn new(cost: &dyn GwCost<T>, eps: f64, mass: f64, allowed: bool) -> Self {
        let (n, m) = cost.shape();
        let single = allowed.then(|| cost.single()).flatten().and_then(|low| {
            Some(Increments {
                cost: low,
                per_mass: ROUNDING_PER_MASS * cost.scale() * cost.cross_bound() / eps,
                previous: memory::zeros(n * m, "the previous plan").ok()?,
                delta: memory::zeros(n * m, "the plan's step").ok()?,
                scratch: memory::zeros(n * m, "increment scratch").ok()?,
                step: memory::zeros(n * m, "the gradient's step").ok()?,
                negligible: NEGLIGIBLE * mass,
                spent: None,
            })
        });
        Self { single }
    }

    /// Writes X at `plan` into `x`, which holds X at the previous plan. `last_change` is the
    /// plan's last relative change (it sets the rounding budget); `scratch` is n × m.
    pub fn evaluate(
        &mut self,
        cost: &dyn GwCost<T>,
        plan: &[T],
        last_change: f64,
        scratch: &mut [T],
        x: &mut [T],
    ) {
        let Some(inc) = self.single.as_mut() else {
            return cost.cross(plan, scratch, x);
        };
        let mass = inc.take_step(plan);
        let added = inc.per_mass * mass;
        match inc.spent {
            Some(spent) if spent + added <= SHARE_OF_CHANGE * last_change => {
                inc.cost.cross(&inc.delta, &mut inc.scratch, &mut inc.step);
                x.par_iter_mut()
                    .zip(&inc.step)
                    .for_each(|(xi, &si)| *xi = T::of(xi.f64() + f64::from(si)));
                inc.spent = Some(spent + added);
            }
            _ => {
                cost.cross(plan, scratch, x);
                inc.spent = Some(0.0);
            }
        }
    }

    /// Whether the last evaluation was exact (always, without increments).
    pub fn exact(&self) -> bool {
        self.single
            .as_ref()
            .is_none_or(|inc| inc.spent == Some(0.0))
    }

    /// Makes the next evaluation exact.
    pub fn refresh(&mut self) {
        if let Some(inc) = self.single.as_mut() {
            inc.spent = None;
        }
    }
}

impl<T: Real> Increments<T> {
    /// ΔT = plan − previous into `delta` (rounded to f32) and `plan` into `previous`; returns
    /// ‖ΔT‖₁, summed in fixed chunks so that the same plans always take the same branch.
    fn take_step(&mut self, plan: &[T]) -> f64 {
        const CHUNK: usize = 1 << 14;
        let negligible = self.negligible;
        let partial: Vec<f64> = self
            .delta
            .par_chunks_mut(CHUNK)
            .zip(self.previous.par_chunks_mut(CHUNK))
            .zip(plan.par_chunks(CHUNK))
            .map(|((d, prev), t)| {
                let mut mass = 0.0;
                for ((di, pi), &ti) in d.iter_mut().zip(prev.iter_mut()).zip(t) {
                    let diff = ti.f64() - pi.f64();
                    // Steps of entries that have all but underflowed would reach the GEMM as
                    // subnormals (or make subnormal products), which cost the CPU's slow path.
                    *di = if diff.abs() < negligible {
                        0.0
                    } else {
                        diff as f32
                    };
                    *pi = ti;
                    mass += diff.abs();
                }
                mass
            })
            .collect();
        partial.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gw::cost::{DenseCost, Loss};
    use crate::gw::fixtures::{costs, uniform};

    /// A random plan of unit mass.
    fn plan(n: usize, m: usize, seed: u64) -> Vec<f64> {
        let t = uniform(seed, n * m);
        let total: f64 = t.iter().sum();
        t.iter().map(|v| v / total).collect()
    }

    fn largest_gap(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .fold(0.0f64, |w, (x, y)| w.max((x - y).abs()))
    }

    #[test]
    fn increments_stay_within_the_rounding_they_are_budgeted_for() {
        let (n, m) = (300, 200);
        let (p, q) = (vec![1.0 / n as f64; n], vec![1.0 / m as f64; m]);
        let cost = DenseCost::new(costs(n, 1), costs(m, 2), &p, &q, Loss::Square, true);
        let mut term = CrossTerm::new(&cost, 1.0, 1.0, true);
        let (mut scratch, mut x, mut exact) =
            (vec![0.0; n * m], vec![0.0; n * m], vec![0.0; n * m]);
        let first = plan(n, m, 3);
        term.evaluate(&cost, &first, f64::INFINITY, &mut scratch, &mut x);
        assert!(term.exact(), "the first product is always exact");

        // A step of a fifth of the mass towards another plan, with a budget it fits in.
        let other = plan(n, m, 4);
        let second: Vec<f64> = first
            .iter()
            .zip(&other)
            .map(|(a, b)| 0.8 * a + 0.2 * b)
            .collect();
        term.evaluate(&cost, &second, 1.0, &mut scratch, &mut x);
        assert!(
            !term.exact(),
            "a step within budget is taken as an f32 increment"
        );
        cost.cross(&second, &mut scratch, &mut exact);
        let mass: f64 = first.iter().zip(&second).map(|(a, b)| (a - b).abs()).sum();
        let error = largest_gap(&x, &exact);
        let allowed = ROUNDING_PER_MASS * cost.cross_bound() * mass;
        assert!(
            error <= allowed,
            "increment error {error:e} > budgeted {allowed:e}"
        );
        assert!(error > 0.0, "an f32 increment rounds somewhere");

        // A budget the step exceeds, or a refresh, gives the exact product again.
        term.evaluate(&cost, &first, 0.0, &mut scratch, &mut x);
        assert!(term.exact());
        cost.cross(&first, &mut scratch, &mut exact);
        assert_eq!(x, exact);
        term.refresh();
        term.evaluate(&cost, &second, 1.0, &mut scratch, &mut x);
        assert!(term.exact());
    }
}
