"""Heat-map images of large matrices, pooled into blocks while streaming over rows.

A figure of an n × m matrix needs at most about a thousand cells a side (more than the pixels
it is drawn on), so a large matrix is reduced to blocks of s × s entries, s = ⌈max(n, m) /
cells⌉, before matplotlib sees it. The reduction reads a band of rows at a time, reordered as
the figure orders the videos, so that besides the matrix itself (which for factored costs is never
formed: each band is ``A[rows] @ B[cols].T``) only one band and the pooled image are in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from emoalign.factored import LowRankRDM, cost_block

Pooling = Literal["max", "mean"]

BAND_ELEMENTS = 1 << 18
"""Entries per band of rows read at once (2 MB in float64; the band's reordering, cast and
reductions take about three times that): large enough that numpy, not Python, does the work,
small enough to be negligible beside any matrix worth pooling."""


@dataclass(frozen=True)
class Pooled:
    """A pooled image: ``image[a, b]`` reduces the ``step`` × ``step`` block of entries at
    ordered rows ``a·step …`` and columns ``b·step …`` (the last blocks may be smaller)."""

    image: NDArray[np.float64]
    step: int
    """Entries per block side; 1 means the image is the matrix itself, reordered."""
    how: Pooling


def pool_step(size: int, cells: int) -> int:
    """Entries per block side that bring ``size`` entries down to at most ``cells`` blocks."""
    if cells < 1:
        raise ValueError(f"cells must be at least 1, got {cells}")
    return max(1, -(-size // cells))


def pooled_image(
    matrix: NDArray[np.floating] | LowRankRDM,
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    cells: int,
    how: Pooling,
    band_elements: int = BAND_ELEMENTS,
) -> Pooled:
    """``matrix[rows][:, cols]`` reduced to at most ``cells`` × ``cells`` blocks, band by band.

    Parameters
    ----------
    matrix : ndarray, shape (n, m), or LowRankRDM
        The matrix (dense of any float dtype, or factored).
    rows, cols : ndarray of int
        The order in which rows and columns are drawn (a permutation, or any selection).
    cells : int
        Most blocks per side.
    how : {"max", "mean"}
        ``"max"`` keeps a single strong entry visible (a plan's one-video hits); ``"mean"``
        shows the average level (an RDM's structure), as antialiasing would.
    band_elements : int
        Entries read per band (a band is at least one block of rows).

    Returns
    -------
    Pooled
        The image, float64, ``⌈len(rows)/step⌉ × ⌈len(cols)/step⌉``.

    Raises
    ------
    ValueError
        If ``how`` is not "max" or "mean", or ``cells`` < 1.
    """
    if how not in ("max", "mean"):
        raise ValueError(f"how must be 'max' or 'mean', got {how!r}")
    step = pool_step(max(len(rows), len(cols)), cells)
    reduce = np.maximum.reduceat if how == "max" else np.add.reduceat
    col_starts = np.arange(0, len(cols), step)
    blocks_per_band = max(1, band_elements // max(1, len(cols) * step))
    image = np.empty((-(-len(rows) // step), len(col_starts)))
    for a in range(0, len(image), blocks_per_band):
        band = cost_block(matrix, rows[a * step : (a + blocks_per_band) * step], cols)
        image[a : a + blocks_per_band] = reduce(
            reduce(band, col_starts, axis=1), np.arange(0, len(band), step), axis=0
        )
    if how == "mean":
        image /= np.outer(_sizes(len(rows), step), _sizes(len(cols), step))
    return Pooled(image, step, how)


def _sizes(size: int, step: int) -> NDArray[np.float64]:
    """The number of entries in each block along one side (the last may be short)."""
    counts = np.full(-(-size // step), float(step))
    counts[-1] = size - step * (len(counts) - 1)
    return counts
