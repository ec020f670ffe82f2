"""One trial's work: entropic GW at one ε from each of several initial plans, best kept.

The first start may be warm (the plan of the finished trial nearest in ε, see ``warm``), and a
start that has settled clearly above the best distance known may be abandoned (see ``pruning``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emoalign.alignment.inits import initial_plan, start_rng
from emoalign.alignment.pruning import PruneRule, StartAbandoned, StartWatch
from emoalign.alignment.warm import WarmStart
from emoalign.factored import LowRankRDM
from emoalign.gw import GWResult, entropic_gw

PRECISIONS = ("float64", "float32")


@dataclass(frozen=True)
class SolverOptions:
    """Limits of each GW solve.

    The tolerances are looser than the core's defaults on purpose: a study scores plans by their
    row-wise argmax and GW distance, which settle long before a 1e-9 stopping rule, and at small
    ε the last digits cost most of the time.
    """

    max_iter: int = 500
    tol: float = 1e-7
    inner_max_iter: int = 1000
    inner_tol: float = 1e-5
    precision: str = "float64"
    """The arithmetic of the trials' solves; the study refines its best plan in float64."""

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )

    def in_float64(self) -> SolverOptions:
        """The same limits in float64 (for the refinement of a float32 study's best plan)."""
        return replace(self, precision="float64")

    def solve(
        self,
        C1: NDArray[np.float64] | LowRankRDM,
        C2: NDArray[np.float64] | LowRankRDM,
        p: Any,
        q: Any,
        epsilon: float,
        G0: NDArray[np.float64] | None,
        callback: StartWatch | None = None,
    ) -> GWResult:
        """One entropic GW solve within these limits; convergence is judged by the caller."""
        dtype = np.dtype(self.precision)
        return entropic_gw(
            C1.astype(dtype) if isinstance(C1, LowRankRDM) else C1.astype(dtype, copy=False),
            C2.astype(dtype) if isinstance(C2, LowRankRDM) else C2.astype(dtype, copy=False),
            p,
            q,
            epsilon=epsilon,
            G0=G0,
            max_iter=self.max_iter,
            tol=self.tol,
            inner_max_iter=self.inner_max_iter,
            inner_tol=self.inner_tol,
            callback=callback,
            warn=False,
        )


@dataclass(frozen=True)
class StartResult:
    index: int
    kind: str
    gw_dist: float
    converged: bool
    n_iter: int
    n_inner_iter: int
    marginal_error: float
    seconds: float
    warm_from: int | None = None
    """The finished trial whose plan this start began from (warm starts only)."""
    abandoned_at: int | None = None
    """The iteration at which the start was abandoned as settled above the best distance; its
    ``gw_dist`` is then the distance there."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class TrialSolution:
    epsilon: float
    plan: NDArray[np.float64]
    best: StartResult
    starts: list[StartResult]


def solve_start(
    C1: NDArray[np.float64] | LowRankRDM,
    C2: NDArray[np.float64] | LowRankRDM,
    epsilon: float,
    kind: str,
    index: int,
    seed: int,
    options: SolverOptions,
    *,
    warm: WarmStart | None = None,
    watch: StartWatch | None = None,
) -> tuple[StartResult, NDArray[np.float64] | None]:
    """One start; its plan is None if ``watch`` abandoned it."""
    n, m = C1.shape[0], C2.shape[0]
    p, q = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    if kind == "warm":
        if warm is None:
            raise ValueError("a warm start needs the plan it starts from")
        G0 = warm.plan
    else:
        G0 = initial_plan(kind, p, q, start_rng(seed, epsilon, index))
    began = time.perf_counter()
    facts = {"index": index, "kind": kind, "warm_from": warm.number if warm else None}
    try:
        result = options.solve(C1, C2, p, q, epsilon, G0, watch)
    except StartAbandoned as stop:
        abandoned = StartResult(
            **facts,
            gw_dist=stop.value,
            converged=False,
            n_iter=stop.iteration,
            n_inner_iter=0,
            marginal_error=float("nan"),
            seconds=time.perf_counter() - began,
            abandoned_at=stop.iteration,
        )
        return abandoned, None
    start = StartResult(
        **facts,
        gw_dist=result.gw_dist,
        converged=result.converged,
        n_iter=result.n_iter,
        n_inner_iter=result.n_inner_iter,
        marginal_error=result.marginal_error,
        seconds=time.perf_counter() - began,
    )
    return start, result.plan


class TrialAbandoned(Exception):
    """Every start of a trial settled clearly above the best distance known."""

    def __init__(self, starts: list[StartResult]) -> None:
        super().__init__(f"all {len(starts)} start(s) settled above the best GW distance")
        self.starts = starts


def solve_trial(
    C1: NDArray[np.float64] | LowRankRDM,
    C2: NDArray[np.float64] | LowRankRDM,
    epsilon: float,
    kinds: Sequence[str],
    seed: int,
    options: SolverOptions,
    *,
    warm: WarmStart | None = None,
    prune: PruneRule | None = None,
    best_known: Callable[[], float | None] = lambda: None,
) -> TrialSolution:
    """Each start solved; the lowest GW distance wins, ties to the earlier start.

    With ``warm``, a start from that plan runs before the ``kinds``. With ``prune``, a start is
    abandoned once it has settled where it cannot beat the best of ``best_known()`` and the
    trial's earlier starts; if every start is, ``TrialAbandoned``.
    """
    best_plan: NDArray[np.float64] | None = None
    best: StartResult | None = None
    starts = []

    def lowest() -> float | None:
        known = [v for v in (best_known(), best.gw_dist if best else None) if v is not None]
        return min(known, default=None)

    # The warm start runs first: it converges fastest, and its distance then lets the cold starts
    # be abandoned as soon as they settle in its basin (or a worse one). The cold starts keep
    # their seeds and indices, so they explore exactly as without the warm one.
    schedule = [(len(kinds), "warm")] if warm is not None else []
    schedule += list(enumerate(kinds))
    for index, kind in schedule:
        watch = StartWatch(prune, lowest) if prune is not None else None
        start, plan = solve_start(
            C1,
            C2,
            epsilon,
            kind,
            index,
            seed,
            options,
            warm=warm if kind == "warm" else None,
            watch=watch,
        )
        starts.append(start)
        if plan is not None and (best is None or start.gw_dist < best.gw_dist):
            best, best_plan = start, plan
    if best is None or best_plan is None:
        raise TrialAbandoned(starts)
    return TrialSolution(epsilon=epsilon, plan=best_plan, best=best, starts=starts)
