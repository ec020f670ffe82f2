"""One trial's work: entropic GW at one ε from each of several initial plans, best kept."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from emoalign.alignment.inits import initial_plan, start_rng
from emoalign.factored import LowRankRDM
from emoalign.gw import GWResult, entropic_gw


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

    def solve(
        self,
        C1: NDArray[np.float64] | LowRankRDM,
        C2: NDArray[np.float64] | LowRankRDM,
        p: Any,
        q: Any,
        epsilon: float,
        G0: NDArray[np.float64] | None,
    ) -> GWResult:
        """One entropic GW solve within these limits; convergence is judged by the caller."""
        return entropic_gw(
            C1,
            C2,
            p,
            q,
            epsilon=epsilon,
            G0=G0,
            max_iter=self.max_iter,
            tol=self.tol,
            inner_max_iter=self.inner_max_iter,
            inner_tol=self.inner_tol,
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
) -> tuple[StartResult, NDArray[np.float64]]:
    n, m = C1.shape[0], C2.shape[0]
    p, q = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    G0 = initial_plan(kind, p, q, start_rng(seed, epsilon, index))
    began = time.perf_counter()
    result = options.solve(C1, C2, p, q, epsilon, G0)
    start = StartResult(
        index=index,
        kind=kind,
        gw_dist=result.gw_dist,
        converged=result.converged,
        n_iter=result.n_iter,
        n_inner_iter=result.n_inner_iter,
        marginal_error=result.marginal_error,
        seconds=time.perf_counter() - began,
    )
    return start, result.plan


def solve_trial(
    C1: NDArray[np.float64] | LowRankRDM,
    C2: NDArray[np.float64] | LowRankRDM,
    epsilon: float,
    kinds: Sequence[str],
    seed: int,
    options: SolverOptions,
) -> TrialSolution:
    """Each start solved from scratch (no warm start across ε: it would make a trial's answer
    depend on which trials ran before it on that worker); the lowest GW distance wins, ties to
    the earlier start."""
    best_plan: NDArray[np.float64] | None = None
    best: StartResult | None = None
    starts = []
    for index, kind in enumerate(kinds):
        start, plan = solve_start(C1, C2, epsilon, kind, index, seed, options)
        starts.append(start)
        if best is None or start.gw_dist < best.gw_dist:
            best, best_plan = start, plan
    assert best is not None and best_plan is not None
    return TrialSolution(epsilon=epsilon, plan=best_plan, best=best, starts=starts)
