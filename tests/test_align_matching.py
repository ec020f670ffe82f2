"""Matching rates, category rates and chance levels on hand-made plans."""

from __future__ import annotations

import math

import numpy as np
import pytest

import emoalign
from emoalign.alignment import chance_rate, matching_rate, per_category


def test_identity_and_permuted_plans() -> None:
    n = 5
    assert matching_rate(np.eye(n) / n) == 100.0
    shifted = np.roll(np.eye(n), 1, axis=1) / n  # row i sends its mass to i+1
    assert matching_rate(shifted) == 0.0
    assert emoalign.matching_rate is matching_rate


def test_top_k_counts_a_hit_among_the_k_heaviest_columns() -> None:
    plan = np.array(
        [
            [0.1, 0.5, 0.4],  # self is 3rd
            [0.2, 0.3, 0.5],  # self is 2nd
            [0.0, 0.1, 0.9],  # self is 1st
        ]
    )
    assert matching_rate(plan, 1) == pytest.approx(100 / 3)
    assert matching_rate(plan, 2) == pytest.approx(200 / 3)
    assert matching_rate(plan, 3) == 100.0


def test_category_level_hits() -> None:
    labels = np.array(["a", "a", "b", "b"])
    # Every video goes to the other video of its own category: no item hit, all category hits.
    plan = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]) / 4
    assert matching_rate(plan) == 0.0
    assert matching_rate(plan, labels=labels) == 100.0
    crossed = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]) / 4
    assert matching_rate(crossed, labels=labels) == 0.0


def test_chance_levels() -> None:
    assert chance_rate(10) == pytest.approx(10.0)
    assert chance_rate(10, k=3) == pytest.approx(30.0)
    labels = np.array(["a"] * 3 + ["b"] * 1)
    # Top-1: a row of label a hits with probability 3/4, the b row with 1/4.
    assert chance_rate(4, labels=labels) == pytest.approx(100 * (3 * 0.75 + 0.25) / 4)
    # Top-2 for the b row: 1 − C(3,2)/C(4,2) = 1/2; for a rows: 1 − C(1,2)/C(4,2) = 1.
    assert chance_rate(4, k=2, labels=labels) == pytest.approx(100 * (3 * 1 + 0.5) / 4)


def test_chance_matches_random_plans() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=40)
    rates = [matching_rate(rng.random((40, 40)), 3, labels) for _ in range(400)]
    assert np.mean(rates) == pytest.approx(chance_rate(40, k=3, labels=labels), abs=1.5)


def test_per_category_breakdown() -> None:
    labels = np.array(["a", "a", "b", "b"])
    plan = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]]) / 4.0
    table = per_category(plan, labels).sort("label")
    assert table["label"].to_list() == ["a", "b"]
    assert table["item_rate"].to_list() == [50.0, 50.0]
    assert table["category_rate"].to_list() == [100.0, 100.0]
    assert table["category_chance"].to_list() == [50.0, 50.0]


def test_ties_break_towards_the_lower_column() -> None:
    plan = np.full((3, 3), 1 / 9)
    assert matching_rate(plan) == pytest.approx(100 / 3)  # only row 0 "hits" column 0


def test_top_k_orders_as_a_stable_sort_of_the_negated_rows() -> None:
    """top_k finds the k largest by a partial sort; its order must still be the stable sort's
    (largest first, ties to the lower column), on plans full of ties and at every k."""
    from emoalign.alignment.matching import top_k

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = (int(v) for v in rng.integers(1, 25, size=2))
        plan = rng.integers(0, 4, size=(n, m)).astype(float)  # few values: many ties
        for k in range(1, m + 1):
            expected = np.argsort(-plan, axis=1, kind="stable")[:, :k]
            np.testing.assert_array_equal(top_k(plan, k), expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"plan": np.ones((2, 3)) / 6}, "same videos"),
        ({"plan": np.eye(3) / 3, "k": 0}, "positive int"),
        ({"plan": np.eye(3) / 3, "k": 4}, "exceeds"),
        ({"plan": np.eye(3) / 3, "labels": ["a", "b"]}, "one label per video"),
        ({"plan": np.array([[np.nan, 0], [0, 0.5]])}, "finite"),
    ],
)
def test_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        matching_rate(**kwargs)


def test_rates_are_percentages_of_rows() -> None:
    n = 7
    plan = np.eye(n) / n
    plan[[0, 1]] = plan[[1, 0]]
    assert math.isclose(matching_rate(plan), 100 * 5 / 7)
