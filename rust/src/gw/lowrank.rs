//! Low-rank Gromov-Wasserstein (Scetbon, Peyré & Cuturi, ICML 2022) on factored costs.
//!
//! The coupling is P = Q diag(1/g) Rᵀ with Q (n × r), R (m × r), g (r), never formed. With
//! C1 = A1 B1ᵀ and C2 = A2 B2ᵀ the square-loss GW value is
//!
//!   GW = aᵀ(C1⊙C1)a + bᵀ(C2⊙C2)b − 2 tr(D M1 D M2),  M1 = Qᵀ C1 Q, M2 = Rᵀ C2ᵀ R, D = diag(1/g),
//!
//! so the value and its gradient in (Q, R, g) take one thin GEMM per side each way: an
//! iteration is O((n + m) r (k + r)) and memory is linear in n.
//!
//! Each mirror-descent step multiplies (Q, R, g) by exp(−step · gradient) and projects back onto
//! {Q1 = a, R1 = b, Qᵀ1 = Rᵀ1 = g ≥ g_min} in KL by Dykstra's algorithm (Scetbon, Cuturi & Peyré
//! 2021, Algorithm 2), run as scaling passes over a kernel whose large scalings are folded back
//! into its logarithm (log-domain stabilisation, as the entropic solver's Sinkhorn does). The
//! projection stops at a modest tolerance and is then rounded exactly onto the constraints
//! (Altschuler, Weed & Rigollet 2017), so every coupling compared or returned holds its marginals
//! to rounding. Steps are normalised by the gradient's largest entry and halved until the value
//! decreases, so the values never increase whatever the costs' scale.

use super::blocks;
use crate::error::{CoreError, CoreResult};
use crate::monitor::{Monitor, Progress};
use crate::real::{view_mut, Real};
use crate::simd::{self, vectorised};
use faer::MatRef;
use rayon::prelude::*;

/// Halvings of a step before it is taken as a stationary point to rounding.
const MAX_HALVINGS: usize = 40;
/// A step accepted at once makes the next one this much larger...
const GROWTH: f64 = 1.5;
/// ...up to this change of a log-entry: beyond it Dykstra's kernels get as sharp as an
/// unregularised transport and the projection slows down for no gain in the value.
const MAX_MOVE: f64 = 100.0;
/// Scalings are folded into the kernel before they leave exp's comfortable range.
const ABSORB_AT: f64 = 50.0;

/// A factored cost C = A Bᵀ, both row-major (points × k).
pub struct Factors<'a> {
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub rows: usize,
    pub k: usize,
}

pub struct Options {
    pub gamma: f64,
    pub max_iter: usize,
    pub tol: f64,
    pub inner_max_iter: usize,
    pub inner_tol: f64,
    pub min_g: f64,
}

pub struct Outcome {
    pub q: Vec<f64>,
    pub r: Vec<f64>,
    pub g: Vec<f64>,
    pub value: f64,
    pub converged: bool,
    pub n_iter: usize,
    pub n_inner_iter: usize,
    pub history: Vec<f64>,
    /// Projections stopped by `inner_max_iter`, and their largest error before rounding.
    pub capped: usize,
    pub worst_capped: f64,
}

/// wᵀ (C ⊙ C) w = <Aᵀ diag(w) A, Bᵀ diag(w) B>_F, in O(n k²).
fn square_cost_mass(f: &Factors, w: &[f64]) -> f64 {
    let k = f.k;
    let gram = |x: &[f64]| {
        let mut out = vec![0.0; k * k];
        for (row, &wi) in x.chunks_exact(k).zip(w) {
            for p in 0..k {
                let s = wi * row[p];
                for q in 0..k {
                    out[p * k + q] += s * row[q];
                }
            }
        }
        out
    };
    let (ga, gb) = (gram(f.a), gram(f.b));
    ga.iter().zip(&gb).map(|(x, y)| x * y).sum()
}

/// [X Y] side by side, row-major.
fn side_by_side(x: &[f64], y: &[f64], rows: usize, k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * 2 * k);
    for (rx, ry) in x.chunks_exact(k).zip(y.chunks_exact(k)) {
        out.extend_from_slice(rx);
        out.extend_from_slice(ry);
    }
    out
}

pub struct Problem {
    /// [A1 B1] (n × 2k1) and [B2 A2] (m × 2k2): each side's products are one GEMM.
    h1: Vec<f64>,
    h2: Vec<f64>,
    n: usize,
    m: usize,
    k1: usize,
    k2: usize,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// aᵀ(C1⊙C1)a + bᵀ(C2⊙C2)b: the value's part fixed by the marginals, and its scale.
    pub constant: f64,
}

struct Evaluation {
    value: f64,
    grad_q: Vec<f64>,
    grad_r: Vec<f64>,
    grad_g: Vec<f64>,
}

impl Problem {
    pub fn new(f1: &Factors, f2: &Factors, a: Vec<f64>, b: Vec<f64>) -> Self {
        let constant = square_cost_mass(f1, &a) + square_cost_mass(f2, &b);
        Self {
            h1: side_by_side(f1.a, f1.b, f1.rows, f1.k),
            h2: side_by_side(f2.b, f2.a, f2.rows, f2.k),
            n: f1.rows,
            m: f2.rows,
            k1: f1.k,
            k2: f2.k,
            a,
            b,
            constant,
        }
    }

    /// Fᵀ H (r × 2k) for a factor F (rows × r) and H (rows × 2k).
    fn project(f: &[f64], h: &[f64], rows: usize, r: usize, k2: usize) -> Vec<f64> {
        let mut w = vec![0.0; r * k2];
        let fv = MatRef::from_row_major_slice(f, rows, r);
        let hv = MatRef::from_row_major_slice(h, rows, k2);
        f64::gemm(view_mut(&mut w, r, k2), false, fv.transpose(), hv, 1.0);
        w
    }

    /// W[:, :k] W[:, k:]ᵀ for W of r × 2k.
    fn inner(w: &[f64], r: usize, k: usize) -> Vec<f64> {
        let mut m = vec![0.0; r * r];
        for s in 0..r {
            for t in 0..r {
                let (x, y) = (
                    &w[s * 2 * k..s * 2 * k + k],
                    &w[t * 2 * k + k..(t + 1) * 2 * k],
                );
                m[s * r + t] = x.iter().zip(y).map(|(p, q)| p * q).sum();
            }
        }
        m
    }

    /// −2 H [W[:, k:]ᵀ Z ; W[:, :k]ᵀ Zᵀ] (rows × r).
    fn factor_gradient(
        h: &[f64],
        w: &[f64],
        z: &[f64],
        rows: usize,
        r: usize,
        k: usize,
    ) -> Vec<f64> {
        let mut s = vec![0.0; 2 * k * r];
        for p in 0..k {
            for t in 0..r {
                let (mut upper, mut lower) = (0.0, 0.0);
                for u in 0..r {
                    upper += w[u * 2 * k + k + p] * z[u * r + t];
                    lower += w[u * 2 * k + p] * z[t * r + u];
                }
                s[p * r + t] = upper;
                s[(k + p) * r + t] = lower;
            }
        }
        let mut out = vec![0.0; rows * r];
        let hv = MatRef::from_row_major_slice(h, rows, 2 * k);
        let sv = MatRef::from_row_major_slice(&s, 2 * k, r);
        f64::gemm(view_mut(&mut out, rows, r), false, hv, sv, -2.0);
        out
    }

    fn evaluate(&self, q: &[f64], rr: &[f64], g: &[f64]) -> Evaluation {
        let r = g.len();
        let (k1, k2) = (self.k1, self.k2);
        let w1 = Self::project(q, &self.h1, self.n, r, 2 * k1);
        let w2 = Self::project(rr, &self.h2, self.m, r, 2 * k2);
        let (m1, m2) = (Self::inner(&w1, r, k1), Self::inner(&w2, r, k2));
        let inv: Vec<f64> = g.iter().map(|x| 1.0 / x).collect();
        let mut x = vec![0.0; r * r]; // D M1 D
        let mut y = vec![0.0; r * r]; // D M2 D
        for s in 0..r {
            for t in 0..r {
                x[s * r + t] = m1[s * r + t] * inv[s] * inv[t];
                y[s * r + t] = m2[s * r + t] * inv[s] * inv[t];
            }
        }
        let mut trace = 0.0;
        for s in 0..r {
            for t in 0..r {
                trace += x[s * r + t] * m2[t * r + s];
            }
        }
        let grad_g = (0..r)
            .map(|s| {
                let both: f64 = (0..r)
                    .map(|t| {
                        (m1[s * r + t] * m2[t * r + s] + m2[s * r + t] * m1[t * r + s]) * inv[t]
                    })
                    .sum();
                2.0 * inv[s] * inv[s] * both
            })
            .collect();
        Evaluation {
            value: self.constant - 2.0 * trace,
            grad_q: Self::factor_gradient(&self.h1, &w1, &y, self.n, r, k1),
            grad_r: Self::factor_gradient(&self.h2, &w2, &x, self.m, r, k2),
            grad_g,
        }
    }
}

/// diag(u) K diag(exp(log_v)) for one factor; `rows`/`cols` are the log-scalings folded into
/// K so far, relative to ξ.
struct Kernel {
    log_k: Vec<f64>,
    k: Vec<f64>,
    u: Vec<f64>,
    log_v: Vec<f64>,
    rows: Vec<f64>,
    cols: Vec<f64>,
    r: usize,
}

impl Kernel {
    /// The kernel of ξ = exp(log_xi) scaled by warm-start scalings, with its rows and columns
    /// brought near one. Scaling rows leaves the projection unchanged; scaling columns by exp(c)
    /// does too if ξ_g is divided by exp(c), so the column lift is returned for the caller to
    /// take off log ξ_g.
    fn new(mut log_k: Vec<f64>, rows: &[f64], cols: &[f64], r: usize) -> (Self, Vec<f64>) {
        let top: Vec<f64> = log_k
            .par_chunks_mut(r)
            .zip(rows)
            .map(|(row, &ri)| {
                row.iter_mut().zip(cols).for_each(|(x, &c)| *x += ri + c);
                let t = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                row.iter_mut().for_each(|x| *x -= t);
                t
            })
            .collect();
        let col_max = log_k
            .chunks_exact(r)
            .fold(vec![f64::NEG_INFINITY; r], |mut acc, row| {
                acc.iter_mut().zip(row).for_each(|(a, &x)| *a = a.max(x));
                acc
            });
        let lift: Vec<f64> = col_max.iter().map(|&c| (-c - ABSORB_AT).max(0.0)).collect();
        log_k
            .par_chunks_mut(r)
            .for_each(|row| row.iter_mut().zip(&lift).for_each(|(x, &l)| *x += l));
        let mut k = vec![0.0; log_k.len()];
        exp_into(&log_k, &mut k);
        let shift: Vec<f64> = cols.iter().zip(&lift).map(|(c, l)| c + l).collect();
        let kernel = Self {
            log_k,
            k,
            u: vec![1.0; rows.len()],
            log_v: vec![0.0; r],
            rows: rows.iter().zip(&top).map(|(ri, t)| ri - t).collect(),
            cols: shift.clone(),
            r,
        };
        (kernel, shift)
    }

    /// One fused pass: the row sums' L1 error against `target` before the update, the row update
    /// u = target / (K v), and the column sums Kᵀu after it.
    fn row_pass(&mut self, target: &[f64]) -> (f64, Vec<f64>) {
        let r = self.r;
        let v: Vec<f64> = self.log_v.iter().map(|x| x.exp()).collect();
        const BLOCK: usize = 1024;
        let parts: Vec<(f64, Vec<f64>)> = self
            .k
            .par_chunks(BLOCK * r)
            .zip(self.u.par_chunks_mut(BLOCK))
            .zip(target.par_chunks(BLOCK))
            .map(|((kb, ub), tb)| row_block(kb, ub, tb, &v))
            .collect();
        let err = parts.iter().map(|p| p.0).sum();
        (err, blocks::sum_columns(parts.into_iter().map(|p| p.1), r))
    }

    fn absorb_if_large(&mut self) {
        let (lo, hi) = ((-ABSORB_AT).exp(), ABSORB_AT.exp());
        let large = self.u.iter().any(|&x| !(lo..hi).contains(&x))
            || self.log_v.iter().any(|x| x.abs() >= ABSORB_AT);
        if !large {
            return;
        }
        let r = self.r;
        let log_v = self.log_v.clone();
        self.log_k
            .par_chunks_mut(r)
            .zip(self.k.par_chunks_mut(r))
            .zip(&self.u)
            .for_each(|((lrow, krow), &ui)| {
                let lu = ui.ln();
                lrow.iter_mut()
                    .zip(&log_v)
                    .for_each(|(l, &lv)| *l += lu + lv);
                exp_chunk(lrow, krow);
            });
        self.rows
            .iter_mut()
            .zip(&self.u)
            .for_each(|(x, u)| *x += u.ln());
        self.cols.iter_mut().zip(&log_v).for_each(|(x, v)| *x += v);
        self.u.iter_mut().for_each(|x| *x = 1.0);
        self.log_v.iter_mut().for_each(|x| *x = 0.0);
    }

    fn factor(&self) -> Vec<f64> {
        let v: Vec<f64> = self.log_v.iter().map(|x| x.exp()).collect();
        let mut out = self.k.clone();
        out.par_chunks_mut(self.r)
            .zip(&self.u)
            .for_each(|(row, &ui)| row.iter_mut().zip(&v).for_each(|(x, &vj)| *x *= ui * vj));
        out
    }

    /// Total log row and column scalings of ξ, to warm-start the next projection.
    fn scalings(&self) -> (Vec<f64>, Vec<f64>) {
        let rows = self
            .rows
            .iter()
            .zip(&self.u)
            .map(|(x, u)| x + u.ln())
            .collect();
        let cols = self
            .cols
            .iter()
            .zip(&self.log_v)
            .map(|(x, v)| x + v)
            .collect();
        (rows, cols)
    }
}

vectorised! {
/// Rows of one block: the L1 error of u ⊙ (K v) against `target`, the update u = target / (K v),
/// and the block's column sums of diag(u) K after it.
fn row_block(kb: &[f64], ub: &mut [f64], tb: &[f64], v: &[f64]) -> (f64, Vec<f64>) {
    let r = v.len();
    let (mut err, mut cols) = (0.0, vec![0.0; r]);
    for ((row, ui), &ti) in kb.chunks_exact(r).zip(ub.iter_mut()).zip(tb) {
        let s = simd::dot(row, v);
        err += (*ui * s - ti).abs();
        *ui = ti / s;
        let u = *ui;
        cols.iter_mut().zip(row).for_each(|(c, &x)| *c += x * u);
    }
    (err, cols)
}
}

vectorised! {
/// out = exp(x), element by element.
fn exp_chunk(x: &[f64], out: &mut [f64]) {
    out.iter_mut().zip(x).for_each(|(y, &v)| *y = simd::exp(v));
}
}

/// out = exp(x) in parallel blocks.
fn exp_into(x: &[f64], out: &mut [f64]) {
    out.par_chunks_mut(4096)
        .zip(x.par_chunks(4096))
        .for_each(|(o, xs)| exp_chunk(xs, o));
}

/// X moved onto {X1 = rows, Xᵀ1 = cols} exactly (Altschuler, Weed & Rigollet 2017, Alg. 2): rows
/// and columns over target are scaled down, the missing mass added as one non-negative rank-one
/// term. The L1 change is at most twice X's marginal error.
fn round_to_coupling(x: &mut [f64], rows: &[f64], cols: &[f64]) {
    let r = cols.len();
    x.par_chunks_mut(r).zip(rows).for_each(|(row, &target)| {
        let s: f64 = row.iter().sum();
        if s > target {
            row.iter_mut().for_each(|v| *v *= target / s);
        }
    });
    let sums = column_sums(x, r);
    let scale: Vec<f64> = sums
        .iter()
        .zip(cols)
        .map(|(&s, &c)| if s > c { c / s } else { 1.0 })
        .collect();
    x.par_chunks_mut(r)
        .for_each(|row| row.iter_mut().zip(&scale).for_each(|(v, s)| *v *= s));
    let miss_cols: Vec<f64> = column_sums(x, r)
        .iter()
        .zip(cols)
        .map(|(s, c)| (c - s).max(0.0))
        .collect();
    let miss_rows: Vec<f64> = x
        .chunks_exact(r)
        .zip(rows)
        .map(|(row, &t)| t - row.iter().sum::<f64>())
        .collect();
    let total: f64 = miss_rows.iter().sum();
    if total > 0.0 {
        x.par_chunks_mut(r).zip(&miss_rows).for_each(|(row, &mr)| {
            let w = mr.max(0.0) / total;
            row.iter_mut()
                .zip(&miss_cols)
                .for_each(|(v, &mc)| *v += w * mc);
        });
    }
}

fn column_sums(x: &[f64], r: usize) -> Vec<f64> {
    const BLOCK: usize = 1024;
    let parts: Vec<Vec<f64>> = x
        .par_chunks(BLOCK * r)
        .map(|b| {
            let mut c = vec![0.0; r];
            for row in b.chunks_exact(r) {
                c.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
            }
            c
        })
        .collect();
    blocks::sum_columns(parts, r)
}

struct Projection {
    q: Vec<f64>,
    r: Vec<f64>,
    g: Vec<f64>,
    iterations: usize,
    error: f64,
    warm: [Vec<f64>; 4],
}

/// KL projection of (ξ_Q, ξ_R, ξ_g) onto {Q1 = a, R1 = b, Qᵀ1 = Rᵀ1 = g ≥ g_min} by Dykstra's
/// algorithm, the r-vectors in log space, started from the previous projection's scalings.
fn dykstra(
    log_q: Vec<f64>,
    log_r: Vec<f64>,
    log_g: &[f64],
    warm: &[Vec<f64>; 4],
    prob: &Problem,
    opts: &Options,
    monitor: &mut dyn Monitor,
) -> CoreResult<Projection> {
    let r = log_g.len();
    let (mut kq, shift_q) = Kernel::new(log_q, &warm[0], &warm[1], r);
    let (mut kr, shift_r) = Kernel::new(log_r, &warm[2], &warm[3], r);
    let mut lg: Vec<f64> = (0..r).map(|s| log_g[s] - shift_q[s] - shift_r[s]).collect();
    let (mut c_bound, mut c_cols, mut c_q, mut c_r) =
        (vec![0.0; r], vec![0.0; r], vec![0.0; r], vec![0.0; r]);
    let log_min = opts.min_g.ln();
    let (mut error, mut iterations) = (f64::INFINITY, 0);
    for it in 1..=opts.inner_max_iter {
        monitor.check()?;
        let (eq, tq) = kq.row_pass(&prob.a);
        let (er, tr) = kr.row_pass(&prob.b);
        if it > 1 {
            error = eq + er;
            if error <= opts.inner_tol {
                // The error was measured before this pass's row update; the update stands (it
                // only brings the rows closer) and the rounding below makes everything exact.
                break;
            }
        }
        iterations = it;
        // Per component s: g's lower bound, then the shared column sums (geometric mean of the
        // three proposals for g), each with its Dykstra correction.
        for (s, lgs) in lg.iter_mut().enumerate() {
            let bounded = log_min.max(*lgs + c_bound[s]);
            c_bound[s] += *lgs - bounded;
            *lgs = bounded;
            let (ltq, ltr) = (tq[s].ln(), tr[s].ln());
            let new_g =
                (*lgs + c_cols[s] + kq.log_v[s] + c_q[s] + ltq + kr.log_v[s] + c_r[s] + ltr) / 3.0;
            let (vq, vr) = (new_g - ltq, new_g - ltr);
            c_q[s] += kq.log_v[s] - vq;
            c_r[s] += kr.log_v[s] - vr;
            c_cols[s] += *lgs - new_g;
            kq.log_v[s] = vq;
            kr.log_v[s] = vr;
            *lgs = new_g;
        }
        if lg.iter().any(|x| !x.is_finite()) {
            return Err(CoreError::numerical(
                "low-rank GW's projection broke down (a component lost all its mass); lower \
                 gamma or the rank",
            ));
        }
        kq.absorb_if_large();
        kr.absorb_if_large();
    }
    let (wq, wr) = (kq.scalings(), kr.scalings());
    let mut g: Vec<f64> = lg.iter().map(|x| x.exp()).collect();
    let total: f64 = g.iter().sum();
    g.iter_mut().for_each(|x| *x /= total);
    let (mut q, mut rr) = (kq.factor(), kr.factor());
    round_to_coupling(&mut q, &prob.a, &g);
    round_to_coupling(&mut rr, &prob.b, &g);
    Ok(Projection {
        q,
        r: rr,
        g,
        iterations,
        error,
        warm: [wq.0, wq.1, wr.0, wr.1],
    })
}

fn largest(x: &[f64]) -> f64 {
    x.par_iter().map(|v| v.abs()).reduce(|| 0.0, f64::max)
}

fn logs(x: &[f64], step: f64, grad: &[f64]) -> Vec<f64> {
    x.par_iter()
        .zip(grad)
        .map(|(&v, &d)| v.ln() - step * d)
        .collect()
}

/// Mirror descent from (q, r, g); see the module docs.
pub fn solve(
    prob: &Problem,
    mut q: Vec<f64>,
    mut rr: Vec<f64>,
    mut g: Vec<f64>,
    opts: &Options,
    monitor: &mut dyn Monitor,
) -> CoreResult<Outcome> {
    let r = g.len();
    let scale = prob.constant.max(f64::MIN_POSITIVE);
    let mut move_ = opts.gamma;
    let mut warm = [
        vec![0.0; prob.n],
        vec![0.0; r],
        vec![0.0; prob.m],
        vec![0.0; r],
    ];
    let mut ev = prob.evaluate(&q, &rr, &g);
    let mut history = vec![ev.value];
    let (mut inner_total, mut converged, mut capped, mut worst) = (0, false, 0, 0.0f64);
    let mut n_iter = 0;
    for it in 1..=opts.max_iter {
        n_iter = it;
        let top = largest(&ev.grad_q)
            .max(largest(&ev.grad_r))
            .max(largest(&ev.grad_g))
            .max(f64::MIN_POSITIVE);
        let mut accepted = None;
        let mut first_try = true;
        for _ in 0..MAX_HALVINGS {
            let step = move_ / top;
            let log_g: Vec<f64> = g
                .iter()
                .zip(&ev.grad_g)
                .map(|(&x, &d)| x.ln() - step * d)
                .collect();
            let proj = dykstra(
                logs(&q, step, &ev.grad_q),
                logs(&rr, step, &ev.grad_r),
                &log_g,
                &warm,
                prob,
                opts,
                monitor,
            )?;
            inner_total += proj.iterations;
            let trial = prob.evaluate(&proj.q, &proj.r, &proj.g);
            if trial.value <= ev.value {
                accepted = Some((proj, trial));
                break;
            }
            move_ *= 0.5;
            first_try = false;
        }
        let Some((proj, trial)) = accepted else {
            converged = true; // no step lowers the value: stationary to rounding
            n_iter = it - 1;
            break;
        };
        if first_try {
            move_ = (move_ * GROWTH).min(MAX_MOVE);
        }
        if proj.iterations == opts.inner_max_iter {
            capped += 1;
            worst = worst.max(proj.error);
        }
        let decrease = ev.value - trial.value;
        (q, rr, g, warm) = (proj.q, proj.r, proj.g, proj.warm);
        ev = trial;
        history.push(ev.value);
        monitor.progress(&Progress {
            iteration: it,
            relative_change: decrease / scale,
            marginal_error: proj.error,
            inner_iterations: proj.iterations,
            gw_value: Some(ev.value),
        })?;
        if decrease <= opts.tol * scale {
            converged = true;
            break;
        }
    }
    Ok(Outcome {
        q,
        r: rr,
        g,
        value: ev.value,
        converged,
        n_iter,
        n_inner_iter: inner_total,
        history,
        capped,
        worst_capped: worst,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gw::fixtures::{uniform, weights};
    use crate::monitor::Unmonitored;

    fn problem(n: usize, m: usize, k1: usize, k2: usize) -> (Problem, Vec<f64>, Vec<f64>) {
        // Non-symmetric factors: both transposed terms of the gradient are exercised.
        let centred =
            |seed, len| -> Vec<f64> { uniform(seed, len).iter().map(|x| x - 0.5).collect() };
        let (a1, b1, a2, b2) = (
            centred(1, n * k1),
            centred(2, n * k1),
            centred(3, m * k2),
            centred(4, m * k2),
        );
        let f1 = Factors {
            a: &a1,
            b: &b1,
            rows: n,
            k: k1,
        };
        let f2 = Factors {
            a: &a2,
            b: &b2,
            rows: m,
            k: k2,
        };
        let (a, b) = (weights(n, 5), weights(m, 6));
        (Problem::new(&f1, &f2, a.clone(), b.clone()), a, b)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (n, m, r) = (6, 5, 3);
        let (prob, _, _) = problem(n, m, 2, 3);
        let mut q: Vec<f64> = uniform(7, n * r).iter().map(|x| 0.1 + x).collect();
        let mut rr: Vec<f64> = uniform(8, m * r).iter().map(|x| 0.1 + x).collect();
        let mut g: Vec<f64> = uniform(9, r).iter().map(|x| 0.5 + x).collect();
        let ev = prob.evaluate(&q, &rr, &g);
        let h = 1e-6;
        let check = |analytic: f64, up: f64, down: f64| {
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (analytic - numeric).abs() <= 1e-6 * numeric.abs() + 1e-8,
                "{analytic} vs {numeric}"
            );
        };
        for (i, &analytic) in ev.grad_q.iter().enumerate() {
            q[i] += h;
            let up = prob.evaluate(&q, &rr, &g).value;
            q[i] -= 2.0 * h;
            let down = prob.evaluate(&q, &rr, &g).value;
            q[i] += h;
            check(analytic, up, down);
        }
        for (i, &analytic) in ev.grad_r.iter().enumerate() {
            rr[i] += h;
            let up = prob.evaluate(&q, &rr, &g).value;
            rr[i] -= 2.0 * h;
            let down = prob.evaluate(&q, &rr, &g).value;
            rr[i] += h;
            check(analytic, up, down);
        }
        for (i, &analytic) in ev.grad_g.iter().enumerate() {
            g[i] += h;
            let up = prob.evaluate(&q, &rr, &g).value;
            g[i] -= 2.0 * h;
            let down = prob.evaluate(&q, &rr, &g).value;
            g[i] += h;
            check(analytic, up, down);
        }
    }

    #[test]
    fn steps_keep_the_marginals_and_lower_the_value() {
        let (n, m, r) = (40, 30, 4);
        let (prob, a, b) = problem(n, m, 3, 3);
        // Start: the product coupling perturbed, made feasible by the rounding.
        let g = vec![1.0 / r as f64; r];
        let mut q: Vec<f64> = uniform(10, n * r).iter().map(|x| 0.5 + x).collect();
        let mut rr: Vec<f64> = uniform(11, m * r).iter().map(|x| 0.5 + x).collect();
        round_to_coupling(&mut q, &a, &g);
        round_to_coupling(&mut rr, &b, &g);
        let opts = Options {
            gamma: 1.0,
            max_iter: 50,
            tol: 0.0,
            inner_max_iter: 1000,
            inner_tol: 1e-9,
            min_g: 1e-10,
        };
        let out = solve(&prob, q, rr, g, &opts, &mut Unmonitored).unwrap();
        assert!(out.history.windows(2).all(|w| w[1] <= w[0]));
        assert!(out.history.last() < out.history.first());
        for (i, &ai) in a.iter().enumerate() {
            let s: f64 = out.q[i * r..(i + 1) * r].iter().sum();
            assert!((s - ai).abs() <= 1e-14, "row {i}: {s} vs {ai}");
        }
        for (j, &bj) in b.iter().enumerate() {
            let s: f64 = out.r[j * r..(j + 1) * r].iter().sum();
            assert!((s - bj).abs() <= 1e-14);
        }
        for (c, &gs) in column_sums(&out.q, r).iter().zip(&out.g) {
            assert!((c - gs).abs() <= 1e-14);
        }
        for (c, &gs) in column_sums(&out.r, r).iter().zip(&out.g) {
            assert!((c - gs).abs() <= 1e-14);
        }
    }
}
