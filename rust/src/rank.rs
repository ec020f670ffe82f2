//! Average ranks (scipy.stats.rankdata(method='average')): a comparison sort for short rows and a
//! parallel LSD radix sort for the millions of pairs of an RDM's upper triangle.
//!
//! The radix sort orders integer keys that sort like the floats (`order_key`), 11 bits a pass,
//! and skips every pass whose digit is the same in all keys: values of an RDM scaled to [0, 1]
//! share their sign and top exponent bits, so 5 of the 6 passes remain. Each pass counts digits
//! per block of input, then every block scatters into its own slots of the output, so blocks run
//! in parallel and the result (stable: ties keep index order) does not depend on the threads.

use rayon::prelude::*;

/// Maps a finite f64 to a u64 whose unsigned order is the float order, so sorting is integer-only.
#[inline]
fn order_key(x: f64) -> u64 {
    let bits = (x + 0.0).to_bits(); // + 0.0 folds -0.0 into 0.0 so they tie, as they compare equal
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// (order key, index) pairs in ascending order: equal values are adjacent, ties in index order.
pub type Keyed = Vec<(u64, u32)>;

/// Bits of the first digit, read from the whole vector: 4096 buckets, whose counters stay in L1.
const TOP_BITS: u32 = 12;
/// Bits of each later digit, within one bucket that already fits in cache.
const INNER_BITS: u32 = 8;
/// Buckets at most this long are finished by a comparison sort.
const SMALL: usize = 64;

/// The OR and the AND of keys: the bits where they differ are `or ^ and`.
fn or_and(keys: impl Iterator<Item = u64>) -> (u64, u64) {
    keys.fold((0, u64::MAX), |(o, a), k| (o | k, a & k))
}

/// Bits that differ between some two keys; the digits are cut from below the highest of them.
fn varying_bits(keys: impl Iterator<Item = u64>) -> u64 {
    let (or, and) = or_and(keys);
    or ^ and
}

/// Shift of a digit of `bits` bits that ends at the highest varying bit (keys share those above).
fn digit_shift(varying: u64, bits: u32) -> u32 {
    (u64::BITS - varying.leading_zeros()).saturating_sub(bits)
}

/// Stable counting-sort scatter of `len` (key, index) pairs, read through `at`, into `out` by the
/// digit `(key >> shift) & mask`; returns the bucket boundaries (bucket b is `ends[b-1]..ends[b]`).
fn scatter(
    len: usize,
    at: impl Fn(usize) -> (u64, u32),
    shift: u32,
    bits: u32,
    out: &mut [(u64, u32)],
) -> Vec<usize> {
    let mask = (1usize << bits) - 1;
    let digit = |k: u64| ((k >> shift) as usize) & mask;
    let mut next = vec![0usize; mask + 1];
    for i in 0..len {
        next[digit(at(i).0)] += 1;
    }
    let mut total = 0;
    for c in &mut next {
        (*c, total) = (total, total + *c);
    }
    for i in 0..len {
        let pair = at(i);
        let slot = &mut next[digit(pair.0)];
        out[*slot] = pair;
        *slot += 1;
    }
    next // each counter has advanced to its bucket's end
}

/// A bucket's share of a vector of (key, index) pairs.
type Piece<'a> = &'a mut [(u64, u32)];

/// Cuts `v` at the bucket ends into the buckets' pieces (empty ones included).
fn split_at_ends<'a>(mut v: Piece<'a>, ends: &[usize]) -> Vec<Piece<'a>> {
    let mut start = 0;
    let mut out = Vec::with_capacity(ends.len());
    for &end in ends {
        let (piece, rest) = std::mem::take(&mut v).split_at_mut(end - start);
        out.push(piece);
        (v, start) = (rest, end);
    }
    out
}

/// Sorts one bucket in place (MSD radix on the bits its keys do not share), with `scratch` of the
/// same length as working space. Within a bucket everything stays in cache.
fn sort_bucket(data: &mut [(u64, u32)], scratch: &mut [(u64, u32)]) {
    if data.len() <= SMALL {
        data.sort_unstable();
        return;
    }
    let varying = varying_bits(data.iter().map(|p| p.0));
    if varying == 0 {
        return; // one value: the stable scatters left its indices ascending
    }
    let shift = digit_shift(varying, INNER_BITS);
    let ends = scatter(data.len(), |i| data[i], shift, INNER_BITS, scratch);
    // The sorted buckets sit in `scratch`; each is then copied back to its place in `data`.
    let pieces = split_at_ends(scratch, &ends)
        .into_iter()
        .zip(split_at_ends(data, &ends));
    for (s, d) in pieces {
        sort_bucket(s, d);
        d.copy_from_slice(s);
    }
}

/// Sorts `values` (finite, at most u32::MAX of them) by key, ties in index order: one scatter of
/// the whole vector on its top varying 12 bits, then the buckets in parallel, each in cache.
pub fn par_sort_keyed(values: &[f64]) -> Keyed {
    let len = values.len();
    assert!(len <= u32::MAX as usize, "callers bound the length");
    // Chunks give their OR and AND, not their varying bits: bits constant within each chunk may
    // still differ between chunks.
    let (or, and) = values
        .par_chunks(1 << 16)
        .map(|c| or_and(c.iter().map(|&v| order_key(v))))
        .reduce(|| (0, u64::MAX), |(o1, a1), (o2, a2)| (o1 | o2, a1 & a2));
    let varying = or ^ and;
    let at = |i: usize| (order_key(values[i]), i as u32);
    if varying == 0 {
        return (0..len).map(at).collect(); // all equal (or none): in index order already
    }
    let mut data = vec![(0u64, 0u32); len];
    let ends = scatter(len, at, digit_shift(varying, TOP_BITS), TOP_BITS, &mut data);
    // Each bucket gets its own scratch while sorted, so a vector-long one is never touched.
    let pieces = split_at_ends(&mut data, &ends);
    pieces
        .into_par_iter()
        .with_min_len(64)
        .for_each(|d| sort_bucket(d, &mut vec![(0, 0); d.len()]));
    data
}

/// End of the run of equal keys that starts at `start`.
#[inline]
fn run_end(keyed: &[(u64, u32)], start: usize) -> usize {
    let key = keyed[start].0;
    start + keyed[start..].iter().take_while(|p| p.0 == key).count()
}

/// Average ranks of a short vector (one row of a feature matrix).
pub fn rank_average(values: &[f64]) -> Vec<f64> {
    let mut keyed: Vec<(u64, u32)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (order_key(v), i as u32))
        .collect();
    keyed.sort_unstable();
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < keyed.len() {
        let end = run_end(&keyed, start);
        let avg = (start + end + 1) as f64 / 2.0; // mean of ranks start+1 ..= end
        for &(_, i) in &keyed[start..end] {
            ranks[i as usize] = avg;
        }
        start = end;
    }
    ranks
}

/// Average ranks of a long vector minus their mean (n + 1)/2, and their sum of squares.
///
/// Centred ranks are multiples of 1/2 below 2^32, so each is exact in f64, and the sum of
/// squares is summed exactly (in i128, of doubled ranks) whatever the threads.
pub fn par_centred_ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let len = values.len();
    let keyed = par_sort_keyed(values);
    let mut ranks = vec![0.0f64; len];
    let mut doubled_ss = 0i128;
    let mut start = 0;
    while start < len {
        let end = run_end(&keyed, start);
        // Twice (mean of ranks start+1 ..= end) − (n + 1).
        let doubled = start as i64 + end as i64 - len as i64;
        doubled_ss += (end - start) as i128 * (doubled as i128 * doubled as i128);
        for &(_, i) in &keyed[start..end] {
            ranks[i as usize] = doubled as f64 / 2.0;
        }
        start = end;
    }
    (ranks, doubled_ss as f64 / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_comparison(values: &[f64]) -> Keyed {
        let mut keyed: Vec<(u64, u32)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| (order_key(v), i as u32))
            .collect();
        keyed.sort_unstable(); // (key, index) pairs are distinct: ties end in index order
        keyed
    }

    #[test]
    fn ties_get_their_mean_rank() {
        assert_eq!(
            rank_average(&[3.0, 1.0, 3.0, -2.0, 0.0, -0.0]),
            vec![5.5, 4.0, 5.5, 1.0, 2.5, 2.5]
        );
        let (c, ss) = par_centred_ranks(&[2.0, 2.0, 2.0]);
        assert_eq!((c, ss), (vec![0.0; 3], 0.0));
        let v: Vec<f64> = (0..300_000)
            .map(|i| ((i * 7919) % 1013) as f64 - 500.25)
            .collect();
        let (c, ss) = par_centred_ranks(&v);
        let expected: Vec<f64> = rank_average(&v).iter().map(|r| r - 150_000.5).collect();
        assert_eq!(c, expected);
        assert_eq!(ss, expected.iter().map(|x| x * x).sum::<f64>());
    }

    #[test]
    fn radix_order_equals_a_stable_comparison_sort() {
        // Several blocks; signs, zeros of both signs, tiny and huge magnitudes, many ties.
        let v: Vec<f64> = (0..200_003u64)
            .map(|i| {
                let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                match h % 7 {
                    0 => -0.0,
                    1 => 0.0,
                    2 => (h % 13) as f64,
                    3 => -((h % 5) as f64) * 1e-300,
                    4 => (h as f64) * 1e200,
                    _ => (h as f64).sin(),
                }
            })
            .collect();
        assert_eq!(par_sort_keyed(&v), by_comparison(&v));
        let same: Vec<(u64, u32)> = (0..10).map(|i| (order_key(0.5), i)).collect();
        assert_eq!(par_sort_keyed(&[0.5; 10]), same);
        assert!(par_sort_keyed(&[]).is_empty());
        // Constant within each chunk of the bit scan, different between them.
        let halves: Vec<f64> = (0..1u32 << 17).map(|i| (i >> 16) as f64).collect();
        assert_eq!(par_sort_keyed(&halves), by_comparison(&halves));
    }
}
