"""Refining the best entropic plan towards an unregularised GW solution.

Entropic GW at ε blurs the plan by about ε; the search picks ε for the landscape it gives, not
for sharpness. The refinement continues from the best plan at geometrically smaller ε, each solve
started from the previous plan, and keeps a step only while it lowers the GW distance (the
entropy-free loss the study ranks by). It never leaves the basin the search found, which is the
point: it sharpens that answer rather than replacing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from emoalign.alignment.solve import SolverOptions
from emoalign.factored import LowRankRDM


@dataclass(frozen=True)
class Refinement:
    plan: NDArray[np.float64]
    gw_dist: float
    epsilons: list[float]
    """The ε of each accepted step."""


def refine(
    C1: NDArray[np.float64] | LowRankRDM,
    C2: NDArray[np.float64] | LowRankRDM,
    plan: NDArray[np.float64],
    gw_dist: float,
    epsilon: float,
    options: SolverOptions,
    factor: float = 0.3,
    steps: int = 4,
) -> Refinement:
    p, q = plan.sum(axis=1), plan.sum(axis=0)
    p, q = p / p.sum(), q / q.sum()
    accepted: list[float] = []
    for _ in range(steps):
        epsilon *= factor
        result = options.solve(C1, C2, p, q, epsilon, plan)
        finite = bool(np.isfinite(result.plan).all())
        if not finite or result.marginal_error > 1e-3 or result.gw_dist >= gw_dist:
            break
        plan, gw_dist = result.plan, result.gw_dist
        accepted.append(epsilon)
    return Refinement(plan=plan, gw_dist=gw_dist, epsilons=accepted)
