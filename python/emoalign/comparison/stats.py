"""Small statistics shared by the comparison layer: row ranks, percentile intervals, Holm."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def rank_rows(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Average ranks (1-based, ties get their mean rank) within each row, vectorised."""
    X = np.asarray(X, dtype=np.float64)
    n, m = X.shape
    order = np.argsort(X, axis=1, kind="stable")
    srt = np.take_along_axis(X, order, axis=1)
    new = np.ones((n, m), dtype=bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    starts = np.flatnonzero(new.ravel())
    ends = np.append(starts[1:], n * m)
    pos = np.tile(np.arange(m, dtype=np.float64), n)
    avg = (pos[starts] + pos[ends - 1]) / 2 + 1
    ranks = np.empty((n, m))
    np.put_along_axis(ranks, order, np.repeat(avg, ends - starts).reshape(n, m), axis=1)
    return ranks


def percentile_ci(samples: NDArray[np.float64], level: float) -> tuple[float, float]:
    """The central ``level`` interval of the finite bootstrap samples (percentile method)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_p(diffs: NDArray[np.float64]) -> float:
    """Two-sided bootstrap p for a difference being zero: twice the smaller tail, counting the
    null value as one more sample so that p is never 0 from finitely many samples."""
    finite = diffs[np.isfinite(diffs)]
    if finite.size == 0:
        return float("nan")
    tail = min(np.count_nonzero(finite <= 0), np.count_nonzero(finite >= 0))
    return float(min(1.0, 2 * (tail + 1) / (finite.size + 1)))


def holm(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Holm's step-down adjustment (family-wise error), in the input's order."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted
    return out


def check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"ci must be a confidence level between 0 and 1 (e.g. 0.95), got {level}")
    return float(level)


def check_n_boot(n_boot: int, minimum: int = 1) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)):
        raise TypeError(f"n_boot must be an int, got {type(n_boot).__name__}")
    if n_boot < minimum:
        raise ValueError(f"n_boot must be at least {minimum}, got {n_boot}")
    return int(n_boot)
