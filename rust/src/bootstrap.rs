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
//! (2·rank − (W + 1), W the sample's size): integers, exact in f64, with a weighted mean of
//! exactly zero.
//!
//! Memory, not arithmetic, bounds this: a candidate's pass must meet each pair's reference rank,
//! which lies at a random place. So LANES samples go through each pass together, their counts and
//! their ranks of one pair side by side in one cache line: one random access serves them all, and
//! the per-sample arithmetic runs in lanes the compiler vectorises.

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

/// Bootstrap samples that share each pass over the sorted pairs.
const LANES: usize = 16;

/// One pair's doubled centred ranks in each of the LANES samples: one cache line.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Ranks([i32; LANES]);

/// One RDM's pairs in ascending order of value, for weighted ranking.
struct Sorted {
    /// Each pair's items packed as u << 16 | v, in value order: 4 bytes a pair, read in sequence.
    uv: Vec<u32>,
    /// (start, end) of each run of two or more equal values; every other run is a single pair.
    ties: Vec<(usize, usize)>,
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

/// LANES bootstrap samples: each item's draw counts side by side, as f64 (every count, weight,
/// rank and rank sum below is an integer under 2^53, so exact).
struct Batch {
    c: Vec<[f64; LANES]>,
    /// Σ_{u<v} c_u·c_v per sample: the size of its resampled RDM.
    total: [f64; LANES],
}

impl Batch {
    #[inline(always)]
    fn weights(&self, uv: u32) -> [f64; LANES] {
        let (cu, cv) = (
            &self.c[(uv >> 16) as usize],
            &self.c[(uv & 0xffff) as usize],
        );
        std::array::from_fn(|b| cu[b] * cv[b])
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

/// Σ of the lanes' weights over a tied run.
fn run_weight(s: &Sorted, run: Range<usize>, bt: &Batch) -> [f64; LANES] {
    let mut wg = [0.0; LANES];
    for &uv in &s.uv[run] {
        let w = bt.weights(uv);
        for b in 0..LANES {
            wg[b] += w[b];
        }
    }
    wg
}

crate::simd::vectorised! {
/// Writes the reference's doubled centred ranks in its own value order (a sequential write);
/// returns Σ w·d² per lane.
fn rank_reference(s: &Sorted, bt: &Batch, d: &mut [Ranks]) -> [f64; LANES] {
    let (mut below, mut ss) = ([0.0f64; LANES], [0.0f64; LANES]);
    for (singles, tied) in segments(s) {
        for (&uv, out) in s.uv[singles.clone()].iter().zip(&mut d[singles]) {
            let w = bt.weights(uv);
            for b in 0..LANES {
                let dk = 2.0 * below[b] + w[b] - bt.total[b];
                below[b] += w[b];
                out.0[b] = dk as i32;
                ss[b] += w[b] * dk * dk;
            }
        }
        if !tied.is_empty() {
            let wg = run_weight(s, tied.clone(), bt);
            let mut run = Ranks::default();
            for b in 0..LANES {
                let dk = 2.0 * below[b] + wg[b] - bt.total[b];
                run.0[b] = dk as i32;
                ss[b] += wg[b] * dk * dk;
                below[b] += wg[b];
            }
            d[tied].fill(run);
        }
    }
    ss
}
}

/// Reference ranks fetched ahead of use: the fetch loop is short, so the CPU keeps this many
/// cache misses in flight instead of the two or three a long arithmetic loop body allows.
const GATHER: usize = 32;

crate::simd::vectorised! {
/// Σ w·d_ref·d and Σ w·d² per lane for a candidate, its ranks computed on the way; `at[k]` is
/// where its k-th pair stands in the reference's order.
fn rank_cross(s: &Sorted, at: &[u32], bt: &Batch, d_ref: &[Ranks]) -> [[f64; LANES]; 2] {
    let (mut below, mut sxy, mut syy) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
    let mut local = [Ranks::default(); GATHER];
    for (singles, tied) in segments(s) {
        for (uvs, xs) in s.uv[singles.clone()].chunks(GATHER).zip(at[singles].chunks(GATHER)) {
            for (slot, &x) in local.iter_mut().zip(xs) {
                *slot = d_ref[x as usize];
            }
            for (&uv, r) in uvs.iter().zip(&local) {
                let w = bt.weights(uv);
                for b in 0..LANES {
                    let dk = 2.0 * below[b] + w[b] - bt.total[b];
                    below[b] += w[b];
                    let wd = w[b] * dk;
                    sxy[b] += wd * f64::from(r.0[b]);
                    syy[b] += wd * dk;
                }
            }
        }
        if !tied.is_empty() {
            let wg = run_weight(s, tied.clone(), bt);
            let mut wx = [0.0f64; LANES];
            for (&uv, &x) in s.uv[tied.clone()].iter().zip(&at[tied]) {
                let w = bt.weights(uv);
                let r = &d_ref[x as usize].0;
                for b in 0..LANES {
                    wx[b] += w[b] * f64::from(r[b]);
                }
            }
            for b in 0..LANES {
                let dk = 2.0 * below[b] + wg[b] - bt.total[b];
                sxy[b] += dk * wx[b];
                syy[b] += wg[b] * dk * dk;
                below[b] += wg[b];
            }
        }
    }
    [sxy, syy]
}
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

/// Σ_{u<v} c_u·c_v: the number of pairs of draws that are different items.
fn total_weight(c: &[u32]) -> u64 {
    let n: u64 = c.iter().map(|&x| u64::from(x)).sum();
    let sum_c2: u64 = c.iter().map(|&x| u64::from(x) * u64::from(x)).sum();
    (n * n - sum_c2) / 2
}

fn correlation(sxy: f64, sxx: f64, syy: f64) -> f64 {
    let denom = (sxx * syy).sqrt();
    if denom > 0.0 && denom.is_finite() {
        (sxy / denom).clamp(-1.0, 1.0)
    } else {
        f64::NAN // a sample whose RDM is constant: reported, not hidden
    }
}

/// Spearman for samples first..first + LANES (those below n_boot): rows of k correlations.
#[allow(clippy::too_many_arguments)]
fn spearman_batch(
    reference: &Sorted,
    candidates: &[(&Sorted, &[u32])],
    n: usize,
    draws: &Draws<'_>,
    first: usize,
    n_boot: usize,
    scratch: &mut Vec<u32>,
    d: &mut Vec<Ranks>,
) -> Vec<f64> {
    let active = (n_boot - first).min(LANES);
    let mut bt = Batch {
        c: vec![[0.0; LANES]; n],
        total: [0.0; LANES],
    };
    scratch.resize(n, 0);
    for b in 0..active {
        counts(n, draws, first + b, scratch);
        for (row, &x) in bt.c.iter_mut().zip(scratch.iter()) {
            row[b] = f64::from(x);
        }
        bt.total[b] = total_weight(scratch) as f64;
    }
    if d.is_empty() {
        d.resize(reference.uv.len(), Ranks::default());
    }
    let sxx = rank_reference(reference, &bt, d);
    let cross: Vec<[[f64; LANES]; 2]> = candidates
        .iter()
        .map(|(s, at)| rank_cross(s, at, &bt, d))
        .collect();
    let mut out = Vec::with_capacity(active * candidates.len());
    for b in 0..active {
        out.extend(
            cross
                .iter()
                .map(|[sxy, syy]| correlation(sxy[b], sxx[b], syy[b])),
        );
    }
    out
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
    if method != Method::Spearman {
        return pearson(reference, candidates, n, &draws, n_boot, threads, monitor);
    }
    // Per candidate: packed pairs and reference positions (8 bytes a pair); per thread, a line
    // of ranks per pair (64); while sorting, 24 bytes a pair.
    ensure_fits(
        (n_pairs as u128) * ((k as u128 + 1) * 8 + 64 * threads as u128 + 24),
        1,
        "the bootstrap",
        "use fewer videos or candidates",
    )?;
    let (reference, candidates) = install(|| {
        let packed = packed_pairs(n);
        let (reference, order) = sorted(reference, &packed);
        let mut position = vec![0u32; n_pairs];
        for (k, &p) in order.iter().enumerate() {
            position[p as usize] = k as u32;
        }
        drop(order);
        // One vector at a time: each sort is parallel already, and their keys are big.
        let candidates: Vec<(Sorted, Vec<u32>)> = candidates
            .iter()
            .map(|y| {
                let (s, order) = sorted(y, &packed);
                let at = order.iter().map(|&p| position[p as usize]).collect();
                (s, at)
            })
            .collect();
        (reference, candidates)
    });
    let views: Vec<(&Sorted, &[u32])> = candidates.iter().map(|(s, at)| (s, &at[..])).collect();
    let batches: Vec<usize> = (0..n_boot).step_by(LANES).collect();
    // Buffers live across groups: a thread's ranks are 64 bytes a pair, too big to reallocate.
    let mut states: Vec<(Vec<u32>, Vec<Ranks>)> =
        (0..threads).map(|_| (Vec::new(), Vec::new())).collect();
    let mut out = Vec::with_capacity(n_boot * k);
    for group in batches.chunks(threads) {
        monitor.check()?;
        let part: Vec<Vec<f64>> = install(|| {
            group
                .par_iter()
                .zip(states.par_iter_mut())
                .map(|(&first, (scratch, d))| {
                    spearman_batch(&reference, &views, n, &draws, first, n_boot, scratch, d)
                })
                .collect()
        });
        out.extend(part.into_iter().flatten());
    }
    Ok(out)
}

fn pearson(
    reference: &[f64],
    candidates: &[Vec<f64>],
    n: usize,
    draws: &Draws<'_>,
    n_boot: usize,
    threads: usize,
    monitor: &mut dyn Monitor,
) -> CoreResult<Vec<f64>> {
    let n_pairs = reference.len();
    ensure_fits(
        (n_pairs as u128) * (candidates.len() as u128 + 1) * 8,
        1,
        "the bootstrap",
        "use fewer videos or candidates",
    )?;
    let centre = |v: &[f64]| -> Vec<f64> {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| x - mean).collect()
    };
    let x = centre(reference);
    let ys: Vec<Vec<f64>> = candidates.iter().map(|y| centre(y)).collect();
    let one = |b: usize, c: &mut Vec<u32>| -> Vec<f64> {
        c.resize(n, 0);
        counts(n, draws, b, c);
        // Σw·x² comes from the same pass with y = x.
        let [sw, sx, _, _, sxx] = moments(&x, &x, n, c);
        let sxx = sxx - sx * sx / sw;
        ys.iter()
            .map(|y| {
                let [_, _, sy, sxy, syy] = moments(&x, y, n, c);
                correlation(sxy - sx * sy / sw, sxx, syy - sy * sy / sw)
            })
            .collect()
    };
    let batch = 4 * threads;
    let mut out = Vec::with_capacity(n_boot * candidates.len());
    for start in (0..n_boot).step_by(batch) {
        monitor.check()?;
        let part: Vec<Vec<f64>> = install(|| {
            (start..(start + batch).min(n_boot))
                .into_par_iter()
                .map_init(Vec::new, |c, b| one(b, c))
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
