//! Small deterministic problems for the solver's unit tests (no RNG crate: the same numbers on
//! every platform).

use crate::real::Dense;

/// A fixed pseudo-random sequence in [0, 1) (64-bit LCG, top 53 bits).
pub fn uniform(seed: u64, len: usize) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Distances between random points of the unit square, divided by their maximum.
pub fn costs(n: usize, seed: u64) -> Dense<f64> {
    let xy = uniform(seed, 2 * n);
    let d: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            (xy[2 * i] - xy[2 * j]).hypot(xy[2 * i + 1] - xy[2 * j + 1])
        })
        .collect();
    let top = d.iter().fold(0.0f64, |a, &b| a.max(b));
    Dense::from_vec(d.iter().map(|v| v / top).collect(), n, n)
}

/// Strictly positive weights of unit sum.
pub fn weights(n: usize, seed: u64) -> Vec<f64> {
    let w: Vec<f64> = uniform(seed, n).iter().map(|v| 0.2 + v).collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|v| v / total).collect()
}

/// Row and column sums of an n × m matrix, summed naively (the reference for the kernels' own).
pub fn sums(t: &[f64], n: usize, m: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = (0..n).map(|i| t[i * m..(i + 1) * m].iter().sum()).collect();
    let cols = (0..m).map(|j| (0..n).map(|i| t[i * m + j]).sum()).collect();
    (rows, cols)
}

/// max(‖rows − p‖₁, ‖cols − q‖₁).
pub fn marginal_error(t: &[f64], p: &[f64], q: &[f64]) -> f64 {
    let (rows, cols) = sums(t, p.len(), q.len());
    let l1 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>();
    l1(&rows, p).max(l1(&cols, q))
}
