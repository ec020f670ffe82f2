"""Entropic Gromov-Wasserstein optimal transport.

``entropic_gromov_wasserstein``, ``entropic_gromov_wasserstein2``, ``init_matrix`` and ``gwloss``
are drop-ins for POT's functions of the same names (same arguments, same fixed points); the
solvers run in the Rust core. ``entropic_gw`` is the richer entry point: it returns a
``GWResult`` with the dual potentials that warm-start a neighbouring solve, and diagnostics.
``gw_value`` is the GW loss of a plan straight from the two cost matrices, ``gw_gradient`` its
gradient. Every function here except ``init_matrix``/``gwloss`` also takes factored costs
(``emoalign.LowRankRDM``, from ``emoalign.rdm_factors``).

What still differs from POT is listed in ``docs/pot-differences.md``.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from emoalign import _core
from emoalign._arrays import FloatArray, as_float_array, as_marginal, common_dtype
from emoalign.factored import LowRankRDM

LossFun = Literal["square_loss", "kl_loss"]
Solver = Literal["PGD", "PPA"]
ProgressCallback = Callable[[int, float, float, int], None]


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before meeting its tolerance; its result is not trustworthy."""


_Matrix = ArrayLike
_Cost = ArrayLike | LowRankRDM

_CoreCost = FloatArray | tuple[FloatArray, FloatArray]


def _core_costs(C1: _Cost, C2: _Cost) -> tuple[_CoreCost, _CoreCost, np.dtype]:
    """The two costs as the core takes them (dense arrays, or factor pairs for
    ``LowRankRDM``), in one dtype: float64 if either is, as numpy would promote."""
    costs = [
        c if isinstance(c, LowRankRDM) else as_float_array(c, name, 2)
        for c, name in ((C1, "C1"), (C2, "C2"))
    ]
    dtype = np.result_type(*(c.dtype for c in costs))
    core = [
        c.astype(dtype)._core_pair() if isinstance(c, LowRankRDM) else c.astype(dtype, copy=False)
        for c in costs
    ]
    return core[0], core[1], dtype


@dataclass(frozen=True)
class GWResult:
    """An entropic GW solution and how it was reached."""

    plan: FloatArray
    gw_dist: float
    """GW loss of the plan without the entropy term (POT's ``gw_dist``)."""
    epsilon: float
    converged: bool
    n_iter: int
    """Outer (gradient) iterations."""
    n_inner_iter: int
    """Sinkhorn iterations, summed over the outer ones."""
    marginal_error: float
    """max(‖T1 − p‖₁, ‖Tᵀ1 − q‖₁) of the returned plan."""
    relative_change: float
    """‖T_k − T_{k−1}‖_F / ‖T_k‖_F at the last iteration."""
    potentials: tuple[NDArray[np.float64], NDArray[np.float64]] = field(repr=False)
    """Dual potentials (f, g); pass them as ``potentials=`` to warm-start a neighbouring solve."""
    history: list[float] = field(repr=False, default_factory=list)
    peak_bytes: int = 0
    """The solve's memory at its peak as budgeted before allocating (see ``max_memory``)."""


def _takes_gw_value(callback: Callable[..., Any] | None) -> bool:
    """Whether a progress callback declares a ``gw_value`` parameter (asked for by name, as
    scipy's ``minimize`` asks for ``intermediate_result``)."""
    if callback is None:
        return False
    try:
        return "gw_value" in inspect.signature(callback).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def _verbose_printer() -> ProgressCallback:
    def show(iteration: int, change: float, marginal: float, inner: int) -> None:
        if iteration == 1 or iteration % 200 == 0:
            print(f"{'It.':>5s}|{'Rel. change':>12s}|{'Marginal err':>13s}|{'Sinkhorn':>9s}")
            print("-" * 43)
        print(f"{iteration:5d}|{change:12.4e}|{marginal:13.4e}|{inner:9d}")
        sys.stdout.flush()

    return show


# POT's entropic solvers pass their **kwargs on to ``ot.bregman.sinkhorn``. The two that set the
# inner loop's limits mean the same here; POT's own ``solve_gromov`` passes ``tol_rel`` and
# ``tol_abs`` down that path, where its Sinkhorn ignores them, so they are accepted and ignored here
# too (honouring them would move the fixed point away from POT's).
_SINKHORN_KWARGS = {"numItermax": "inner_max_iter", "stopThr": "inner_tol"}
_IGNORED_AS_IN_POT = frozenset({"tol_rel", "tol_abs"})


def _inner_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The inner Sinkhorn's options among POT's pass-through keywords.

    POT's Sinkhorn silently drops keywords it does not know; a drop-in must accept them too, but
    a misspelt ``numItermax`` should not go unnoticed, so unknown names are warned about.
    """
    unknown = sorted(set(kwargs) - set(_SINKHORN_KWARGS) - _IGNORED_AS_IN_POT)
    if unknown:
        warnings.warn(
            f"ignored keyword argument(s) {unknown}: POT passes them to its Sinkhorn, which "
            f"ignores them too; the inner solver's options are {sorted(_SINKHORN_KWARGS)}",
            UserWarning,
            stacklevel=4,
        )
    return {v: kwargs[k] for k, v in _SINKHORN_KWARGS.items() if k in kwargs}


def entropic_gw(
    C1: _Cost,
    C2: _Cost,
    p: ArrayLike | None = None,
    q: ArrayLike | None = None,
    *,
    epsilon: float = 0.1,
    loss_fun: LossFun = "square_loss",
    symmetric: bool | None = None,
    G0: _Matrix | None = None,
    potentials: tuple[ArrayLike, ArrayLike] | None = None,
    solver: Solver = "PGD",
    max_iter: int = 1000,
    tol: float = 1e-9,
    inner_max_iter: int = 1000,
    inner_tol: float = 1e-9,
    relative_tol: bool = True,
    accelerate: bool = False,
    callback: ProgressCallback | None = None,
    verbose: bool = False,
    warn: bool = True,
    max_memory: int | None = None,
) -> GWResult:
    r"""Entropic Gromov-Wasserstein transport between two metric-measure spaces.

    Finds a stationary point of

    $$\min_{T \in U(p, q)} \sum_{i,j,k,l} L(C^1_{ik}, C^2_{jl}) T_{ij} T_{kl}
    - \varepsilon H(T), \qquad H(T) = -\sum_{ij} T_{ij} (\log T_{ij} - 1),$$

    over couplings $U(p, q) = \{T \ge 0 : T 1 = p, T^\top 1 = q\}$, by the projected
    gradient iteration of Peyré, Cuturi & Solomon (2016) (``solver="PGD"``),
    $T \leftarrow \arg\min_{P \in U(p,q)} \langle M(T), P \rangle - \varepsilon H(P)$,
    or the proximal point iteration of Xu et al. (2019) (``"PPA"``), which adds
    $\varepsilon \mathrm{KL}(P \| T)$ instead. $M(T)$ is the gradient's tensor
    product computed in the separable form of Peyré et al.'s Proposition 1: two vectors and one
    product $h_1(C^1)\, T\, h_2(C^2)^\top$. Every projection is a stabilised log-domain
    Sinkhorn warm-started from the previous one's potentials (with a Sinkhorn-Newton polish at
    small ε). The map iterated is POT's, so are its fixed points.

    Parameters
    ----------
    C1, C2 : array_like or LowRankRDM, shape (n, n) and (m, m)
        Cost (dissimilarity) matrices, float32 or float64 (integers become float64; a float32 /
        float64 pair is promoted to float64). They need not be symmetric. A
        ``emoalign.LowRankRDM`` (``emoalign.rdm_factors``), alone or paired with a
        dense matrix, is used through its factors $C = A B^\top$: the constant parts
        cost $O(nk^2)$ and the product $C^1 T C^{2\top} = A_1 ((B_1^\top T) B_2)
        A_2^\top$ costs $O(nmk)$ instead of $O(n^2 m + n m^2)$ (Scetbon, Peyré &
        Cuturi 2022), with the same fixed point. Square loss only.
    p, q : array_like, shape (n,) and (m,), optional
        Weights of the points, non-negative with equal sums. Uniform by default.
    epsilon : float, default 0.1
        Entropic regularisation ε > 0. Smaller is sharper and slower; below about 1e-3 on costs
        scaled to [0, 1] the projections need the Newton polish.
    loss_fun : {"square_loss", "kl_loss"}
        $L(a, b) = (a - b)^2$ or $a \log(a / b) - a + b$ (costs must be positive).
    symmetric : bool, optional
        Whether C1 and C2 are symmetric. ``None`` tests it as POT does (``allclose`` at 1e-10);
        for asymmetric costs the gradient averages those of (C1, C2) and (C1ᵀ, C2ᵀ).
    G0 : array_like, shape (n, m), optional
        Initial plan (default $p q^\top$).
    potentials : pair of array_like, optional
        Dual potentials (f, g) of an earlier result (``GWResult.potentials``) to warm-start from,
        for instance the solve at a neighbouring ε.
    solver : {"PGD", "PPA"}
        The outer iteration, as above.
    max_iter : int, default 1000
        Outer iterations at most.
    tol : float, default 1e-9
        Stop when $\|T_k - T_{k-1}\|_F$ falls to ``tol``: relative to
        $\|T_k\|_F$ when ``relative_tol``, else absolute as in POT. Floored at what the
        dtype resolves (ten ulp of the plan, and the gradient's rounding amplified by 1/ε).
    inner_max_iter : int, default 1000
        Sinkhorn iterations at most per projection (POT's ``numItermax``).
    inner_tol : float, default 1e-9
        L1 marginal error the final projection must reach (POT's ``stopThr``). Early
        projections are solved more loosely, never looser than a hundredth of the plan's last
        relative change.
    relative_tol : bool, default True
        See ``tol``.
    accelerate : bool, default False
        Anderson-accelerate the outer PGD iteration once it converges slowly. Extrapolation can
        leap to another stationary point (a saddle the plain iteration only passes), so it is
        kept only while it stays where the plain iteration was heading: each extrapolated
        iterate within three times the plain iteration's predicted remaining distance of the
        iterate acceleration began at, a fixed point whose entropic objective
        $\tfrac12 \mathrm{GW}(T) + \varepsilon \sum T \log T$ is no higher than there, and
        30 plain steps from it that contract. Otherwise the solve resumes plainly from where
        acceleration began. The objective test is conservative: the plain iteration's
        objective is not monotone, so it can reject a good extrapolation, and then the solve
        costs the plain iteration's steps plus the rejected ones (measured on 500-point RDMs:
        1.3× faster at ε = 1e-2, 0.9–1.0× at ε ≤ 3e-3). Off by default so that a solve reaches
        the plain iteration's (POT's) fixed point by construction.
    callback : callable, optional
        ``callback(iteration, relative_change, marginal_error, sinkhorn_iterations)`` after each
        outer iteration. A callback with a parameter named ``gw_value`` also receives the GW
        loss of the plan the iteration started from, taken from the gradient the iteration
        computed (one more n × m pass; with float32 gradient increments it carries their
        rounding, about 1e-7 relative). Raising an exception stops the solve and propagates
        (a study abandons a start that cannot win this way).
    verbose : bool, default False
        Print the same numbers as a table.
    warn : bool, default True
        Warn with ``ConvergenceWarning`` when the solve stops unconverged.
    max_memory : int, optional
        Bytes the solve may use (default: what the system has available). The solve's peak is
        budgeted before anything is allocated: the costs, three n × m matrices, and, only
        while they fit, float32 increments of the gradient (dense float64 costs) and Anderson
        acceleration (14 more n × m matrices), which otherwise step aside. The budget is in
        ``GWResult.peak_bytes``.

    Returns
    -------
    GWResult
        The plan (dtype of the costs), its GW loss ``gw_dist`` (without the entropy term, as POT's
        ``gw_dist``), convergence diagnostics and the dual potentials.

    Raises
    ------
    ValueError
        Shapes that do not match, negative or unequal-mass marginals, non-finite costs, ε ≤ 0,
        an unknown ``loss_fun`` or ``solver``, or non-positive costs with ``kl_loss``.
    TypeError
        Non-numeric input.
    MemoryError
        The work matrices would not fit in memory or ``max_memory`` (checked before
        allocating); the message itemises the budget and names the fix.
    emoalign.NumericalError
        The iteration broke down numerically (ε too small for the costs' range).
    KeyboardInterrupt
        Ctrl-C, checked between Sinkhorn passes.

    Warns
    -----
    ConvergenceWarning
        ``max_iter`` reached before ``tol`` (when ``warn``); ``GWResult.converged`` is False.

    References
    ----------
    Peyré, G., Cuturi, M. and Solomon, J. (2016). Gromov-Wasserstein averaging of kernel and
    distance matrices. *ICML*, PMLR 48, 2664–2672.

    Xu, H., Luo, D., Zha, H. and Carin, L. (2019). Gromov-Wasserstein learning for graph matching
    and node embedding. *ICML*, PMLR 97, 6932–6941.

    Walker, H. F. and Ni, P. (2011). Anderson acceleration for fixed-point iterations. *SIAM J.
    Numer. Anal.* 49(4), 1715–1735.

    Scetbon, M., Peyré, G. and Cuturi, M. (2022). Linear-time Gromov Wasserstein distances using
    low rank couplings and costs. *ICML*, PMLR 162, 19347–19365.

    Examples
    --------
    >>> import numpy as np, emoalign
    >>> X = np.random.default_rng(0).random((30, 5))
    >>> C = emoalign.rdm(X, metric="euclidean"); C /= C.max()
    >>> res = emoalign.entropic_gw(C, C, epsilon=5e-3)
    >>> bool(res.converged), res.plan.shape
    (True, (30, 30))
    """
    a, b, dtype = _core_costs(C1, C2)
    if G0 is not None:
        G0 = as_float_array(G0, "G0", 2).astype(dtype, copy=False)
    if potentials is not None:
        if len(potentials) != 2:
            raise TypeError("potentials must be a pair (f, g), as in GWResult.potentials")
        potentials = (as_marginal(potentials[0], "f"), as_marginal(potentials[1], "g"))
    if verbose and callback is None:
        callback = _verbose_printer()
    with_value = _takes_gw_value(callback)
    forward: Callable[..., Any] | None = callback
    if with_value and callback is not None:
        user = callback

        def forward(i: int, change: float, marginal: float, inner: int, value: float) -> None:
            user(i, change, marginal, inner, gw_value=value)

    raw = _core.entropic_gw(
        a,
        b,
        as_marginal(p, "p"),
        as_marginal(q, "q"),
        loss_fun=loss_fun,
        epsilon=float(epsilon),
        symmetric=symmetric,
        G0=G0,
        potentials=potentials,
        max_iter=int(max_iter),
        tol=float(tol),
        solver=solver,
        inner_max_iter=int(inner_max_iter),
        inner_tol=float(inner_tol),
        relative_tol=bool(relative_tol),
        accelerate=bool(accelerate),
        callback=forward,
        callback_value=with_value,
        max_memory=None if max_memory is None else int(max_memory),
    )
    result = GWResult(
        plan=raw["plan"],
        gw_dist=float(raw["gw_dist"]),
        epsilon=float(epsilon),
        converged=bool(raw["converged"]),
        n_iter=int(raw["n_iter"]),
        n_inner_iter=int(raw["n_inner_iter"]),
        marginal_error=float(raw["marginal_error"]),
        relative_change=float(raw["relative_change"]),
        potentials=(raw["f"], raw["g"]),
        history=list(raw["history"]),
        peak_bytes=int(raw["peak_bytes"]),
    )
    if warn and not result.converged:
        warnings.warn(
            f"entropic GW did not converge at epsilon={epsilon:g} in {result.n_iter} iterations "
            f"(relative change {result.relative_change:.2e}, marginal error "
            f"{result.marginal_error:.2e}); raise max_iter or epsilon",
            ConvergenceWarning,
            stacklevel=2,
        )
    return result


def _pot_log(result: GWResult) -> dict[str, Any]:
    return {
        "err": result.history,
        # A numpy scalar of the plan's dtype, as POT's backend returns it.
        "gw_dist": result.plan.dtype.type(result.gw_dist),
        "converged": result.converged,
        "n_iter": result.n_iter,
        "n_inner_iter": result.n_inner_iter,
        "marginal_error": result.marginal_error,
        "potentials": result.potentials,
    }


def entropic_gromov_wasserstein(
    C1: _Cost,
    C2: _Cost,
    p: ArrayLike | None = None,
    q: ArrayLike | None = None,
    loss_fun: LossFun = "square_loss",
    epsilon: float = 0.1,
    symmetric: bool | None = None,
    G0: _Matrix | None = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
    solver: Solver = "PGD",
    warmstart: bool = False,
    verbose: bool = False,
    log: bool = False,
    **kwargs: Any,
) -> FloatArray | tuple[FloatArray, dict[str, Any]]:
    r"""Drop-in for POT's ``ot.gromov.entropic_gromov_wasserstein``: the entropic GW plan.

    Same arguments, same iteration from the same start (the plain PGD or PPA map, without
    ``entropic_gw``'s acceleration), hence the same fixed point; see ``entropic_gw``
    for the maths. ``tol`` bounds the absolute change $\|T_k - T_{k-1}\|_F$, as in POT.

    Parameters
    ----------
    C1, C2, p, q, loss_fun, epsilon, symmetric, G0, max_iter, tol, solver
        As in POT (and ``entropic_gw``); C1 and C2 may also be ``LowRankRDM`` factors.
    warmstart : bool
        Accepted for compatibility: potentials are always carried between outer iterations here,
        which changes the cost of a solve, not its answer.
    verbose : bool
        Print the outer iterations' progress.
    log : bool
        Also return a dict with POT's ``gw_dist`` and ``err`` (the relative change at every
        iteration, where POT records the absolute one every tenth), plus ``converged``,
        ``n_iter``, ``n_inner_iter``, ``marginal_error`` and ``potentials``.
    **kwargs
        What POT passes on to its Sinkhorn: ``numItermax`` and ``stopThr`` set the inner limits;
        ``warn=False`` silences the ``ConvergenceWarning``; ``tol_rel`` and ``tol_abs``
        (which POT's ``solve_gromov`` passes and its Sinkhorn ignores) are ignored likewise.
        Other names are ignored with a warning.

    Returns
    -------
    T : ndarray, shape (n, m)
        The plan, in the dtype of the costs.
    log : dict
        Only with ``log=True``.
    """
    del warmstart  # always on; see the docstring
    warn = bool(kwargs.pop("warn", True))
    result = entropic_gw(
        C1,
        C2,
        p,
        q,
        epsilon=epsilon,
        loss_fun=loss_fun,
        symmetric=symmetric,
        G0=G0,
        solver=solver,
        max_iter=max_iter,
        tol=tol,
        relative_tol=False,  # POT's tol bounds the absolute ‖T_k − T_{k−1}‖_F
        accelerate=False,  # POT's own path, so POT's fixed point
        verbose=verbose,
        warn=warn,
        **_inner_options(kwargs),
    )
    return (result.plan, _pot_log(result)) if log else result.plan


def entropic_gromov_wasserstein2(
    C1: _Cost,
    C2: _Cost,
    p: ArrayLike | None = None,
    q: ArrayLike | None = None,
    loss_fun: LossFun = "square_loss",
    epsilon: float = 0.1,
    symmetric: bool | None = None,
    G0: _Matrix | None = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
    solver: Solver = "PGD",
    warmstart: bool = False,
    verbose: bool = False,
    log: bool = False,
    **kwargs: Any,
) -> float | tuple[float, dict[str, Any]]:
    """Drop-in for POT's ``ot.gromov.entropic_gromov_wasserstein2``: the GW loss of the plan.

    Same arguments as ``entropic_gromov_wasserstein``. Returns the GW loss of the entropic
    plan, without the entropy term (POT's ``gw_dist``), and with ``log=True`` also the log, whose
    ``"T"`` holds the plan.
    """
    plan, info = entropic_gromov_wasserstein(
        C1,
        C2,
        p,
        q,
        loss_fun,
        epsilon,
        symmetric,
        G0,
        max_iter,
        tol,
        solver,
        warmstart,
        verbose,
        log=True,
        **kwargs,
    )
    info["T"] = plan
    return (info["gw_dist"], info) if log else info["gw_dist"]


def gw_value(C1: _Cost, C2: _Cost, T: _Matrix, loss_fun: LossFun = "square_loss") -> float:
    r"""The GW loss of a plan, from the two cost matrices.

    $$\mathrm{GW}(T) = \sum_{i,j,k,l} L(C^1_{ik}, C^2_{jl})\, T_{ij} T_{kl}$$

    computed in $O(n^2 m + n m^2)$ ($O(nmk)$ for ``LowRankRDM`` factors of rank k) by the
    separable form of Peyré et al. (2016), with the
    constant part taken at the plan's own marginals, so any non-negative T is valid (for a
    coupling of (p, q) this is POT's ``gwloss(*init_matrix(C1, C2, p, q), T)``).

    Parameters
    ----------
    C1, C2 : array_like or LowRankRDM, shape (n, n) and (m, m)
        Cost matrices (float32 or float64; the sum is accumulated in float64 either way), or
        their factors.
    T : array_like, shape (n, m)
        A non-negative plan.
    loss_fun : {"square_loss", "kl_loss"}

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Shapes that do not match, or negative or non-finite entries.
    """
    a, b, dtype = _core_costs(C1, C2)
    t = as_float_array(T, "T", 2).astype(dtype, copy=False)
    return float(_core.gw_value(a, b, t, loss_fun))


def gw_gradient(C1: _Cost, C2: _Cost, T: _Matrix, loss_fun: LossFun = "square_loss") -> FloatArray:
    r"""The gradient of the GW loss at plan T, as the solver takes it.

    $$M(T) = s \left(\alpha \oplus \beta - h_1(C^1)\, T\, h_2(C^2)^\top\right), \quad
    \alpha = f_1(C^1) T 1,\ \beta = f_2(C^2) T^\top 1,$$

    with s = 2 for symmetric costs (Peyré et al. 2016, Prop. 1); for asymmetric costs the
    (C1ᵀ, C2ᵀ) pair is added and s = 1. For a coupling of (p, q) this is POT's
    ``gwggrad(*init_matrix(C1, C2, p, q)[...], T)``. With ``emoalign.LowRankRDM`` factors
    it costs $O(nmk)$.

    Parameters
    ----------
    C1, C2 : array_like or LowRankRDM, shape (n, n) and (m, m)
    T : array_like, shape (n, m)
        A non-negative plan.
    loss_fun : {"square_loss", "kl_loss"}

    Returns
    -------
    ndarray, shape (n, m)
        In the dtype of the costs.
    """
    a, b, dtype = _core_costs(C1, C2)
    t = as_float_array(T, "T", 2).astype(dtype, copy=False)
    return _core.gw_gradient(a, b, t, loss_fun)


def _transform(
    C1: NDArray[np.float64], C2: NDArray[np.float64], loss_fun: str
) -> tuple[NDArray[np.float64], ...]:
    """f1(C1), f2(C2), h1(C1), h2(C2) of the decomposition L(a, b) = f1(a) + f2(b) − h1(a) h2(b).

    The 1e-18 offsets are POT's, so that zero costs give the same numbers under kl_loss.
    """
    if loss_fun == "square_loss":
        return C1**2, C2**2, C1, 2 * C2
    if loss_fun == "kl_loss":
        return C1 * np.log(C1 + 1e-18) - C1, C2, C1, np.log(C2 + 1e-18)
    raise ValueError(f"loss_fun {loss_fun!r} is not supported; use 'square_loss' or 'kl_loss'")


def init_matrix(
    C1: _Matrix,
    C2: _Matrix,
    p: ArrayLike,
    q: ArrayLike,
    loss_fun: LossFun = "square_loss",
    nx: Any = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Drop-in for POT's ``ot.gromov.init_matrix``: the parts of the GW gradient.

    For $L(a, b) = f_1(a) + f_2(b) - h_1(a) h_2(b)$ (Peyré et al. 2016, Prop. 1) returns
    $\mathrm{constC} = f_1(C^1) p 1^\top + 1 q^\top f_2(C^2)^\top$,
    $h_1(C^1)$ and $h_2(C^2)$. Numpy arrays only (``nx`` must be None or POT's numpy
    backend). ``entropic_gw`` never builds the n × m ``constC``; this is for code written
    against POT's ``gwloss``.

    Returns
    -------
    constC : ndarray, shape (n, m)
    hC1 : ndarray, shape (n, n)
    hC2 : ndarray, shape (m, m)
    """
    _numpy_only(nx)
    a, b = common_dtype("C1", as_float_array(C1, "C1", 2), "C2", as_float_array(C2, "C2", 2))
    pv, qv = as_marginal(p, "p"), as_marginal(q, "q")
    assert pv is not None and qv is not None  # as_marginal returns None only for None
    if a.shape[0] != a.shape[1] or b.shape[0] != b.shape[1]:
        raise ValueError(f"C1 and C2 must be square, got shapes {a.shape} and {b.shape}")
    if len(pv) != a.shape[0] or len(qv) != b.shape[0]:
        raise ValueError(
            f"p has {len(pv)} weights and q {len(qv)} for C1 of shape {a.shape} and C2 of "
            f"shape {b.shape}; give one weight per point"
        )
    f1, f2, h1, h2 = _transform(a, b, loss_fun)
    const = (f1 @ pv.astype(a.dtype))[:, None] + (f2 @ qv.astype(b.dtype))[None, :]
    return const, h1, h2


def gwloss(constC: _Matrix, hC1: _Matrix, hC2: _Matrix, T: _Matrix, nx: Any = None) -> float:
    r"""Drop-in for POT's ``ot.gromov.gwloss``: $\sum (\mathrm{constC} - h_1 T h_2^\top)
    \odot T$, from the output of ``init_matrix``.

    Numpy arrays only (``nx`` must be None or POT's numpy backend). Without ``init_matrix``'s
    n × m ``constC``, ``gw_value`` gives the same number from C1, C2 and T.

    Raises
    ------
    ValueError
        Shapes that do not match.
    """
    _numpy_only(nx)
    const = as_float_array(constC, "constC", 2)
    h1, h2 = as_float_array(hC1, "hC1", 2), as_float_array(hC2, "hC2", 2)
    t = as_float_array(T, "T", 2)
    n, m = t.shape
    if const.shape != (n, m) or h1.shape != (n, n) or h2.shape != (m, m):
        raise ValueError(
            f"shapes do not fit: constC {const.shape}, hC1 {h1.shape}, hC2 {h2.shape} and T "
            f"{t.shape}; constC must be n x m, hC1 n x n and hC2 m x m for an n x m plan T"
        )
    return float(np.sum((const - h1 @ t @ h2.T) * t))


def _numpy_only(nx: Any) -> None:
    if nx is not None and type(nx).__name__ != "NumpyBackend":
        raise TypeError(
            f"nx={type(nx).__name__}: emoalign computes on numpy arrays only; convert tensors "
            "with .numpy() (or .cpu().numpy()) and leave nx=None"
        )
