"""rsa against scipy.stats on the upper triangles, and the Mantel permutation test's properties.

The correlations are compared at ``atol=1e-12``: both sides compute the same closed forms on at
most a few thousand pairs (ranks and tie counts are exact integers/halves), so they differ by
summation-order rounding, ~1e-15.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import emoalign

SCIPY = {
    "spearman": lambda x, y: scipy.stats.spearmanr(x, y).statistic,
    "pearson": lambda x, y: scipy.stats.pearsonr(x, y).statistic,
    "kendall": lambda x, y: scipy.stats.kendalltau(x, y).statistic,  # tau-b, as documented
}


def random_rdm(rng: np.random.Generator, n: int, ties: bool) -> np.ndarray:
    """A square RDM; with ``ties``, cityblock distances of small integers (many equal pairs)."""
    if ties:
        X = rng.integers(0, 3, size=(n, 3)).astype(float)
        return ssd.squareform(ssd.pdist(X, "cityblock"))
    X = rng.standard_normal((n, int(rng.integers(1, 6))))
    return ssd.squareform(ssd.pdist(X, "euclidean"))


def upper(D: np.ndarray) -> np.ndarray:
    return D[np.triu_indices(len(D), k=1)]


@settings(deadline=None, max_examples=60)
@given(
    n=st.integers(3, 60),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(sorted(SCIPY)),
    ties=st.booleans(),
)
def test_r_equals_scipy_stats(n: int, seed: int, method: str, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    D1, D2 = random_rdm(rng, n, ties), random_rdm(rng, n, ties)
    x, y = upper(D1), upper(D2)
    if np.all(x == x[0]) or np.all(y == y[0]):
        with pytest.raises(ValueError, match="constant"):
            emoalign.rsa(D1, D2, method=method)
        return
    expected = SCIPY[method](x, y)
    res = emoalign.rsa(D1, D2, method=method)
    assert res.n_pairs == n * (n - 1) // 2
    assert res.method == method
    assert res.p_value is None
    assert abs(res.r - expected) <= 1e-12
    # Condensed input (scipy's order) and mixed square/condensed give the same statistic.
    assert emoalign.rsa(x, y, method=method).r == pytest.approx(res.r, abs=1e-15)
    assert emoalign.rsa(D1, y, method=method).r == pytest.approx(res.r, abs=1e-15)
    # float32 and int input are accepted (upcast to float64, as the upper triangle is).
    Di = np.rint(D1 * 4).astype(np.int64)
    if np.all(upper(Di) == upper(Di)[0]):  # rounding can flatten a small RDM
        with pytest.raises(ValueError, match="constant"):
            emoalign.rsa(Di, D2, method=method)
    else:
        assert emoalign.rsa(Di, D2, method=method).r == pytest.approx(
            SCIPY[method](upper(Di).astype(float), y), abs=1e-12
        )


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(3, 130),
    seed=st.integers(0, 2**32 - 1),
    levels=st.integers(1, 8),
    clustered=st.booleans(),
)
def test_spearman_ties_and_signed_zeros_equal_scipy(
    n: int, seed: int, levels: int, clustered: bool
) -> None:
    """Average ranks of values from a few levels (both zeros tie), against scipy.

    ``clustered`` packs the other RDM's values into a sliver that shares all but the lowest bits,
    so the radix sort's buckets overflow and recurse; up to 8,385 pairs cover many buckets.
    """
    rng = np.random.default_rng(seed)
    pairs = n * (n - 1) // 2
    palette = np.concatenate([[-0.0, 0.0], rng.standard_normal(levels)])
    x = rng.choice(palette, pairs)
    y = 0.5 + 1e-12 * rng.integers(0, 50, pairs) if clustered else rng.choice(palette, pairs)
    if np.all(x == x[0]) or np.all(y == y[0]):
        with pytest.raises(ValueError, match="constant"):
            emoalign.rsa(x, y)
        return
    expected = scipy.stats.spearmanr(x, y).statistic
    assert abs(emoalign.rsa(x, y).r - expected) <= 1e-12
    assert abs(emoalign.rsa(-y, x).r - scipy.stats.spearmanr(-y, x).statistic) <= 1e-12


def test_identical_rdms_give_r_one_and_small_p() -> None:
    D = random_rdm(np.random.default_rng(1), 12, ties=False)
    for method in SCIPY:
        res = emoalign.rsa(D, D, method=method, permutations=199, seed=4)
        assert res.r == pytest.approx(1.0, abs=1e-12)
        # Only permutations that are automorphisms of 12 random points (the identity, with
        # probability 1/12!) reach r = 1, so p is the minimum 1/200.
        assert res.p_value == pytest.approx(1 / 200)
        assert res.null.shape == (199,)
        assert np.all(res.null < 1.0 - 1e-9)


@settings(deadline=None, max_examples=25)
@given(
    n=st.integers(3, 25),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(sorted(SCIPY)),
    perms=st.integers(1, 300),
)
def test_permutation_p_value_properties(n: int, seed: int, method: str, perms: int) -> None:
    rng = np.random.default_rng(seed)
    D1, D2 = random_rdm(rng, n, ties=False), random_rdm(rng, n, ties=False)
    res = emoalign.rsa(D1, D2, method=method, permutations=perms, seed=seed)
    assert res.permutations == perms
    assert res.null.shape == (perms,)
    assert np.all(np.abs(res.null) <= 1.0)
    assert res.p_value is not None and 0.0 < res.p_value <= 1.0
    # p = (1 + #{null >= r}) / (1 + P); the 1e-12 slack counts a permutation that reproduces the
    # observed statistic up to summation-order rounding as a tie.
    hits = int(np.sum(res.null >= res.r - 1e-12))
    assert res.p_value == pytest.approx((1 + hits) / (1 + perms), abs=1e-15)
    again = emoalign.rsa(D1, D2, method=method, permutations=perms, seed=seed)
    np.testing.assert_array_equal(again.null, res.null)
    assert again.p_value == res.p_value
    # Same statistic with or without the test.
    assert emoalign.rsa(D1, D2, method=method).r == res.r


@pytest.mark.parametrize("method", sorted(SCIPY))
def test_null_holds_correlations_of_item_permutations(method: str) -> None:
    """Mantel: every null value is the correlation of D1 with D2's items relabelled (rows and
    columns together); with 5 items all 120 relabellings can be enumerated."""
    rng = np.random.default_rng(11)
    D1, D2 = random_rdm(rng, 5, ties=False), random_rdm(rng, 5, ties=False)
    x = upper(D1)
    achievable = np.array(
        [SCIPY[method](x, upper(D2[np.ix_(p, p)])) for p in itertools.permutations(range(5))]
    )
    res = emoalign.rsa(D1, D2, method=method, permutations=300, seed=2)
    dist = np.abs(res.null[:, None] - achievable[None, :]).min(axis=1)
    assert dist.max() <= 1e-12
    # 300 uniform draws from 120 relabellings reach many distinct values, not a handful.
    assert len(np.unique(np.round(res.null, 10))) >= 10


def test_different_seeds_give_different_nulls() -> None:
    rng = np.random.default_rng(8)
    D1, D2 = random_rdm(rng, 20, ties=False), random_rdm(rng, 20, ties=False)
    a = emoalign.rsa(D1, D2, permutations=50, seed=1)
    b = emoalign.rsa(D1, D2, permutations=50, seed=2)
    assert not np.array_equal(a.null, b.null)


def test_unrelated_rdms_p_values_are_not_small() -> None:
    """Under the null, p is roughly uniform: over 40 independent pairs, few fall below 0.05."""
    rng = np.random.default_rng(21)
    ps = []
    for k in range(40):
        D1, D2 = random_rdm(rng, 10, ties=False), random_rdm(rng, 10, ties=False)
        ps.append(emoalign.rsa(D1, D2, permutations=99, seed=k).p_value)
    ps_arr = np.array(ps)
    # Binomial(40, 0.05): P(>= 8 below 0.05) ~ 1e-3; the median of a uniform p is 0.5.
    assert np.sum(ps_arr < 0.05) < 8
    assert 0.25 < np.median(ps_arr) < 0.75


def test_asymmetric_square_input_is_refused() -> None:
    D = random_rdm(np.random.default_rng(2), 6, ties=False)
    A = D.copy()
    A[0, 1] += 1.0
    with pytest.raises(ValueError, match="D2"):
        emoalign.rsa(D, A)
