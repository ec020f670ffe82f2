"""Preparing the two sides: id matching, RDM detection, long-form input, and bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import emoalign
from emoalign.alignment.inits import initial_plan, schedule
from emoalign.alignment.inputs import prepare


def frame(ids: list[str], values: np.ndarray) -> pl.DataFrame:
    data: dict[str, object] = {"video_id": ids}
    data.update({f"e{j}": values[:, j] for j in range(values.shape[1])})
    return pl.DataFrame(data)


@pytest.fixture
def ratings() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    ids = [f"v{i}" for i in range(8)]
    return ids, rng.random((8, 5)), rng.random((8, 4))


def test_rows_are_matched_by_id(ratings) -> None:
    ids, a, b = ratings
    order = np.random.default_rng(2).permutation(8)
    straight = prepare(frame(ids, a), frame(ids, b))
    shuffled = prepare(frame(ids, a), frame([ids[i] for i in order], b[order]))
    assert shuffled.ids == ids
    np.testing.assert_allclose(shuffled.C2, straight.C2)
    assert straight.C1.max() == 1.0 and straight.C2.max() == 1.0


def test_precomputed_rdm_is_detected(ratings) -> None:
    _, a, b = ratings
    D = emoalign.rdm(b)
    p = prepare(a, D)
    assert p.target_is_rdm and not p.source_is_rdm
    np.testing.assert_allclose(p.C2, D / D.max())


def test_query_long_form_is_pivoted(ratings) -> None:
    ids, a, b = ratings
    rows = [
        {
            "video_id": v,
            "model": "m",
            "task": "ratings",
            "item": f"e{j}",
            "value": float(b[i, j]),
            "repeat": 0,
            "reply_id": "r",
            "status": "ok",
        }
        for i, v in enumerate(ids)
        for j in range(b.shape[1])
    ]
    long = pl.DataFrame(rows)
    p = prepare(frame(ids, a), long)
    np.testing.assert_allclose(p.C2, prepare(frame(ids, a), frame(ids, b)).C2)


def test_mismatched_ids_are_listed(ratings) -> None:
    ids, a, b = ratings
    other = [*ids[:-1], "stranger"]
    with pytest.raises(ValueError, match=r"only in source: 'v7'.*only in target: 'stranger'"):
        prepare(frame(ids, a), frame(other, b))


def test_nan_ratings_name_the_video(ratings) -> None:
    ids, a, b = ratings
    b = b.copy()
    b[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"target has missing \(NaN\).*'v3'"):
        prepare(frame(ids, a), frame(ids, b))


@pytest.mark.parametrize("n", [1, 2])
def test_fewer_than_three_videos_are_refused(n: int) -> None:
    ids = [f"v{i}" for i in range(n)]
    values = np.arange(3.0 * n).reshape(n, 3)
    with pytest.raises(ValueError, match=f"source has {n} video\\(s\\).*at least 3"):
        prepare(frame(ids, values), frame(ids, values))


def test_labels_of_the_wrong_length(ratings) -> None:
    ids, a, b = ratings
    with pytest.raises(ValueError, match=r"one label per video \(8\)"):
        prepare(frame(ids, a), frame(ids, b), labels=["x"] * 7)


def test_labels_by_id(ratings) -> None:
    ids, a, b = ratings
    mapping = {v: ("odd" if i % 2 else "even") for i, v in enumerate(ids)}
    p = prepare(frame(ids, a), frame(ids, b), labels=mapping)
    assert p.labels.tolist() == [mapping[v] for v in ids]
    with pytest.raises(ValueError, match="labels lack 1"):
        prepare(frame(ids, a), frame(ids, b), labels={v: 1 for v in ids[1:]})


def test_array_and_frame_cannot_be_mixed(ratings) -> None:
    ids, a, b = ratings
    with pytest.raises(ValueError, match="matched by id"):
        prepare(frame(ids, a), b)


def test_duplicated_ids(ratings) -> None:
    ids, a, b = ratings
    with pytest.raises(ValueError, match="duplicated ids: 'v0'"):
        prepare(frame(["v0", "v0", *ids[2:]], a), frame(ids, b))


def test_initial_plans_are_couplings() -> None:
    p, q = np.full(6, 1 / 6), np.full(6, 1 / 6)
    rng = np.random.default_rng(0)
    perm = initial_plan("permutation", p, q, rng)
    assert sorted((perm * 6).sum(axis=0).tolist()) == [1.0] * 6
    assert np.count_nonzero(perm) == 6
    rand = initial_plan("random", p, q, rng)
    np.testing.assert_allclose(rand.sum(axis=1), p, atol=1e-9)
    np.testing.assert_allclose(rand.sum(axis=0), q, atol=1e-12)
    uneven = initial_plan("permutation", np.array([0.5, 0.5]), np.array([0.2, 0.3, 0.5]), rng)
    np.testing.assert_allclose(uneven.sum(axis=1), [0.5, 0.5])
    np.testing.assert_allclose(uneven.sum(axis=0), [0.2, 0.3, 0.5])


def test_init_schedule() -> None:
    assert schedule("random", 3) == ["random"] * 3
    assert (
        schedule(["uniform", "permutation"], 4)
        == ["uniform", "permutation"] * 1 + ["permutation"] * 2
    )
    with pytest.raises(ValueError, match="init must be"):
        schedule("sideways", 2)


def test_factored_sides_build_their_dense_rdms_only_when_asked(ratings) -> None:
    ids, a, b = ratings
    p = prepare(frame(ids, a), frame(ids, b), metric="correlation")
    assert all(isinstance(c, emoalign.LowRankRDM) for c in p.costs)
    # A study on factors never forms the n x n matrices (3.2 GB each at n = 20,000)...
    assert "C1" not in vars(p) and "C2" not in vars(p)
    # ...and when a caller does ask, they are the scaled RDMs, equal to the factors' product.
    for dense, values, cost in ((p.C1, a, p.costs[0]), (p.C2, b, p.costs[1])):
        rdm = emoalign.rdm(values, "correlation")
        np.testing.assert_array_equal(dense, rdm / rdm.max())
        np.testing.assert_allclose(cost.to_dense(), dense, atol=1e-12)
    same = np.tile(a[:1], (8, 1))
    with pytest.raises(ValueError, match="all videos of the source are identical"):
        prepare(frame(ids, same), frame(ids, b), metric="sqeuclidean")
