//! The two floating-point types every kernel is generic over, and the dense GEMM they share.

use faer::{Accum, MatMut, MatRef, Par};
use num_traits::{Float, FromPrimitive, ToPrimitive};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::AddAssign;

/// f32 or f64. Kernels compute in the caller's precision; accumulations that decide convergence
/// (marginals, norms, correlation sums) are carried in f64 whatever the storage type.
pub trait Real:
    Float
    + FromPrimitive
    + ToPrimitive
    + AddAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + numpy::Element
    + 'static
{
    /// Machine epsilon of the storage type, as f64.
    const EPS: f64;
    /// Name shown to users (`"float32"` / `"float64"`).
    const NAME: &'static str;

    fn of(x: f64) -> Self;
    /// `x` in the storage type, with results below its smallest normal number flushed to zero.
    /// Plans are stored this way: subnormal entries carry no mass that matters (< 1.2e-38 in
    /// f32), but every GEMM that reads them takes the CPU's slow microcode path; f32 GW at
    /// n = 2185, ε = 1e-3 ran 8 s per iteration instead of 0.6 s.
    fn flushed(x: f64) -> Self;
    fn f64(self) -> f64;

    /// `dst = alpha * lhs * rhs` (or `dst += ...` when `accumulate`), multithreaded in the current
    /// rayon pool.
    fn gemm(
        dst: MatMut<'_, Self>,
        accumulate: bool,
        lhs: MatRef<'_, Self>,
        rhs: MatRef<'_, Self>,
        alpha: Self,
    );
}

macro_rules! impl_real {
    ($t:ty, $name:literal) => {
        impl Real for $t {
            const EPS: f64 = <$t>::EPSILON as f64;
            const NAME: &'static str = $name;

            #[inline(always)]
            fn of(x: f64) -> Self {
                x as $t
            }

            #[inline(always)]
            fn flushed(x: f64) -> Self {
                let y = x as $t;
                if y.abs() < <$t>::MIN_POSITIVE {
                    0.0
                } else {
                    y
                }
            }

            #[inline(always)]
            fn f64(self) -> f64 {
                self as f64
            }

            fn gemm(
                dst: MatMut<'_, Self>,
                accumulate: bool,
                lhs: MatRef<'_, Self>,
                rhs: MatRef<'_, Self>,
                alpha: Self,
            ) {
                let beta = if accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                faer::linalg::matmul::matmul(dst, beta, lhs, rhs, alpha, Par::rayon(0));
            }
        }
    };
}

impl_real!(f32, "float32");
impl_real!(f64, "float64");

/// A dense row-major matrix owned by the core.
#[derive(Clone, Debug)]
pub struct Dense<T> {
    pub data: Vec<T>,
    pub rows: usize,
    pub cols: usize,
}

impl<T: Real> Dense<T> {
    pub fn from_vec(data: Vec<T>, rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self { data, rows, cols }
    }

    pub fn view(&self) -> MatRef<'_, T> {
        MatRef::from_row_major_slice(&self.data, self.rows, self.cols)
    }

    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn transposed(&self) -> Self {
        let mut data = Vec::with_capacity(self.data.len());
        for j in 0..self.cols {
            data.extend((0..self.rows).map(|i| self.data[i * self.cols + j]));
        }
        Self::from_vec(data, self.cols, self.rows)
    }

    /// The same matrix rounded to f32.
    pub fn single(&self) -> Dense<f32> {
        Dense::from_vec(
            self.data.iter().map(|&v| v.f64() as f32).collect(),
            self.rows,
            self.cols,
        )
    }

    /// Largest |a_ij|.
    pub fn largest(&self) -> f64 {
        self.data.iter().fold(0.0f64, |a, &v| a.max(v.f64().abs()))
    }

    /// Largest |a_ij - a_ji|; zero for a symmetric matrix.
    pub fn asymmetry(&self) -> f64 {
        debug_assert_eq!(self.rows, self.cols);
        let n = self.rows;
        let mut worst = 0.0f64;
        for i in 0..n {
            for j in (i + 1)..n {
                worst = worst.max((self.data[i * n + j] - self.data[j * n + i]).f64().abs());
            }
        }
        worst
    }
}

/// Row-major view over a mutable buffer, for GEMM destinations.
pub fn view_mut<T: Real>(data: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_row_major_slice_mut(data, rows, cols)
}
