//! Deterministic parallel reductions over the rows of an n × m matrix.
//!
//! Rows are cut into fixed blocks whatever the thread count, each block reduces sequentially, and
//! the per-block results are combined in block order. Floating-point sums therefore come out
//! bit-identical from run to run and across thread counts. Together with faer's GEMMs, which
//! come out the same at any thread count, a whole GW solve is bit-identical on 1, 2 or 3 threads
//! (`tests/test_core_runtime.py::test_gw_is_bitwise_identical_across_thread_counts`), so a
//! seeded study reproduces exactly.

use rayon::prelude::*;

/// Rows per block: large enough to amortise a task, small enough to balance two to many threads.
pub const ROWS: usize = 32;

/// Element-wise sum of per-block column vectors, in block order.
pub fn sum_columns(parts: impl IntoIterator<Item = Vec<f64>>, m: usize) -> Vec<f64> {
    let mut total = vec![0.0; m];
    for part in parts {
        total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
    }
    total
}

/// Σ term(i) over 0..n, summed per fixed chunk and then in chunk order.
pub fn sum(n: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    const CHUNK: usize = 1 << 12;
    let parts: Vec<f64> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| (c * CHUNK..((c + 1) * CHUNK).min(n)).map(&term).sum())
        .collect();
    parts.iter().sum()
}
