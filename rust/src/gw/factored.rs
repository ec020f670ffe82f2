//! Factored (low-rank) costs, C = A Bᵀ with thin A, B of shape n × k: the RDMs of ratings are
//! exactly of this form for squared-Euclidean (k = D + 2), cosine, correlation and Spearman
//! (k = D + 1) dissimilarities of D-dimensional rows. For the square loss the gradient's parts
//! then come from the factors (Scetbon, Peyré & Cuturi, "Linear-time Gromov-Wasserstein distances
//! using low rank couplings and costs", ICML 2022):
//!
//!   α = (C1 ∘ C1) p,   α_i = a_iᵀ (B1ᵀ diag(p) B1) a_i          O(n k²)
//!   X = 2 C1 T C2ᵀ = 2 A1 ((B1ᵀ T) B2) A2ᵀ                        O(n m k)
//!
//! instead of O(n² m + n m²). One side may be dense (mixed pairs): its product is then taken with
//! the thin T B2 or B1ᵀ T, so no product is ever cubic. Transposed pairs (asymmetric costs) swap
//! the factors, Cᵀ = B Aᵀ, and transpose dense views; nothing is copied.

use super::cost::GwCost;
use crate::real::{view_mut, Dense, Real};
use faer::{MatMut, MatRef};

/// One metric space's cost: a dense matrix, or factors with C = A Bᵀ.
pub enum Side<T> {
    Dense(Dense<T>),
    Factored { a: Dense<T>, b: Dense<T> },
}

/// A side's cost (or its transpose) as the product takes it.
enum Form<'a, T> {
    Dense(MatRef<'a, T>),
    /// C = L Rᵀ.
    Factored(MatRef<'a, T>, MatRef<'a, T>),
}

impl<T: Real> Side<T> {
    pub fn points(&self) -> usize {
        match self {
            Self::Dense(c) => c.rows,
            Self::Factored { a, .. } => a.rows,
        }
    }

    fn form(&self, transposed: bool) -> Form<'_, T> {
        match (self, transposed) {
            (Self::Dense(c), false) => Form::Dense(c.view()),
            (Self::Dense(c), true) => Form::Dense(c.view().transpose()),
            (Self::Factored { a, b }, false) => Form::Factored(a.view(), b.view()),
            (Self::Factored { a, b }, true) => Form::Factored(b.view(), a.view()),
        }
    }

    /// (C ∘ C) w, or (Cᵀ ∘ Cᵀ) w, in f64.
    fn squares_times(&self, w: &[f64], transposed: bool) -> Vec<f64> {
        let sq = |v: T| v.f64() * v.f64();
        match (self, transposed) {
            (Self::Dense(c), false) => (0..c.rows)
                .map(|i| c.row(i).iter().zip(w).map(|(&v, &wj)| sq(v) * wj).sum())
                .collect(),
            (Self::Dense(c), true) => {
                let mut out = vec![0.0; c.cols];
                for (i, &wi) in w.iter().enumerate() {
                    out.iter_mut()
                        .zip(c.row(i))
                        .for_each(|(o, &v)| *o += sq(v) * wi);
                }
                out
            }
            (Self::Factored { a, b }, tr) => {
                let (l, r) = if tr { (b, a) } else { (a, b) };
                // Σ_j w_j (l_i · r_j)² = l_iᵀ G l_i with G = Σ_j w_j r_j r_jᵀ (k × k).
                let k = r.cols;
                let mut g = vec![0.0; k * k];
                for (j, &wj) in w.iter().enumerate() {
                    let rj = r.row(j);
                    for (ga, &ra) in g.chunks_mut(k).zip(rj) {
                        let ra = wj * ra.f64();
                        ga.iter_mut()
                            .zip(rj)
                            .for_each(|(gab, &rb)| *gab += ra * rb.f64());
                    }
                }
                (0..l.rows)
                    .map(|i| {
                        let li = l.row(i);
                        g.chunks(k)
                            .zip(li)
                            .map(|(ga, &la)| {
                                la.f64()
                                    * ga.iter()
                                        .zip(li)
                                        .map(|(&gab, &lb)| gab * lb.f64())
                                        .sum::<f64>()
                            })
                            .sum()
                    })
                    .collect()
            }
        }
    }

    /// max |C_ij| for a dense side; for factors the bound max_i ‖a_i‖ · max_j ‖b_j‖
    /// (Cauchy–Schwarz), which costs O(n k) where the exact maximum costs O(n² k).
    fn largest_bound(&self) -> f64 {
        let row_norm = |d: &Dense<T>| {
            (0..d.rows)
                .map(|i| {
                    d.row(i)
                        .iter()
                        .map(|v| v.f64() * v.f64())
                        .sum::<f64>()
                        .sqrt()
                })
                .fold(0.0f64, f64::max)
        };
        match self {
            Self::Dense(c) => c.largest(),
            Self::Factored { a, b } => row_norm(a) * row_norm(b),
        }
    }
}

/// A matrix of the given shape in a fresh buffer, written by `fill`.
fn product<T: Real>(rows: usize, cols: usize, fill: impl FnOnce(MatMut<'_, T>)) -> Dense<T> {
    let mut data = vec![T::zero(); rows * cols];
    fill(view_mut(&mut data, rows, cols));
    Dense::from_vec(data, rows, cols)
}

/// The square-loss GW cost of two spaces of which at least one is factored (a pair of dense
/// matrices is [`super::DenseCost`]'s).
pub struct FactoredCost<T> {
    c1: Side<T>,
    c2: Side<T>,
    /// Whether the gradient also takes the transposed pair (asymmetric costs).
    transposed_pair: bool,
    alpha: Vec<f64>,
    beta: Vec<f64>,
}

impl<T: Real> FactoredCost<T> {
    pub fn new(c1: Side<T>, c2: Side<T>, p: &[f64], q: &[f64], symmetric: bool) -> Self {
        let mut cost = Self {
            c1,
            c2,
            transposed_pair: !symmetric,
            alpha: Vec::new(),
            beta: Vec::new(),
        };
        (cost.alpha, cost.beta) = cost.constants(p, q);
        cost
    }

    fn pairs(&self) -> &'static [bool] {
        if self.transposed_pair {
            &[false, true]
        } else {
            &[false]
        }
    }

    /// out (+)= 2 · C1 T C2ᵀ for one pair; `scratch` (n × m) is only used when both are dense.
    fn cross_pair(
        &self,
        transposed: bool,
        t: MatRef<'_, T>,
        scratch: &mut [T],
        out: MatMut<'_, T>,
        accumulate: bool,
    ) {
        let (n, m) = (t.nrows(), t.ncols());
        let two = T::of(2.0);
        match (self.c1.form(transposed), self.c2.form(transposed)) {
            (Form::Factored(l1, r1), Form::Factored(l2, r2)) => {
                // 2 · L1 ((R1ᵀ T) R2) L2ᵀ: the n × m products are the first and the last.
                let p = product(r1.ncols(), m, |d| {
                    T::gemm(d, false, r1.transpose(), t, T::one())
                });
                let w = product(r1.ncols(), r2.ncols(), |d| {
                    T::gemm(d, false, p.view(), r2, T::one())
                });
                let u = product(n, r2.ncols(), |d| T::gemm(d, false, l1, w.view(), T::one()));
                T::gemm(out, accumulate, u.view(), l2.transpose(), two);
            }
            (Form::Dense(c1), Form::Factored(l2, r2)) => {
                let y = product(n, r2.ncols(), |d| T::gemm(d, false, t, r2, T::one()));
                let z = product(n, r2.ncols(), |d| T::gemm(d, false, c1, y.view(), T::one()));
                T::gemm(out, accumulate, z.view(), l2.transpose(), two);
            }
            (Form::Factored(l1, r1), Form::Dense(c2)) => {
                let p = product(r1.ncols(), m, |d| {
                    T::gemm(d, false, r1.transpose(), t, T::one())
                });
                let q = product(r1.ncols(), m, |d| {
                    T::gemm(d, false, p.view(), c2.transpose(), T::one())
                });
                T::gemm(out, accumulate, l1, q.view(), two);
            }
            (Form::Dense(c1), Form::Dense(c2)) => {
                T::gemm(view_mut(scratch, n, m), false, c1, t, T::one());
                let y = MatRef::from_row_major_slice(scratch, n, m);
                T::gemm(out, accumulate, y, c2.transpose(), two);
            }
        }
    }
}

impl<T: Real> GwCost<T> for FactoredCost<T> {
    fn shape(&self) -> (usize, usize) {
        (self.c1.points(), self.c2.points())
    }

    fn alpha(&self) -> &[f64] {
        &self.alpha
    }

    fn beta(&self) -> &[f64] {
        &self.beta
    }

    fn scale(&self) -> f64 {
        if self.transposed_pair {
            1.0
        } else {
            2.0
        }
    }

    fn constants(&self, rows: &[f64], cols: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = self.shape();
        let (mut alpha, mut beta) = (vec![0.0; n], vec![0.0; m]);
        for &tr in self.pairs() {
            let (a, b) = (
                self.c1.squares_times(rows, tr),
                self.c2.squares_times(cols, tr),
            );
            alpha.iter_mut().zip(a).for_each(|(s, x)| *s += x);
            beta.iter_mut().zip(b).for_each(|(s, x)| *s += x);
        }
        (alpha, beta)
    }

    fn cross(&self, plan: &[T], scratch: &mut [T], out: &mut [T]) {
        let (n, m) = self.shape();
        let t = MatRef::from_row_major_slice(plan, n, m);
        for (idx, &tr) in self.pairs().iter().enumerate() {
            self.cross_pair(tr, t, scratch, view_mut(out, n, m), idx > 0);
        }
    }

    fn single(&self) -> Option<Box<dyn GwCost<f32> + Send>> {
        // The increments exist to halve the cost of two n³ GEMMs; the factored products are
        // O(n m k) and already cheaper than the Sinkhorn passes, so they are always exact.
        None
    }

    fn cross_bound(&self) -> f64 {
        2.0 * self.pairs().len() as f64 * self.c1.largest_bound() * self.c2.largest_bound()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gw::cost::{DenseCost, Loss};
    use crate::gw::fixtures::uniform;

    /// Random factors (n × k) and the dense matrix they make.
    fn factors(n: usize, k: usize, seed: u64) -> (Dense<f64>, Dense<f64>, Dense<f64>) {
        let a = Dense::from_vec(uniform(seed, n * k), n, k);
        let b = Dense::from_vec(uniform(seed + 100, n * k), n, k);
        let c = product(n, n, |d| {
            f64::gemm(d, false, a.view(), b.view().transpose(), 1.0)
        });
        (a, b, c)
    }

    fn largest_gap(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .fold(0.0f64, |w, (x, y)| w.max((x - y).abs()))
    }

    #[test]
    fn factored_and_mixed_gradients_equal_the_dense_one() {
        let (n, m) = (23, 17);
        let (a1, b1, c1) = factors(n, 4, 1);
        let (a2, b2, c2) = factors(m, 3, 2);
        let t = uniform(3, n * m);
        let (p, q) = crate::gw::fixtures::sums(&t, n, m);
        // Random factors are asymmetric: both pairs of the gradient are exercised.
        let dense = DenseCost::new(c1.clone(), c2.clone(), &p, &q, Loss::Square, false);
        let (mut scratch, mut want) = (vec![0.0; n * m], vec![0.0; n * m]);
        dense.cross(&t, &mut scratch, &mut want);
        let sides = |dense1: bool, dense2: bool| {
            let s1 = if dense1 {
                Side::Dense(c1.clone())
            } else {
                Side::Factored {
                    a: a1.clone(),
                    b: b1.clone(),
                }
            };
            let s2 = if dense2 {
                Side::Dense(c2.clone())
            } else {
                Side::Factored {
                    a: a2.clone(),
                    b: b2.clone(),
                }
            };
            (s1, s2)
        };
        let scale = want.iter().fold(0.0f64, |w, x| w.max(x.abs()));
        for (d1, d2) in [(false, false), (true, false), (false, true), (true, true)] {
            let (s1, s2) = sides(d1, d2);
            let cost = FactoredCost::new(s1, s2, &p, &q, false);
            let mut got = vec![0.0; n * m];
            cost.cross(&t, &mut scratch, &mut got);
            assert!(largest_gap(&got, &want) <= 1e-13 * scale, "({d1}, {d2})");
            assert!(largest_gap(cost.alpha(), dense.alpha()) <= 1e-12 * dense.alpha()[0]);
            assert!(largest_gap(cost.beta(), dense.beta()) <= 1e-12 * dense.beta()[0]);
            assert_eq!(cost.scale(), dense.scale());
            assert!(cost.cross_bound() >= 0.999_999 * dense.cross_bound());
        }
    }
}
