//! Building blocks for loops that the compiler vectorises.
//!
//! The crate is built for x86-64-v2 (SSE4.2, `.cargo/config.toml`), so hot n × m passes are
//! compiled again for AVX-512 and AVX2 with `#[multiversion(targets(...))]` and picked at run
//! time; the helpers here are `#[inline(always)]` so they take on the caller's target features.
//! Two things stop LLVM from vectorising a plain loop, and both are avoided here: a single
//! running sum (a serial chain of dependent adds, since float addition is not reassociated) and
//! a call to libm's `exp`.

use crate::real::Real;

/// Compiles a function for AVX-512 and AVX2 (with FMA) besides the baseline, dispatching on the
/// CPU at run time.
macro_rules! vectorised {
    ($item:item) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512vl+avx512dq+fma",
            "x86_64+avx2+fma"
        ))]
        $item
    };
}
pub(crate) use vectorised;

/// Independent accumulators per reduction: enough to fill an AVX-512 register of f64.
const LANES: usize = 8;

/// Σ a_i b_i in f64, with `LANES` accumulators.
#[inline(always)]
pub fn dot<T: Real>(a: &[T], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| x.f64() * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l].f64() * y[l];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// max_i x_i (−∞ for an empty slice), with `LANES` accumulators.
#[inline(always)]
pub fn max(x: &[f64]) -> f64 {
    let mut acc = [f64::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    for c in chunks {
        for l in 0..LANES {
            acc[l] = acc[l].max(c[l]);
        }
    }
    acc.iter().fold(tail, |a, &b| a.max(b))
}

/// e^x to within 2 ulp, branch-free so that loops over it vectorise.
///
/// Range reduction x = k ln2 + r with |r| ≤ ln2/2 (ln2 split in two so k·ln2_hi is exact), e^r
/// by its Taylor polynomial of degree 13 (truncation error < 5e-18), scaled by 2^k through the
/// exponent bits. Results below 2^-1022 are flushed to zero: the kernels use e^x for entries
/// relative to a row maximum of 1, where 1e-308 is nothing.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // ln2 = LN2_HI + LN2_LO, the first with 11 trailing zero bits (fdlibm's split).
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    // Adding 1.5·2^52 rounds to an integer and leaves it in the low mantissa bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    const LOW: f64 = -708.0;
    const HIGH: f64 = 709.0;
    let xc = x.clamp(LOW, HIGH);
    let t = xc * std::f64::consts::LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    // 1/j! for j = 13 down to 2, Horner.
    const C: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
    let mut p = C[0];
    for &c in &C[1..] {
        p = p * r + c;
    }
    let poly = (p * r + 1.0) * r + 1.0;
    let ki = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let scale = f64::from_bits((ki + 1023).clamp(0, 2046) as u64 * (1u64 << 52));
    let y = poly * scale;
    if x < LOW {
        0.0
    } else if x > HIGH {
        f64::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs() / f64::EPSILON
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst: f64 = 0.0;
        let mut x = -708.0;
        while x < 709.0 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x += 0.000_731_3;
        }
        // Near zero, where the kernels spend most of their time.
        for i in -200_000..200_000 {
            let x = i as f64 * 1.7e-6;
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(800.0), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn reductions_match_plain_loops() {
        let a: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64 * 0.11).cos()).collect();
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-14);
        let mx = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(max(&a), mx);
        assert_eq!(max(&[]), f64::NEG_INFINITY);
    }
}
