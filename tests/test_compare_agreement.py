"""``emoalign.agreement``: video-level statistics on hand-made cases, CIs, labels, bad input."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import emoalign

ITEMS = ["joy", "fear", "awe", "calm"]


def frame(rows: dict[str, list[float]]) -> pl.DataFrame:
    ids = list(rows)
    return pl.DataFrame(
        {"video_id": ids, **{item: [rows[v][j] for v in ids] for j, item in enumerate(ITEMS)}}
    )


HUMAN = frame(
    {
        "v1": [1, 2, 3, 4],
        "v2": [1, 2, 3, 4],
        "v3": [0, 1, 0, 3],
        "v4": [2, 2, 2, 2],
        "v5": [1, 2, 3, 4],
        "v6": [5, 1, 1, 1],
    }
)
# Columns in another order and rows shuffled: both are matched by name and id.
MODEL = frame(
    {
        "v5": [0, 0, 0, 0],
        "v3": [0, 2, 1, 0],
        "v1": [2, 4, 6, 8],
        "v2": [4, 3, 2, 1],
        "v4": [1, 2, 3, 4],
        "v7": [1, 1, 1, 2],
    }
).select("video_id", "calm", "awe", "joy", "fear")


@pytest.fixture(scope="module")
def result() -> emoalign.comparison.Agreement:
    return emoalign.agreement(HUMAN, MODEL, n_boot=200, seed=1)


def row(result, video: str) -> dict:
    return result.per_video.filter(pl.col("video_id") == video).row(0, named=True)


def test_hand_computed_statistics(result) -> None:
    v1, v2, v3 = row(result, "v1"), row(result, "v2"), row(result, "v3")
    assert v1["pearson"] == pytest.approx(1.0) and v1["spearman"] == pytest.approx(1.0)
    assert v1["cosine"] == pytest.approx(1.0)
    assert (v1["top1_in_top1"], v1["top1_in_top3"]) == (True, True)
    assert v2["pearson"] == pytest.approx(-1.0) and v2["spearman"] == pytest.approx(-1.0)
    assert v2["cosine"] == pytest.approx(20 / 30)
    assert (v2["top1_in_top1"], v2["top1_in_top3"]) == (False, False)
    # human [0,1,0,3], model [0,2,1,0]: by hand, r = -1/sqrt(6 * 2.75), rho = -0.25/4.5.
    assert v3["pearson"] == pytest.approx(-1 / math.sqrt(16.5))
    assert v3["spearman"] == pytest.approx(-0.25 / 4.5)
    assert v3["cosine"] == pytest.approx(2 / math.sqrt(50))
    # The human's third-largest rating (0) is tied, so the top-3 set holds every item.
    assert (v3["top1_in_top1"], v3["top1_in_top3"]) == (False, True)
    assert v1["undefined"] is None


def test_undefined_statistics_are_flagged_not_hidden(result) -> None:
    v4, v5 = row(result, "v4"), row(result, "v5")
    assert v4["undefined"] == "constant human"
    assert math.isnan(v4["pearson"]) and math.isnan(v4["spearman"])
    assert v4["cosine"] == pytest.approx(20 / (4 * math.sqrt(30)))
    assert v4["top1_in_top1"] is None
    assert v5["undefined"] == "zero model"
    assert math.isnan(v5["cosine"])
    summary = {r["statistic"]: r for r in result.summary.iter_rows(named=True)}
    assert summary["pearson"]["n_undefined"] == 2 and summary["pearson"]["n_videos"] == 3
    assert summary["pearson"]["mean"] == pytest.approx(np.mean([1.0, -1.0, -1 / math.sqrt(16.5)]))
    # Hit rates are percentages over the defined videos (v1 hits, v2 and v3 miss top-1).
    assert summary["top1_in_top1"]["mean"] == pytest.approx(100 / 3)
    assert summary["top1_in_top3"]["mean"] == pytest.approx(200 / 3)
    assert summary["cosine"]["n_undefined"] == 1


def test_unmatched_ids_are_listed_and_counted(result) -> None:
    assert result.n_videos == 5
    assert result.unmatched == {"human_only": ["v6"], "model_only": ["v7"]}
    assert result.n_unmatched == {"human_only": 1, "model_only": 1}


def test_per_item_correlations_match_numpy() -> None:
    rng = np.random.default_rng(0)
    H, M = rng.random((40, 4)), rng.random((40, 4))
    res = emoalign.agreement(H, M, n_boot=10)
    expected = [np.corrcoef(H[:, j], M[:, j])[0, 1] for j in range(4)]
    np.testing.assert_allclose(res.per_item["pearson"].to_numpy(), expected, rtol=1e-12)
    rows = [np.corrcoef(H[i], M[i])[0, 1] for i in range(40)]
    np.testing.assert_allclose(res.per_video["pearson"].to_numpy(), rows, rtol=1e-12)


def test_summary_ci_brackets_the_mean_and_reproduces_from_the_seed() -> None:
    rng = np.random.default_rng(3)
    H = rng.random((60, 5))
    M = H + rng.normal(0, 0.2, H.shape)
    a = emoalign.agreement(H, M, n_boot=300, seed=9)
    b = emoalign.agreement(H, M, n_boot=300, seed=9)
    assert a.summary.equals(b.summary) and a.per_video.equals(b.per_video)
    for r in a.summary.iter_rows(named=True):
        assert r["ci_low"] <= r["mean"] <= r["ci_high"]
    c = emoalign.agreement(H, M, n_boot=300, seed=10)
    assert not c.summary.equals(a.summary)


def test_labels_give_a_per_category_breakdown() -> None:
    rng = np.random.default_rng(4)
    H = rng.random((8, 4))
    M = H + rng.normal(0, 0.1, H.shape)
    labels = ["a"] * 3 + ["b"] * 5
    res = emoalign.agreement(H, M, labels=labels, n_boot=10)
    by = {r["label"]: r for r in res.by_category.iter_rows(named=True)}
    per = res.per_video["pearson"].to_numpy()
    assert by["a"]["n_videos"] == 3 and by["b"]["n_videos"] == 5
    assert by["a"]["pearson"] == pytest.approx(per[:3].mean())
    assert by["b"]["pearson"] == pytest.approx(per[3:].mean())


def test_disjoint_ids_are_an_error() -> None:
    other = HUMAN.with_columns(pl.col("video_id") + "_x")
    with pytest.raises(ValueError, match="only 0 video"):
        emoalign.agreement(HUMAN, other)


def test_mismatched_items_are_named() -> None:
    with pytest.raises(ValueError, match=r"model lacks 'calm'; model has 'anger'"):
        emoalign.agreement(HUMAN, MODEL.rename({"calm": "anger"}))


def test_nan_ratings_are_an_error() -> None:
    bad = MODEL.with_columns(
        pl.when(pl.col("video_id") == "v1").then(None).otherwise(pl.col("joy")).alias("joy")
    )
    with pytest.raises(ValueError, match=r"missing \(NaN\).*'v1'"):
        emoalign.agreement(HUMAN, bad)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"n_boot": 0}, ValueError), ({"ci": 1.5}, ValueError), ({"n_boot": 1.5}, TypeError)],
)
def test_bad_bootstrap_arguments(kwargs, error) -> None:
    with pytest.raises(error):
        emoalign.agreement(HUMAN, MODEL, **kwargs)
