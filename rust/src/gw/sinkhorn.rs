//! The inner problem of entropic GW: the entropic OT plan for the current gradient M,
//!
//!   P = diag(u) K diag(v),  K_ij = exp((f_i + g_j − M_ij)/ε [+ ln T_ij for PPA]),
//!
//! solved by Sinkhorn scaling with absorption (Schmitzer 2019): the large parts of the scalings
//! live in the log-domain potentials f, g, so the kernel K stays in range at any ε, while each
//! iteration is a cheap scaling pass. The potentials persist across outer iterations, which makes
//! K close to the previous plan and the scaling converge in a few passes.
//!
//! Every pass over the n × m data is fused: the kernel is built with one exp per entry, and one
//! Sinkhorn iteration (row update of u, then the column sums for v) reads K once.

use super::blocks;
use crate::error::{CoreError, CoreResult};
use crate::real::Real;
use crate::simd::{self, vectorised};
use crate::threads::install;
use rayon::prelude::*;

/// The current gradient, in the separable form M = s · (α ⊕ β − X).
pub struct Gradient<'a, T> {
    pub x: &'a [T],
    pub alpha: &'a [f64],
    pub beta: &'a [f64],
    pub scale: f64,
    /// PPA's proximal term: the previous plan, whose log joins the exponent.
    pub prox: Option<&'a [T]>,
}

/// Dual potentials, in units of cost (the plan is exp((f ⊕ g − M)/ε) up to the scalings).
#[derive(Clone, Debug)]
pub struct Potentials {
    pub f: Vec<f64>,
    pub g: Vec<f64>,
}

pub struct Marginals<'a> {
    pub p: &'a [f64],
    pub q: &'a [f64],
}

#[derive(Clone, Copy, Debug, Default)]
pub struct InnerStats {
    pub iterations: usize,
    /// L1 violation of the column marginal (rows are exact after each row update).
    pub error: f64,
    pub converged: bool,
}

impl<T: Real> Gradient<'_, T> {
    /// Writes z_j = (w_j − M_ij)/ε [+ ln T_ij] for row i, given a potential `w` over the other side.
    #[inline(always)]
    fn exponents(&self, i: usize, m: usize, eps: f64, w_minus_beta: &[f64], out: &mut [f64]) {
        let s = self.scale / eps;
        let a = -s * self.alpha[i];
        let x = &self.x[i * m..(i + 1) * m];
        for ((o, &xij), &wb) in out.iter_mut().zip(x).zip(w_minus_beta) {
            *o = wb + a + s * xij.f64();
        }
        if let Some(prev) = self.prox {
            for (o, &t) in out.iter_mut().zip(&prev[i * m..(i + 1) * m]) {
                *o += t.f64().ln();
            }
        }
    }

    /// (w_j − s·β_j)/ε: the part of the exponent that depends on the column only.
    fn column_part(&self, w: &[f64], eps: f64) -> Vec<f64> {
        w.iter()
            .zip(self.beta)
            .map(|(&wj, &bj)| (wj - self.scale * bj) / eps)
            .collect()
    }
}

/// Exact log-domain update of g for the current f: g_j = ε ln q_j − ε LSE_i((f_i − M_ij)/ε).
/// Two passes (column maxima, then sums of exponentials), used only to (re)stabilise.
pub fn update_g_log<T: Real>(grad: &Gradient<T>, pot: &mut Potentials, marg: &Marginals, eps: f64) {
    let m = pot.g.len();
    let zero_g = vec![0.0; m];
    let col_part = grad.column_part(&zero_g, eps); // −s·β_j/ε: g's old value is not used
    let blocks = pot.f.len().div_ceil(blocks::ROWS);
    // Maxima are exact in any order; sums are combined in block order.
    let col_max = (0..blocks)
        .into_par_iter()
        .map(|blk| column_block(grad, &pot.f, blk, eps, &col_part, None))
        .reduce(
            || vec![f64::NEG_INFINITY; m],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x = x.max(y));
                a
            },
        );
    let col_sum = blocks::sum_columns(
        (0..blocks)
            .into_par_iter()
            .map(|blk| column_block(grad, &pot.f, blk, eps, &col_part, Some(&col_max)))
            .collect::<Vec<_>>(),
        m,
    );
    for j in 0..m {
        pot.g[j] = eps * (marg.q[j].ln() - col_max[j] - col_sum[j].ln());
    }
}

vectorised! {
/// Over one block of rows of the exponents z_ij = (f_i − M_ij)/ε: their column maxima, or with
/// `shift` = those maxima, the column sums of exp(z_ij − shift_j).
fn column_block<T: Real>(
    grad: &Gradient<T>,
    f: &[f64],
    blk: usize,
    eps: f64,
    col_part: &[f64],
    shift: Option<&[f64]>,
) -> Vec<f64> {
    let m = col_part.len();
    let mut z = vec![0.0; m];
    let mut acc = vec![if shift.is_some() { 0.0 } else { f64::NEG_INFINITY }; m];
    for (i, &fi) in f.iter().enumerate().skip(blk * blocks::ROWS).take(blocks::ROWS) {
        grad.exponents(i, m, eps, col_part, &mut z);
        let fi = fi / eps;
        match shift {
            None => acc
                .iter_mut()
                .zip(&z)
                .for_each(|(a, &v)| *a = a.max(v + fi)),
            Some(mx) => acc
                .iter_mut()
                .zip(&z)
                .zip(mx)
                .for_each(|((a, &v), &x)| *a += simd::exp(v + fi - x)),
        }
    }
    acc
}
}

/// Builds K for the current g, choosing f_i so that each row's largest entry is 1 (an exact
/// max-shift in the log domain: no row can overflow or vanish).
pub fn build_kernel<T: Real>(
    grad: &Gradient<T>,
    pot: &mut Potentials,
    eps: f64,
    k: &mut [T],
) -> CoreResult<()> {
    let m = pot.g.len();
    let col_part = grad.column_part(&pot.g, eps);
    let broken = k
        .par_chunks_mut(m)
        .zip(pot.f.par_iter_mut())
        .enumerate()
        .with_min_len(blocks::ROWS)
        .map_init(
            || vec![0.0; m],
            |z, (i, (row, fi))| match kernel_row(grad, i, eps, &col_part, z, row) {
                Some(mx) => {
                    *fi = -eps * mx;
                    false
                }
                None => true,
            },
        )
        .any(|b| b);
    if broken {
        return Err(CoreError::numerical(format!(
            "the Sinkhorn kernel broke down at epsilon={eps:e} (a row of the plan has no mass left); \
             increase epsilon or use solver='PGD'"
        )));
    }
    Ok(())
}

vectorised! {
/// Row i of K = exp(z − max z) for the exponents z, returning max z (None if it is not finite).
fn kernel_row<T: Real>(
    grad: &Gradient<T>,
    i: usize,
    eps: f64,
    col_part: &[f64],
    z: &mut [f64],
    row: &mut [T],
) -> Option<f64> {
    grad.exponents(i, row.len(), eps, col_part, z);
    let mx = simd::max(z);
    if !mx.is_finite() {
        return None;
    }
    row.iter_mut()
        .zip(z.iter())
        .for_each(|(o, &e)| *o = T::flushed(simd::exp(e - mx)));
    Some(mx)
}
}

/// One Sinkhorn iteration in a single read of K: u_i ← u_i^(1−ω) (p_i / (K v)_i)^ω, plus the
/// row-marginal violation before the update and the column sums of diag(u) K for the v update.
fn fused_iteration<T: Real>(
    k: &[T],
    p: &[f64],
    v: &[f64],
    u: &mut [f64],
    omega: f64,
) -> (Vec<f64>, f64) {
    let m = v.len();
    let parts: Vec<(Vec<f64>, f64)> = k
        .par_chunks(blocks::ROWS * m)
        .zip(u.par_chunks_mut(blocks::ROWS))
        .zip(p.par_chunks(blocks::ROWS))
        .map(|((kb, ub), pb)| fused_block(kb, ub, pb, v, omega))
        .collect();
    let row_err = parts.iter().map(|(_, e)| e).sum();
    (
        blocks::sum_columns(parts.into_iter().map(|(s, _)| s), m),
        row_err,
    )
}

vectorised! {
/// `fused_iteration` over one block of rows.
fn fused_block<T: Real>(
    kb: &[T],
    ub: &mut [f64],
    pb: &[f64],
    v: &[f64],
    omega: f64,
) -> (Vec<f64>, f64) {
    let m = v.len();
    let (mut s, mut row_err) = (vec![0.0; m], 0.0);
    for ((row, ui), &pi) in kb.chunks(m).zip(ub.iter_mut()).zip(pb) {
        let r = simd::dot(row, v);
        row_err += (*ui * r - pi).abs();
        *ui = relax(*ui, pi / r, omega);
        let w = *ui;
        s.iter_mut()
            .zip(row)
            .for_each(|(sj, &kij)| *sj += w * kij.f64());
    }
    (s, row_err)
}
}

/// The over-relaxed scaling update x^(1−ω) · target^ω (plain Sinkhorn at ω = 1).
#[inline]
fn relax(x: f64, target: f64, omega: f64) -> f64 {
    if omega == 1.0 {
        target
    } else {
        x.powf(1.0 - omega) * target.powf(omega)
    }
}

/// Over-relaxation for Sinkhorn (Thibault et al. 2017; Lehmann et al. 2022): with the linear
/// convergence rate θ of the plain iteration measured, ω = 2 / (1 + √(1 − θ)) is the optimal
/// SOR factor of the linearised problem. Small ε makes θ close to 1 and plain Sinkhorn crawl; the
/// relaxed iteration has the same unique fixed point. A rising error switches back to ω = 1.
#[derive(Clone, Debug)]
pub struct Relaxation {
    pub omega: f64,
    /// Upper bound on ω, lowered each time a relaxed run diverges.
    cap: f64,
    /// The previous projection needed Newton: successive projections are alike, so hand over
    /// to Newton early instead of rediscovering that scaling stalls.
    newton: bool,
}

impl Default for Relaxation {
    fn default() -> Self {
        Self {
            omega: 1.0,
            cap: 1.95,
            newton: false,
        }
    }
}

/// Scaling has stalled when even after relaxation the error fell by less than half over the
/// last `window` passes (a rate worse than 0.917 per pass over 8): Newton's quadratic convergence takes over from there.
fn crawling(errors: &[f64], window: usize) -> bool {
    let k = errors.len();
    k > window && errors[k - 1] > 0.5 * errors[k - 1 - window]
}

/// Iterations of plain Sinkhorn over which θ is measured.
const RATE_WINDOW: usize = 8;

impl Relaxation {
    fn adapt(&mut self, errors: &[f64], best_relaxed: f64) {
        let k = errors.len();
        let last = errors[k - 1];
        if self.omega > 1.0 {
            if last > 2.0 * best_relaxed {
                self.cap = 1.0 + 0.5 * (self.cap - 1.0);
                self.omega = 1.0;
            }
            return;
        }
        if k > 2 * RATE_WINDOW {
            let theta = (last / errors[k - 1 - RATE_WINDOW]).powf(1.0 / RATE_WINDOW as f64);
            if theta.is_finite() && theta > 0.5 && theta < 1.0 {
                self.omega = (2.0 / (1.0 + (1.0 - theta).sqrt())).min(self.cap);
            }
        }
    }
}

/// Scalings far from 1 mean the kernel no longer carries the plan's scale (and f32 entries may
/// have flushed to zero): absorb them into the potentials and rebuild.
fn out_of_range<T: Real>(x: &[f64]) -> bool {
    let hi = T::max_value().f64().sqrt();
    x.iter()
        .any(|&s| !(s.is_finite() && s > 1.0 / hi && s < hi))
}

pub struct Scalings {
    pub u: Vec<f64>,
    pub v: Vec<f64>,
}

/// Solves the entropic OT problem for `grad` to an L1 column-marginal error of `tol`, starting
/// from `pot`. On return `k` holds the kernel for `pot`, and the plan is diag(u) K diag(v).
#[allow(clippy::too_many_arguments)]
pub fn solve<T: Real>(
    grad: &Gradient<T>,
    pot: &mut Potentials,
    marg: &Marginals,
    eps: f64,
    k: &mut [T],
    tol: f64,
    max_iter: usize,
    restabilise: bool,
    relaxation: &mut Relaxation,
    check: &mut dyn FnMut() -> CoreResult<()>,
) -> CoreResult<(Scalings, InnerStats)> {
    let (n, m) = (pot.f.len(), pot.g.len());
    if restabilise {
        install(|| update_g_log(grad, pot, marg, eps));
    }
    install(|| build_kernel(grad, pot, eps, k))?;
    let mut u = vec![1.0; n];
    let mut v = vec![1.0; m];
    let mut stats = InnerStats::default();
    let mut rebuilds = 0;
    let mut errors: Vec<f64> = Vec::new();
    let mut best_relaxed = f64::INFINITY;
    let mut u_is_shift = true;
    let mut newton_window = 8;
    while stats.iterations < max_iter.max(1) {
        let omega = relaxation.omega;
        // u = 1 after a (re)build is only the kernel's row shift, not an iterate: relaxing away
        // from it would throw the warm start away, so the first row update is plain.
        let omega_u = if u_is_shift { 1.0 } else { omega };
        u_is_shift = false;
        let (s, row_err) = install(|| fused_iteration(k, marg.p, &v, &mut u, omega_u));
        stats.iterations += 1;
        let col_err: f64 = v
            .iter()
            .zip(&s)
            .zip(marg.q)
            .map(|((&vj, &sj), &qj)| (vj * sj - qj).abs())
            .sum();
        // The first pass starts from u = 1, so its row error says nothing about the plan.
        stats.error = if stats.iterations == 1 {
            col_err
        } else {
            col_err.max(row_err)
        };
        v.iter_mut()
            .zip(&s)
            .zip(marg.q)
            .for_each(|((vj, &sj), &qj)| *vj = relax(*vj, qj / sj, omega));
        let in_range = !out_of_range::<T>(&u) && !out_of_range::<T>(&v);
        if stats.error <= tol && in_range {
            stats.converged = true;
            if stats.iterations <= 2 {
                relaxation.newton = false;
            }
            break;
        }
        if !in_range || !stats.error.is_finite() {
            // Keep what the finite scalings learned, then restabilise both sides exactly.
            for (fi, &ui) in pot.f.iter_mut().zip(&u) {
                if ui.is_finite() && ui > 0.0 {
                    *fi += eps * ui.ln();
                }
            }
            install(|| update_g_log(grad, pot, marg, eps));
            install(|| build_kernel(grad, pot, eps, k))?;
            u.fill(1.0);
            v.fill(1.0);
            u_is_shift = true;
            errors.clear();
            relaxation.omega = 1.0;
            rebuilds += 1;
            if rebuilds > 50 + max_iter / 10 {
                return Err(CoreError::numerical(format!(
                    "Sinkhorn could not keep its scalings in range at epsilon={eps:e}; increase \
                     epsilon or use float64 input"
                )));
            }
            continue;
        }
        errors.push(stats.error);
        if relaxation.omega > 1.0 {
            best_relaxed = best_relaxed.min(stats.error);
        }
        let was_relaxed = relaxation.omega > 1.0;
        relaxation.adapt(&errors, best_relaxed);
        if was_relaxed && relaxation.omega == 1.0 {
            errors.clear();
            best_relaxed = f64::INFINITY;
        }
        if stats.iterations % 64 == 0 {
            check()?;
        }
        if crawling(&errors, if relaxation.newton { 2 } else { newton_window }) {
            let left = max_iter.max(1) - stats.iterations;
            let newton = super::newton::polish(k, &mut u, &mut v, marg, tol, left, check)?;
            stats.iterations += newton.passes;
            stats.error = newton.error;
            if newton.converged && !out_of_range::<T>(&u) && !out_of_range::<T>(&v) {
                relaxation.newton = true;
                stats.converged = true;
                break;
            }
            // Newton could not finish (e.g. entries that underflowed in K): go on scaling, and
            // give scaling a longer run before trying Newton again.
            relaxation.newton = false;
            newton_window *= 4;
            errors.clear();
        }
    }
    Ok((Scalings { u, v }, stats))
}

/// What writing the new plan measured.
pub struct PlanUpdate {
    /// ‖T_new − T_old‖_F / ‖T_new‖_F.
    pub relative_change: f64,
    /// ‖T_new − T_old‖_F.
    pub absolute_change: f64,
    /// max(‖T 1 − p‖₁, ‖Tᵀ 1 − q‖₁) of the plan as stored.
    pub marginal_error: f64,
}

/// Writes diag(u) K diag(v) into `plan`, measuring its change from `input` (the plan the
/// gradient was taken at) and its marginals in the same pass.
pub fn write_plan<T: Real>(
    k: &[T],
    sc: &Scalings,
    marg: &Marginals,
    input: &[T],
    plan: &mut [T],
) -> PlanUpdate {
    let m = sc.v.len();
    let rows = blocks::ROWS;
    let parts: Vec<([f64; 3], Vec<f64>)> = plan
        .par_chunks_mut(rows * m)
        .zip(input.par_chunks(rows * m))
        .zip(k.par_chunks(rows * m))
        .zip(sc.u.par_chunks(rows).zip(marg.p.par_chunks(rows)))
        .map(|(((tb, ob), kb), (ub, pb))| plan_block(tb, ob, kb, ub, pb, &sc.v))
        .collect();
    let [diff, norm, row_err] = parts.iter().fold([0.0; 3], |a, (b, _)| {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
    });
    let col = blocks::sum_columns(parts.into_iter().map(|(_, c)| c), m);
    let col_err: f64 = col.iter().zip(marg.q).map(|(c, q)| (c - q).abs()).sum();
    PlanUpdate {
        relative_change: if norm > 0.0 {
            (diff / norm).sqrt()
        } else {
            f64::INFINITY
        },
        absolute_change: diff.sqrt(),
        marginal_error: row_err.max(col_err),
    }
}

vectorised! {
/// `write_plan` over one block of rows: ([Σ (new − old)², Σ new², Σ_i |row_i − p_i|], column sums).
fn plan_block<T: Real>(
    tb: &mut [T],
    ob: &[T],
    kb: &[T],
    ub: &[f64],
    pb: &[f64],
    v: &[f64],
) -> ([f64; 3], Vec<f64>) {
    const L: usize = 8;
    let m = v.len();
    let (mut diff, mut norm, mut row_err, mut col) = ([0.0; L], [0.0; L], 0.0, vec![0.0; m]);
    for ((((t, old), kr), &ui), &pi) in tb
        .chunks_mut(m)
        .zip(ob.chunks(m))
        .zip(kb.chunks(m))
        .zip(ub)
        .zip(pb)
    {
        let mut row_sum = [0.0; L];
        // Eight columns at a time into eight accumulators, then the remainder into lane 0.
        let split = m - m % L;
        let lanes = t[..split]
            .chunks_exact_mut(L)
            .zip(old[..split].chunks_exact(L))
            .zip(kr[..split].chunks_exact(L))
            .zip(v[..split].chunks_exact(L))
            .zip(col[..split].chunks_exact_mut(L));
        for ((((tc, oc), kc), vc), cc) in lanes {
            for l in 0..L {
                let new = T::flushed(ui * kc[l].f64() * vc[l]);
                let (nv, ov) = (new.f64(), oc[l].f64());
                diff[l] += (nv - ov) * (nv - ov);
                norm[l] += nv * nv;
                row_sum[l] += nv;
                cc[l] += nv;
                tc[l] = new;
            }
        }
        for j in split..m {
            let new = T::flushed(ui * kr[j].f64() * v[j]);
            let (nv, ov) = (new.f64(), old[j].f64());
            diff[0] += (nv - ov) * (nv - ov);
            norm[0] += nv * nv;
            row_sum[0] += nv;
            col[j] += nv;
            t[j] = new;
        }
        row_err += (row_sum.iter().sum::<f64>() - pi).abs();
    }
    (
        [diff.iter().sum(), norm.iter().sum(), row_err],
        col,
    )
}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gw::fixtures::{marginal_error, uniform, weights};

    /// An n × m problem: costs M in [0, 1) (as X = −M, α = β = 0, s = 1) and positive weights.
    fn problem(n: usize, m: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let x = uniform(seed, n * m).iter().map(|c| -c).collect();
        (x, weights(n, seed + 1), weights(m, seed + 2))
    }

    /// Projects by `solve` from zero potentials; returns the plan and the stats.
    fn project(x: &[f64], p: &[f64], q: &[f64], eps: f64, tol: f64) -> (Vec<f64>, InnerStats) {
        let (n, m) = (p.len(), q.len());
        let (zn, zm) = (vec![0.0; n], vec![0.0; m]);
        let grad = Gradient {
            x,
            alpha: &zn,
            beta: &zm,
            scale: 1.0,
            prox: None,
        };
        let mut pot = Potentials {
            f: zn.clone(),
            g: zm.clone(),
        };
        let mut k = vec![0.0; n * m];
        let (sc, stats) = solve(
            &grad,
            &mut pot,
            &Marginals { p, q },
            eps,
            &mut k,
            tol,
            100_000,
            true,
            &mut Relaxation::default(),
            &mut || Ok(()),
        )
        .unwrap();
        let plan = (0..n * m)
            .map(|idx| sc.u[idx / m] * k[idx] * sc.v[idx % m])
            .collect();
        (plan, stats)
    }

    /// Largest departure of ε ln P + M from a sum a_i + b_j (in cost units), over every 2 × 2
    /// minor whose entries have not underflowed, and how many such minors there were. Zero
    /// exactly when P has the Gibbs form of entropic OT; with the marginals right, that is the
    /// unique solution.
    fn gibbs_defect(plan: &[f64], cost: &[f64], m: usize, eps: f64) -> (f64, usize) {
        let n = plan.len() / m;
        let z = |i: usize, j: usize| {
            let t = plan[i * m + j];
            (t >= f64::MIN_POSITIVE).then(|| eps * t.ln() + cost[i * m + j])
        };
        let (mut worst, mut minors) = (0.0f64, 0);
        for (i, k) in (0..n).flat_map(|i| (i + 1..n).map(move |k| (i, k))) {
            for (j, l) in (0..m).flat_map(|j| (j + 1..m).map(move |l| (j, l))) {
                if let (Some(a), Some(b), Some(c), Some(d)) = (z(i, j), z(i, l), z(k, j), z(k, l)) {
                    worst = worst.max((a - b - c + d).abs());
                    minors += 1;
                }
            }
        }
        (worst, minors)
    }

    #[test]
    fn projections_are_the_entropic_ot_solution_at_any_epsilon() {
        // 1e-3 on costs in [0, 1) needs the absorbed potentials (e^{-1000} underflows) and, as
        // scaling stalls there, the Newton polish.
        // (ε, seed, 2 × 2 minors with no underflowed entry: at 2e-4 the plan is all but a
        // matching and none is left, so only its marginals are checked there).
        for (eps, seed, minors_left) in [
            (1.0, 1, 540),
            (0.1, 2, 540),
            (1e-2, 3, 100),
            (1e-3, 4, 20),
            (2e-4, 5, 0),
        ] {
            let (n, m) = (9, 6);
            let (x, p, q) = problem(n, m, seed);
            let cost: Vec<f64> = x.iter().map(|v| -v).collect();
            let (plan, stats) = project(&x, &p, &q, eps, 1e-12);
            assert!(stats.converged, "eps={eps}: not converged ({stats:?})");
            assert!(plan.iter().all(|&t| t >= 0.0 && t.is_finite()));
            let err = marginal_error(&plan, &p, &q);
            assert!(err <= 1e-12, "eps={eps}: marginal error {err:e}");
            // ε ln P loses ε · (relative rounding of P) ≈ ε · 1e-15 per entry; entries down to
            // 1e-300 keep that. 1e-12 in cost units is a wide margin over it.
            let (defect, minors) = gibbs_defect(&plan, &cost, m, eps);
            assert!(defect <= 1e-12, "eps={eps}: not of Gibbs form ({defect:e})");
            assert!(
                minors >= minors_left,
                "eps={eps}: only {minors} minors could be checked"
            );
        }
    }

    #[test]
    fn a_looser_tolerance_stops_earlier_within_it() {
        let (x, p, q) = problem(12, 10, 7);
        let (loose, few) = project(&x, &p, &q, 0.05, 1e-4);
        let (_, many) = project(&x, &p, &q, 0.05, 1e-12);
        assert!(few.converged && few.error <= 1e-4);
        assert!(marginal_error(&loose, &p, &q) <= 1e-4 * (1.0 + 1e-9));
        assert!(few.iterations < many.iterations);
    }
}
