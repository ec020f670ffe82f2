"""Factored (low-rank) costs: the factors are the RDMs, and the solver on factors is the dense one.

Reference values are the dense paths (``emoalign.rdm`` and the dense solver), themselves checked
against scipy and POT in test_core_distance.py and test_core_gw.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import Phase, given, note, settings
from hypothesis import strategies as st

import emoalign
from emoalign import LowRankRDM, _core, rdm_factors

EXACT = ("sqeuclidean", "cosine", "correlation", "spearman")
# Solver comparisons: no shrinking (each example is a solve); draws are printed by note().
SOLVER_PHASES = (Phase.explicit, Phase.reuse, Phase.generate)


def ratings(seed: int, n: int, d: int, ties: bool) -> np.ndarray:
    """n rows of d ratings; column 0 = column 1 + 1, so no row is constant or zero."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    if ties:
        x = np.round(x)  # spearman's average ranks and exact zeros both get exercised
    x[:, 0] = x[:, 1] + 1.0
    return x


def weights(seed: int, n: int) -> np.ndarray:
    w = np.random.default_rng(seed).uniform(0.2, 1.0, n)
    return w / w.sum()


def rel_gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@settings(deadline=None, max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    d=st.integers(2, 12),
    metric=st.sampled_from(EXACT),
    ties=st.booleans(),
    single=st.booleans(),
)
def test_factors_are_the_dense_rdm(
    seed: int, n: int, d: int, metric: str, ties: bool, single: bool
) -> None:
    x = ratings(seed, n, d, ties).astype(np.float32 if single else np.float64)
    factors = rdm_factors(x, metric)
    dense = emoalign.rdm(x, metric)
    assert factors.shape == (n, n)
    assert factors.rank == (d + 2 if metric == "sqeuclidean" else d + 1)
    assert factors.dtype == x.dtype and factors.approximation_error is None
    scale = max(1.0, float(np.abs(dense).max()))
    tol = (2e-5 if single else 1e-12) * scale
    assert np.abs(factors.to_dense() - dense).max() <= tol
    assert abs(factors.max() - float(dense.max())) <= tol


@settings(deadline=None, max_examples=30)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 40),
    d=st.integers(3, 12),
    metric=st.sampled_from(EXACT),
)
def test_scaling_is_kept_in_the_factors(seed: int, n: int, d: int, metric: str) -> None:
    x = ratings(seed, n, d, False)
    factors = rdm_factors(x, metric)
    dense = emoalign.rdm(x, metric)
    scaled = factors.scaled()
    assert scaled.B is factors.B  # the scale went into A
    assert np.abs(scaled.to_dense() - dense / dense.max()).max() <= 1e-12 * 4 / dense.max()
    assert scaled.max() == pytest.approx(1.0, rel=1e-12)


@settings(deadline=None, max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 40),
    m=st.integers(2, 40),
    metrics=st.tuples(st.sampled_from(EXACT), st.sampled_from(EXACT)),
    sides=st.sampled_from(["factored", "dense-factored", "factored-dense"]),
    asymmetric=st.booleans(),
)
def test_the_factored_gradient_and_loss_are_the_dense_ones_in_float64(
    seed: int,
    n: int,
    m: int,
    metrics: tuple[str, str],
    sides: str,
    asymmetric: bool,
) -> None:
    f1 = rdm_factors(ratings(seed, n, 6, False), metrics[0])
    f2 = rdm_factors(ratings(seed + 1, m, 4, False), metrics[1])
    if asymmetric:  # A Bᵀ with unrelated B: the transposed pair of the gradient is exercised
        f1 = LowRankRDM(f1.A, np.random.default_rng(seed).normal(size=f1.B.shape))
    d1, d2 = f1.to_dense(), f2.to_dense()
    c1 = d1 if sides == "dense-factored" else f1
    c2 = d2 if sides == "factored-dense" else f2
    plan = np.random.default_rng(seed + 2).uniform(size=(n, m)) / (n * m)
    want = emoalign.gw_gradient(d1, d2, plan)
    got = emoalign.gw_gradient(c1, c2, plan)
    assert rel_gap(got, want) <= 1e-12
    loss = emoalign.gw_value(d1, d2, plan)
    assert abs(emoalign.gw_value(c1, c2, plan) - loss) <= 1e-12 * abs(loss)


@settings(deadline=None, max_examples=15, phases=SOLVER_PHASES)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 30),
    m=st.integers(3, 30),
    metrics=st.tuples(st.sampled_from(EXACT), st.sampled_from(EXACT)),
    mixed=st.booleans(),
    log10_eps=st.floats(-2.0, -1.0),
)
def test_factored_solves_reach_the_dense_fixed_point(
    seed: int,
    n: int,
    m: int,
    metrics: tuple[str, str],
    mixed: bool,
    log10_eps: float,
) -> None:
    note(f"seed={seed} n={n} m={m} metrics={metrics} mixed={mixed} eps={10**log10_eps:.4g}")
    f1 = rdm_factors(ratings(seed, n, 5, False), metrics[0]).scaled()
    f2 = rdm_factors(ratings(seed + 1, m, 3, False), metrics[1]).scaled()
    p, q = weights(seed + 2, n), weights(seed + 3, m)
    opts = dict(epsilon=10**log10_eps, tol=1e-11, inner_tol=1e-12, max_iter=20_000)
    dense = emoalign.entropic_gw(f1.to_dense(), f2.to_dense(), p, q, **opts)
    factored = emoalign.entropic_gw(f1.to_dense() if mixed else f1, f2, p, q, **opts)
    assert dense.converged and factored.converged
    assert np.abs(factored.plan - dense.plan).max() <= 1e-8 * dense.plan.max()
    assert abs(factored.gw_dist - dense.gw_dist) <= 1e-10 * abs(dense.gw_dist)


def test_the_pot_drop_ins_take_factors() -> None:
    f1 = rdm_factors(ratings(1, 25, 5, False), "correlation").scaled()
    f2 = rdm_factors(ratings(2, 20, 5, False), "sqeuclidean").scaled()
    kw = dict(epsilon=0.02, tol=1e-12, numItermax=10_000, stopThr=1e-12)
    want = emoalign.entropic_gromov_wasserstein(f1.to_dense(), f2.to_dense(), **kw)
    got = emoalign.entropic_gromov_wasserstein(f1, f2, **kw)
    assert np.abs(got - want).max() <= 1e-8 * want.max()
    value = emoalign.entropic_gromov_wasserstein2(f1, f2.to_dense(), **kw)
    assert abs(value - emoalign.gw_value(f1.to_dense(), f2.to_dense(), want)) <= 1e-10 * value


def test_float32_factors_solve_to_the_float64_plan_within_float32_rounding() -> None:
    f1 = rdm_factors(ratings(3, 60, 8, False), "correlation").scaled()
    f2 = rdm_factors(ratings(4, 50, 8, False), "correlation").scaled()
    want = emoalign.entropic_gw(f1, f2, epsilon=0.02)
    got = emoalign.entropic_gw(f1.astype(np.float32), f2.astype(np.float32), epsilon=0.02)
    assert got.plan.dtype == np.float32 and got.converged
    # float32 stops at its resolution (a relative change of ~1e-5 at this epsilon: the
    # gradient's rounding amplified by 1/ε), so the plans agree to ~1e-3, as dense float32's do.
    dense32 = emoalign.entropic_gw(
        f1.to_dense().astype(np.float32), f2.to_dense().astype(np.float32), epsilon=0.02
    )
    gap, dense_gap = (np.abs(r.plan - want.plan).max() for r in (got, dense32))
    assert gap <= 1e-3 * want.plan.max()
    assert gap <= 3 * dense_gap


def test_sampled_factors_report_their_true_error() -> None:
    x = ratings(5, 80, 6, False)
    dense = emoalign.rdm(x, "euclidean")
    for rank in (5, 20, 80):
        approx = rdm_factors(x, "euclidean", rank=rank)
        true = np.linalg.norm(approx.to_dense() - dense) / np.linalg.norm(dense)
        # With n <= 512 every row is in the error's sample: the report is the true error.
        assert approx.approximation_error == pytest.approx(true, rel=1e-9, abs=1e-12)
        assert approx.rank == rank
    assert approx.approximation_error <= 1e-8  # rank n reproduces the matrix
    assert "approximation_error" in repr(approx)


def test_an_exact_metric_under_a_smaller_rank_is_approximated_and_says_so() -> None:
    x = ratings(6, 50, 10, False)
    exact = rdm_factors(x, "correlation", rank=11)
    assert exact.approximation_error is None and exact.rank == 11
    approx = rdm_factors(x, "correlation", rank=5)
    assert approx.rank == 5 and approx.approximation_error > 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(metric="euclidean"), "no exact low-rank factors.*pass rank="),
        (dict(metric="cityblock"), "no exact low-rank factors"),
        (dict(metric="correlation", rank=0), r"rank=0 is outside \[1, n=10\]"),
        (dict(metric="euclidean", rank=-3), "outside"),
        (dict(metric="correlation", rank=11), r"rank=11 is outside \[1, n=10\]"),
        (dict(metric="mahalanobis"), "metric 'mahalanobis' is not supported"),
    ],
)
def test_bad_factor_requests_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rdm_factors(ratings(7, 10, 4, False), **kwargs)


def test_bad_factors_are_refused() -> None:
    ok = np.ones((5, 3))
    with pytest.raises(ValueError, match=r"shapes \(5, 3\) and \(5, 2\)"):
        LowRankRDM(ok, np.ones((5, 2)))
    with pytest.raises(ValueError, match="factor B contains NaN"):
        LowRankRDM(ok, np.full((5, 3), np.nan))
    with pytest.raises(TypeError, match="rank must be an int"):
        rdm_factors(ratings(8, 10, 4, False), "correlation", rank=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="constant"):
        rdm_factors(np.ones((4, 3)), "correlation")
    with pytest.raises(ValueError, match="NaN or inf"):
        rdm_factors(np.full((4, 3), np.nan), "sqeuclidean")
    # The core checks what reaches it directly, too.
    with pytest.raises(ValueError, match=r"C2's factors have shapes"):
        _core.entropic_gw(np.eye(5), (ok, np.ones((4, 3))))
    with pytest.raises(TypeError, match="pair of factors"):
        _core.entropic_gw(np.eye(5), (ok, ok, ok))
    with pytest.raises(ValueError, match=r"C1\.A contains NaN"):
        _core.gw_value((np.full((5, 3), np.nan), ok), np.eye(5), np.eye(5) / 5)
    with pytest.raises(TypeError, match="one dtype"):
        _core.entropic_gw((ok, ok.astype(np.float32)), np.eye(5))


def test_kl_loss_with_factors_names_the_alternative() -> None:
    f = rdm_factors(ratings(9, 12, 4, False), "sqeuclidean")
    with pytest.raises(ValueError, match=r"kl_loss.*to_dense\(\).*square_loss"):
        emoalign.entropic_gw(f, f.to_dense(), loss_fun="kl_loss")


def test_a_solve_over_its_memory_limit_is_refused_before_allocating() -> None:
    # n = m = 10^6: three float32 plans would take 12 TB; only the 16 MB of factors exist.
    big = LowRankRDM(np.ones((10**6, 2), np.float32), np.ones((10**6, 2), np.float32))
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=r"entropic GW needs .* at its peak .*factored costs"):
        emoalign.entropic_gw(big, big)
    assert time.perf_counter() - start < 5.0
    small = rdm_factors(ratings(10, 30, 4, False), "correlation")
    with pytest.raises(MemoryError, match=r"limit of .* \(max_memory\)"):
        emoalign.entropic_gw(small, small, max_memory=10_000)
    with pytest.raises(ValueError, match="max_memory must be a positive"):
        emoalign.entropic_gw(small, small, max_memory=0)


def test_acceleration_steps_aside_when_it_does_not_fit_the_budget() -> None:
    f = rdm_factors(ratings(11, 40, 5, False), "correlation").scaled().astype(np.float32)
    g = rdm_factors(ratings(12, 40, 5, False), "correlation").scaled().astype(np.float32)
    matrix = 40 * 40 * 4
    costs = 2 * 2 * 40 * 6 * 4
    lean = emoalign.entropic_gw(f, g, epsilon=0.01, accelerate=True, max_memory=costs + 3 * matrix)
    assert lean.peak_bytes == costs + 3 * matrix  # three n x m matrices, no Anderson
    roomy = emoalign.entropic_gw(f, g, epsilon=0.01, accelerate=True)
    assert roomy.peak_bytes == costs + 3 * matrix + 15 * matrix  # X + 13 Anderson + anchor
    # Without acceleration (the default) nothing is reserved for it.
    plain = emoalign.entropic_gw(f, g, epsilon=0.01)
    assert plain.peak_bytes == costs + 3 * matrix
    assert lean.converged and roomy.converged
    assert np.abs(lean.plan - roomy.plan).max() <= 1e-4 * roomy.plan.max()


def test_a_study_on_a_factorable_metric_solves_factored_costs_and_says_so() -> None:
    from emoalign.alignment.synthetic import synthetic_pair

    pair = synthetic_pair(n_categories=4, per_category=8, seed=3)
    fast = dict(n_trials=4, n_inits=1, sampler="grid", eps_range=(3e-3, 3e-2), seed=1)
    factored = emoalign.align(pair.human, pair.model, metric="correlation", **fast)
    assert factored.trials["costs"].unique().to_list() == ["factored (rank 35)"]
    assert isinstance(factored.prepared.costs[0], LowRankRDM)
    # The same RDMs given as matrices (in the source's video order) are solved dense.
    human = pair.human.drop("video_id").to_numpy()
    model = pair.model.sort(
        pl_order(pair.model["video_id"].to_list(), pair.human["video_id"].to_list())
    )
    dense = emoalign.align(
        emoalign.rdm(human, "correlation"),
        emoalign.rdm(model.drop("video_id").to_numpy(), "correlation"),
        **fast,
    )
    assert dense.trials["costs"].unique().to_list() == ["dense"]
    assert factored.epsilon == dense.epsilon
    # A study stops at tol=1e-7 (not the 1e-11 of the solver comparison above): the two
    # paths agree to that stopping point, not beyond.
    assert factored.gw_dist == pytest.approx(dense.gw_dist, rel=1e-8)
    assert np.abs(factored.plan - dense.plan).max() <= 1e-6 * dense.plan.max()


def pl_order(ids: list[str], wanted: list[str]) -> object:
    """A sort key putting rows with ``ids`` into the order of ``wanted``."""
    import polars as pl

    rank = {v: i for i, v in enumerate(wanted)}
    return pl.Series([rank[v] for v in ids])
