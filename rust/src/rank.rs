//! Average ranks (scipy.stats.rankdata(method='average')), serial for short rows and parallel for
//! the millions of pairs of an RDM's upper triangle.

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

/// Assigns 1-based average ranks from (key, index) pairs already sorted by key.
fn ranks_from_sorted(sorted: &[(u64, u32)], n: usize) -> Vec<f64> {
    let mut ranks = vec![0.0; n];
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len() && sorted[end].0 == sorted[start].0 {
            end += 1;
        }
        let avg = (start + end + 1) as f64 / 2.0; // mean of ranks start+1 ..= end
        for &(_, idx) in &sorted[start..end] {
            ranks[idx as usize] = avg;
        }
        start = end;
    }
    ranks
}

/// Average ranks of a short vector (one row of a feature matrix).
pub fn rank_average(values: &[f64]) -> Vec<f64> {
    let mut keyed: Vec<(u64, u32)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (order_key(v), i as u32))
        .collect();
    keyed.sort_unstable();
    ranks_from_sorted(&keyed, values.len())
}

/// (order key, index) of each value, sorted in parallel: equal values are adjacent.
pub fn par_sort_keyed(values: &[f64]) -> Vec<(u64, u32)> {
    assert!(
        values.len() <= u32::MAX as usize,
        "callers bound the length"
    );
    let mut keyed: Vec<(u64, u32)> = values
        .par_iter()
        .enumerate()
        .map(|(i, &v)| (order_key(v), i as u32))
        .collect();
    keyed.par_sort_unstable();
    keyed
}

/// Average ranks of a long vector, sorted in parallel.
pub fn par_rank_average(values: &[f64]) -> Vec<f64> {
    ranks_from_sorted(&par_sort_keyed(values), values.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_get_their_mean_rank() {
        assert_eq!(
            rank_average(&[3.0, 1.0, 3.0, -2.0, 0.0, -0.0]),
            vec![5.5, 4.0, 5.5, 1.0, 2.5, 2.5]
        );
        assert_eq!(par_rank_average(&[2.0, 2.0, 2.0]), vec![2.0, 2.0, 2.0]);
        let v: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1013) as f64 - 500.25)
            .collect();
        assert_eq!(par_rank_average(&v), rank_average(&v));
    }
}
