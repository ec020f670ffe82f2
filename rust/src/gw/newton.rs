//! Sinkhorn-Newton (Brauer, Clason, Lorenz & Wirth 2019) for when plain scaling crawls.
//!
//! At small ε the entropic plan is nearly a permutation or nearly block-diagonal, and Sinkhorn's
//! error falls like 1/k: a million passes would not reach 1e-9. Newton's method on the dual
//! converges quadratically near the solution; each step solves
//!
//!   [diag(P1)  P ] [a]   [p − P1 ]
//!   [Pᵀ  diag(Pᵀ1)] [b] = [q − Pᵀ1]
//!
//! by preconditioned conjugate gradients (one fused pass over K per CG iteration), then scales
//! u ← u·eᵃ, v ← v·eᵇ with a backtracking line search on the marginal error. The system is
//! singular along (1, −1) but consistent, which CG handles.

use super::blocks;
use super::sinkhorn::Marginals;
use crate::error::CoreResult;
use crate::real::Real;
use crate::simd::{self, vectorised};
use crate::threads::install;
use rayon::prelude::*;

/// Row and column sums of diag(u) K diag(v), in one pass.
pub fn marginals<T: Real>(k: &[T], u: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let m = v.len();
    let parts: Vec<(Vec<f64>, Vec<f64>)> = k
        .par_chunks(blocks::ROWS * m)
        .zip(u.par_chunks(blocks::ROWS))
        .map(|(kb, ub)| marginals_block(kb, ub, v))
        .collect();
    let rows = parts.iter().flat_map(|(r, _)| r.iter().copied()).collect();
    (
        rows,
        blocks::sum_columns(parts.into_iter().map(|(_, c)| c), m),
    )
}

vectorised! {
/// `marginals` over one block of rows.
fn marginals_block<T: Real>(kb: &[T], ub: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let m = v.len();
    let (mut rows, mut cols) = (Vec::with_capacity(ub.len()), vec![0.0; m]);
    for (kr, &ui) in kb.chunks(m).zip(ub) {
        rows.push(ui * simd::dot(kr, v));
        cols.iter_mut()
            .zip(kr)
            .zip(v)
            .for_each(|((c, &kij), &vj)| *c += ui * kij.f64() * vj);
    }
    (rows, cols)
}
}

fn l1_error(rows: &[f64], cols: &[f64], marg: &Marginals) -> f64 {
    let r: f64 = rows.iter().zip(marg.p).map(|(a, b)| (a - b).abs()).sum();
    let c: f64 = cols.iter().zip(marg.q).map(|(a, b)| (a - b).abs()).sum();
    r.max(c)
}

/// The Hessian-vector product [diag(r)x + P y; Pᵀx + diag(c) y] in one pass over K.
fn hessian_times<T: Real>(
    k: &[T],
    u: &[f64],
    v: &[f64],
    rows: &[f64],
    cols: &[f64],
    x: &[f64],
    y: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let m = v.len();
    let vy: Vec<f64> = v.iter().zip(y).map(|(a, b)| a * b).collect();
    let b = blocks::ROWS;
    let parts: Vec<(Vec<f64>, Vec<f64>)> = k
        .par_chunks(b * m)
        .zip(u.par_chunks(b).zip(x.par_chunks(b)))
        .zip(rows.par_chunks(b))
        .map(|((kb, (ub, xb)), rb)| hessian_block(kb, ub, xb, rb, &vy))
        .collect();
    let hx = parts.iter().flat_map(|(h, _)| h.iter().copied()).collect();
    let acc = blocks::sum_columns(parts.into_iter().map(|(_, a)| a), m);
    let hy = cols
        .iter()
        .zip(y)
        .zip(v)
        .zip(acc)
        .map(|(((c, yj), vj), s)| c * yj + vj * s)
        .collect();
    (hx, hy)
}

vectorised! {
/// `hessian_times` over one block of rows: (H x)_i for its rows and its share of Kᵀ diag(u) x.
fn hessian_block<T: Real>(
    kb: &[T],
    ub: &[f64],
    xb: &[f64],
    rb: &[f64],
    vy: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let m = vy.len();
    let (mut hx, mut acc) = (Vec::with_capacity(ub.len()), vec![0.0; m]);
    for (((kr, &ui), &xi), &ri) in kb.chunks(m).zip(ub).zip(xb).zip(rb) {
        hx.push(ri * xi + ui * simd::dot(kr, vy));
        let w = ui * xi;
        acc.iter_mut()
            .zip(kr)
            .for_each(|(a, &kij)| *a += kij.f64() * w);
    }
    (hx, acc)
}
}

fn dot2(a: (&[f64], &[f64]), b: (&[f64], &[f64])) -> f64 {
    a.0.iter().zip(b.0).map(|(x, y)| x * y).sum::<f64>()
        + a.1.iter().zip(b.1).map(|(x, y)| x * y).sum::<f64>()
}

pub struct NewtonStats {
    pub passes: usize,
    pub error: f64,
    pub converged: bool,
}

/// Refines the scalings (u, v) of `k` until the L1 marginal error is at most `tol` or `max_passes`
/// passes over K have been spent.
pub fn polish<T: Real>(
    k: &[T],
    u: &mut [f64],
    v: &mut [f64],
    marg: &Marginals,
    tol: f64,
    max_passes: usize,
    check: &mut dyn FnMut() -> CoreResult<()>,
) -> CoreResult<NewtonStats> {
    let (n, m) = (u.len(), v.len());
    let (mut rows, mut cols) = install(|| marginals(k, u, v));
    let mut passes = 1;
    let mut error = l1_error(&rows, &cols, marg);
    while error > tol && passes < max_passes {
        check()?;
        // Residual of the Newton system and its Jacobi preconditioner.
        let rx: Vec<f64> = marg.p.iter().zip(&rows).map(|(p, r)| p - r).collect();
        let ry: Vec<f64> = marg.q.iter().zip(&cols).map(|(q, c)| q - c).collect();
        let (mut res_x, mut res_y) = (rx.clone(), ry.clone());
        let precond = |rx: &[f64], ry: &[f64]| -> (Vec<f64>, Vec<f64>) {
            (
                rx.iter().zip(&rows).map(|(a, r)| a / r).collect(),
                ry.iter().zip(&cols).map(|(a, c)| a / c).collect(),
            )
        };
        let (mut zx, mut zy) = precond(&res_x, &res_y);
        let (mut dx, mut dy) = (zx.clone(), zy.clone());
        let (mut sx, mut sy) = (vec![0.0; n], vec![0.0; m]);
        let mut rz = dot2((&res_x, &res_y), (&zx, &zy));
        let rhs_norm = dot2((&rx, &ry), (&rx, &ry)).sqrt();
        // Inexact Newton: far from the target, the classic forcing term √error gives superlinear
        // convergence; close to it, only the reduction still needed to reach `tol` is asked for.
        let forcing = (0.1f64.min(error.sqrt())).max(0.5 * tol / error).min(0.5);
        let cg_tol = rhs_norm * forcing;
        for _ in 0..(max_passes - passes).min(500) {
            let (hx, hy) = install(|| hessian_times(k, u, v, &rows, &cols, &dx, &dy));
            passes += 1;
            let curv = dot2((&dx, &dy), (&hx, &hy));
            if curv <= 0.0 || !curv.is_finite() {
                break;
            }
            let alpha = rz / curv;
            sx.iter_mut().zip(&dx).for_each(|(s, d)| *s += alpha * d);
            sy.iter_mut().zip(&dy).for_each(|(s, d)| *s += alpha * d);
            res_x.iter_mut().zip(&hx).for_each(|(r, h)| *r -= alpha * h);
            res_y.iter_mut().zip(&hy).for_each(|(r, h)| *r -= alpha * h);
            if dot2((&res_x, &res_y), (&res_x, &res_y)).sqrt() <= cg_tol {
                break;
            }
            (zx, zy) = precond(&res_x, &res_y);
            let rz_new = dot2((&res_x, &res_y), (&zx, &zy));
            let beta = rz_new / rz;
            rz = rz_new;
            dx.iter_mut().zip(&zx).for_each(|(d, z)| *d = z + beta * *d);
            dy.iter_mut().zip(&zy).for_each(|(d, z)| *d = z + beta * *d);
        }
        // Backtracking: take the longest step (1, 1/2, ...) that lowers the marginal error.
        let (u0, v0) = (u.to_vec(), v.to_vec());
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-4 && passes < max_passes {
            u.iter_mut()
                .zip(&u0)
                .zip(&sx)
                .for_each(|((ui, &u0i), &s)| *ui = u0i * (step * s).exp());
            v.iter_mut()
                .zip(&v0)
                .zip(&sy)
                .for_each(|((vj, &v0j), &s)| *vj = v0j * (step * s).exp());
            let (r, c) = install(|| marginals(k, u, v));
            passes += 1;
            let e = l1_error(&r, &c, marg);
            if e < error {
                (rows, cols, error, improved) = (r, c, e, true);
                break;
            }
            step *= 0.5;
        }
        if !improved {
            u.copy_from_slice(&u0);
            v.copy_from_slice(&v0);
            break;
        }
    }
    Ok(NewtonStats {
        passes,
        error,
        converged: error <= tol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gw::fixtures::{uniform, weights};

    #[test]
    fn polish_converges_quadratically_where_scaling_crawls() {
        // ε = 2e-3 on costs in [0, 1): plain Sinkhorn needs thousands of passes here.
        let (n, m, eps) = (20, 15, 2e-3);
        let cost = uniform(11, n * m);
        let k: Vec<f64> = cost.iter().map(|c| (-c / eps).exp()).collect();
        let (p, q) = (weights(n, 12), weights(m, 13));
        let marg = Marginals { p: &p, q: &q };
        // Where the solver hands over: scaling run until its marginal error is below 1e-3.
        let (mut u, mut v) = (vec![1.0; n], vec![1.0; m]);
        for _ in 0..10_000 {
            let (r, c) = marginals(&k, &u, &v);
            if l1_error(&r, &c, &marg) < 1e-3 {
                break;
            }
            for i in 0..n {
                let s: f64 = (0..m).map(|j| k[i * m + j] * v[j]).sum();
                u[i] = p[i] / s;
            }
            for j in 0..m {
                let s: f64 = (0..n).map(|i| k[i * m + j] * u[i]).sum();
                v[j] = q[j] / s;
            }
        }
        let (r0, c0) = marginals(&k, &u, &v);
        let start = l1_error(&r0, &c0, &marg);
        assert!(
            start > 1e-8,
            "scaling alone should still be short of the target ({start:e})"
        );
        let stats = polish(&k, &mut u, &mut v, &marg, 1e-13, 2_000, &mut || Ok(())).unwrap();
        assert!(
            stats.converged,
            "{:e} after {} passes",
            stats.error, stats.passes
        );
        let (rows, cols) = marginals(&k, &u, &v);
        assert!(l1_error(&rows, &cols, &marg) <= 1e-13);
        assert_eq!(stats.error, l1_error(&rows, &cols, &marg));
        // Newton-CG: a few dozen passes per Newton step, a handful of steps.
        assert!(stats.passes < 1_000, "{} passes", stats.passes);
    }

    #[test]
    fn polish_stops_at_its_pass_budget_and_says_so() {
        let (n, m, eps) = (10, 10, 1e-3);
        let k: Vec<f64> = uniform(21, n * m)
            .iter()
            .map(|c| (-c / eps).exp())
            .collect();
        let (p, q) = (weights(n, 22), weights(m, 23));
        let (mut u, mut v) = (vec![1.0; n], vec![1.0; m]);
        let marg = Marginals { p: &p, q: &q };
        let stats = polish(&k, &mut u, &mut v, &marg, 1e-15, 3, &mut || Ok(())).unwrap();
        assert!(stats.passes <= 3);
        assert!(!stats.converged);
        assert!(u.iter().chain(&v).all(|s| s.is_finite() && *s > 0.0));
    }
}
