//! Bootstrap of RDM correlations over items (videos), resampled as rsatoolbox's pattern bootstrap
//! does it.
//!
//! A bootstrap sample draws n items with replacement. Its RDM holds the dissimilarity of every
//! two draws that are different items; pairs of an item with its own duplicate are left out
//! (their zero dissimilarity would be trivially "predicted"). So original pair (u, v) appears
//! c_u·c_v times, c counting each item's draws, and every statistic of the sample is a weighted
//! one over the original pairs: no resampled RDM is ever built.
//!
//! Spearman ranks the sample's values with their duplicates. With each vector sorted once, a run
//! of tied values of total weight W_g above weight C gets the average rank C + (W_g + 1)/2, so a
//! sample costs one pass in sorted order and no sort. Ranks are kept doubled and centred
//! (2·rank − (W + 1), W the sample's size), which are integers: exact in f64, and their weighted
//! mean is exactly zero.

use crate::error::{CoreError, CoreResult};
use crate::memory::ensure_fits;
use crate::monitor::Monitor;
use crate::rank::par_sort_keyed;
use crate::rsa::Method;
use crate::threads::install;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::ops::Range;

/// How the bootstrap samples are drawn.
pub enum Draws<'a> {
    /// `n_boot` samples, sample b from ChaCha stream b of `seed`: the same whatever the threads.
    Seeded { n_boot: usize, seed: u64 },
    /// Given samples, `n_boot × n` item indices in row-major order (each below n).
    Given(&'a [u32]),
}

/// Items are packed two to a u32 (u << 16 | v), so a bootstrap takes at most this many.
pub const MAX_ITEMS: usize = 1 << 16;

/// The reference's ranks are kept by position in its value order, read in blocks of this many
/// (256 KiB of i32) so that a candidate's pass meets them in L2, not across all of memory.
const BLOCK_SHIFT: u32 = 16;

/// One RDM's pairs in ascending order of value, for weighted ranking.
struct Sorted {
    /// Each pair's items packed as u << 16 | v, in value order: 4 bytes a pair, read in sequence.
    uv: Vec<u32>,
    /// (start, end) of each run of two or more equal values; every other run is a single pair.
    ties: Vec<(usize, usize)>,
}

/// A candidate in its value order, and how its pairs meet the reference's ranks: the product
/// of element k goes to slot `dest[k]` of a buffer grouped by the reference block its pair lies
/// in (a radix partition, so writes stream into a few dozen places); slot e then pairs with the
/// reference rank at position `low[e]` of its block.
struct Joined {
    sorted: Sorted,
    dest: Vec<u32>,
    low: Vec<u16>,
    /// Slots of block b: bounds[b]..bounds[b + 1].
    bounds: Vec<usize>,
}

enum Prepared {
    /// Pearson: the values, centred on their full-sample mean so weighted moments cancel little.
    Values(Vec<f64>),
    /// Spearman reference: its pairs in value order.
    Reference(Sorted),
    /// Spearman candidate.
    Candidate(Joined),
}

/// Each pair's items packed as u << 16 | v, in condensed order.
fn packed_pairs(n: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        out.extend((i + 1..n).map(|j| ((i as u32) << 16) | j as u32));
    }
    out
}

/// The pairs in value order, and their condensed indices in that order.
fn sorted(values: &[f64], packed: &[u32]) -> (Sorted, Vec<u32>) {
    let keyed = par_sort_keyed(values);
    let uv = keyed.iter().map(|&(_, i)| packed[i as usize]).collect();
    let mut ties = Vec::new();
    let mut start = 0;
    for k in 1..=keyed.len() {
        if k == keyed.len() || keyed[k].0 != keyed[start].0 {
            if k - start > 1 {
                ties.push((start, k));
            }
            start = k;
        }
    }
    let order = keyed.into_iter().map(|(_, i)| i).collect();
    (Sorted { uv, ties }, order)
}

/// `position[p]`: where pair p stands in the reference's value order.
fn joined(values: &[f64], packed: &[u32], position: &[u32]) -> Joined {
    let (sorted, order) = sorted(values, packed);
    let len = order.len();
    let blocks = (len >> BLOCK_SHIFT) + 1;
    let mut bounds = vec![0usize; blocks + 1];
    for &p in &order {
        bounds[(position[p as usize] >> BLOCK_SHIFT) as usize + 1] += 1;
    }
    for b in 0..blocks {
        bounds[b + 1] += bounds[b];
    }
    let mut next = bounds.clone();
    let (mut dest, mut low) = (vec![0u32; len], vec![0u16; len]);
    for (k, &p) in order.iter().enumerate() {
        let x = position[p as usize];
        let b = (x >> BLOCK_SHIFT) as usize;
        dest[k] = next[b] as u32;
        low[next[b]] = x as u16; // x mod 2^16: the position inside block b
        next[b] += 1;
    }
    Joined {
        sorted,
        dest,
        low,
        bounds,
    }
}

/// One bootstrap sample: how often each item was drawn.
struct Sample {
    /// Draws per item; a fixed-size table, so a u16 index needs no bounds check.
    c: Box<[u32; MAX_ITEMS]>,
    /// Σ over pairs of their weight c_u·c_v: the size of the resampled RDM.
    total: u64,
}

impl Sample {
    fn new() -> Self {
        Self {
            c: Box::new([0; MAX_ITEMS]),
            total: 0,
        }
    }

    /// Weight c_u·c_v of a packed pair.
    #[inline(always)]
    fn weight(&self, uv: u32) -> u64 {
        u64::from(self.c[(uv >> 16) as u16 as usize]) * u64::from(self.c[uv as u16 as usize])
    }

    /// Doubled, centred average rank of a run of weight `w` above weight `below`.
    #[inline(always)]
    fn centred(&self, below: u64, w: u64) -> i64 {
        (2 * below + w) as i64 - self.total as i64
    }
}

/// Runs of the sorted pairs: the single pairs before each tied run, and the tied run.
fn segments(s: &Sorted) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
    let len = s.uv.len();
    let mut pos = 0;
    s.ties
        .iter()
        .copied()
        .chain(std::iter::once((len, len)))
        .map(move |(a, b)| {
            let singles = pos..a;
            pos = b;
            (singles, a..b)
        })
}

/// Writes the reference's doubled centred ranks in its own value order (a sequential write);
/// returns Σ w·d². Sums are integers: exact, and the same in any order.
fn rank_reference(s: &Sorted, smp: &Sample, d: &mut [i32]) -> u128 {
    let (mut below, mut ss) = (0u64, 0u128);
    for (singles, tied) in segments(s) {
        for (&uv, dk_out) in s.uv[singles.clone()].iter().zip(&mut d[singles]) {
            let w = smp.weight(uv);
            let dk = smp.centred(below, w);
            below += w;
            *dk_out = dk as i32;
            ss += u128::from(w) * (dk * dk) as u128;
        }
        if !tied.is_empty() {
            let wg: u64 = s.uv[tied.clone()].iter().map(|&uv| smp.weight(uv)).sum();
            let dk = smp.centred(below, wg);
            d[tied].fill(dk as i32);
            ss += u128::from(wg) * (dk * dk) as u128;
            below += wg;
        }
    }
    ss
}

/// Σ w·d_ref·d and Σ w·d² for a candidate: its ranks in its value order, each w·d streamed into
/// the partitioned buffer, then met block by block with the reference's ranks.
fn rank_cross(j: &Joined, smp: &Sample, d_ref: &[i32], buf: &mut [i64]) -> (i128, u128) {
    let s = &j.sorted;
    let (mut below, mut syy) = (0u64, 0u128);
    for (singles, tied) in segments(s) {
        for (&uv, &slot) in s.uv[singles.clone()].iter().zip(&j.dest[singles]) {
            let w = smp.weight(uv);
            let dk = smp.centred(below, w);
            below += w;
            buf[slot as usize] = w as i64 * dk;
            syy += u128::from(w) * (dk * dk) as u128;
        }
        if !tied.is_empty() {
            let wg: u64 = s.uv[tied.clone()].iter().map(|&uv| smp.weight(uv)).sum();
            let dk = smp.centred(below, wg);
            for (&uv, &slot) in s.uv[tied.clone()].iter().zip(&j.dest[tied]) {
                buf[slot as usize] = smp.weight(uv) as i64 * dk;
            }
            syy += u128::from(wg) * (dk * dk) as u128;
            below += wg;
        }
    }
    let mut sxy = 0i128;
    for (b, bound) in j.bounds.windows(2).enumerate() {
        let base = b << BLOCK_SHIFT;
        let block = &d_ref[base..(base + (1 << BLOCK_SHIFT)).min(d_ref.len())];
        for (&v, &lo) in buf[bound[0]..bound[1]]
            .iter()
            .zip(&j.low[bound[0]..bound[1]])
        {
            sxy += i128::from(v) * i128::from(block[lo as usize]);
        }
    }
    (sxy, syy)
}

/// Weighted Σw, Σw·x, Σw·y, Σw·x·y, Σw·y² over pairs in condensed order, skipping undrawn
/// rows. Four lanes summed in a fixed order vectorise and keep the result reproducible.
fn moments(x: &[f64], y: &[f64], n: usize, c: &[u32]) -> [f64; 5] {
    const L: usize = 4;
    let mut acc = [[0.0f64; L]; 5];
    let mut k = 0;
    for u in 0..n {
        let len = n - u - 1;
        if c[u] != 0 {
            let cu = f64::from(c[u]);
            let (xs, ys, cs) = (&x[k..k + len], &y[k..k + len], &c[u + 1..n]);
            let body = len - len % L;
            for ((xa, ya), ca) in xs[..body]
                .chunks_exact(L)
                .zip(ys[..body].chunks_exact(L))
                .zip(cs[..body].chunks_exact(L))
            {
                for l in 0..L {
                    let w = cu * f64::from(ca[l]);
                    acc[0][l] += w;
                    acc[1][l] += w * xa[l];
                    acc[2][l] += w * ya[l];
                    acc[3][l] += w * xa[l] * ya[l];
                    acc[4][l] += w * ya[l] * ya[l];
                }
            }
            for j in body..len {
                let w = cu * f64::from(cs[j]);
                acc[0][0] += w;
                acc[1][0] += w * xs[j];
                acc[2][0] += w * ys[j];
                acc[3][0] += w * xs[j] * ys[j];
                acc[4][0] += w * ys[j] * ys[j];
            }
        }
        k += len;
    }
    acc.map(|lanes| lanes.iter().sum())
}

/// Times each item was drawn in sample `b`, into `out[..n]`.
fn counts(n: usize, draws: &Draws<'_>, b: usize, out: &mut [u32]) {
    out[..n].fill(0);
    match draws {
        Draws::Seeded { seed, .. } => {
            // A key of its own, so bootstrap samples never reuse the Mantel test's permutation
            // streams drawn from the same seed.
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xB007_57A9_B007_57A9);
            rng.set_stream(b as u64);
            for _ in 0..n {
                out[rng.random_range(0..n)] += 1;
            }
        }
        Draws::Given(all) => {
            for &i in &all[b * n..(b + 1) * n] {
                out[i as usize] += 1;
            }
        }
    }
}

fn correlation(sxy: f64, sxx: f64, syy: f64) -> f64 {
    let denom = (sxx * syy).sqrt();
    if denom > 0.0 && denom.is_finite() {
        (sxy / denom).clamp(-1.0, 1.0)
    } else {
        f64::NAN // a sample whose RDM is constant: reported, not hidden
    }
}

/// Correlations of `reference` with each candidate (all condensed over `n` items) in every
/// bootstrap sample: `n_boot × candidates.len()` values, row-major. A sample in which either RDM
/// is constant gives NaN. `monitor` is checked between batches of samples (Ctrl-C).
pub fn bootstrap(
    reference: &[f64],
    candidates: &[Vec<f64>],
    n: usize,
    method: Method,
    draws: Draws<'_>,
    monitor: &mut dyn Monitor,
) -> CoreResult<Vec<f64>> {
    let n_pairs = reference.len();
    if n_pairs != n * n.saturating_sub(1) / 2 || n < 3 {
        return Err(CoreError::value(format!(
            "the reference has {n_pairs} pairs, not the n(n-1)/2 of {n} items (3 or more)"
        )));
    }
    if let Some(k) = candidates.iter().position(|y| y.len() != n_pairs) {
        return Err(CoreError::value(format!(
            "candidate {k} has {} pairs but the reference {n_pairs}; every RDM must cover the \
             same items",
            candidates[k].len()
        )));
    }
    if method == Method::Kendall {
        return Err(CoreError::value(
            "the bootstrap supports 'spearman' and 'pearson', not 'kendall'",
        ));
    }
    let n_boot = match draws {
        Draws::Seeded { n_boot, .. } => n_boot,
        Draws::Given(all) => {
            if all.len() % n != 0 {
                return Err(CoreError::value(format!(
                    "the samples hold {} indices, not a multiple of the {n} items",
                    all.len()
                )));
            }
            if let Some(&bad) = all.iter().find(|&&i| i as usize >= n) {
                return Err(CoreError::value(format!(
                    "sample index {bad} is out of range for {n} items"
                )));
            }
            all.len() / n
        }
    };
    if n > MAX_ITEMS {
        return Err(CoreError::value(format!(
            "the bootstrap takes at most {MAX_ITEMS} items, got {n}; subsample the videos"
        )));
    }
    let k = candidates.len();
    let threads = crate::threads::num_threads();
    // Per vector: packed pairs, slots and block positions (10 bytes, Spearman) or values (8,
    // Pearson); per thread a rank and a product per pair (12); while sorting, 24 bytes a pair.
    let per_vector = if method == Method::Spearman { 10 } else { 8 };
    ensure_fits(
        (n_pairs as u128) * ((k as u128 + 1) * per_vector + 12 * threads as u128 + 24),
        1,
        "the bootstrap",
        "use fewer videos or candidates",
    )?;
    let (reference, candidates) = install(|| {
        if method != Method::Spearman {
            let prep = |v: &[f64]| {
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                Prepared::Values(v.iter().map(|x| x - mean).collect())
            };
            return (
                prep(reference),
                candidates.iter().map(|y| prep(y)).collect(),
            );
        }
        let packed = packed_pairs(n);
        let (sorted_ref, order) = sorted(reference, &packed);
        let mut position = vec![0u32; n_pairs];
        for (k, &p) in order.iter().enumerate() {
            position[p as usize] = k as u32;
        }
        drop(order);
        // One vector at a time: each sort is parallel already, and their keys are big.
        let candidates: Vec<Prepared> = candidates
            .iter()
            .map(|y| Prepared::Candidate(joined(y, &packed, &position)))
            .collect();
        (Prepared::Reference(sorted_ref), candidates)
    });
    let one = |b: usize, smp: &mut Sample, d: &mut Vec<i32>, buf: &mut Vec<i64>| -> Vec<f64> {
        counts(n, &draws, b, &mut smp.c[..]);
        let sum_c2: u64 = smp.c[..n]
            .iter()
            .map(|&x| u64::from(x) * u64::from(x))
            .sum();
        smp.total = ((n as u64) * (n as u64) - sum_c2) / 2; // Σ_{u<v} c_u c_v
        match &reference {
            Prepared::Reference(rx) => {
                if d.is_empty() {
                    d.resize(n_pairs, 0);
                    buf.resize(n_pairs, 0);
                }
                let sxx = rank_reference(rx, smp, d);
                candidates
                    .iter()
                    .map(|cand| match cand {
                        Prepared::Candidate(jy) => {
                            let (sxy, syy) = rank_cross(jy, smp, d, buf);
                            correlation(sxy as f64, sxx as f64, syy as f64)
                        }
                        _ => unreachable!("candidates are prepared as candidates"),
                    })
                    .collect()
            }
            Prepared::Candidate(_) => unreachable!("the reference is prepared as one"),
            Prepared::Values(x) => {
                let c = &smp.c[..n];
                // Σw·x² comes from the same pass with y = x.
                let [sw, sx, _, _, sxx] = moments(x, x, n, c);
                let sxx = sxx - sx * sx / sw;
                candidates
                    .iter()
                    .map(|cand| match cand {
                        Prepared::Values(y) => {
                            let [_, _, sy, sxy, syy] = moments(x, y, n, c);
                            correlation(sxy - sx * sy / sw, sxx, syy - sy * sy / sw)
                        }
                        _ => unreachable!("all vectors share the method"),
                    })
                    .collect()
            }
        }
    };
    let batch = 4 * threads;
    let mut out = Vec::with_capacity(n_boot * k);
    for start in (0..n_boot).step_by(batch) {
        monitor.check()?;
        let part: Vec<Vec<f64>> = install(|| {
            (start..(start + batch).min(n_boot))
                .into_par_iter()
                .map_init(
                    || (Sample::new(), Vec::new(), Vec::new()),
                    |(smp, d, buf), b| one(b, smp, d, buf),
                )
                .collect()
        });
        out.extend(part.into_iter().flatten());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::condensed_offset;
    use crate::monitor::Unmonitored;
    use crate::rank::rank_average;

    /// The resampled RDM built explicitly, as rsatoolbox does: every pair of draws that are
    /// different items.
    fn explicit(x: &[f64], n: usize, sample: &[u32]) -> Vec<f64> {
        let mut sorted = sample.to_vec();
        sorted.sort_unstable();
        let mut out = Vec::new();
        for a in 0..sorted.len() {
            for b in a + 1..sorted.len() {
                let (i, j) = (sorted[a] as usize, sorted[b] as usize);
                if i != j {
                    let (i, j) = (i.min(j), i.max(j));
                    out.push(x[condensed_offset(n, i) + j - i - 1]);
                }
            }
        }
        out
    }

    fn pearson(x: &[f64], y: &[f64]) -> f64 {
        let m = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (mx, my) = (m(x), m(y));
        let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
        let syy: f64 = y.iter().map(|b| (b - my) * (b - my)).sum();
        sxy / (sxx * syy).sqrt()
    }

    #[test]
    fn weighted_statistics_equal_the_explicitly_resampled_rdm() {
        let n = 9;
        let pairs = n * (n - 1) / 2;
        // Ties on purpose (values on a coarse grid), so tied runs are exercised.
        let x: Vec<f64> = (0..pairs).map(|k| ((k * 7) % 11) as f64).collect();
        let y: Vec<f64> = (0..pairs)
            .map(|k| ((k * 5 + 3) % 13) as f64 * 0.5)
            .collect();
        let samples: Vec<u32> = (0..4 * n).map(|k| ((k * k * 31 + 7) % n) as u32).collect();
        for method in [Method::Pearson, Method::Spearman] {
            let got = bootstrap(
                &x,
                std::slice::from_ref(&y),
                n,
                method,
                Draws::Given(&samples),
                &mut Unmonitored,
            )
            .unwrap();
            for (b, sample) in samples.chunks(n).enumerate() {
                let (ex, ey) = (explicit(&x, n, sample), explicit(&y, n, sample));
                let expected = match method {
                    Method::Spearman => pearson(&rank_average(&ex), &rank_average(&ey)),
                    _ => pearson(&ex, &ey),
                };
                assert!(
                    (got[b] - expected).abs() < 1e-12,
                    "{method:?} sample {b}: {} vs {expected}",
                    got[b]
                );
            }
        }
    }

    #[test]
    fn seeded_draws_reproduce_and_a_copy_correlates_perfectly() {
        let n = 30;
        let pairs = n * (n - 1) / 2;
        let x: Vec<f64> = (0..pairs).map(|k| ((k * 37) % 101) as f64).collect();
        let y: Vec<f64> = (0..pairs).map(|k| ((k * 53) % 97) as f64).collect();
        let run = |seed| {
            bootstrap(
                &x,
                &[y.clone(), x.clone()],
                n,
                Method::Spearman,
                Draws::Seeded { n_boot: 50, seed },
                &mut Unmonitored,
            )
            .unwrap()
        };
        let a = run(3);
        assert_eq!(a, run(3));
        assert_ne!(a, run(4));
        assert!(a.chunks(2).all(|r| (r[1] - 1.0).abs() < 1e-12));
    }
}
