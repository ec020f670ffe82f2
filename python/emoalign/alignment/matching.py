"""Scoring a transport plan: top-k matching at the item and the category level, with chance.

Row i of a plan is how source video i's mass is spread over the target videos. A top-k hit is
scored when, among the k target columns holding most of row i's mass, there is video i itself
(item level, source and target hold the same videos in the same order) or a video with the
same label as i (category level). Rates are percentages of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

# Entries per band of plan rows checked or ranked at once: whole-plan temporaries (the negated
# copy argpartition sorts, its n × m indices) would be 1.6 to 3.2 GB each at n = 20,000.
_BAND_ELEMENTS = 1 << 18


def _row_bands(n: int, m: int) -> Iterator[slice]:
    """Bands of rows of an n × m plan, each about ``_BAND_ELEMENTS`` entries."""
    step = max(1, _BAND_ELEMENTS // max(1, m))
    return (slice(start, start + step) for start in range(0, n, step))


def _check_plan(plan: Any) -> NDArray[np.floating[Any]]:
    arr = np.asarray(plan)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"plan must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError("plan must hold finite numbers")
    if not all(np.isfinite(arr[band]).all() for band in _row_bands(*arr.shape)):
        raise ValueError("plan must hold finite numbers")
    return arr


def _check_k(k: int, m: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k > m:
        raise ValueError(f"k={k} exceeds the plan's {m} target columns")
    return int(k)


def _check_labels(labels: Any, n: int, name: str) -> NDArray[Any]:
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name} must give one label per video ({n}), got shape {arr.shape}")
    return arr


def top_k(plan: ArrayLike, k: int) -> NDArray[np.intp]:
    """The k columns of each row with the largest mass.

    Parameters
    ----------
    plan : array_like, shape (n, m)
        A transport plan: row i spreads source video i's mass over the target videos.
    k : int
        How many columns per row (1 <= k <= m).

    Returns
    -------
    numpy.ndarray of intp, shape (n, k)
        Column indices, largest mass first; ties go to the lower index, so the result does not
        depend on the sort's internals.

    Raises
    ------
    ValueError
        If ``plan`` is not a finite non-empty 2-D array or ``k`` is not in [1, m].
    """
    arr = _check_plan(plan)
    n, m = arr.shape
    k = _check_k(k, m)
    return np.vstack([top_k_columns(arr[band], k) for band in _row_bands(n, m)])


def top_k_columns(rows: NDArray[np.floating], k: int) -> NDArray[np.intp]:
    """``top_k`` of checked rows (finite, 1 <= k <= m), also for rows formed a block at a time.

    A partial sort finds each row's k largest in O(m); they are then ordered largest first with
    ties to the lower column, as a stable sort of the negated row would order them. Rows whose
    k-th value is tied beyond the k found (rare) take that stable sort itself.
    """
    if k == rows.shape[1]:
        return np.argsort(-rows, axis=1, kind="stable")
    part = np.argpartition(-rows, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(rows, part, axis=1).min(axis=1)
    out = np.empty((rows.shape[0], k), dtype=np.intp)
    tied = (rows >= kth[:, None]).sum(axis=1) > k
    for i in np.flatnonzero(tied):
        out[i] = np.argsort(-rows[i], kind="stable")[:k]
    clean = ~tied
    cols = part[clean]
    vals = np.take_along_axis(rows[clean], cols, axis=1)
    order = np.lexsort((cols, -vals), axis=1)
    out[clean] = np.take_along_axis(cols, order, axis=1)
    return out


def hits(
    plan: ArrayLike,
    k: int = 1,
    labels: ArrayLike | None = None,
    target_labels: ArrayLike | None = None,
) -> NDArray[np.bool_]:
    """Per source video: whether its top-k targets contain itself (or a same-label video).

    Parameters
    ----------
    plan : array_like, shape (n, m)
        A transport plan: row i spreads source video i's mass over the target videos.
    k : int, default 1
        How many of a row's largest entries count (1 <= k <= m).
    labels : array_like, shape (n,), optional
        One category per source video. Without it, matching is at the item level (source and
        target hold the same videos in the same order); with it, at the category level.
    target_labels : array_like, shape (m,), optional
        Categories of the target videos, when they differ from the source's (default:
        ``labels``; required when n != m).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Raises
    ------
    ValueError
        If ``plan`` is not a finite non-empty 2-D array, ``k`` is not in [1, m], the labels do
        not give one label per video, or item-level matching is asked of a non-square plan.
    """
    arr = _check_plan(plan)
    n, m = arr.shape
    return row_hits(top_k(arr, k), np.arange(n), (n, m), labels, target_labels)


def row_hits(
    cols: NDArray[np.intp],
    rows: NDArray[np.intp],
    shape: tuple[int, int],
    labels: ArrayLike | None,
    target_labels: ArrayLike | None,
    names: tuple[str, str] = ("labels", "target_labels"),
) -> NDArray[np.bool_]:
    """``hits`` of source ``rows`` whose top-k columns are ``cols``, in a plan of ``shape``;
    ``names`` are the label arguments as the caller's user knows them."""
    n, m = shape
    if labels is None:
        if n != m:
            raise ValueError(
                f"item-level matching needs the same videos on both sides; the plan is {n}×{m} "
                f"(pass {names[0]} for category-level matching)"
            )
        return (cols == rows[:, None]).any(axis=1)
    src = _check_labels(labels, n, names[0])
    tgt = src if target_labels is None else _check_labels(target_labels, m, names[1])
    if target_labels is None and n != m:
        raise ValueError(f"the plan is {n}×{m}: pass {names[1]} for the {m} target videos")
    return (tgt[cols] == src[rows][:, None]).any(axis=1)


def matching_rate(
    plan: ArrayLike,
    k: int = 1,
    labels: ArrayLike | None = None,
    target_labels: ArrayLike | None = None,
) -> float:
    r"""Top-k matching rate of a transport plan, in percent.

    Row i is a hit when its k largest entries include column i (item level) or a column whose
    label is row i's (category level, with ``labels``):

    $$\mathrm{rate}_k = \frac{100}{n} \sum_{i=1}^n
      \mathbb{1}\big[\exists\, j \in \mathrm{top}_k(T_{i\cdot}) : j = i\big].$$

    This is how GW alignments of similarity structures are scored (Sasaki et al., 2023);
    compare it with ``chance_rate``.

    Parameters
    ----------
    plan : array_like, shape (n, m)
        A transport plan: row i spreads source video i's mass over the target videos.
    k : int, default 1
        How many of a row's largest entries count (1 <= k <= m).
    labels : array_like, shape (n,), optional
        One category per source video. Without it, matching is at the item level (source and
        target hold the same videos in the same order); with it, at the category level.
    target_labels : array_like, shape (m,), optional
        Categories of the target videos, when they differ from the source's (default:
        ``labels``; required when n != m).

    Returns
    -------
    float
        In [0, 100].

    Raises
    ------
    ValueError
        If ``plan`` is not a finite non-empty 2-D array, ``k`` is not in [1, m], the labels do
        not give one label per video, or item-level matching is asked of a non-square plan.

    References
    ----------
    Sasaki, M., Takeda, K., Abe, K. and Oizumi, M. (2023). Toolbox for Gromov-Wasserstein
    optimal transport: application to unsupervised alignment in neuroscience (GWTune).
    bioRxiv 2023.09.15.558038.

    Examples
    --------
    >>> import numpy as np
    >>> from emoalign.alignment import matching_rate
    >>> T = np.array([[0.4, 0.1, 0.0], [0.0, 0.1, 0.2], [0.0, 0.2, 0.1]]) / 1.1
    >>> matching_rate(T), matching_rate(T, k=2), matching_rate(T, labels=["a", "b", "b"])
    (33.33333333333333, 100.0, 100.0)
    """
    return 100.0 * float(hits(plan, k, labels, target_labels).mean())


def wilson_interval(rate: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (percent) of a matching rate observed over ``n`` videos.

    Parameters
    ----------
    rate : float
        The observed rate in percent (hits / n × 100).
    n : int
        Number of videos scored.
    z : float
        Standard-normal quantile; the default gives a 95 % interval.

    Returns
    -------
    (low, high) : tuple of float
        Bounds in percent. Unlike the normal approximation the interval stays inside [0, 100]
        and does not collapse to a point at 0 % or 100 % (Wilson, 1927).
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of videos, got {n}")
    p = rate / 100.0
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def _p_none_of(m: int, c: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """P(a uniformly random k-subset of m items misses all c marked ones) = C(m−c, k)/C(m, k)."""
    out = np.ones(c.shape, dtype=np.float64)
    for t in range(k):
        out *= np.clip(m - c - t, 0, None) / (m - t)
    return out


def chance_rate(
    n: int,
    m: int | None = None,
    k: int = 1,
    labels: ArrayLike | None = None,
    target_labels: ArrayLike | None = None,
) -> float:
    r"""The matching rate (percent) expected of a plan whose top-k columns are random in each row.

    At the item level it is $100\,k/m$. At the category level, row i with $c_i$ target videos
    of its own category hits unless a uniformly random k-subset of the m columns misses all of
    them: $100 \cdot \frac{1}{n} \sum_i \Big(1 - \binom{m - c_i}{k} \big/ \binom{m}{k}\Big)$.

    Parameters
    ----------
    n : int
        Source videos (rows).
    m : int, optional
        Target videos (columns); default ``n``.
    k : int, default 1
        As in ``matching_rate``.
    labels, target_labels : array_like, optional
        As in ``matching_rate``.

    Returns
    -------
    float
        In [0, 100].

    Raises
    ------
    ValueError
        If ``k`` is not in [1, m] or the labels do not give one label per video.
    """
    m = n if m is None else m
    k = _check_k(k, m)
    if labels is None:
        return 100.0 * k / m
    src = _check_labels(labels, n, "labels")
    tgt = src if target_labels is None else _check_labels(target_labels, m, "target_labels")
    values, counts = np.unique(tgt, return_counts=True)
    lookup = dict(zip(values.tolist(), counts.tolist(), strict=True))
    same = np.array([lookup.get(v, 0) for v in src.tolist()], dtype=np.int64)
    return 100.0 * float(np.mean(1.0 - _p_none_of(m, same, k)))


def per_category(plan: ArrayLike, labels: ArrayLike, k: int = 1) -> pl.DataFrame:
    """Matching rates broken down by category.

    Parameters
    ----------
    plan : array_like, shape (n, n)
        A transport plan between the same videos on both sides.
    labels : array_like, shape (n,)
        One category per video.
    k : int, default 1
        How many of a row's largest entries count (1 <= k <= m).

    Returns
    -------
    polars.DataFrame
        One row per label, largest categories first: ``label``, ``videos``, ``item_rate`` and
        ``category_rate`` (top-k, percent) and ``category_chance`` (percent).

    Raises
    ------
    ValueError
        If the plan is not square, finite and non-empty, ``k`` is out of range or ``labels``
        does not give one label per video.
    """
    arr = _check_plan(plan)
    n, m = arr.shape
    if n != m:
        raise ValueError(f"per-category breakdown needs the same videos on both sides, got {n}×{m}")
    lab = _check_labels(labels, n, "labels")
    cols, rows = top_k(arr, k), np.arange(n)  # one pass over the plan for both levels
    item = row_hits(cols, rows, (n, m), None, None)
    cat = row_hits(cols, rows, (n, m), lab, None)
    values, counts = np.unique(lab, return_counts=True)
    chance = 100.0 * (1.0 - _p_none_of(m, counts.astype(np.int64), k))
    rows = []
    for value, count, ch in zip(values.tolist(), counts.tolist(), chance.tolist(), strict=True):
        mask = lab == value
        rows.append(
            {
                "label": str(value),
                "videos": int(count),
                "item_rate": 100.0 * float(item[mask].mean()),
                "category_rate": 100.0 * float(cat[mask].mean()),
                "category_chance": float(ch),
            }
        )
    return pl.DataFrame(rows).sort(["videos", "label"], descending=[True, False])
