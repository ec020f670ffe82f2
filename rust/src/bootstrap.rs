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

/// How the bootstrap samples are drawn.
pub enum Draws<'a> {
    /// `n_boot` samples, sample b from ChaCha stream b of `seed`: the same whatever the threads.
    Seeded { n_boot: usize, seed: u64 },
    /// Given samples, `n_boot × n` item indices in row-major order (each below n).
    Given(&'a [u32]),
}

/// One RDM's upper triangle in sorted order, with each pair's items, for weighted ranking.
struct Runs {
    pair: Vec<u32>,
    u: Vec<u32>,
    v: Vec<u32>,
    /// End (exclusive) of each run of equal values.
    ends: Vec<u32>,
}

enum Prepared {
    /// Pearson: the values, centred on their full-sample mean so weighted moments cancel little.
    Values(Vec<f64>),
    /// Spearman: the sorted runs.
    Ranked(Runs),
}

fn items_of_pairs(n: usize) -> (Vec<u32>, Vec<u32>) {
    let pairs = n * n.saturating_sub(1) / 2;
    let (mut pu, mut pv) = (Vec::with_capacity(pairs), Vec::with_capacity(pairs));
    for i in 0..n {
        for j in i + 1..n {
            pu.push(i as u32);
            pv.push(j as u32);
        }
    }
    (pu, pv)
}

fn runs(values: &[f64], pu: &[u32], pv: &[u32]) -> Runs {
    let keyed = par_sort_keyed(values);
    let pair: Vec<u32> = keyed.iter().map(|&(_, i)| i).collect();
    let u = pair.iter().map(|&p| pu[p as usize]).collect();
    let v = pair.iter().map(|&p| pv[p as usize]).collect();
    let mut ends: Vec<u32> = (1..keyed.len())
        .filter(|&k| keyed[k].0 != keyed[k - 1].0)
        .map(|k| k as u32)
        .collect();
    ends.push(keyed.len() as u32);
    Runs { pair, u, v, ends }
}

fn prepare(values: &[f64], method: Method, pu: &[u32], pv: &[u32]) -> Prepared {
    match method {
        Method::Spearman => Prepared::Ranked(runs(values, pu, pv)),
        _ => {
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            Prepared::Values(values.iter().map(|x| x - mean).collect())
        }
    }
}

/// Times each item was drawn in sample `b`.
fn counts(n: usize, draws: &Draws<'_>, b: usize, out: &mut [u32]) {
    out.fill(0);
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

#[inline]
fn weight(c: &[u32], u: u32, v: u32) -> u64 {
    u64::from(c[u as usize]) * u64::from(c[v as usize])
}

/// Scatters the reference's doubled centred ranks into `d` (indexed by pair); returns Σ w·d².
fn rank_reference(r: &Runs, c: &[u32], total: u64, d: &mut [f64]) -> f64 {
    let (mut below, mut start, mut ss) = (0u64, 0usize, 0.0);
    for &end in &r.ends {
        let end = end as usize;
        let wg: u64 = (start..end).map(|k| weight(c, r.u[k], r.v[k])).sum();
        let dg = (2 * below + wg) as f64 - total as f64;
        for &p in &r.pair[start..end] {
            d[p as usize] = dg;
        }
        ss += wg as f64 * dg * dg;
        below += wg;
        start = end;
    }
    ss
}

/// Σ w·d_ref·d and Σ w·d² for a candidate, its ranks taken run by run (d is constant in a run).
fn rank_cross(r: &Runs, c: &[u32], total: u64, d_ref: &[f64]) -> (f64, f64) {
    let (mut below, mut start, mut sxy, mut syy) = (0u64, 0usize, 0.0, 0.0);
    for &end in &r.ends {
        let end = end as usize;
        let (mut wg, mut wx) = (0u64, 0.0);
        for k in start..end {
            let w = weight(c, r.u[k], r.v[k]);
            wg += w;
            wx += w as f64 * d_ref[r.pair[k] as usize];
        }
        let dg = (2 * below + wg) as f64 - total as f64;
        sxy += dg * wx;
        syy += wg as f64 * dg * dg;
        below += wg;
        start = end;
    }
    (sxy, syy)
}

/// Weighted Σw, Σw·x, Σw·x², Σw·x·y over pairs in condensed order, skipping undrawn rows.
fn moments(x: &[f64], y: &[f64], n: usize, c: &[u32]) -> [f64; 5] {
    let mut s = [0.0; 5];
    let mut k = 0;
    for u in 0..n {
        let len = n - u - 1;
        if c[u] != 0 {
            let cu = f64::from(c[u]);
            let cols = &c[u + 1..];
            for ((&xv, &yv), &cv) in x[k..k + len].iter().zip(&y[k..k + len]).zip(cols) {
                let w = cu * f64::from(cv);
                s[0] += w;
                s[1] += w * xv;
                s[2] += w * yv;
                s[3] += w * xv * yv;
                s[4] += w * yv * yv;
            }
        }
        k += len;
    }
    s
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
    let k = candidates.len();
    let threads = crate::threads::num_threads();
    // Spearman keeps (pair, u, v) and run ends per vector plus one rank buffer per thread.
    let per_vector = if method == Method::Spearman { 16 } else { 8 };
    ensure_fits(
        (n_pairs as u128) * ((k as u128 + 1) * per_vector + 8 * threads as u128 + 8),
        1,
        "the bootstrap",
        "use fewer videos or candidates",
    )?;
    let (reference, candidates) = install(|| {
        let (pu, pv) = if method == Method::Spearman {
            items_of_pairs(n)
        } else {
            (Vec::new(), Vec::new())
        };
        rayon::join(
            || prepare(reference, method, &pu, &pv),
            || {
                candidates
                    .par_iter()
                    .map(|y| prepare(y, method, &pu, &pv))
                    .collect::<Vec<_>>()
            },
        )
    });
    let one = |b: usize, c: &mut Vec<u32>, d: &mut Vec<f64>| -> Vec<f64> {
        counts(n, &draws, b, c);
        let sum_c2: u64 = c.iter().map(|&x| u64::from(x) * u64::from(x)).sum();
        let total = ((n as u64) * (n as u64) - sum_c2) / 2; // Σ_{u<v} c_u c_v
        match &reference {
            Prepared::Ranked(rx) => {
                if d.is_empty() {
                    d.resize(n_pairs, 0.0);
                }
                let sxx = rank_reference(rx, c, total, d);
                candidates
                    .iter()
                    .map(|cand| match cand {
                        Prepared::Ranked(ry) => {
                            let (sxy, syy) = rank_cross(ry, c, total, d);
                            correlation(sxy, sxx, syy)
                        }
                        Prepared::Values(_) => unreachable!("all vectors share the method"),
                    })
                    .collect()
            }
            Prepared::Values(x) => {
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
                        Prepared::Ranked(_) => unreachable!("all vectors share the method"),
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
                .map_init(|| (vec![0u32; n], Vec::new()), |(c, d), b| one(b, c, d))
                .collect()
        });
        out.extend(part.into_iter().flatten());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
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
                    out.push(x[crate::distance::condensed_offset(n, i) + j - i - 1]);
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
