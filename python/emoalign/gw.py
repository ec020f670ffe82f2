"""Entropic Gromov-Wasserstein optimal transport.

``entropic_gromov_wasserstein``, ``entropic_gromov_wasserstein2`` and ``gwloss`` are drop-ins for
POT's functions of the same names (same arguments, same fixed points), solved by the Rust core.
``entropic_gw`` is the richer entry point: it returns a :class:`GWResult` with the dual potentials
that warm-start a neighbouring solve, and diagnostics.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from emoalign import _core
from emoalign._arrays import FloatArray, as_float_array, as_marginal, common_dtype

LossFun = Literal["square_loss", "kl_loss"]
Solver = Literal["PGD", "PPA"]
ProgressCallback = Callable[[int, float, float, int], None]


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before meeting its tolerance; its result is not trustworthy."""


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


def _verbose_printer() -> ProgressCallback:
    def show(iteration: int, change: float, marginal: float, inner: int) -> None:
        if iteration == 1 or iteration % 200 == 0:
            print(f"{'It.':>5s}|{'Rel. change':>12s}|{'Marginal err':>13s}|{'Sinkhorn':>9s}")
            print("-" * 43)
        print(f"{iteration:5d}|{change:12.4e}|{marginal:13.4e}|{inner:9d}")
        sys.stdout.flush()

    return show


_SINKHORN_KWARGS = {"numItermax": "inner_max_iter", "stopThr": "inner_tol"}


def _inner_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """POT passes extra keywords to its Sinkhorn; the ones that mean something here are mapped."""
    unknown = set(kwargs) - set(_SINKHORN_KWARGS)
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {sorted(unknown)}; the inner Sinkhorn takes "
            f"{sorted(_SINKHORN_KWARGS)}"
        )
    return {_SINKHORN_KWARGS[k]: v for k, v in kwargs.items()}


def entropic_gw(
    C1: Any,
    C2: Any,
    p: Any = None,
    q: Any = None,
    *,
    epsilon: float = 0.1,
    loss_fun: LossFun = "square_loss",
    symmetric: bool | None = None,
    G0: Any = None,
    potentials: tuple[Any, Any] | None = None,
    solver: Solver = "PGD",
    max_iter: int = 1000,
    tol: float = 1e-9,
    inner_max_iter: int = 1000,
    inner_tol: float = 1e-9,
    relative_tol: bool = True,
    accelerate: bool = True,
    callback: ProgressCallback | None = None,
    verbose: bool = False,
    warn: bool = True,
) -> GWResult:
    """Solves entropic GW between cost matrices ``C1`` (n×n) and ``C2`` (m×m).

    ``p`` and ``q`` default to uniform weights. ``G0`` is the initial plan (default p qᵀ);
    ``potentials`` are the (f, g) of an earlier result, to warm-start it. Stops when the plan's
    change ‖T_k − T_{k−1}‖_F, relative to ‖T_k‖_F (``relative_tol=True``) or absolute as in POT,
    falls to ``tol`` (floored at what the dtype resolves: ten ulp of the plan, and the gradient's
    rounding amplified by 1/ε) with the last projection solved to an L1
    marginal error of ``inner_tol``. ``accelerate`` switches on Anderson acceleration of the
    outer iteration once it converges slowly (PGD only; far fewer iterations at small ε).
    Anderson converges to saddles as readily as to minima, so its fixed point is then checked by
    30 plain steps, which must contract; from a saddle they drift away, as POT's iteration does,
    and the solve continues plainly.
    ``callback(iteration, relative_change, marginal_error, sinkhorn_iterations)`` runs after
    each outer iteration; Ctrl-C interrupts.
    A run that does not converge warns with :class:`ConvergenceWarning` and says so in
    ``GWResult.converged``.
    """
    a, b = common_dtype("C1", as_float_array(C1, "C1", 2), "C2", as_float_array(C2, "C2", 2))
    if G0 is not None:
        G0 = as_float_array(G0, "G0", 2).astype(a.dtype, copy=False)
    if potentials is not None:
        if len(potentials) != 2:
            raise TypeError("potentials must be a pair (f, g), as in GWResult.potentials")
        potentials = (as_marginal(potentials[0], "f"), as_marginal(potentials[1], "g"))
    if verbose and callback is None:
        callback = _verbose_printer()
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
        callback=callback,
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
        "gw_dist": result.gw_dist,
        "converged": result.converged,
        "n_iter": result.n_iter,
        "n_inner_iter": result.n_inner_iter,
        "marginal_error": result.marginal_error,
        "potentials": result.potentials,
    }


def entropic_gromov_wasserstein(
    C1: Any,
    C2: Any,
    p: Any = None,
    q: Any = None,
    loss_fun: LossFun = "square_loss",
    epsilon: float = 0.1,
    symmetric: bool | None = None,
    G0: Any = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
    solver: Solver = "PGD",
    warmstart: bool = False,
    verbose: bool = False,
    log: bool = False,
    **kwargs: Any,
) -> FloatArray | tuple[FloatArray, dict[str, Any]]:
    """POT's ``ot.gromov.entropic_gromov_wasserstein``, same arguments and fixed points.

    ``warmstart`` is accepted for compatibility: potentials are always carried between outer
    iterations here, which changes the cost, not the answer. ``numItermax`` and ``stopThr`` set
    the inner Sinkhorn's limits, as in POT. With ``log=True`` the log holds ``gw_dist`` and
    ``err`` as POT's does, plus ``converged``, iteration counts and the potentials.
    """
    del warmstart  # always on; see the docstring
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
        verbose=verbose,
        **_inner_options(kwargs),
    )
    return (result.plan, _pot_log(result)) if log else result.plan


def entropic_gromov_wasserstein2(
    C1: Any,
    C2: Any,
    p: Any = None,
    q: Any = None,
    loss_fun: LossFun = "square_loss",
    epsilon: float = 0.1,
    symmetric: bool | None = None,
    G0: Any = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
    solver: Solver = "PGD",
    warmstart: bool = False,
    verbose: bool = False,
    log: bool = False,
    **kwargs: Any,
) -> float | tuple[float, dict[str, Any]]:
    """POT's ``ot.gromov.entropic_gromov_wasserstein2``: the GW loss of the entropic plan."""
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


def gwloss(C1: Any, C2: Any, T: Any, loss_fun: LossFun = "square_loss") -> float:
    """GW loss Σ L(C1_ik, C2_jl) T_ij T_kl of plan ``T`` (computed in O(n²m + nm²))."""
    a, b = common_dtype("C1", as_float_array(C1, "C1", 2), "C2", as_float_array(C2, "C2", 2))
    t = as_float_array(T, "T", 2).astype(a.dtype, copy=False)
    return float(_core.gwloss(a, b, t, loss_fun))
