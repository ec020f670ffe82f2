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
    memory::ensure_fits(
        4 * (n as u128) * (m as u128),
        std::mem::size_of::<T>(),
        "entropic GW (four n x m work matrices)",
        "use float32 cost matrices or fewer points",
    )?;
    // `input` is the plan the gradient is taken at; `plan` receives the projection.
    let mut input = match init.plan {
        Some(g0) => g0.data,
        None => p
            .iter()
            .flat_map(|&pi| q.iter().map(move |&qj| T::of(pi * qj)))
            .collect(),
    };
    let mut plan = memory::zeros::<T>(n * m, "the plan")?;
    let mut accel = Acceleration::new(opts.accelerate && opts.scheme == Scheme::Pgd, n * m);
    // Plain (not extrapolated) steps in a row.
    let mut plain_run = 0;
    let mut x = memory::zeros::<T>(n * m, "the gradient")?;
    let mut cross = CrossTerm::new(cost, eps, p.iter().sum());
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
        install(|| cross.evaluate(cost, &input, out.relative_change, &mut k, &mut x));
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
                // Anderson converges to unstable fixed points as readily as to stable ones; plain
                // iteration tells them apart (it contracts near a minimum and drifts away from a
                // saddle, as POT's would). Plain from here on.
                accel.give_up();
            } else if !accel.used() || contracted(&out.history, plain_run) {
                out.converged = true;
                break;
            }
        }
        if !update.relative_change.is_finite() {
            return Err(CoreError::value(format!(
                "entropic GW broke down numerically at epsilon={eps:e}; increase epsilon"
            )));
        }
    }
    install(|| cost.cross(&plan, &mut k, &mut x));
    out.gw_dist = install(|| gw_loss(cost, &plan, &x));
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
}

/// Anderson memory: enough to model the few slowest modes, small enough to keep the extra
/// memory at 2·5 + 3 iterates.
const ANDERSON_MEMORY: usize = 5;
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
        }
    }

    fn extrapolated(&self) -> bool {
        self.extrapolated
    }

    fn used(&self) -> bool {
        self.used
    }

    /// Plain iteration for the rest of the solve.
    fn give_up(&mut self) {
        self.allowed = false;
        self.anderson = None;
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
        let last = *history.last().unwrap_or(&f64::INFINITY);
        if self.anderson.is_some() && last > 2.0 * self.best {
            // The extrapolation overshot: iterate plainly until the slow regime shows again.
            self.anderson = None;
            self.failures += 1;
            self.allowed = self.failures < ANDERSON_FAILURES;
        }
        if self.anderson.is_none() && self.allowed && Self::slow_linear(history) {
            // Acceleration is optional: without the memory for it, iterate plainly.
            let fits = memory::ensure_fits(
                Anderson::<T>::elements(self.len, ANDERSON_MEMORY),
                std::mem::size_of::<T>(),
                "",
                "",
            )
            .is_ok();
            self.anderson = if fits {
                Anderson::new(self.len, ANDERSON_MEMORY).ok()
            } else {
                None
            };
            self.allowed = self.anderson.is_some();
            self.best = last;
        }
        self.extrapolated = self.anderson.is_some();
        self.used |= self.extrapolated;
        match self.anderson.as_mut() {
            Some(aa) => {
                self.best = self.best.min(last);
                install(|| aa.step(input, plan))?;
            }
            None => std::mem::swap(input, plan),
        }
        Ok(())
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
