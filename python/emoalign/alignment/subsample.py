"""Reproducible subsamples of videos, for pictures and statistics that cannot use all of them.

An MDS of 20,000 videos needs their 3.2 GB RDM and an eigen-solve of it, and RSA over their 200
million pairs with 1000 Mantel permutations takes hours; both say no more on 2,000 videos drawn in
proportion to the categories. The draw is seeded, so a report is reproduced exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def stratified_subsample(
    n: int, size: int, labels: NDArray[Any] | None = None, seed: int = 0
) -> NDArray[np.intp]:
    """``size`` of ``n`` videos drawn without replacement, in proportion to their categories.

    Each category gets its share of ``size`` rounded by largest remainder (at least one video
    while ``size`` allows one per category), so small categories are not lost; the videos within
    a category are drawn uniformly from a generator seeded with ``seed``.

    Parameters
    ----------
    n : int
        Number of videos.
    size : int
        How many to keep; ``size >= n`` keeps all.
    labels : ndarray, shape (n,), optional
        One category per video; without them the draw is uniform.
    seed : int, default 0
        Seeds the draw.

    Returns
    -------
    ndarray of intp
        The kept videos' indices, ascending (``arange(n)`` when all are kept).

    Raises
    ------
    ValueError
        If ``size`` < 1 or ``labels`` does not give one label per video.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1 video, got {size}")
    if labels is not None and np.shape(labels) != (n,):
        raise ValueError(f"labels must give one label per video ({n}), got {np.shape(labels)}")
    if size >= n:
        return np.arange(n, dtype=np.intp)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n, size, replace=False)).astype(np.intp)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = _quotas(counts, size)
    members = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    picked = [
        rng.choice(members[starts[c] : starts[c + 1]], quota[c], replace=False)
        for c in range(len(counts))
    ]
    return np.sort(np.concatenate(picked)).astype(np.intp)


def _quotas(counts: NDArray[np.intp], size: int) -> NDArray[np.intp]:
    """Per-category shares of ``size`` by largest remainder, each at least 1 when size allows."""
    least = 1 if size >= len(counts) else 0
    share = counts * size / counts.sum()
    quota = np.maximum(np.floor(share).astype(np.intp), least)
    # One video at a time to the category furthest below its share (or from the one furthest
    # above it, after the floor of one); stable sorts break ties towards the earlier category.
    while (rest := size - int(quota.sum())) != 0:
        gap = share - quota
        if rest > 0:
            open_ = quota < counts
            c = int(np.flatnonzero(open_)[np.argmax(gap[open_])])
            quota[c] += 1
        else:
            over = quota > least
            c = int(np.flatnonzero(over)[np.argmin(gap[over])])
            quota[c] -= 1
    return quota
