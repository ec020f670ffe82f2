"""Representational similarity analysis: how alike two RDMs are over the same items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from emoalign import _core
from emoalign._arrays import as_float_array

Method = Literal["spearman", "pearson", "kendall"]


@dataclass(frozen=True)
class RSAResult:
    """The outcome of ``rsa``."""

    r: float
    """Correlation between the two upper triangles."""
    p_value: float | None
    """One-sided Mantel permutation p-value (items permuted), or None without permutations."""
    n_pairs: int
    """Number of item pairs compared: n (n − 1) / 2 for n items."""
    method: str
    """The correlation used: ``"spearman"``, ``"pearson"`` or ``"kendall"``."""
    permutations: int
    """Number of Mantel permutations (0: no test)."""
    null: NDArray[np.float64] = field(repr=False)
    """The correlations under each permutation."""


def upper_triangle(D: ArrayLike, name: str) -> NDArray[np.float64]:
    """The pairs i < j of a square RDM in scipy's condensed order, as float64.

    Parameters
    ----------
    D : array_like, shape (n, n) or (n (n - 1) / 2,)
        A square RDM (symmetry is not checked; the upper triangle is read), or a condensed one,
        which is returned as float64.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    numpy.ndarray of float64, shape (n (n - 1) / 2,)

    Raises
    ------
    TypeError
        If ``D`` is not numeric.
    ValueError
        If ``D`` is 2-D but not square, or has more than two dimensions.
    """
    arr = as_float_array(D, name, np.ndim(D) if np.ndim(D) in (1, 2) else 2)
    if arr.ndim == 1:
        return np.ascontiguousarray(arr, dtype=np.float64)
    return _core.upper_triangle(np.asarray(arr, dtype=np.float64), name)


def rsa(
    D1: ArrayLike,
    D2: ArrayLike,
    method: Method = "spearman",
    permutations: int = 0,
    seed: int | None = None,
) -> RSAResult:
    r"""Representational similarity analysis: correlates two RDMs over the same items.

    Two RDMs over the same n items (Kriegeskorte et al., 2008) are compared through their upper
    triangles $x = (D^1_{ij})_{i<j}$ and $y = (D^2_{ij})_{i<j}$, with Spearman's
    ρ (the default, robust to monotone differences between the two dissimilarity scales),
    Pearson's r or Kendall's $\tau_b$ (as ``scipy.stats.kendalltau``, computed in
    $O(N \log N)$).

    Pairs that share an item are not independent, so the p-value is not the correlation's
    textbook one but a Mantel test: the items of ``D2`` (rows and columns together) are
    permuted by $\pi$, $r_\pi = \mathrm{corr}(x, (D^2_{\pi(i)\pi(j)})_{i<j})$,
    and the one-sided p-value counts the observed statistic as one of the permutations,

    $$p = \frac{1 + \#\{\pi : r_\pi \ge r\}}{1 + P},$$

    so that $p \ge 1 / (1 + P)$ for P permutations.

    Parameters
    ----------
    D1, D2 : array_like, shape (n, n) or (n (n - 1) / 2,)
        Square RDMs (the upper triangle is read) or condensed ones in scipy's order, mixed
        freely. Integers and float32 are converted to float64.
    method : {"spearman", "pearson", "kendall"}, default "spearman"
        The correlation. Ties get average ranks for Spearman.
    permutations : int, default 0
        Number of Mantel permutations; 0 skips the test (``p_value`` is None).
    seed : int, optional
        Seed of the permutations. The null distribution depends only on the seed, not on the
        thread count: each permutation has its own random stream.

    Returns
    -------
    RSAResult
        ``r``, ``p_value``, ``n_pairs``, ``method``, ``permutations`` and the ``null``
        correlations.

    Raises
    ------
    TypeError
        If an RDM is not numeric, or ``permutations`` is not an int.
    ValueError
        If the RDMs differ in size, a condensed length is not n (n − 1) / 2, an RDM holds NaN
        or infinity or is constant over its upper triangle (the correlation is undefined), or
        ``method`` or ``permutations`` is invalid.

    References
    ----------
    Kriegeskorte, N., Mur, M. and Bandettini, P. (2008). Representational similarity analysis:
    connecting the branches of systems neuroscience. *Frontiers in Systems Neuroscience* 2, 4.

    Mantel, N. (1967). The detection of disease clustering and a generalized regression
    approach. *Cancer Research* 27, 209–220.

    Examples
    --------
    >>> import numpy as np, emoalign
    >>> X = np.random.default_rng(0).normal(size=(20, 5))
    >>> res = emoalign.rsa(emoalign.rdm(X), emoalign.rdm(X + 0.1), permutations=99, seed=0)
    >>> round(res.r, 6), res.p_value
    (1.0, 0.01)
    """
    x, y = upper_triangle(D1, "D1"), upper_triangle(D2, "D2")
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)):
        raise TypeError(f"permutations must be an int, got {type(permutations).__name__}")
    raw = _core.rsa_condensed(x, y, method=method, permutations=int(permutations), seed=seed)
    return RSAResult(
        r=float(raw["r"]),
        p_value=None if raw["p_value"] is None else float(raw["p_value"]),
        n_pairs=int(raw["n_pairs"]),
        method=method,
        permutations=int(permutations),
        null=raw["null"],
    )
