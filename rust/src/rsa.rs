//! Representational similarity statistics between two RDMs' upper triangles, with Mantel
//! permutation tests (items are permuted, so rows and columns move together).

use crate::distance::condensed_offset;
use crate::error::{CoreError, CoreResult};
use crate::memory::ensure_fits;
use crate::monitor::Monitor;
use crate::rank::par_centred_ranks;
use crate::threads::install;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Spearman,
    Pearson,
    Kendall,
}

impl Method {
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name.to_ascii_lowercase().as_str() {
            "spearman" => Ok(Self::Spearman),
            "pearson" => Ok(Self::Pearson),
            "kendall" => Ok(Self::Kendall),
            _ => Err(CoreError::value(format!(
                "method {name:?} is not supported; use 'spearman', 'pearson' or 'kendall'"
            ))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RsaResult {
    pub r: f64,
    pub p_value: Option<f64>,
    pub n_pairs: usize,
    /// Correlations under the permutations, in permutation order.
    pub null: Vec<f64>,
}

/// Pairs summed per task. Fixed-size chunks summed in order make every reduction independent
/// of the thread count, so a seeded result is reproducible to the last bit.
const SUM_CHUNK: usize = 1 << 14;

fn deterministic_sum(n: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    let partial: Vec<f64> = (0..n.div_ceil(SUM_CHUNK))
        .into_par_iter()
        .map(|c| {
            (c * SUM_CHUNK..((c + 1) * SUM_CHUNK).min(n))
                .map(&term)
                .sum()
        })
        .collect();
    partial.iter().sum()
}

/// Deviations from the mean of `v` (Pearson) or of its ranks (Spearman), and their sum of
/// squares; a constant vector has no correlation.
fn centred(v: &[f64], method: Method, arg: &str) -> CoreResult<(Vec<f64>, f64)> {
    let (c, ss) = if method == Method::Spearman {
        par_centred_ranks(v)
    } else {
        let mean = deterministic_sum(v.len(), |i| v[i]) / v.len() as f64;
        let c: Vec<f64> = v.par_iter().map(|x| x - mean).collect();
        let ss = deterministic_sum(c.len(), |i| c[i] * c[i]);
        (c, ss)
    };
    if ss <= 0.0 || !ss.is_finite() {
        return Err(CoreError::value(format!(
            "{arg} is constant over its upper triangle, so its correlation with anything is \
             undefined; check that the RDM was computed from varying ratings"
        )));
    }
    Ok((c, ss))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    deterministic_sum(a.len(), |i| a[i] * b[i])
}

/// Number of pairs (i < j) among `n` items: t(t − 1)/2.
fn pairs_of(t: u64) -> u64 {
    t * t.saturating_sub(1) / 2
}

/// Counts pairs a < b with v[a] > v[b] while sorting `v` (bottom-up merge sort).
fn sort_counting_inversions(v: &mut Vec<f64>) -> u64 {
    let n = v.len();
    let mut buf = vec![0.0; n];
    let mut inversions = 0u64;
    let mut width = 1;
    while width < n {
        for lo in (0..n).step_by(2 * width) {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j, mut k) = (lo, mid, lo);
            while i < mid && j < hi {
                if v[j] < v[i] {
                    inversions += (mid - i) as u64;
                    buf[k] = v[j];
                    j += 1;
                } else {
                    buf[k] = v[i];
                    i += 1;
                }
                k += 1;
            }
            buf[k..k + mid - i].copy_from_slice(&v[i..mid]);
            k += mid - i;
            buf[k..k + hi - j].copy_from_slice(&v[j..hi]);
        }
        std::mem::swap(v, &mut buf);
        width *= 2;
    }
    inversions
}

/// Sum of t(t−1)/2 over runs of equal values in a sorted sequence.
fn tied_pairs(sorted: impl Iterator<Item = f64>) -> u64 {
    let mut total = 0;
    let mut run = 0u64;
    let mut prev = f64::NAN;
    for v in sorted {
        if v == prev {
            run += 1;
        } else {
            total += pairs_of(run);
            run = 1;
            prev = v;
        }
    }
    total + pairs_of(run)
}

/// Kendall's tau-b in O(N log N) (Knight 1966), the variant scipy.stats.kendalltau computes.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> CoreResult<f64> {
    let n = x.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b]))
    });
    let x_ties = tied_pairs(order.iter().map(|&i| x[i as usize]));
    // Joint ties: runs equal in both coordinates, adjacent after the lexicographic sort.
    let mut joint_ties = 0;
    let mut run = 1u64;
    for w in order.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if x[a] == x[b] && y[a] == y[b] {
            run += 1;
        } else {
            joint_ties += pairs_of(run);
            run = 1;
        }
    }
    joint_ties += pairs_of(run);
    let mut ys: Vec<f64> = order.iter().map(|&i| y[i as usize]).collect();
    let discordant = sort_counting_inversions(&mut ys);
    let y_ties = tied_pairs(ys.iter().copied());
    let all = pairs_of(n as u64);
    let denom = ((all - x_ties) as f64 * (all - y_ties) as f64).sqrt();
    if denom == 0.0 {
        return Err(CoreError::value(
            "one RDM is constant over its upper triangle, so Kendall's tau is undefined; check \
             that the RDMs were computed from varying ratings",
        ));
    }
    let numer =
        all as f64 - x_ties as f64 - y_ties as f64 + joint_ties as f64 - 2.0 * discordant as f64;
    Ok((numer / denom).clamp(-1.0, 1.0))
}

/// The index, in condensed order, of pair (π(i), π(j)).
#[inline]
fn permuted_pair(n: usize, pi: usize, pj: usize) -> usize {
    let (a, b) = if pi < pj { (pi, pj) } else { (pj, pi) };
    condensed_offset(n, a) + b - a - 1
}

/// `y` with its items relabelled by `perm`: entry (i, j) becomes entry (perm[i], perm[j]).
fn permute_items(y: &[f64], n: usize, perm: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(y.len());
    for i in 0..n {
        for j in (i + 1)..n {
            out.push(y[permuted_pair(n, perm[i], perm[j])]);
        }
    }
    out
}

fn permutation(n: usize, seed: u64, index: u64) -> Vec<usize> {
    // One ChaCha stream per permutation: the null distribution is the same whatever the thread count.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng);
    perm
}

/// The symmetric n × n matrix (row-major, zero diagonal) of a condensed upper triangle.
fn squared(condensed: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    let mut k = 0;
    for i in 0..n {
        for j in i + 1..n {
            out[i * n + j] = condensed[k];
            out[j * n + i] = condensed[k];
            k += 1;
        }
    }
    out
}

/// Items in an RDM whose upper triangle has `pairs` entries.
pub fn items_for_pairs(pairs: usize) -> Option<usize> {
    let n = ((1.0 + (1.0 + 8.0 * pairs as f64).sqrt()) / 2.0).round() as usize;
    (n * n.saturating_sub(1) / 2 == pairs).then_some(n)
}

/// Correlation of two upper triangles (`x`, `y`, condensed order over `n` items).
/// `check` runs between batches of permutations so the caller can stop the work (Ctrl-C).
pub fn rsa(
    x: &[f64],
    y: &[f64],
    n: usize,
    method: Method,
    permutations: usize,
    seed: u64,
    monitor: &mut dyn Monitor,
) -> CoreResult<RsaResult> {
    let n_pairs = x.len();
    if n_pairs < 2 {
        return Err(CoreError::value(format!(
            "the RDMs have {n_pairs} pair(s) of items; a correlation needs at least 2 (3 or more items)"
        )));
    }
    let batch = 4 * crate::threads::num_threads();
    let mut null = Vec::with_capacity(permutations);
    let r = if method == Method::Kendall {
        let r = install(|| kendall_tau_b(x, y))?;
        for start in (0..permutations).step_by(batch) {
            monitor.check()?;
            let part: CoreResult<Vec<f64>> = install(|| {
                (start..(start + batch).min(permutations))
                    .into_par_iter()
                    .map(|p| {
                        kendall_tau_b(x, &permute_items(y, n, &permutation(n, seed, p as u64)))
                    })
                    .collect()
            });
            null.extend(part?);
        }
        r
    } else {
        let (xc, yc) =
            install(|| rayon::join(|| centred(x, method, "D1"), || centred(y, method, "D2")));
        let ((xc, sxx), (yc, syy)) = (xc?, yc?);
        let norm = (sxx * syy).sqrt();
        let r = (install(|| dot(&xc, &yc)) / norm).clamp(-1.0, 1.0);
        // A permutation moves the same values around, so means and norms stay; only the cross
        // product changes. D2 is read as a square matrix: pair (π(i), π(j)) then lies in row
        // π(i), which stays in cache while j runs, where the condensed index would jump across
        // the whole upper triangle for every pair.
        let square = if permutations > 0 {
            ensure_fits(
                (n as u128) * (n as u128),
                8,
                "the Mantel test's square copy of D2",
                "use fewer permutations (0 skips the test) or fewer items",
            )?;
            squared(&yc, n)
        } else {
            Vec::new()
        };
        for start in (0..permutations).step_by(batch) {
            monitor.check()?;
            let part: Vec<f64> = install(|| {
                (start..(start + batch).min(permutations))
                    .into_par_iter()
                    .map(|p| {
                        let perm = permutation(n, seed, p as u64);
                        let mut acc = 0.0;
                        let mut k = 0;
                        for i in 0..n {
                            let row = &square[perm[i] * n..(perm[i] + 1) * n];
                            for &pj in &perm[i + 1..] {
                                acc += xc[k] * row[pj];
                                k += 1;
                            }
                        }
                        (acc / norm).clamp(-1.0, 1.0)
                    })
                    .collect()
            });
            null.extend(part);
        }
        r
    };
    // One-sided (greater), counting the observed statistic as one of the permutations, so p > 0.
    let p_value = (permutations > 0).then(|| {
        let hits = null.iter().filter(|&&v| v >= r - 1e-12).count();
        (hits + 1) as f64 / (permutations + 1) as f64
    });
    Ok(RsaResult {
        r,
        p_value,
        n_pairs,
        null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kendall_matches_brute_force() {
        let x = [1.0, 2.0, 2.0, 3.0, 5.0, 4.0, 4.0];
        let y = [2.0, 1.0, 3.0, 3.0, 6.0, 5.0, 4.0];
        let (mut c, mut d, mut tx, mut ty) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for i in 0..7 {
            for j in (i + 1)..7 {
                let s = (x[i] - x[j]) * (y[i] - y[j]);
                if s > 0.0 {
                    c += 1.0;
                } else if s < 0.0 {
                    d += 1.0;
                } else if x[i] == x[j] && y[i] != y[j] {
                    tx += 1.0;
                } else if y[i] == y[j] && x[i] != x[j] {
                    ty += 1.0;
                }
            }
        }
        let expected = (c - d) / ((c + d + tx) * (c + d + ty)).sqrt();
        assert!((kendall_tau_b(&x, &y).unwrap() - expected).abs() < 1e-14);
    }

    #[test]
    fn identical_rdms_correlate_perfectly_and_beat_every_permutation() {
        let x: Vec<f64> = (0..45).map(|k| ((k * 37) % 45) as f64).collect();
        let res = rsa(
            &x,
            &x,
            10,
            Method::Spearman,
            99,
            7,
            &mut crate::monitor::Unmonitored,
        )
        .unwrap();
        assert!((res.r - 1.0).abs() < 1e-12);
        assert!(res.p_value.unwrap() < 0.05);
        assert_eq!(res.null.len(), 99);
    }

    #[test]
    fn items_are_recovered_from_pair_counts() {
        assert_eq!(items_for_pairs(45), Some(10));
        assert_eq!(items_for_pairs(46), None);
    }
}
