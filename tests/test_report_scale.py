"""Figures and summaries of large studies: pooled heat maps streamed from the plan or the factors,
and embeddings and RSA on stratified subsamples, checked against exact dense computations at
moderate n with the thresholds lowered, plus the memory the pooled paths allocate."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pytest

import emoalign
from emoalign.alignment import align, synthetic_pair
from emoalign.alignment import result as result_module
from emoalign.alignment.embedding import aligned_embedding
from emoalign.alignment.subsample import stratified_subsample
from emoalign.factored import cost_block, cost_entries
from emoalign.report import figures
from emoalign.report.pooling import pool_step, pooled_image

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::emoalign.ConvergenceWarning")


def block_reduce(M: np.ndarray, step: int, how: str) -> np.ndarray:
    """The reference: an explicit loop over blocks of the dense matrix."""
    rows, cols = -(-M.shape[0] // step), -(-M.shape[1] // step)
    out = np.empty((rows, cols))
    for a in range(rows):
        for b in range(cols):
            block = M[a * step : (a + 1) * step, b * step : (b + 1) * step]
            out[a, b] = block.max() if how == "max" else block.mean()
    return out


@pytest.fixture(scope="module")
def factored() -> emoalign.LowRankRDM:
    # 2990 videos: blocks of 30 leave a short last block of 20, which the mean must divide by.
    ratings = np.random.default_rng(1).random((2990, 12))
    return emoalign.rdm_factors(ratings, "correlation").scaled()


@pytest.fixture(scope="module")
def plan() -> np.ndarray:
    rng = np.random.default_rng(2)
    n = 3000
    P = np.zeros((n, n), dtype=np.float32)
    P[np.arange(n), rng.permutation(n)] = 0.8 / n
    P += (rng.random((n, n)) < 0.01) * np.float32(0.2 / (0.01 * n * n))
    return P


def test_pooled_rdm_from_factors_is_the_dense_block_means(factored) -> None:
    n = factored.shape[0]
    order = np.random.default_rng(3).permutation(n)
    pooled = pooled_image(factored, order, order, cells=100, how="mean", band_elements=50_000)
    dense = factored.to_dense().astype(np.float64)[np.ix_(order, order)]
    assert pooled.step == 30 and pooled.how == "mean"
    assert pooled.image.shape == (100, 100)
    np.testing.assert_allclose(pooled.image, block_reduce(dense, 30, "mean"), rtol=0, atol=1e-12)


def test_pooled_plan_is_the_dense_block_maxima(plan) -> None:
    order = np.random.default_rng(4).permutation(plan.shape[0])
    pooled = pooled_image(plan, order, order, cells=600, how="max")
    expected = block_reduce(plan[np.ix_(order, order)].astype(np.float64), 5, "max")
    assert pooled.step == 5
    np.testing.assert_array_equal(pooled.image, expected)


def test_below_the_threshold_the_image_is_the_matrix(factored) -> None:
    idx = np.arange(400)
    small = emoalign.LowRankRDM(factored.A[idx], factored.B[idx])
    order = np.random.default_rng(5).permutation(400)
    pooled = pooled_image(small, order, order, cells=400, how="mean")
    assert pooled.step == 1
    np.testing.assert_allclose(
        pooled.image, small.to_dense()[np.ix_(order, order)], rtol=0, atol=1e-15
    )


def test_pool_step_and_bad_arguments(factored) -> None:
    assert [pool_step(s, 600) for s in (1, 600, 601, 20_000)] == [1, 1, 2, 34]
    idx = np.arange(10)
    with pytest.raises(ValueError, match="how must be 'max' or 'mean'"):
        pooled_image(factored, idx, idx, cells=5, how="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cells must be at least 1"):
        pooled_image(factored, idx, idx, cells=0, how="max")


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_plan_figure_allocates_no_second_plan(plan) -> None:
    labels = np.repeat(np.arange(30), 100)
    order = figures.category_order(labels, plan.shape[0])

    def draw() -> None:
        fig, step = figures.plan_figure(plan, order, ("a", "b"))
        assert step == 5
        plt.close(fig)

    # The float32 plan is 36 MB; any reordered or rescaled copy of it would show here.
    assert peak_bytes(draw) < plan.nbytes / 4


def test_rdm_figure_from_factors_never_forms_the_matrix(factored) -> None:
    n = factored.shape[0]
    order = figures.category_order(None, n)

    def draw() -> None:
        fig, step = figures.rdms_figure(factored, factored, order, ("a", "b"), ("c", "c"))
        assert step == 3  # 2990 videos into at most 1000 cells
        plt.close(fig)

    # The dense matrix would be 71.5 MB; what remains is the two 997 × 997 pooled images and
    # matplotlib's normalised copies of them.
    assert peak_bytes(draw) < n * n * 8 / 2


def test_cost_block_and_entries_match_the_dense_matrix(factored) -> None:
    dense = factored.to_dense()
    rng = np.random.default_rng(6)
    rows, cols = rng.integers(0, len(dense), 50), rng.integers(0, len(dense), 70)
    np.testing.assert_allclose(
        cost_block(factored, rows, cols), dense[np.ix_(rows, cols)], atol=1e-13
    )
    np.testing.assert_array_equal(cost_block(dense, rows, cols), dense[np.ix_(rows, cols)])
    np.testing.assert_allclose(
        cost_entries(factored, rows[:50], cols[:50]), dense[rows[:50], cols[:50]], atol=1e-13
    )


def test_condensed_pairs_follow_scipy_order() -> None:
    n = 37
    iu = np.triu_indices(n, k=1)
    rows, cols = figures.condensed_pairs(n, np.arange(len(iu[0]), dtype=np.int64))
    np.testing.assert_array_equal(rows, iu[0])
    np.testing.assert_array_equal(cols, iu[1])
    # Far into n = 20,000's 200 million pairs: the last pair and one in the middle.
    last = 20_000 * 19_999 // 2 - 1
    r, c = figures.condensed_pairs(20_000, np.array([last, 10_000 * 19_999 - 7]))
    assert (int(r[0]), int(c[0])) == (19_998, 19_999)
    i, j = int(r[1]), int(c[1])
    assert i * 20_000 - i * (i + 1) // 2 + (j - i - 1) == 10_000 * 19_999 - 7


def test_stratified_subsample_keeps_category_shares() -> None:
    labels = np.repeat(np.array(["a", "b", "c", "d"]), [600, 300, 97, 3])
    idx = stratified_subsample(1000, 100, labels, seed=7)
    assert len(idx) == 100 and len(np.unique(idx)) == 100
    assert np.all(np.diff(idx) > 0)
    counts = {k: int((labels[idx] == k).sum()) for k in "abcd"}
    assert counts == {"a": 60, "b": 30, "c": 9, "d": 1}
    np.testing.assert_array_equal(idx, stratified_subsample(1000, 100, labels, seed=7))
    assert not np.array_equal(idx, stratified_subsample(1000, 100, labels, seed=8))
    np.testing.assert_array_equal(stratified_subsample(50, 80, labels[:50]), np.arange(50))
    unlabelled = stratified_subsample(1000, 10, None, seed=1)
    assert len(np.unique(unlabelled)) == 10
    with pytest.raises(ValueError, match="size must be at least 1"):
        stratified_subsample(10, 0)
    with pytest.raises(ValueError, match="one label per video"):
        stratified_subsample(10, 5, labels[:9])


@pytest.fixture(scope="module")
def study():
    pair = synthetic_pair(n_categories=4, per_category=30, seed=9)
    return align(
        pair.human, pair.model, labels=pair.labels, metric="correlation", n_trials=3,
        n_inits=1, eps_range=(2e-3, 1e-2),
    )  # fmt: skip


def test_subsampled_embedding_is_the_dense_subproblem(study) -> None:
    assert study.prepared.cost_form.startswith("factored")
    emb = study.aligned_embedding(2, max_videos=40)
    idx = emb.videos
    assert len(idx) == 40
    assert [int((study.labels[idx] == c).sum()) for c in np.unique(study.labels)] == [10] * 4
    np.testing.assert_array_equal(idx, study.subsample(40))
    sub = np.ix_(idx, idx)
    expected = aligned_embedding(study.C1[sub], study.C2[sub], study.plan[sub], 2)
    np.testing.assert_allclose(emb.source, expected.source, atol=1e-8)
    np.testing.assert_allclose(emb.target, expected.target, atol=1e-8)
    full = study.aligned_embedding(2)
    np.testing.assert_array_equal(full.videos, np.arange(study.n))


def test_subsampled_rsa_is_the_dense_rsa_of_the_subsample(study) -> None:
    got = study.rsa("spearman", 99, max_videos=50)
    idx = study.subsample(50)
    sub = np.ix_(idx, idx)
    expected = emoalign.rsa(study.C1[sub], study.C2[sub], "spearman", 99, seed=study.spec.seed)
    assert got.n_pairs == 50 * 49 // 2
    assert got.r == pytest.approx(expected.r, abs=1e-12)
    assert got.p_value == expected.p_value


def test_report_says_what_is_pooled_and_subsampled(study, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(result_module, "RSA_MAX_VIDEOS", 60)
    monkeypatch.setattr(result_module, "EMBEDDING_MAX_VIDEOS", 50)
    monkeypatch.setattr(figures, "RDM_CELLS", 40)
    monkeypatch.setattr(figures, "PLAN_CELLS", 30)
    page = study.report(tmp_path, permutations=19).read_text()
    assert "mean-pooled for display: each cell shows the mean distance of a block of 3 × 3" in page
    assert "max-pooled for display: each cell shows the largest plan entry of a block of 4 × 4" in (
        page
    )
    assert "50 of the 120 videos shown" in page
    assert "a seeded subsample of 60 of the 120 videos" in page
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["rsa_videos"] == 60
    assert metrics["embedding"]["videos"] == 50
    assert metrics["pooling"] == {"rdms": 3, "plan": 4}


def test_top_k_in_bands_is_the_whole_plan_ranking(plan, monkeypatch) -> None:
    from emoalign.alignment import matching

    rows = plan[:300, :300].copy()
    rows[7, [3, 9, 11]] = rows[7].max() * 2  # a tie beyond k, ranked by the stable sort
    expected = np.argsort(-rows, axis=1, kind="stable")[:, :3]
    monkeypatch.setattr(matching, "_BAND_ELEMENTS", 7 * 300)  # bands of 7 rows, the last short
    np.testing.assert_array_equal(matching.top_k(rows, 3), expected)
    rows[299, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        matching.top_k(rows, 1)


def test_matching_rates_allocate_no_second_plan(plan) -> None:
    from emoalign.alignment import matching

    labels = np.repeat(np.arange(30), 100)
    assert peak_bytes(lambda: matching.matching_rate(plan, 3, labels)) < plan.nbytes / 4


def test_rsa_from_float32_factors_reads_the_upper_triangle(study) -> None:
    import dataclasses

    # A @ B.T in float32 is symmetric only to rounding: RSA must take the upper triangle, not
    # refuse the block as an asymmetric RDM.
    costs = tuple(c.astype(np.float32) for c in study.costs)
    f32 = dataclasses.replace(study, prepared=dataclasses.replace(study.prepared, costs=costs))
    f32._rsa = {}
    got = f32.rsa("pearson", 0, max_videos=60)
    idx = study.subsample(60)
    sub = np.ix_(idx, idx)
    expected = emoalign.rsa(study.C1[sub], study.C2[sub], "pearson")
    assert got.n_pairs == 60 * 59 // 2
    assert got.r == pytest.approx(expected.r, abs=1e-5)


def test_rsa_figure_of_many_pairs_reads_only_the_drawn_ones(factored) -> None:
    n = factored.shape[0]

    def draw() -> None:
        fig, shown = figures.rsa_figure(
            factored, factored, None, {"pearson": (1.0, "< 0.01")}, ("a", "b"), ("c", "c")
        )
        assert shown == figures.MAX_SCATTER_PAIRS
        plt.close(fig)

    # 4.5 million pairs: their index (36 MB) or values would exceed this; the 20,000 drawn not.
    assert peak_bytes(draw) < n * (n - 1) // 2 * 8 / 4


def test_cached_top_k_gives_every_rate_as_a_fresh_pass(study) -> None:
    import dataclasses

    from emoalign.alignment import matching

    plan = study.plan.copy()
    plan[0, :6] = plan[0].max() * 2  # ties across the top 5 and beyond
    plan[1, [1, 40, 2]] = plan[1].max() * 3  # a tie between the diagonal and other columns
    tied = dataclasses.replace(study, plan=plan)
    for k in (3, 1, 5, 7, 2):  # 7 widens the cached top-k
        assert tied.matching_rate(k) == matching.matching_rate(plan, k)
        expected = matching.matching_rate(plan, k, study.labels)
        assert tied.category_matching_rate(k) == expected
    with pytest.raises(ValueError, match="k must be a positive int"):
        tied.matching_rate(0)


def test_bad_max_videos_names_the_argument(study) -> None:
    with pytest.raises(ValueError, match="max_videos must be at least 3"):
        study.rsa("pearson", 0, max_videos=2)
    with pytest.raises(TypeError, match="max_videos must be an int"):
        study.aligned_embedding(2, max_videos=50.0)  # type: ignore[arg-type]
