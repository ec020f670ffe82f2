r"""Low-rank Gromov-Wasserstein (Scetbon, Peyré & Cuturi, ICML 2022) on factored costs.

The coupling is kept as $P = Q\,\mathrm{diag}(1/g)\,R^\top$ of rank r and never formed:
with factored costs $C_1 = A_1 B_1^\top$, $C_2 = A_2 B_2^\top$ every quantity the
solver needs (the GW value, its gradient in Q, R and g) is a product of thin matrices, so an
iteration costs O((n + m) r (k + r)) and memory is linear in n.

What a rank-r coupling is for: it moves mass between r groups of each side, so it aligns
**categories** (which source clusters go to which target clusters) at any n, and it is the
**initial plan** of a full entropic solve where one fits in memory. It cannot match single
items: every row of P is a mixture of only r target profiles, so item-level matching rates are
near chance by construction and should not be read as a failure of the alignment.

The mirror descent runs in the Rust core (``rust/src/gw/lowrank.rs``, GIL released, Ctrl-C
honoured); argument checking, the k-means start and match scoring are here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from emoalign import _core
from emoalign._arrays import as_float_array
from emoalign._lowrank_init import kmeans_start
from emoalign.alignment.matching import _check_k, row_hits, top_k_columns
from emoalign.gw import ConvergenceWarning

F64 = NDArray[np.float64]
Factors = Any
"""A factored cost: an (A, B) pair with C = A @ B.T, or an object with ``.A`` and ``.B``."""
ProgressCallback = Callable[[int, float, float, int], None]
"""(iteration, relative decrease, marginal error before rounding, Dykstra iterations)."""

# Rows of P formed at once when scoring matches: a block holds at most this many entries.
_BLOCK_ENTRIES = 1 << 22


def _factors(obj: Factors, name: str) -> tuple[F64, F64]:
    if isinstance(obj, np.ndarray):
        raise TypeError(
            f"{name} is a dense array, but lowrank_gw takes factored costs: pass a pair (A, B) "
            f"with {name} = A @ B.T (for example emoalign.rdm_factors(X, metric))"
        )
    if hasattr(obj, "A") and hasattr(obj, "B"):
        A, B = obj.A, obj.B
    elif isinstance(obj, tuple | list) and len(obj) == 2:
        A, B = obj
    else:
        raise TypeError(
            f"{name} must be a pair (A, B) of factors with {name} = A @ B.T, or an object with "
            f".A and .B (a LowRankRDM); got {type(obj).__name__}"
        )
    A = np.asarray(as_float_array(A, f"{name}'s A", 2), dtype=np.float64)
    B = np.asarray(as_float_array(B, f"{name}'s B", 2), dtype=np.float64)
    if A.shape != B.shape:
        raise ValueError(
            f"{name}'s factors have shapes {A.shape} and {B.shape}; A and B must both be "
            f"(points, rank) so that {name} = A @ B.T is square"
        )
    if A.shape[0] < 1 or A.shape[1] < 1:
        raise ValueError(f"{name}'s factors have shape {A.shape}; they need points and columns")
    for part, arr in (("A", A), ("B", B)):
        if not np.isfinite(arr).all():
            raise ValueError(
                f"{name}'s factor {part} contains NaN or inf; remove or impute the non-finite "
                f"ratings before factoring"
            )
    return A, B


def _weights(x: ArrayLike | None, n: int, name: str) -> F64:
    if x is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(x, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must hold one weight per point ({n}), got shape {w.shape}")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ValueError(f"{name} must be finite and positive (drop points of zero mass)")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"{name} sums to {w.sum()} but must sum to 1; divide it by its sum")
    return w


@dataclass(frozen=True)
class LowRankGWResult:
    """A low-rank GW coupling P = Q diag(1/g) Rᵀ and how it was reached.

    Use ``plan`` only for small problems: it builds the n x m matrix. Score matches with
    ``lowrank_matching_rate``, which streams the rows instead.
    """

    Q: F64
    """(n, r): source side; rows sum to p, columns to g."""
    R: F64
    """(m, r): target side; rows sum to q, columns to g."""
    g: F64
    """(r,): mass of each of the r components."""
    gw_dist: float
    """GW value of the coupling (square loss, no entropy term)."""
    converged: bool
    n_iter: int
    """Mirror-descent steps taken."""
    n_inner_iter: int
    """Dykstra iterations, summed over the steps (and the rejected trial steps)."""
    marginal_error: float
    """‖P1 − p‖₁ + ‖Pᵀ1 − q‖₁ of the returned coupling."""
    history: list[float] = field(repr=False, default_factory=list)
    """GW value at the start and after every step; non-increasing."""

    @property
    def rank(self) -> int:
        return int(self.g.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.Q.shape[0], self.R.shape[0])

    def rows(self, start: int, stop: int) -> F64:
        """Rows start:stop of P, (stop − start) x m."""
        return (self.Q[start:stop] / self.g[None, :]) @ self.R.T

    def plan(self) -> F64:
        """The dense n x m coupling; MemoryError if it does not fit in available memory."""
        n, m = self.shape
        need = n * m * 8
        available = _available_bytes()
        if available is not None and need > available:
            raise MemoryError(
                f"the dense {n} x {m} plan needs {need / 2**30:.2f} GiB but {available / 2**30:.2f}"
                f" GiB is available; score it with emoalign.lowrank_matching_rate or read rows "
                f"with result.rows(start, stop) instead"
            )
        return self.rows(0, n)


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _check_rank(rank: Any, n: int, m: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer):
        raise TypeError(f"rank must be an int, got {type(rank).__name__}")
    if not 1 <= rank <= min(n, m):
        raise ValueError(
            f"rank={rank} but it must be between 1 and min(n, m) = {min(n, m)}; a coupling of "
            f"{n} x {m} points has at most that rank (categories at large n use 10 to 100)"
        )
    return int(rank)


def _start(
    init: Any, f1: tuple[F64, F64], f2: tuple[F64, F64], a: F64, b: F64, r: int, seed: int
) -> tuple[F64, F64, F64]:
    if isinstance(init, str):
        if init != "kmeans":
            raise ValueError(f"init must be 'kmeans' or a (Q, R, g) triple, got {init!r}")
        return kmeans_start(f1, f2, a, b, r, seed)
    if isinstance(init, LowRankGWResult):
        init = (init.Q, init.R, init.g)
    Q, R, g = (np.asarray(x, dtype=np.float64) for x in init)
    if Q.shape != (len(a), r) or R.shape != (len(b), r) or g.shape != (r,):
        raise ValueError(
            f"init (Q, R, g) must have shapes ({len(a)}, {r}), ({len(b)}, {r}), ({r},); got "
            f"{Q.shape}, {R.shape}, {g.shape}"
        )
    if not all(np.isfinite(x).all() and (x >= 0).all() for x in (Q, R)) or not (g > 0).all():
        raise ValueError("init must hold non-negative finite Q, R and positive g")
    return Q, R, g


def lowrank_gw(
    C1: Factors,
    C2: Factors,
    p: ArrayLike | None = None,
    q: ArrayLike | None = None,
    *,
    rank: int,
    init: Any = "kmeans",
    gamma: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-5,
    inner_max_iter: int = 1000,
    inner_tol: float = 1e-4,
    min_g: float = 1e-10,
    seed: int = 0,
    callback: ProgressCallback | None = None,
    warn: bool = True,
) -> LowRankGWResult:
    r"""Low-rank Gromov-Wasserstein coupling between two factored costs (square loss).

    Minimises $\sum_{ijkl} (C^1_{ik} - C^2_{jl})^2 P_{ij} P_{kl}$ over couplings
    $P = Q\,\mathrm{diag}(1/g)\,R^\top$ with $Q \in U(p, g)$,
    $R \in U(q, g)$, $g \ge$ ``min_g`` (Scetbon, Peyré & Cuturi, ICML 2022): mirror
    descent on (Q, R, g) with the step $\gamma / \max\|\nabla\|_\infty^2$ of their
    adaptive rule, each step projected by Dykstra's algorithm (log-stabilised) and halved until the
    objective decreases, so ``history`` never increases. Each step costs
    O((n + m) r (k + r)) and memory is linear in n; no n x m matrix is formed.

    A rank-r coupling aligns **categories**: it moves the mass of r groups of source items to r
    groups of target items, at any n. It is also a starting plan for a full (dense) solve where
    one fits. It **cannot match single items** (each row of P mixes only r target profiles), so
    score it at the category level (``lowrank_matching_rate`` with labels).

    Parameters
    ----------
    C1, C2 : (A, B) pair or object with ``.A`` and ``.B``
        Factored costs $C = A B^\top$ with A, B of shape (n, k) and (m, k'), e.g. from
        ``emoalign.rdm_factors``. Dense matrices are refused: factor them first.
    p, q : array_like, optional
        Marginals (default uniform); positive, summing to 1.
    rank : int
        Rank r of the coupling, 1 <= r <= min(n, m).
    init : "kmeans", (Q, R, g) or LowRankGWResult
        ``"kmeans"`` (default): OTT's k-means start (soft clusters of each side, on the costs'
        row profiles), with the two sides' clusters paired by a small entropic GW between their
        average costs. Or a previous solution to continue from.
    gamma : float
        Size of the first mirror-descent step: it changes log Q, log R or log g by at most
        ``gamma``. Later steps adapt (halved until the value decreases, grown by 1.5 after a
        step accepted at once), so the result does not depend on the costs' scale.
    max_iter, tol : int, float
        At most ``max_iter`` steps; converged when a step lowers the GW value by at most
        ``tol`` times ``p'(C1⊙C1)p + q'(C2⊙C2)q`` (the value's scale).
    inner_max_iter, inner_tol : int, float
        Dykstra's limits; it stops when ‖Q1 − p‖₁ + ‖R1 − q‖₁ <= ``inner_tol``. Its result is
        then rounded onto the constraints exactly (Altschuler et al. 2017), so the returned
        coupling's marginals hold to rounding whatever ``inner_tol``.
    min_g : float
        Lower bound on g's entries (keeps 1/g finite).
    seed : int
        Seed of the k-means start; the solve is deterministic given it.
    callback : callable, optional
        Called after every step as ``callback(iteration, decrease, marginal_error,
        inner_iterations)``: the step's decrease of the GW value over its scale, Dykstra's
        marginal error before rounding, and its iterations.
    warn : bool
        Warn (ConvergenceWarning) when ``max_iter`` steps or a projection's limit are reached.

    Returns
    -------
    LowRankGWResult
        Q, R, g, the GW value, convergence flags and the history of values.

    Raises
    ------
    ValueError
        Bad rank, mismatched or non-finite factors, bad marginals or options.
    TypeError
        Dense matrices or non-numeric factors.
    """
    f1, f2 = _factors(C1, "C1"), _factors(C2, "C2")
    n, m = f1[0].shape[0], f2[0].shape[0]
    r = _check_rank(rank, n, m)
    a, b = _weights(p, n, "p"), _weights(q, m, "q")
    for name, val in (("gamma", gamma), ("inner_tol", inner_tol), ("min_g", min_g)):
        if not (np.isfinite(val) and val > 0):
            raise ValueError(f"{name} must be a positive finite number, got {val}")
    if min_g * r >= 1.0:
        raise ValueError(f"min_g={min_g} must be below 1/rank = {1.0 / r}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol}")
    if max_iter < 1 or inner_max_iter < 1:
        raise ValueError("max_iter and inner_max_iter must be at least 1")

    Q, R, g = _start(init, f1, f2, a, b, r, seed)
    out = _core.lowrank_gw_solve(
        *(np.ascontiguousarray(x) for x in (*f1, *f2)),
        a,
        b,
        np.ascontiguousarray(Q),
        np.ascontiguousarray(R),
        np.ascontiguousarray(g),
        float(gamma),
        int(max_iter),
        float(tol),
        int(inner_max_iter),
        float(inner_tol),
        float(min_g),
        callback,
    )
    Q, R, g, converged = out["Q"], out["R"], out["g"], out["converged"]
    if warn and out["capped"]:
        warnings.warn(
            f"{out['capped']} of {out['n_iter']} Dykstra projections stopped at "
            f"inner_max_iter={inner_max_iter} (marginal error up to {out['worst_capped']:.1e} "
            f"before rounding onto the constraints, so the marginals still hold); those steps "
            f"were inexact, raise inner_max_iter to avoid it",
            ConvergenceWarning,
            stacklevel=2,
        )
    if warn and not converged:
        warnings.warn(
            f"lowrank_gw stopped at max_iter={max_iter} before the GW value settled (last "
            f"change above tol={tol}); raise max_iter",
            ConvergenceWarning,
            stacklevel=2,
        )
    marginal = float(np.abs(Q.sum(axis=1) - a).sum() + np.abs(R.sum(axis=1) - b).sum())
    return LowRankGWResult(
        Q=Q,
        R=R,
        g=g,
        gw_dist=out["gw_dist"],
        converged=converged,
        n_iter=out["n_iter"],
        n_inner_iter=out["n_inner_iter"],
        marginal_error=marginal,
        history=out["history"],
    )


def lowrank_top_k(result: LowRankGWResult, k: int = 1, rows: ArrayLike | None = None) -> Any:
    """The k target columns of largest mass in each (or each listed) source row of P.

    Rows are formed a block at a time from the factors (row i of P is Q_i diag(1/g) Rᵀ), so the
    memory is a few tens of MB whatever n; time is O(n m r). Ties go to the lower column index,
    as ``emoalign.alignment.matching.top_k`` does on a dense plan.
    """
    n, m = result.shape
    k = _check_k(k, m)
    idx = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    if idx.ndim != 1 or (len(idx) and (idx.min() < 0 or idx.max() >= n)):
        raise ValueError(f"rows must be a 1-D array of source row indices in [0, {n})")
    step = max(1, _BLOCK_ENTRIES // m)
    scaled = result.Q / result.g[None, :]
    out = np.empty((len(idx), k), dtype=np.intp)
    for s in range(0, len(idx), step):
        out[s : s + step] = top_k_columns(scaled[idx[s : s + step]] @ result.R.T, k)
    return out


def lowrank_matching_rate(
    result: LowRankGWResult,
    labels_source: ArrayLike | None = None,
    labels_target: ArrayLike | None = None,
    k: int = 1,
    rows: ArrayLike | None = None,
) -> float:
    """Top-k matching rate (percent) of a low-rank coupling, streamed from its factors.

    With labels this is the category level (a hit when one of row i's k largest targets has
    i's label), what a rank-r coupling is for; without, the item level (target i among them),
    which a rank-r coupling cannot reach beyond chance-like rates (see ``lowrank_gw``).
    Same definition as ``emoalign.matching_rate`` on ``result.plan()``, without forming it.

    Parameters
    ----------
    result : LowRankGWResult
    labels_source, labels_target : array_like, optional
        One label per source (target) item; ``labels_target`` defaults to ``labels_source``
        when both sides hold the same n items.
    k : int
        How many of each row's largest targets count.
    rows : array_like of int, optional
        Score only these source rows (each exactly). All rows cost O(n m r) time; a few
        thousand sampled rows estimate the rate with a binomial error of about
        50/sqrt(len(rows)) percentage points at most, at a small fraction of that.
    """
    n = result.shape[0]
    idx = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    cols = lowrank_top_k(result, k, idx)
    hit = row_hits(
        cols, idx, result.shape, labels_source, labels_target, ("labels_source", "labels_target")
    )
    return 100.0 * float(hit.mean())
