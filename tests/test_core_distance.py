"""pdist / cdist / rdm against scipy.spatial.distance, in float64 and float32, on any layout.

Tolerances:
- float64: ``rtol=1e-10, atol=1e-10`` (both). Inputs are bounded by 1e3 and d <= 40, so scipy's
  pairwise sums and ours (other summation order, FMA, or a GEMM on normalised rows) differ by a few
  hundred ulps at most; 1e-10 is the issue's bound and sits ~5 orders above that noise. The
  absolute part only matters for distances near 0 (coincident points, 1 - r with r ~ 1), where
  both sides are rounding noise of size ~1e-13.
- float32: ``rtol=1e-4`` against scipy in float64 on the same (float32-representable) values.
  Coordinate metrics sum d <= 40 non-negative terms, each exact to 2^-24 relative, so their error
  is <= d * 6e-8 = 2.4e-6 relative, with no absolute floor needed (0 stays exactly 0).
  Inner-product metrics are 1 - <x, y> of unit vectors rounded to float32: the error is absolute,
  <= d * 6e-8 ~ 2.4e-6 for d <= 40, so near 0 no relative bound holds; they get ``atol=2e-5``
  (~8x that bound).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import emoalign

METRICS = (
    "euclidean",
    "sqeuclidean",
    "cityblock",
    "chebyshev",
    "cosine",
    "correlation",
    "spearman",
)
INNER_PRODUCT = {"cosine", "correlation", "spearman"}
F64_TOL = {"rtol": 1e-10, "atol": 1e-10}


def ref_pdist(X: np.ndarray, metric: str) -> np.ndarray:
    """scipy's pdist in float64; spearman as correlation of row-wise average ranks."""
    X = np.asarray(X, dtype=np.float64)
    if metric == "spearman":
        X = scipy.stats.rankdata(X, axis=1, method="average")
        metric = "correlation"
    return ssd.pdist(X, metric)


def ref_cdist(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    if metric == "spearman":
        A = scipy.stats.rankdata(A, axis=1, method="average")
        B = scipy.stats.rankdata(B, axis=1, method="average")
        metric = "correlation"
    return ssd.cdist(A, B, metric)


def degenerate_rows(X: np.ndarray, metric: str) -> list[int]:
    """Rows with no defined distance: zero (cosine) or constant (correlation, spearman)."""
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        return [i for i in range(len(X)) if not np.any(X[i])]
    if metric in ("correlation", "spearman"):
        return [i for i in range(len(X)) if np.all(X[i] == X[i, 0])]
    return []


def make_data(seed: int, n: int, d: int, kind: str, dtype: Any) -> np.ndarray:
    """Values exactly representable in float32, so both precisions see the same numbers.

    'ties' draws small multiples of 1/4 (many ties, constant and zero rows, exact means);
    'wide' mixes signs and magnitudes from 1e-3 to 1e3; 'near' is a cloud of nearly identical
    points (tiny distances, r close to 1).
    """
    rng = np.random.default_rng(seed)
    if kind == "ties":
        X = rng.integers(-3, 4, size=(n, d)) / 4.0
    elif kind == "wide":
        X = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-3, 3, size=(n, 1))
    else:
        X = 5.0 + 1e-3 * rng.standard_normal((n, d))
    return X.astype(np.float32).astype(dtype)


def layouts(X: np.ndarray) -> dict[str, np.ndarray]:
    """The same matrix as C-contiguous, Fortran-ordered, strided and reversed views."""
    n, d = X.shape
    big = np.zeros((2 * n + 1, 3 * d + 2), dtype=X.dtype)
    big[1::2, 2::3][:n, :d] = X
    strided = big[1::2, 2::3][:n, :d]
    reversed_ = np.ascontiguousarray(X[::-1, ::-1])[::-1, ::-1]
    out = {
        "C": np.ascontiguousarray(X),
        "F": np.asfortranarray(X),
        "transposed": np.ascontiguousarray(X.T).T,
        "strided": strided,
        "reversed": reversed_,
    }
    for name, v in out.items():
        assert np.array_equal(v, X), name
    assert not strided.flags.c_contiguous or n == 1
    return out


shapes = st.tuples(st.integers(1, 60), st.integers(1, 40))
kinds = st.sampled_from(["ties", "wide", "near"])
seeds = st.integers(0, 2**32 - 1)


def check_pdist(X: np.ndarray, metric: str, tol: dict[str, float]) -> None:
    bad = degenerate_rows(X, metric)
    if bad and len(X) > 1:
        with pytest.raises(ValueError, match=r"row") as err:
            emoalign.pdist(X, metric)
        assert str(bad[0]) in str(err.value)
        return
    got = emoalign.pdist(X, metric)
    ref = ref_pdist(X, metric)
    assert got.shape == ref.shape
    assert got.dtype == X.dtype  # float32 stays float32 (scipy would upcast)
    np.testing.assert_allclose(got, ref, **tol, err_msg=f"{metric} {X.shape} {X.dtype}")


@settings(deadline=None, max_examples=60)
@given(shape=shapes, kind=kinds, seed=seeds, metric=st.sampled_from(METRICS))
def test_pdist_matches_scipy_f64_on_every_layout(
    shape: tuple[int, int], kind: str, seed: int, metric: str
) -> None:
    X = make_data(seed, *shape, kind, np.float64)
    for name, view in layouts(X).items():
        got_dtype = emoalign.pdist(view, "euclidean").dtype
        assert got_dtype == np.float64, name
        check_pdist(view, metric, F64_TOL)


@settings(deadline=None, max_examples=60)
@given(shape=shapes, kind=kinds, seed=seeds, metric=st.sampled_from(METRICS))
def test_pdist_f32_is_native_and_within_1e4(
    shape: tuple[int, int], kind: str, seed: int, metric: str
) -> None:
    X = make_data(seed, *shape, kind, np.float32)
    tol = {"rtol": 1e-4, "atol": 2e-5 if metric in INNER_PRODUCT else 0.0}
    check_pdist(X, metric, tol)
    check_pdist(np.asfortranarray(X)[:, ::-1], metric, tol)


@settings(deadline=None, max_examples=50)
@given(
    na=st.integers(1, 40),
    nb=st.integers(1, 40),
    d=st.integers(1, 30),
    kind=kinds,
    seed=seeds,
    metric=st.sampled_from(METRICS),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_cdist_matches_scipy(
    na: int, nb: int, d: int, kind: str, seed: int, metric: str, dtype: Any
) -> None:
    A = make_data(seed, na, d, kind, dtype)
    B = make_data(seed + 1, nb, d, kind, dtype)[::-1]  # a negative-stride view
    tol = F64_TOL if dtype == np.float64 else {"rtol": 1e-4, "atol": 0.0}
    if dtype == np.float32 and metric in INNER_PRODUCT:
        tol = {"rtol": 1e-4, "atol": 2e-5}
    bad_a, bad_b = degenerate_rows(A, metric), degenerate_rows(B, metric)
    if bad_a or bad_b:
        with pytest.raises(ValueError, match="XA" if bad_a else "XB"):
            emoalign.cdist(A, B, metric)
        return
    got = emoalign.cdist(A, B, metric)
    assert got.dtype == dtype
    assert got.shape == (na, nb)
    np.testing.assert_allclose(got, ref_cdist(A, B, metric), **tol)


@settings(deadline=None, max_examples=30)
@given(shape=shapes, kind=kinds, seed=seeds, metric=st.sampled_from(METRICS))
def test_rdm_is_squareform_of_pdist(
    shape: tuple[int, int], kind: str, seed: int, metric: str
) -> None:
    X = make_data(seed, *shape, kind, np.float64)
    if degenerate_rows(X, metric) and len(X) > 1:
        with pytest.raises(ValueError, match="row"):
            emoalign.rdm(X, metric)
        return
    D = emoalign.rdm(X, metric)
    assert D.shape == (len(X), len(X))
    assert np.all(np.diag(D) == 0.0)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_allclose(D, ssd.squareform(ref_pdist(X, metric)), **F64_TOL)


def test_spearman_is_one_minus_spearmanr_of_rows() -> None:
    """The reference above (rankdata + correlation) agrees with scipy.stats.spearmanr pairwise."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 5, size=(12, 9)).astype(float)  # heavy ties
    X[:, 0] = np.arange(12)  # no constant rows
    got = emoalign.rdm(X, "spearman")
    for i in range(12):
        for j in range(12):
            if i != j:
                rho = scipy.stats.spearmanr(X[i], X[j]).statistic
                assert abs(got[i, j] - (1 - rho)) <= 1e-12, (i, j)


@pytest.mark.parametrize("metric", METRICS)
def test_integer_and_bool_input_become_float64(metric: str) -> None:
    rng = np.random.default_rng(5)
    Xi = rng.integers(-50, 50, size=(15, 7)).astype(np.int32)
    got = emoalign.pdist(Xi, metric)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref_pdist(Xi.astype(float), metric), **F64_TOL)
    got_c = emoalign.cdist(Xi[:4], Xi.astype(np.int64), metric)
    assert got_c.dtype == np.float64
    np.testing.assert_allclose(got_c, ref_cdist(Xi[:4], Xi, metric), **F64_TOL)


def test_bool_input_and_lists() -> None:
    Xb = np.array([[True, False, True], [False, False, True], [True, True, True]])
    np.testing.assert_allclose(
        emoalign.pdist(Xb, "cityblock"), ssd.pdist(Xb.astype(float), "cityblock")
    )
    got = emoalign.pdist([[0, 0], [3, 4]], "euclidean")
    assert got.dtype == np.float64
    assert got.tolist() == [5.0]


@pytest.mark.parametrize("metric", METRICS)
def test_zero_stride_broadcast_input(metric: str) -> None:
    """Rows that share memory (stride 0) are read correctly: every distance is 0."""
    row = np.array([1.0, 3.0, 2.0, 5.0])
    X = np.broadcast_to(row, (6, 4))
    assert X.strides[0] == 0
    np.testing.assert_allclose(emoalign.pdist(X, metric), np.zeros(15), atol=1e-12)
    cols = np.broadcast_to(np.array([[1.0], [2.0], [4.0]]), (3, 5))  # constant rows
    np.testing.assert_allclose(
        emoalign.pdist(cols, "euclidean"), ssd.pdist(np.asarray(cols)), **F64_TOL
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mixed_precision_cdist_promotes_to_float64(dtype: Any) -> None:
    rng = np.random.default_rng(7)
    A = rng.standard_normal((5, 3)).astype(dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    B = rng.standard_normal((4, 3)).astype(other)
    got = emoalign.cdist(A, B, "euclidean")
    assert got.dtype == np.float64
    np.testing.assert_allclose(
        got, ssd.cdist(A.astype(float), B.astype(float), "euclidean"), **F64_TOL
    )


def test_single_row_and_single_column() -> None:
    one = np.array([[1.0, 2.0, 3.0]])
    assert emoalign.pdist(one).shape == (0,)
    assert emoalign.rdm(one).tolist() == [[0.0]]
    assert emoalign.cdist(one, one, "cityblock").tolist() == [[0.0]]
    col = np.array([[1.0], [4.0], [-2.0]])
    np.testing.assert_allclose(emoalign.pdist(col, "chebyshev"), ssd.pdist(col, "chebyshev"))


def test_metric_name_is_checked() -> None:
    with pytest.raises(ValueError, match="metric"):
        emoalign.pdist(np.ones((3, 2)), "minkowski")
