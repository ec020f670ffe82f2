//! The Gromov-Wasserstein objective in the separable form of Peyré, Cuturi & Solomon (2016):
//! for a loss L(a, b) = f1(a) + f2(b) − h1(a)·h2(b), the gradient at a plan T is
//!
//!   M = s · (α ⊕ β − X),   α = f1(C1) p,  β = f2(C2) q,  X = h1(C1) T h2(C2)ᵀ,
//!
//! with s = 2 for symmetric costs. For asymmetric costs the gradient is the mean of the gradients
//! of (C1, C2) and (C1ᵀ, C2ᵀ), which is the same form with summed parts and s = 1. The constant
//! part is kept as the two vectors α, β: no n × m "constC" matrix is ever built.

use crate::error::{CoreError, CoreResult};
use crate::real::{view_mut, Dense, Real};
use faer::MatRef;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    Square,
    Kl,
}

impl Loss {
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "square_loss" => Ok(Self::Square),
            "kl_loss" => Ok(Self::Kl),
            _ => Err(CoreError::value(format!(
                "loss_fun {name:?} is not supported; use 'square_loss' or 'kl_loss'"
            ))),
        }
    }

    // The 1e-18 offsets are POT's, so that kl_loss with zero costs gives the same numbers.
    fn f1(self, a: f64) -> f64 {
        match self {
            Self::Square => a * a,
            Self::Kl => a * (a + 1e-18).ln() - a,
        }
    }

    fn f2(self, b: f64) -> f64 {
        match self {
            Self::Square => b * b,
            Self::Kl => b,
        }
    }

    fn h2(self, b: f64) -> f64 {
        match self {
            Self::Square => b, // the factor 2 of h2(b) = 2b is applied as the GEMM's alpha
            Self::Kl => (b + 1e-18).ln(),
        }
    }

    fn h2_scale(self) -> f64 {
        match self {
            Self::Square => 2.0,
            Self::Kl => 1.0,
        }
    }
}

/// What the solver needs from the two metric spaces.
pub trait GwCost<T: Real>: Sync {
    /// (n, m): points in the source and target spaces.
    fn shape(&self) -> (usize, usize);
    /// α: the gradient's constant part over source points.
    fn alpha(&self) -> &[f64];
    /// β: the gradient's constant part over target points.
    fn beta(&self) -> &[f64];
    /// s in M = s · (α ⊕ β − X).
    fn scale(&self) -> f64;
    /// (α, β) for other marginals: f1(C1)·rows and f2(C2)·cols (summed over the transposed
    /// pair when asymmetric).
    fn constants(&self, rows: &[f64], cols: &[f64]) -> (Vec<f64>, Vec<f64>);
    /// Writes X = h1(C1) · T · h2(C2)ᵀ (summed over the transposed pair when asymmetric) into
    /// `out`; `scratch` is an n × m buffer the implementation may overwrite.
    fn cross(&self, plan: &[T], scratch: &mut [T], out: &mut [T]);
    /// The same cost with its matrices rounded to f32, for single-precision increments of X;
    /// None when T is f32 already (nothing to gain).
    fn single(&self) -> Option<Box<dyn GwCost<f32> + Send>>;
    /// max |X| per unit of plan mass: Σ over pairs of max|h1(C1)| · max|h2(C2)| · h2's factor.
    fn cross_bound(&self) -> f64;
}

/// Dense n × n and m × m cost matrices.
pub struct DenseCost<T> {
    /// (C1, C2) pairs: one for symmetric costs, two (the second transposed) otherwise.
    pairs: Vec<(Dense<T>, Dense<T>)>,
    /// h2(C2) of each pair, where it is not C2 itself (kl_loss).
    h2: Option<Vec<Dense<T>>>,
    loss: Loss,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    scale: f64,
}

fn matvec<T: Real>(c: &Dense<T>, f: impl Fn(f64) -> f64, w: &[f64]) -> Vec<f64> {
    (0..c.rows)
        .map(|i| {
            c.row(i)
                .iter()
                .zip(w)
                .map(|(&v, &wk)| f(v.f64()) * wk)
                .sum()
        })
        .collect()
}

fn mapped<T: Real>(c: &Dense<T>, f: impl Fn(f64) -> f64 + Sync) -> Dense<T> {
    Dense::from_vec(
        c.data.iter().map(|&v| T::of(f(v.f64()))).collect(),
        c.rows,
        c.cols,
    )
}

impl<T: Real> DenseCost<T> {
    pub fn new(
        c1: Dense<T>,
        c2: Dense<T>,
        p: &[f64],
        q: &[f64],
        loss: Loss,
        symmetric: bool,
    ) -> Self {
        let mut pairs = Vec::with_capacity(2);
        if !symmetric {
            pairs.push((c1.transposed(), c2.transposed()));
        }
        pairs.insert(0, (c1, c2));
        let h2 = (loss == Loss::Kl).then(|| {
            pairs
                .iter()
                .map(|(_, c2)| mapped(c2, |b| loss.h2(b)))
                .collect()
        });
        let mut cost = Self {
            pairs,
            h2,
            loss,
            alpha: Vec::new(),
            beta: Vec::new(),
            scale: if symmetric { 2.0 } else { 1.0 },
        };
        (cost.alpha, cost.beta) = cost.constants(p, q);
        cost
    }
}

impl<T: Real> GwCost<T> for DenseCost<T> {
    fn shape(&self) -> (usize, usize) {
        (self.pairs[0].0.rows, self.pairs[0].1.rows)
    }

    fn alpha(&self) -> &[f64] {
        &self.alpha
    }

    fn beta(&self) -> &[f64] {
        &self.beta
    }

    fn scale(&self) -> f64 {
        self.scale
    }

    fn constants(&self, rows: &[f64], cols: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = self.shape();
        let (mut alpha, mut beta) = (vec![0.0; n], vec![0.0; m]);
        for (c1, c2) in &self.pairs {
            alpha
                .iter_mut()
                .zip(matvec(c1, |a| self.loss.f1(a), rows))
                .for_each(|(a, x)| *a += x);
            beta.iter_mut()
                .zip(matvec(c2, |b| self.loss.f2(b), cols))
                .for_each(|(b, x)| *b += x);
        }
        (alpha, beta)
    }

    fn single(&self) -> Option<Box<dyn GwCost<f32> + Send>> {
        if T::EPS <= f64::from(f32::EPSILON) / 2.0 {
            // Only the cross term is evaluated in f32; α, β and s stay with the f64 cost.
            Some(Box::new(DenseCost::<f32> {
                pairs: self
                    .pairs
                    .iter()
                    .map(|(c1, c2)| (c1.single(), c2.single()))
                    .collect(),
                h2: self
                    .h2
                    .as_ref()
                    .map(|h| h.iter().map(Dense::single).collect()),
                loss: self.loss,
                alpha: Vec::new(),
                beta: Vec::new(),
                scale: self.scale,
            }))
        } else {
            None
        }
    }

    fn cross_bound(&self) -> f64 {
        self.pairs
            .iter()
            .enumerate()
            .map(|(k, (hc1, c2))| {
                let hc2 = self.h2.as_ref().map_or(c2, |h| &h[k]);
                hc1.largest() * hc2.largest() * self.loss.h2_scale()
            })
            .sum()
    }

    fn cross(&self, plan: &[T], scratch: &mut [T], out: &mut [T]) {
        let (n, m) = self.shape();
        let t = MatRef::from_row_major_slice(plan, n, m);
        for (k, (hc1, c2)) in self.pairs.iter().enumerate() {
            // h1(C1) = C1 for both losses.
            let hc2 = self.h2.as_ref().map_or(c2, |h| &h[k]);
            T::gemm(view_mut(scratch, n, m), false, hc1.view(), t, T::one());
            let y = MatRef::from_row_major_slice(scratch, n, m);
            T::gemm(
                view_mut(out, n, m),
                k > 0,
                y,
                hc2.view().transpose(),
                T::of(self.loss.h2_scale()),
            );
        }
    }
}
