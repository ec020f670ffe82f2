//! Anderson acceleration (type II, Walker & Ni 2011) of the outer fixed-point map T ↦ S(T).
//!
//! At small ε the plain entropic GW iteration converges linearly with a rate close to 1 (0.99 at
//! n = 500, ε = 1e-3: a thousand iterations). Anderson extrapolation from the last few iterates
//! reaches the same fixed point in far fewer gradient evaluations. The solver only switches it on
//! once the plain iteration is in its slow linear regime, so it accelerates the approach to the
//! fixed point the plain iteration is already converging to, rather than jumping between basins.
//! Even so it can converge to a saddle that plain iteration passes slowly before leaving it
//! (found by the comparison with POT), so the solver verifies its fixed point by plain steps.

use crate::error::CoreResult;
use crate::memory;
use crate::real::Real;
use rayon::prelude::*;

pub struct Anderson<T> {
    mem: usize,
    /// Differences of successive outputs and residuals, oldest first.
    dg: Vec<Vec<T>>,
    dr: Vec<Vec<T>>,
    /// ⟨dr_i, dr_j⟩, kept up to date as differences come and go.
    gram: Vec<Vec<f64>>,
    prev_g: Vec<T>,
    prev_r: Vec<T>,
    r: Vec<T>,
    has_prev: bool,
}

fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    super::blocks::sum(a.len(), |i| a[i].f64() * b[i].f64())
}

fn diff_into<T: Real>(out: &mut [T], a: &[T], b: &[T]) {
    out.par_iter_mut()
        .zip(a)
        .zip(b)
        .for_each(|((o, &x), &y)| *o = x - y);
}

/// Solves the small symmetric system (H + λI) γ = b by Gaussian elimination with partial pivoting.
fn solve_small(mut h: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let k = b.len();
    let scale = (0..k).map(|i| h[i][i]).fold(0.0, f64::max);
    for (i, row) in h.iter_mut().enumerate() {
        row[i] += 1e-10 * scale; // Tikhonov: nearly collinear differences must not blow γ up
    }
    for c in 0..k {
        let piv = (c..k).max_by(|&a, &b| h[a][c].abs().total_cmp(&h[b][c].abs()))?;
        if h[piv][c].abs() <= f64::MIN_POSITIVE {
            return None;
        }
        h.swap(c, piv);
        b.swap(c, piv);
        for r in c + 1..k {
            let f = h[r][c] / h[c][c];
            let pivot_row = h[c].clone();
            h[r].iter_mut()
                .zip(&pivot_row)
                .skip(c)
                .for_each(|(x, p)| *x -= f * p);
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; k];
    for c in (0..k).rev() {
        let s: f64 = (c + 1..k).map(|j| h[c][j] * x[j]).sum();
        x[c] = (b[c] - s) / h[c][c];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

impl<T: Real> Anderson<T> {
    /// Bytes of work memory for `len`-long iterates and `mem` differences.
    pub fn elements(len: usize, mem: usize) -> u128 {
        (len as u128) * (2 * mem as u128 + 3)
    }

    pub fn new(len: usize, mem: usize) -> CoreResult<Self> {
        Ok(Self {
            mem,
            dg: Vec::with_capacity(mem),
            dr: Vec::with_capacity(mem),
            gram: Vec::with_capacity(mem),
            prev_g: memory::zeros(len, "Anderson acceleration")?,
            prev_r: memory::zeros(len, "Anderson acceleration")?,
            r: memory::zeros(len, "Anderson acceleration")?,
            has_prev: false,
        })
    }

    /// Takes the map's input `x` and output `g` and overwrites `x` with the next input.
    pub fn step(&mut self, x: &mut [T], g: &[T]) -> CoreResult<()> {
        diff_into(&mut self.r, g, x);
        if self.has_prev {
            // Recycle the oldest difference buffers once the memory is full.
            let (mut dg, mut dr) = if self.dg.len() == self.mem {
                self.gram.remove(0);
                self.gram.iter_mut().for_each(|row| {
                    row.remove(0);
                });
                (self.dg.remove(0), self.dr.remove(0))
            } else {
                (
                    memory::zeros(g.len(), "Anderson acceleration")?,
                    memory::zeros(g.len(), "Anderson acceleration")?,
                )
            };
            diff_into(&mut dg, g, &self.prev_g);
            diff_into(&mut dr, &self.r, &self.prev_r);
            let row: Vec<f64> = self
                .dr
                .iter()
                .map(|d| dot(d, &dr))
                .chain(std::iter::once(dot(&dr, &dr)))
                .collect();
            for (existing, &v) in self.gram.iter_mut().zip(&row) {
                existing.push(v);
            }
            self.gram.push(row);
            self.dg.push(dg);
            self.dr.push(dr);
        }
        self.prev_g.copy_from_slice(g);
        std::mem::swap(&mut self.prev_r, &mut self.r);
        self.has_prev = true;
        let rhs: Vec<f64> = self.dr.iter().map(|d| dot(d, &self.prev_r)).collect();
        match solve_small(self.gram.clone(), rhs) {
            Some(gamma) if !gamma.is_empty() => {
                let dg = &self.dg;
                x.par_iter_mut()
                    .zip(g)
                    .enumerate()
                    .for_each(|(idx, (xi, &gi))| {
                        let shift: f64 = gamma.iter().zip(dg).map(|(c, d)| c * d[idx].f64()).sum();
                        *xi = T::flushed(gi.f64() - shift);
                    });
            }
            _ => x.copy_from_slice(g),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerates_a_slow_linear_contraction_to_its_fixed_point() {
        // x ↦ A x + b with spectral radius 0.99: plain iteration needs thousands of steps.
        let b = [1.0, -2.0, 0.5];
        let map = |x: &[f64]| {
            vec![
                0.99 * x[0] + b[0],
                0.5 * x[1] + 0.3 * x[2] + b[1],
                0.9 * x[2] + b[2],
            ]
        };
        let fixed = [100.0, (-2.0 + 0.3 * 5.0) / 0.5, 5.0];
        let mut aa = Anderson::<f64>::new(3, 3).unwrap();
        let mut x = vec![0.0; 3];
        for _ in 0..12 {
            let g = map(&x);
            aa.step(&mut x, &g).unwrap();
        }
        for (xi, fi) in x.iter().zip(fixed) {
            assert!((xi - fi).abs() < 1e-6, "{x:?}");
        }
    }
}
