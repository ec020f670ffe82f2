"""Dissimilarity matrices with scipy's semantics, computed natively in float32 or float64.

Differences from scipy, on purpose: float32 input gives float32 output (scipy upcasts), and rows
with no defined distance (zero vectors for cosine, constant rows for correlation/spearman) raise
ValueError instead of silently producing NaN.
"""

from __future__ import annotations

from typing import Literal

from numpy.typing import ArrayLike

from emoalign import _core
from emoalign._arrays import FloatArray, as_float_array, common_dtype

Metric = Literal[
    "euclidean", "sqeuclidean", "cityblock", "chebyshev", "cosine", "correlation", "spearman"
]
METRICS: tuple[str, ...] = (
    "euclidean",
    "sqeuclidean",
    "cityblock",
    "chebyshev",
    "cosine",
    "correlation",
    "spearman",
)


def pdist(X: ArrayLike, metric: Metric | str = "euclidean") -> FloatArray:
    r"""Condensed pairwise distances between the rows of ``X``, as scipy's ``pdist``.

    Parameters
    ----------
    X : array_like, shape (n, k)
        One observation per row (e.g. a video's ratings of k emotions). float32 and float64 are
        used as they are; integers and booleans are converted to float64; polars and pandas
        frames are read through ``to_numpy()``.
    metric : str, default "euclidean"
        One of ``METRICS``; the formulas are listed in ``rdm``.

    Returns
    -------
    numpy.ndarray, shape (n (n - 1) / 2,)
        $d(X_i, X_j)$ for $i < j$ in scipy's condensed order (row-major over the
        upper triangle), so ``scipy.spatial.distance.squareform`` applies. The dtype is the
        input's: float32 input is computed and returned in float32 where scipy returns float64
        (it halves memory and doubles the vector width). Rows are normalised in float64 for the
        inner-product metrics, the rest is float32 arithmetic: the test suite holds float32
        results to a relative 1e-4 of scipy's float64 ones, plus 2e-5 absolute for cosine,
        correlation and spearman, whose $1 - \langle \hat u, \hat v \rangle$ loses
        relative precision as the distance approaches 0 (on scipy's own ``test_distance.py``
        data, run against emoalign in CI, the float32 results were within 2e-7 relative of
        scipy's float64 ones, cosine within 1.5e-6). Pass float64 for full precision.

    Raises
    ------
    TypeError
        If ``X`` is not numeric (complex, strings, objects) or is float16/longdouble.
    ValueError
        If ``X`` is not 2-D, has no rows or no columns, holds NaN or infinity, if ``metric`` is
        unknown, or if a distance is undefined: a zero row for ``cosine``, a constant row for
        ``correlation``/``spearman`` (scipy would return NaN silently). The message names the
        rows.
    MemoryError
        If the output would not fit in memory; raised before anything is allocated.

    See Also
    --------
    cdist : distances between the rows of two matrices.
    rdm : the same distances as a square matrix.

    Examples
    --------
    >>> import numpy as np, emoalign
    >>> emoalign.pdist(np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]))
    array([ 5., 10.,  5.])
    """
    return _core.pdist(as_float_array(X, "X", 2), metric)


def cdist(XA: ArrayLike, XB: ArrayLike, metric: Metric | str = "euclidean") -> FloatArray:
    r"""Distances between every row of ``XA`` and every row of ``XB``, as scipy's ``cdist``.

    Parameters
    ----------
    XA : array_like, shape (na, k)
        First set of observations, one per row.
    XB : array_like, shape (nb, k)
        Second set, with the same number of columns. A float32/float64 mix is computed in
        float64, as numpy would promote it.
    metric : str, default "euclidean"
        One of ``METRICS``; the formulas are listed in ``rdm``.

    Returns
    -------
    numpy.ndarray, shape (na, nb)
        Entry (i, j) is $d(XA_i, XB_j)$; float32 when both inputs are float32.

    Raises
    ------
    TypeError
        If either input is not numeric or is float16/longdouble.
    ValueError
        If either input is not 2-D, is empty, holds NaN or infinity, if the column counts
        differ, if ``metric`` is unknown, or if a distance is undefined (see ``pdist``).
    MemoryError
        If the output would not fit in memory.
    """
    a, b = common_dtype("XA", as_float_array(XA, "XA", 2), "XB", as_float_array(XB, "XB", 2))
    return _core.cdist(a, b, metric)


def rdm(X: ArrayLike, metric: Metric | str = "euclidean") -> FloatArray:
    r"""The representational dissimilarity matrix (RDM) of ``X``'s rows.

    An RDM holds the dissimilarity of every pair of items (Kriegeskorte et al., 2008); here
    $D_{ij} = d(X_i, X_j)$, square and symmetric with a zero diagonal, the form that
    ``emoalign.rsa`` and the Gromov-Wasserstein solvers take.

    Parameters
    ----------
    X : array_like, shape (n, k)
        One item per row (a video), one feature per column (its rating of an emotion).
    metric : str, default "euclidean"
        For rows $u, v$ of length $k$:

        - ``euclidean``: $\lVert u - v \rVert_2$; ``sqeuclidean``: its square;
        - ``cityblock``: $\sum_l |u_l - v_l|$; ``chebyshev``: $\max_l |u_l - v_l|$;
        - ``cosine``: $1 - u \cdot v / (\lVert u \rVert_2 \lVert v \rVert_2)$;
        - ``correlation``: the cosine distance of the centred rows
          $u - \bar u$ and $v - \bar v$, i.e. 1 − Pearson's r;
        - ``spearman``: the correlation distance of the rows' ranks (average ranks for ties),
          i.e. 1 − Spearman's ρ.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        The RDM, in ``X``'s float dtype (see ``pdist`` on float32).

    Raises
    ------
    TypeError
        If ``X`` is not numeric or is float16/longdouble.
    ValueError
        As ``pdist``: bad shape, NaN/infinity, unknown metric, undefined distances.
    MemoryError
        If the n × n output would not fit in memory.

    References
    ----------
    Kriegeskorte, N., Mur, M. and Bandettini, P. (2008). Representational similarity analysis:
    connecting the branches of systems neuroscience. *Frontiers in Systems Neuroscience* 2, 4.
    """
    return _core.rdm(as_float_array(X, "X", 2), metric)
