"""Dimensional and sentiment metrics: hand-computed cases and independent references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from emoalign.metrics import (
    acc2,
    acc7,
    ccc,
    dimensional_scores,
    f1_2,
    mae,
    mer2023_score,
    mse,
    pearson,
)


def test_hand_computed_regression_metrics() -> None:
    t, p = [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    # means 2 and 3, population variances 2/3, covariance 2/3: 2(2/3) / (2/3 + 2/3 + 1) = 4/7
    assert ccc(t, p) == pytest.approx(4 / 7)
    assert pearson(t, p) == pytest.approx(1.0)
    assert mae(t, p) == 1.0 and mse(t, p) == 1.0
    assert mse([0, 0], [1, 3]) == 5.0 and mae([0, 0], [1, -3]) == 2.0
    assert ccc(t, t) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_constant_inputs() -> None:
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert ccc([1, 1, 1], [1, 2, 3]) == 0.0
    assert np.isnan(ccc([2, 2], [2, 2]))


def test_acc2_has0_and_non0() -> None:
    t = [-1.0, 0.0, 2.0, 0.5]
    p = [-0.5, 0.1, -1.0, 0.0]
    # has0: t>=0 F,T,T,T vs p>=0 F,T,F,T -> 3/4
    assert acc2(t, p, exclude_zero=False) == 0.75
    # non0: drop t==0; t>0 F,T,T vs p>0 F,F,F -> 1/3
    assert acc2(t, p, exclude_zero=True) == pytest.approx(1 / 3)
    assert f1_2(t, p, exclude_zero=True) == pytest.approx(
        skm.f1_score(
            [False, True, True], [False, False, False], average="weighted", zero_division=0
        )
    )
    with pytest.raises(ValueError, match="every true label is 0"):
        acc2([0, 0], [1, -1], exclude_zero=True)


def test_acc7_clips_and_rounds_half_to_even() -> None:
    # 2.5 -> 2 (half to even), -3.7 -> -3 (clipped), 0.4 -> 0, -0.4 -> -0 == 0, 1.5 -> 2 vs 1.4 -> 1
    assert acc7([2.5, -3.7, 0.4, 1.5], [2.0, -2.6, -0.4, 1.4]) == 0.75


def test_mer2023_score() -> None:
    assert mer2023_score(0.8, 0.4) == pytest.approx(0.7)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"y_pred: non-finite values at positions \[1\]"):
        mse([1, 2], [1, float("nan")])
    with pytest.raises(ValueError, match="differ in length"):
        mae([1, 2], [1])
    with pytest.raises(TypeError, match="y_true: expected a sequence of numbers"):
        mae(["a"], [1])
    with pytest.raises(ValueError, match="empty"):
        ccc([], [])


def _mertools_ccc(t: np.ndarray, p: np.ndarray) -> float:
    """MERTools' formula (functions.calculate_ccc): r · sd_t · sd_p in the numerator."""
    r = np.corrcoef(t, p)[0, 1]
    return 2 * r * t.std() * p.std() / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(3, 40).flatmap(
        lambda n: st.tuples(*[st.lists(st.floats(-3, 3), min_size=n, max_size=n)] * 2)
    )
)
def test_agrees_with_references(data: tuple[list[float], list[float]]) -> None:
    t, p = (np.asarray(x) for x in data)
    scores = dimensional_scores(t, p, sentiment=True)
    assert scores["mse"] == pytest.approx(skm.mean_squared_error(t, p), abs=1e-12)
    assert scores["mae"] == pytest.approx(skm.mean_absolute_error(t, p), abs=1e-12)
    if t.std() > 1e-9 and p.std() > 1e-9:
        assert scores["pearson"] == pytest.approx(stats.pearsonr(t, p)[0], abs=1e-9)
        assert scores["ccc"] == pytest.approx(_mertools_ccc(t, p), abs=1e-9)
    assert -1.0 <= scores["ccc"] <= 1.0 or np.isnan(scores["ccc"])
    assert scores["acc2_has0"] == pytest.approx(np.mean((t >= 0) == (p >= 0)))
    assert scores["acc7"] == pytest.approx(
        np.mean(np.round(np.clip(t, -3, 3)) == np.round(np.clip(p, -3, 3)))
    )
    assert scores["n"] == t.size
    nonzero = t != 0
    if nonzero.any():
        t2, p2 = t[nonzero] > 0, p[nonzero] > 0
        assert scores["acc2_non0"] == pytest.approx(np.mean(t2 == p2))
        assert scores["f1_non0"] == pytest.approx(
            skm.f1_score(t2, p2, average="weighted", zero_division=0), abs=1e-12
        )
    else:
        assert np.isnan(scores["acc2_non0"]) and np.isnan(scores["f1_non0"])
