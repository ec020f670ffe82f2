r"""Factored (low-rank) dissimilarity matrices, $C = A B^\top$ with thin A and B.

The RDMs of ratings have exactly low rank for the metrics emotion studies use: for rows
$x_i \in \mathbb{R}^D$,

- ``sqeuclidean``: $\|x_i - x_j\|^2 = \|x_i\|^2 + \|x_j\|^2 - 2 x_i \cdot x_j$, rank D + 2;
- ``cosine``: $1 - \hat x_i \cdot \hat x_j$ with unit rows, rank D + 1;
- ``correlation``: the same on centred unit rows, $1 - r = [1, Z][1, -Z]^\top$, rank D + 1;
- ``spearman``: the same on the rows' average ranks.

Entropic GW on factored costs needs $O(nmk)$ per iteration instead of $O(n^2 m +
nm^2)$ (Scetbon, Peyré & Cuturi, ICML 2022), and the factors take $O(nk)$ memory where the
matrix takes $O(n^2)$. Other metrics have no exact low-rank form; ``rank=`` asks for a
sampled (Nyström / CUR) approximation, whose relative error is measured and kept on the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from emoalign import _core
from emoalign._arrays import FloatArray, as_float_array
from emoalign.distance import METRICS, Metric

EXACT_METRICS: tuple[str, ...] = ("sqeuclidean", "cosine", "correlation", "spearman")

# Rows per block when a factored matrix is reduced without being built (its max, its error).
_BLOCK = 1024


@dataclass(frozen=True, eq=False)
class LowRankRDM:
    r"""A square dissimilarity matrix kept as its factors, $C = A B^\top$.

    Accepted wherever emoalign's GW functions accept a cost matrix (alone or paired with a dense
    one); the solver then never forms C.

    Attributes
    ----------
    A, B : ndarray, shape (n, k)
        The factors, float32 or float64 (the same for both).
    metric : str or None
        The metric the factors were built for, if known.
    approximation_error : float or None
        ``None`` when the factors are exact; for a sampled approximation, its relative Frobenius
        error $\|C - A B^\top\|_F / \|C\|_F$ measured on a sample of rows.
    """

    A: FloatArray
    B: FloatArray
    metric: str | None = None
    approximation_error: float | None = None

    def __post_init__(self) -> None:
        a, b = as_float_array(self.A, "A", 2), as_float_array(self.B, "B", 2)
        if a.shape != b.shape or a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(
                f"the factors have shapes {a.shape} and {b.shape}; A and B must both be (n, k) "
                "with n, k >= 1, so that C = A @ B.T is n x n"
            )
        if a.dtype != b.dtype:
            b = b.astype(np.float64)
            a = a.astype(np.float64)
        for name, f in (("A", a), ("B", b)):
            if not np.isfinite(f).all():
                raise ValueError(
                    f"factor {name} contains NaN or inf; rebuild the factors from finite data "
                    "(emoalign.rdm_factors refuses non-finite rows)"
                )
        object.__setattr__(self, "A", np.ascontiguousarray(a))
        object.__setattr__(self, "B", np.ascontiguousarray(b))

    @property
    def shape(self) -> tuple[int, int]:
        n = self.A.shape[0]
        return (n, n)

    @property
    def rank(self) -> int:
        """k, the factors' width (an upper bound on the matrix rank)."""
        return int(self.A.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.A.dtype

    def to_dense(self) -> FloatArray:
        """The n × n matrix $A B^\\top$ (O(n²) memory: for checks and small n)."""
        return self.A @ self.B.T

    def max(self) -> float:
        """The largest entry of C, computed in row blocks without forming C (O(n² k) time)."""
        n = self.A.shape[0]
        return float(max((self.A[i : i + _BLOCK] @ self.B.T).max() for i in range(0, n, _BLOCK)))

    def __truediv__(self, scale: float) -> LowRankRDM:
        """C / scale, with the scaling kept in the factors (A is divided)."""
        scale = float(scale)
        if not (np.isfinite(scale) and scale != 0.0):
            raise ValueError(f"cannot divide a LowRankRDM by {scale}; pass a finite non-zero scale")
        return LowRankRDM(
            (self.A / scale).astype(self.A.dtype, copy=False),
            self.B,
            self.metric,
            self.approximation_error,
        )

    def scaled(self) -> LowRankRDM:
        """C divided by its largest entry, as the alignment scales dense RDMs."""
        return self / self.max()

    def astype(self, dtype: type | np.dtype) -> LowRankRDM:
        """The same factors in ``dtype`` (float32 or float64)."""
        return LowRankRDM(
            self.A.astype(dtype), self.B.astype(dtype), self.metric, self.approximation_error
        )

    def _core_pair(self) -> tuple[FloatArray, FloatArray]:
        return (self.A, self.B)

    def __repr__(self) -> str:
        error = (
            "exact"
            if self.approximation_error is None
            else f"approximation_error={self.approximation_error:.2e}"
        )
        return (
            f"LowRankRDM(shape={self.shape}, rank={self.rank}, dtype={self.dtype}, "
            f"metric={self.metric!r}, {error})"
        )


def _average_ranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's ranks (1-based), ties given their average rank, as scipy.stats.rankdata."""
    out = np.empty_like(x)
    for i in range(0, len(x), _BLOCK):
        blk = x[i : i + _BLOCK]
        less = (blk[:, None, :] < blk[:, :, None]).sum(axis=2)
        equal = (blk[:, None, :] == blk[:, :, None]).sum(axis=2)
        out[i : i + _BLOCK] = less + (equal + 1) / 2.0
    return out


def _unit_rows(x: NDArray[np.float64], metric: str) -> NDArray[np.float64]:
    """Rows scaled to unit norm (centred first except for cosine); undefined rows refused."""
    if metric != "cosine":
        x = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1)
    bad = np.flatnonzero(~(norms > 0.0))
    if bad.size:
        what = "zero vectors" if metric == "cosine" else "constant"
        shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if bad.size > 10 else "")
        raise ValueError(
            f"X has {bad.size} row(s) that are {what} (rows {shown}), for which the {metric} "
            "distance is undefined; drop those rows or choose metric='euclidean'"
        )
    return x / norms[:, None]


def _exact_factors(
    x: NDArray[np.float64], metric: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n = len(x)
    ones = np.ones((n, 1))
    if metric == "sqeuclidean":
        # Centring leaves distances unchanged and keeps |x|² small: less cancellation in
        # |x|² + |y|² − 2 x·y.
        xc = x - x.mean(axis=0)
        sq = np.einsum("ij,ij->i", xc, xc)[:, None]
        return np.hstack([sq, ones, xc]), np.hstack([ones, sq, -2.0 * xc])
    if metric == "spearman":
        x = _average_ranks(x)
    u = _unit_rows(x, metric)
    return np.hstack([ones, u]), np.hstack([ones, -u])


def _sampled_factors(
    x: FloatArray, metric: str, rank: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """A CUR / Nyström approximation $C \\approx C_{:,J} C_{J,J}^{+} C_{J,:}$ on ``rank``
    landmark rows J (farthest-point sampling from a seeded start, which spreads them over the
    data), with its relative Frobenius error measured on up to 512 sampled rows."""
    n = len(x)
    rng = np.random.default_rng(seed)
    landmarks = [int(rng.integers(n))]
    nearest = _core.cdist(x, x[landmarks], metric)[:, 0].astype(np.float64)
    while len(landmarks) < rank:
        nxt = int(np.argmax(nearest))
        if nearest[nxt] == 0.0:  # fewer distinct rows than the rank: add unused ones
            nxt = int(np.setdiff1d(np.arange(n), landmarks)[0])
        landmarks.append(nxt)
        nearest = np.minimum(nearest, _core.cdist(x, x[[nxt]], metric)[:, 0])
    cols = _core.cdist(x, x[landmarks], metric).astype(np.float64)  # C[:, J]
    core = np.linalg.pinv(cols[landmarks], rcond=1e-10, hermitian=True)
    a, b = cols, cols @ core.T  # C ≈ C[:, J] (C[J, J]⁺ C[J, :]) = A Bᵀ, with C[J, :] = C[:, J]ᵀ
    rows = rng.choice(n, size=min(n, 512), replace=False)
    exact = _core.cdist(x[rows], x, metric).astype(np.float64)
    approx = a[rows] @ b.T
    error = float(np.linalg.norm(exact - approx) / max(np.linalg.norm(exact), 1e-300))
    return a, b, error


def rdm_factors(
    X: object, metric: Metric | str = "correlation", rank: int | None = None, *, seed: int = 0
) -> LowRankRDM:
    r"""The RDM of ``X``'s rows as factors, $C = A B^\top$, without forming C.

    Exact for ``sqeuclidean`` (k = D + 2), ``cosine``, ``correlation`` and ``spearman``
    (k = D + 1): ``rdm_factors(X, m).to_dense()`` equals ``emoalign.rdm(X, m)`` to rounding.
    Other metrics have no exact low-rank form and need ``rank=``: then the factors are a CUR
    (Nyström) approximation on ``rank`` farthest-point landmarks, and its relative Frobenius
    error, measured on sampled rows, is kept in ``approximation_error`` (check it before use).

    Parameters
    ----------
    X : array_like, shape (n, D)
        One row per item (e.g. a video's ratings). float32 input gives float32 factors
        (computed in float64 and rounded once).
    metric : str, default "correlation"
        One of ``emoalign.distance.METRICS``.
    rank : int, optional
        For exact metrics, an upper bound: factors of the exact rank if it is at most ``rank``,
        else the sampled approximation of rank ``rank``. Required for other metrics. 1 ≤ rank ≤ n.
    seed : int, default 0
        Seeds the landmark sampling of an approximation.

    Returns
    -------
    LowRankRDM

    Raises
    ------
    ValueError
        An unknown metric, a non-factorable metric without ``rank``, ``rank`` outside
        [1, n], non-finite X, or rows with no defined distance (zero rows for cosine, constant
        rows for correlation and spearman).

    References
    ----------
    Scetbon, M., Peyré, G. and Cuturi, M. (2022). Linear-time Gromov Wasserstein distances using
    low rank couplings and costs. *ICML*, PMLR 162, 19347–19365.

    Indyk, P., Vakilian, A., Wagner, T. and Woodruff, D. (2019). Sample-optimal low-rank
    approximation of distance matrices. *COLT*, PMLR 99, 1723–1751.

    Examples
    --------
    >>> import numpy as np, emoalign
    >>> X = np.random.default_rng(0).random((50, 6))
    >>> C = emoalign.rdm_factors(X, "correlation")
    >>> C.rank, bool(np.allclose(C.to_dense(), emoalign.rdm(X, "correlation")))
    (7, True)
    """
    x = as_float_array(X, "X", 2)
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not supported; choose one of {list(METRICS)}")
    n, d = x.shape
    if n == 0 or d == 0:
        raise ValueError(f"X has shape {x.shape}; it needs at least one row and one column")
    if not np.isfinite(x).all():
        raise ValueError("X contains NaN or inf; remove or impute the non-finite values")
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, int | np.integer):
            raise TypeError(f"rank must be an int or None, got {type(rank).__name__}")
        if not 1 <= rank <= n:
            raise ValueError(f"rank={rank} is outside [1, n={n}]; pass 1 <= rank <= {n}")
    exact_rank = d + 2 if metric == "sqeuclidean" else d + 1
    if metric in EXACT_METRICS and (rank is None or rank >= exact_rank):
        a, b = _exact_factors(x.astype(np.float64), metric)
        return LowRankRDM(a.astype(x.dtype), b.astype(x.dtype), metric)
    if rank is None:
        raise ValueError(
            f"the {metric} RDM has no exact low-rank factors (only {list(EXACT_METRICS)} do); "
            "pass rank= for a sampled approximation (its error is reported), or use "
            "emoalign.rdm for the dense matrix"
        )
    a, b, error = _sampled_factors(x, metric, int(rank), seed)
    return LowRankRDM(a.astype(x.dtype), b.astype(x.dtype), metric, error)


def cost_block(
    C: NDArray[np.floating] | LowRankRDM, rows: NDArray[np.intp], cols: NDArray[np.intp]
) -> NDArray[np.float64]:
    """``C[rows][:, cols]`` as float64, for a dense matrix or factors (``A[rows] @ B[cols].T``).

    A factored matrix is never formed: the block costs O(len(rows) len(cols) k), which is how
    figures and summaries read pieces of an n = 20,000 RDM without its 3.2 GB.

    Parameters
    ----------
    C : ndarray, shape (n, n), or LowRankRDM
        The matrix.
    rows, cols : ndarray of int
        The row and column indices of the block.

    Returns
    -------
    ndarray of float64, shape (len(rows), len(cols))
    """
    if isinstance(C, LowRankRDM):
        return np.asarray(C.A[rows] @ C.B[cols].T, dtype=np.float64)
    return np.asarray(C[np.ix_(rows, cols)], dtype=np.float64)


def cost_entries(
    C: NDArray[np.floating] | LowRankRDM, rows: NDArray[np.intp], cols: NDArray[np.intp]
) -> NDArray[np.float64]:
    """The entries ``C[rows[t], cols[t]]`` as float64, for a dense matrix or factors (one
    k-long dot product per entry).

    Parameters
    ----------
    C : ndarray, shape (n, n), or LowRankRDM
        The matrix.
    rows, cols : ndarray of int, same shape
        The entries' coordinates.

    Returns
    -------
    ndarray of float64, shape of ``rows``
    """
    if isinstance(C, LowRankRDM):
        a, b = C.A[rows].astype(np.float64), C.B[cols].astype(np.float64)
        return np.einsum("tk,tk->t", a, b)
    return np.asarray(C[rows, cols], dtype=np.float64)
