//! The outer loop of entropic GW (Peyré, Cuturi & Solomon 2016; Xu et al. 2019 for PPA): each
//! iteration takes the gradient at the current plan and projects it by entropic OT,
//!
//!   PGD: T ← argmin ⟨M(T), P⟩ − ε H(P),   PPA: T ← argmin ⟨M(T), P⟩ + ε KL(P ‖ T),
//!
//! as POT's `entropic_gromov_wasserstein` does, so the fixed points are POT's. What differs is
//! the cost of getting there: the potentials carry over between iterations, the inner tolerance
//! follows the outer progress (loose while the plan still moves a lot, the requested tolerance
//! once it settles), and every n × m pass is fused.

use super::anderson::Anderson;
use super::cost::GwCost;
use super::cross::CrossTerm;
use super::footprint::{Footprint, ANDERSON_MEMORY};
use super::newton;
use super::sinkhorn::{self, Gradient, Marginals, Potentials, Relaxation, Scalings};
use crate::error::{CoreError, CoreResult};
use crate::memory;
use crate::monitor::{Monitor, Progress};
use crate::real::{Dense, Real};
use crate::simd::vectorised;
use crate::threads::install;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Pgd,
    Ppa,
}

impl Scheme {
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "PGD" => Ok(Self::Pgd),
            "PPA" => Ok(Self::Ppa),
            _ => Err(CoreError::value(format!(
                "solver {name:?} is not supported; use 'PGD' or 'PPA'"
            ))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub epsilon: f64,
    pub scheme: Scheme,
    /// Outer iterations at most.
    pub max_iter: usize,
    /// Stop when ‖T_k − T_{k−1}‖_F (divided by ‖T_k‖_F if `relative_tol`) falls to this, floored
    /// at the storage precision.
    pub tol: f64,
    /// Sinkhorn iterations at most per outer iteration.
    pub inner_max_iter: usize,
    /// L1 marginal error the final projection must reach.
    pub inner_tol: f64,
    /// Whether the change is measured relative to the plan's norm (else absolute, as POT does).
    pub relative_tol: bool,
    /// Anderson-accelerate the outer iteration once it is slow (PGD only).
    pub accelerate: bool,
    /// The buffers budgeted for this solve (see [`super::footprint`]).
    pub footprint: Footprint,
}

/// Where to start: a plan (default p qᵀ) and potentials (default from scratch).
pub struct Init<T> {
    pub plan: Option<Dense<T>>,
    pub potentials: Option<(Vec<f64>, Vec<f64>)>,
}

#[derive(Clone, Debug)]
pub struct Outcome<T> {
    pub plan: Dense<T>,
    pub f: Vec<f64>,
    pub g: Vec<f64>,
    /// The GW loss of the plan, without the entropy term (POT's `gw_dist`).
    pub gw_dist: f64,
    pub n_iter: usize,
    pub n_inner_iter: usize,
    pub marginal_error: f64,
    pub relative_change: f64,
    pub converged: bool,
    /// Relative change after each outer iteration.
    pub history: Vec<f64>,
}

/// The inner tolerance for the next projection: a hundredth of the plan's last relative change,
/// so inexact projections never dominate the outer error, within [floor, 1e-4].
fn inner_tolerance(last_change: f64, floor: f64) -> f64 {
    (1e-2 * last_change).clamp(floor, 1e-4_f64.max(floor))
}

/// How far the projections may have to go below `inner_tol`: an inexact projection moves the
/// plan by about its marginal error (relative), so a change of `tol_rel` is only observable with
/// projections ten times tighter. Without this, inner_tol = 1e-5 and tol = 1e-7 leave the outer
/// loop measuring projection noise until max_iter. The scalings are f64 whatever the storage
/// type, so even a float32 plan's projections can go to 1e-12 here.
fn iteration_floor(inner_floor: f64, tol_rel: f64) -> f64 {
    inner_floor.min(0.1 * tol_rel).max(1e-12)
}

/// GW loss of `plan` from the gradient at it: ⟨M(T), T⟩ / 2 (the loss is quadratic in T).
///
/// The constant part is taken at the plan's own marginals, not at (p, q): the decomposition is
/// then exact for any plan, and a projection that is off by 1e-11 cannot turn the loss of two
/// identical spaces negative.
pub fn gw_loss<T: Real>(cost: &dyn GwCost<T>, plan: &[T], x: &[T]) -> f64 {
    let (n, m) = cost.shape();
    let (rows, cols) = plan_marginals(plan, n, m);
    let (alpha, beta) = cost.constants(&rows, &cols);
    let per_row: Vec<f64> = plan
        .par_chunks(m)
        .zip(x.par_chunks(m))
        .zip(alpha.par_iter())
        .map(|((t, xr), &a)| loss_row(t, xr, a, &beta))
        .collect();
    let total: f64 = per_row.iter().sum(); // in row order: reproducible
    0.5 * cost.scale() * total
}

/// The objective whose stationary points are PGD's fixed points,
///
///   E(T) = ½ GW(T) + ε Σ T_ij ln T_ij,
///
/// since T = argmin ⟨M(T)/s, P⟩ − ε H(P) is its mirror-descent step and M/s = ∇(½ GW) (the
/// entropy's linear part is constant on the couplings). `x` must be X at `plan`.
fn entropic_objective<T: Real>(cost: &dyn GwCost<T>, plan: &[T], x: &[T], eps: f64) -> f64 {
    let neg_entropy = super::blocks::sum(plan.len(), |i| {
        let t = plan[i].f64();
        if t > 0.0 {
            t * t.ln()
        } else {
            0.0
        }
    });
    0.5 * gw_loss(cost, plan, x) + eps * neg_entropy
}

/// Row and column sums of an n × m plan.
pub fn plan_marginals<T: Real>(plan: &[T], n: usize, m: usize) -> (Vec<f64>, Vec<f64>) {
    newton::marginals(plan, &vec![1.0; n], &vec![1.0; m])
}

vectorised! {
/// Σ_j (a + β_j − X_ij) T_ij for one row: a dot product of T with (a + β − X).
fn loss_row<T: Real>(t: &[T], xr: &[T], a: f64, beta: &[f64]) -> f64 {
    const L: usize = 8;
    let mut acc = [0.0; L];
    let split = t.len() - t.len() % L;
    for ((tc, xc), bc) in t[..split]
        .chunks_exact(L)
        .zip(xr[..split].chunks_exact(L))
        .zip(beta[..split].chunks_exact(L))
    {
        for l in 0..L {
            acc[l] += (a + bc[l] - xc[l].f64()) * tc[l].f64();
        }
    }
    let tail: f64 = (split..t.len())
        .map(|j| (a + beta[j] - xr[j].f64()) * t[j].f64())
        .sum();
    acc.iter().sum::<f64>() + tail
}
}

pub fn solve<T: Real>(
    cost: &dyn GwCost<T>,
    p: &[f64],
    q: &[f64],
    opts: &Options,
    init: Init<T>,
    monitor: &mut dyn Monitor,
) -> CoreResult<Outcome<T>> {
    let (n, m) = cost.shape();
    let eps = opts.epsilon;
    let budget = &opts.footprint;
    // `input` is the plan the gradient is taken at; `plan` receives the projection.
    let mut input = match init.plan {
        Some(g0) => g0.data,
        None => p
            .iter()
            .flat_map(|&pi| q.iter().map(move |&qj| T::of(pi * qj)))
            .collect(),
    };
    let mut plan = memory::zeros::<T>(n * m, "the plan")?;
    let accelerate = opts.accelerate && opts.scheme == Scheme::Pgd && budget.anderson;
    let mut accel = Acceleration::new(accelerate, n * m);
    // Plain (not extrapolated) steps in a row.
    let mut plain_run = 0;
    // Lean: X lives in the plan's buffer, which holds nothing from the start of an iteration
    // until the projection is written; only increments (X carried over) and Anderson (X read
    // after the projection) need it apart.
    let mut x = if budget.lean {
        Vec::new()
    } else {
        memory::zeros::<T>(n * m, "the gradient")?
    };
    let mut cross = CrossTerm::new(cost, eps, p.iter().sum(), budget.increments);
    let mut k = memory::zeros::<T>(n * m, "the Sinkhorn kernel")?;
    let (mut pot, mut restabilise) = match init.potentials {
        Some((f, g)) => (Potentials { f, g }, false),
        None => (
            Potentials {
                f: vec![0.0; n],
                g: vec![0.0; m],
            },
            true,
        ),
    };
    let marg = Marginals { p, q };
    // Successive projections are alike, so the relaxation learned in one carries to the next.
    let mut relaxation = Relaxation::default();
    // Below this the storage precision decides the change, not the iteration: the plan's own
    // rounding, and the gradient's (relative EPS of M, amplified by 1/ε in the exponent: 1e-6
    // for float32 at ε = 0.04, nothing to speak of for float64).
    let largest = |w: &[f64]| w.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    let gradient_noise =
        T::EPS * cost.scale() * (largest(cost.alpha()) + largest(cost.beta())) / eps;
    let tol_floor = (10.0 * T::EPS).max(gradient_noise);
    let tol = opts.tol;
    // A float32 plan's marginals carry its rounding (~1e-7); asking the scalings for more is moot.
    let inner_floor = opts.inner_tol.max(10.0 * T::EPS);
    // `tol` as a relative change; for an absolute `tol`, through the plan's norm (‖p qᵀ‖_F until
    // the first projection measures it).
    let norm = |w: &[f64]| w.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut tol_rel = if opts.relative_tol {
        tol.max(tol_floor)
    } else {
        (tol / (norm(p) * norm(q))).max(tol_floor)
    };
    let mut out = Outcome {
        plan: Dense::from_vec(Vec::new(), n, m),
        f: Vec::new(),
        g: Vec::new(),
        gw_dist: f64::NAN,
        n_iter: 0,
        n_inner_iter: 0,
        marginal_error: f64::INFINITY,
        relative_change: f64::INFINITY,
        converged: false,
        history: Vec::new(),
    };
    while out.n_iter < opts.max_iter {
        if out.n_iter > 0 {
            accel.next_input(&out.history, &mut input, &mut plan)?;
        }
        if budget.lean {
            x = std::mem::take(&mut plan);
        }
        if accel.anchoring() {
            // The first input of an Anderson phase is the plain iterate it starts from: score it
            // on an exact product, for the comparison with the phase's fixed point.
            cross.refresh();
        }
        install(|| cross.evaluate(cost, &input, out.relative_change, &mut k, &mut x));
        // X at the input is at hand now; its loss costs one more pass, only for a monitor that
        // asked (a study prunes trials on it).
        let gw_value = monitor
            .wants_value()
            .then(|| install(|| gw_loss(cost, &input, &x)));
        if accel.anchoring() {
            accel.set_anchor_objective(install(|| entropic_objective(cost, &input, &x, eps)));
        }
        let inner_tol = inner_tolerance(out.relative_change, iteration_floor(inner_floor, tol_rel));
        let grad = Gradient {
            x: &x,
            alpha: cost.alpha(),
            beta: cost.beta(),
            scale: cost.scale(),
            prox: (opts.scheme == Scheme::Ppa).then_some(&input[..]),
        };
        let (sc, stats) = sinkhorn::solve(
            &grad,
            &mut pot,
            &marg,
            eps,
            &mut k,
            inner_tol,
            opts.inner_max_iter,
            restabilise,
            &mut relaxation,
            &mut || monitor.check(),
        )?;
        restabilise = false;
        if budget.lean {
            plan = std::mem::take(&mut x);
        }
        let update = install(|| sinkhorn::write_plan(&k, &sc, &marg, &input, &mut plan));
        absorb(&mut pot, &sc, eps);
        out.n_iter += 1;
        out.n_inner_iter += stats.iterations;
        out.relative_change = update.relative_change;
        out.marginal_error = update.marginal_error;
        out.history.push(update.relative_change);
        monitor.progress(&Progress {
            iteration: out.n_iter,
            relative_change: update.relative_change,
            marginal_error: update.marginal_error,
            inner_iterations: stats.iterations,
            gw_value,
        })?;
        if !opts.relative_tol && update.absolute_change > 0.0 {
            tol_rel = (tol * update.relative_change / update.absolute_change).max(tol_floor);
        }
        let projected_exactly = stats.converged && inner_tol <= inner_floor;
        let change = if opts.relative_tol {
            update.relative_change
        } else {
            update.absolute_change
        };
        plain_run = if accel.extrapolated() {
            0
        } else {
            plain_run + 1
        };
        if (change <= tol || update.relative_change <= tol_floor) && projected_exactly {
            if !cross.exact() {
                // A fixed point counts only on an exact gradient: confirm it with one.
                cross.refresh();
            } else if accel.extrapolated() {
                // Anderson converges to unstable fixed points, and to fixed points of other
                // basins, as readily as to the one the plain iteration was approaching. Its fixed
                // point is kept only if it lies where the plain iteration was heading and is no
                // worse than where the phase began; otherwise the plain iteration resumes from
                // there. Either way plain from here on: near a minimum plain steps contract, and
                // from a saddle they drift away, as POT's would.
                let objective = install(|| entropic_objective(cost, &input, &x, eps));
                let same_basin = accel.reached_plainly(&input, objective);
                accel.give_up(!same_basin);
            } else if !accel.used() || contracted(&out.history, plain_run) {
                out.converged = true;
                break;
            }
        }
        if !update.relative_change.is_finite() {
            return Err(CoreError::numerical(format!(
                "entropic GW broke down numerically at epsilon={eps:e}; increase epsilon"
            )));
        }
    }
    // The input and the kernel are free now: scratch and X for the final plan's loss.
    install(|| cost.cross(&plan, &mut input, &mut k));
    out.gw_dist = install(|| gw_loss(cost, &plan, &k));
    out.plan = Dense::from_vec(plan, n, m);
    out.f = pot.f;
    out.g = pot.g;
    Ok(out)
}

/// Plain steps after an Anderson phase before its fixed point counts as stable: a saddle's
/// unstable mode (growth 1.08 per step seen) has outgrown the decaying ones by then.
const VERIFY_STEPS: usize = 30;

/// Whether the last `VERIFY_STEPS` steps were plain and shrank the change overall.
fn contracted(history: &[f64], plain_run: usize) -> bool {
    let k = history.len();
    plain_run >= VERIFY_STEPS && history[k - 1] < history[k - 1 - VERIFY_STEPS]
}

/// When and how the next outer input is formed: the last projection itself (plain iteration),
/// or an Anderson extrapolation once the plain iteration has shown slow linear convergence.
struct Acceleration<T> {
    allowed: bool,
    len: usize,
    anderson: Option<Anderson<T>>,
    best: f64,
    /// Times the extrapolation overshot; past a few, this problem iterates plainly.
    failures: usize,
    /// Whether the current input came from an extrapolation, and whether any ever did.
    extrapolated: bool,
    used: bool,
    /// The plain iterate the current Anderson phase started from, and what the plain iteration
    /// predicts about its way on from there.
    anchor: Option<Anchor<T>>,
    /// Whether the next input must be the anchor again: the phase's fixed point was rejected.
    restore: Option<Vec<T>>,
}

/// Where an Anderson phase started. The plain iteration there converges linearly at rate ρ with
/// step c, so it has about c ρ/(1 − ρ) (relative to ‖T‖_F) still to go: its fixed point lies
/// within that distance, and its objective below the anchor's.
struct Anchor<T> {
    plan: Vec<T>,
    norm: f64,
    /// Predicted remaining distance of the plain iteration, relative to ‖T‖_F.
    reach: f64,
    objective: Option<f64>,
}

/// How far beyond the plain iteration's predicted reach an extrapolation may land before it
/// counts as having left the basin: the prediction takes the slowest recent rate as ρ, so 3× is
/// a wide margin for an accelerated path to the same point, and far less than the distance to
/// another stationary point (44% of ‖T‖ in the case that motivated this).
const REACH_MARGIN: f64 = 3.0;

/// Overshoots after which acceleration is given up for the rest of the solve.
const ANDERSON_FAILURES: usize = 3;

impl<T: Real> Acceleration<T> {
    fn new(allowed: bool, len: usize) -> Self {
        Self {
            allowed,
            len,
            anderson: None,
            best: f64::INFINITY,
            failures: 0,
            extrapolated: false,
            used: false,
            anchor: None,
            restore: None,
        }
    }

    /// Whether the current input is an Anderson phase's anchor, not yet scored.
    fn anchoring(&self) -> bool {
        self.anchor.as_ref().is_some_and(|a| a.objective.is_none())
    }

    fn set_anchor_objective(&mut self, objective: f64) {
        if let Some(anchor) = self.anchor.as_mut() {
            anchor.objective = Some(objective);
        }
    }

    /// Whether `point`, a fixed point reached by extrapolation with entropic objective
    /// `objective`, is where the plain iteration from the anchor was heading: within the
    /// predicted reach, and no worse than the anchor (plus rounding: 1e-12 relative, and the
    /// plan's own rounding through the entropy term).
    fn reached_plainly(&self, point: &[T], objective: f64) -> bool {
        let Some(anchor) = self.anchor.as_ref() else {
            return true;
        };
        let Some(start) = anchor.objective else {
            return false;
        };
        let slack = 1e-12 * start.abs().max(objective.abs()) + 1e-14;
        objective <= start + slack && anchor.within_reach(point)
    }

    /// Plain iteration for the rest of the solve; from the anchor if `restart`.
    fn give_up(&mut self, restart: bool) {
        self.allowed = false;
        self.anderson = None;
        let anchor = self.anchor.take();
        if restart {
            self.restore = anchor.map(|a| a.plan);
        }
    }

    fn extrapolated(&self) -> bool {
        self.extrapolated
    }

    fn used(&self) -> bool {
        self.used
    }

    /// Slow linear regime: the plan has settled (relative change below 1e-3) and five successive
    /// changes each shrank, by less than 40%.
    fn slow_linear(history: &[f64]) -> bool {
        let k = history.len();
        k >= 6
            && history[k - 1] < 1e-3
            && (k - 5..k).all(|i| history[i] < history[i - 1] && history[i] > 0.6 * history[i - 1])
    }

    fn next_input(
        &mut self,
        history: &[f64],
        input: &mut Vec<T>,
        plan: &mut Vec<T>,
    ) -> CoreResult<()> {
        if let Some(anchor) = self.restore.take() {
            *input = anchor;
            self.extrapolated = false;
            return Ok(());
        }
        let last = *history.last().unwrap_or(&f64::INFINITY);
        if self.anderson.is_some() && last > 2.0 * self.best {
            // The extrapolation overshot: iterate plainly until the slow regime shows again.
            self.anderson = None;
            self.anchor = None;
            self.failures += 1;
            self.allowed = self.failures < ANDERSON_FAILURES;
        }
        if self.anderson.is_none() && self.allowed && Self::slow_linear(history) {
            // Acceleration is optional: its memory (and its anchor's) was budgeted with the
            // solve's, and should the allocation still fail, the iteration goes on plainly.
            self.anderson = Anderson::new(self.len, ANDERSON_MEMORY).ok();
            self.allowed = self.anderson.is_some();
            self.best = last;
            self.anchor = self.anderson.is_some().then(|| Anchor::new(plan, history));
        }
        self.extrapolated = self.anderson.is_some();
        self.used |= self.extrapolated;
        match self.anderson.as_mut() {
            Some(aa) => {
                self.best = self.best.min(last);
                install(|| aa.step(input, plan))?;
                let strayed = self.anchor.as_ref().is_some_and(|a| !a.within_reach(input));
                if strayed {
                    // The extrapolation is heading out of the basin the plain iteration is in:
                    // take the plain step instead, and count it as an overshoot.
                    std::mem::swap(input, plan);
                    self.anderson = None;
                    self.anchor = None;
                    self.extrapolated = false;
                    self.failures += 1;
                    self.allowed = self.failures < ANDERSON_FAILURES;
                }
            }
            None => std::mem::swap(input, plan),
        }
        Ok(())
    }
}

impl<T: Real> Anchor<T> {
    /// The anchor at plain iterate `plan`, from the relative changes that led to it (at least
    /// the five the slow-regime test looked at).
    fn new(plan: &[T], history: &[f64]) -> Self {
        let k = history.len();
        let rate = (k - 5..k)
            .map(|i| history[i] / history[i - 1])
            .fold(0.0, f64::max)
            .min(1.0 - 1e-6);
        let norm = super::blocks::sum(plan.len(), |i| plan[i].f64() * plan[i].f64()).sqrt();
        Self {
            plan: plan.to_vec(),
            norm,
            reach: history[k - 1] * rate / (1.0 - rate),
            objective: None,
        }
    }

    /// Whether `point` lies within the margin of the plain iteration's predicted reach.
    fn within_reach(&self, point: &[T]) -> bool {
        let d2 = super::blocks::sum(point.len(), |i| {
            let d = point[i].f64() - self.plan[i].f64();
            d * d
        });
        d2.sqrt() <= REACH_MARGIN * self.reach * self.norm
    }
}

fn absorb(pot: &mut Potentials, sc: &Scalings, eps: f64) {
    pot.f
        .iter_mut()
        .zip(&sc.u)
        .for_each(|(f, u)| *f += eps * u.ln());
    pot.g
        .iter_mut()
        .zip(&sc.v)
        .for_each(|(g, v)| *g += eps * v.ln());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gw::cost::{DenseCost, Loss};
    use crate::gw::fixtures::{costs, marginal_error, weights};
    use crate::monitor::Unmonitored;

    fn options(epsilon: f64, accelerate: bool) -> Options {
        Options {
            epsilon,
            scheme: Scheme::Pgd,
            max_iter: 5_000,
            tol: 1e-10,
            inner_max_iter: 10_000,
            inner_tol: 1e-11,
            relative_tol: true,
            accelerate,
            footprint: Footprint::default(),
        }
    }

    fn run(
        cost: &DenseCost<f64>,
        p: &[f64],
        q: &[f64],
        opts: &Options,
        from: Option<&Outcome<f64>>,
    ) -> Outcome<f64> {
        let (n, m) = cost.shape();
        let init = Init {
            plan: from.map(|o| Dense::from_vec(o.plan.data.clone(), n, m)),
            potentials: from.map(|o| (o.f.clone(), o.g.clone())),
        };
        solve(cost, p, q, opts, init, &mut Unmonitored).unwrap()
    }

    fn largest_gap(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .fold(0.0f64, |w, (x, y)| w.max((x - y).abs()))
    }

    #[test]
    fn a_space_against_itself_is_matched_to_itself() {
        // Points in general position: the identity is the only isometry, and at small ε the
        // plan puts nearly all its mass on it; GW(T) − εH(T) ≤ −εH(p) bounds GW by ε ln n.
        let n = 8;
        let p = weights(n, 1);
        let cost = DenseCost::new(costs(n, 2), costs(n, 2), &p, &p, Loss::Square, true);
        let out = run(&cost, &p, &p, &options(2e-3, true), None);
        assert!(out.converged);
        let diagonal: f64 = (0..n).map(|i| out.plan.data[i * n + i]).sum();
        assert!(diagonal > 0.95, "mass on the identity: {diagonal}");
        assert!(out.gw_dist >= 0.0 && out.gw_dist <= 2e-3 * (n as f64).ln());
        assert!(marginal_error(&out.plan.data, &p, &p) <= 1e-10);
    }

    #[test]
    fn the_result_is_a_fixed_point_of_the_plain_iteration() {
        let (n, m) = (12, 9);
        let (p, q) = (weights(n, 3), weights(m, 4));
        let cost = DenseCost::new(costs(n, 5), costs(m, 6), &p, &q, Loss::Square, true);
        let out = run(&cost, &p, &q, &options(0.02, false), None);
        assert!(out.converged);
        let mut one = options(0.02, false);
        one.max_iter = 1;
        // From the result's own potentials the first projection is already solved to 1e-11.
        let step = run(&cost, &p, &q, &one, Some(&out));
        let moved = largest_gap(&step.plan.data, &out.plan.data);
        let top = out.plan.data.iter().fold(0.0f64, |a, &b| a.max(b));
        // A plain iteration at rate ρ ≤ 0.99 stopped at a 1e-10 step is within 1e-8 of its
        // fixed point; one more step moves it by no more than that.
        assert!(moved <= 1e-8 * top, "one step moved the plan by {moved:e}");
    }

    #[test]
    fn acceleration_reaches_the_plain_iterations_fixed_point() {
        let (n, m) = (40, 30);
        let (p, q) = (weights(n, 7), weights(m, 8));
        let cost = DenseCost::new(costs(n, 9), costs(m, 10), &p, &q, Loss::Square, true);
        let mut saved = 0;
        for eps in [2e-3, 3e-3, 4e-3, 5e-3, 7e-3, 1e-2, 2e-2] {
            let plain = run(&cost, &p, &q, &options(eps, false), None);
            let fast = run(&cost, &p, &q, &options(eps, true), None);
            assert!(plain.converged && fast.converged);
            let top = plain.plan.data.iter().fold(0.0f64, |a, &b| a.max(b));
            let gap = largest_gap(&plain.plan.data, &fast.plan.data);
            assert!(gap <= 1e-7 * top, "eps={eps}: plans differ by {gap:e}");
            assert!((plain.gw_dist - fast.gw_dist).abs() <= 1e-9 * plain.gw_dist);
            saved += plain.n_iter.saturating_sub(fast.n_iter);
            println!(
                "eps={eps}: {} plain, {} accelerated",
                plain.n_iter, fast.n_iter
            );
        }
        assert!(
            saved > 0,
            "acceleration never engaged: the comparison is vacuous"
        );
    }

    #[test]
    fn the_loss_of_a_plan_equals_the_quadruple_sum() {
        let (n, m) = (5, 4);
        let (c1, c2) = (costs(n, 11), costs(m, 12));
        let t: Vec<f64> = crate::gw::fixtures::uniform(13, n * m);
        let (rows, cols) = crate::gw::fixtures::sums(&t, n, m);
        let cost = DenseCost::new(c1.clone(), c2.clone(), &rows, &cols, Loss::Square, true);
        let (mut scratch, mut x) = (vec![0.0; n * m], vec![0.0; n * m]);
        cost.cross(&t, &mut scratch, &mut x);
        let mut brute = 0.0;
        for (i, k, j, l) in (0..n).flat_map(|i| {
            (0..n).flat_map(move |k| (0..m).flat_map(move |j| (0..m).map(move |l| (i, k, j, l))))
        }) {
            let d = c1.data[i * n + k] - c2.data[j * m + l];
            brute += d * d * t[i * m + j] * t[k * m + l];
        }
        let got = gw_loss(&cost, &t, &x);
        assert!((got - brute).abs() <= 1e-12 * brute, "{got} vs {brute}");
    }
}
