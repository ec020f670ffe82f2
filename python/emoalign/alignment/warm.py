"""Warm starts: the plans of finished trials, kept to start the next trial at a nearby ε.

Entropic GW's fixed point moves little between nearby ε, so a trial started from the plan of the
finished trial nearest in log ε converges in fewer iterations: 10–50% fewer on the Cowen &
Keltner RDMs (n = 2185, ε in [1e-3, 1e-2]), reaching the same GW distance (to 1e-9) and the
same matching rates as a random start there. It is an extra start, not a replacement: a chain of
warm starts stays in the basins its first trials found, and on multimodal problems the random
starts at each ε are what finds the best one. Off by default (see ``align``'s ``warm_start``).

A warm-started trial depends on which trials finished before it on the same worker; the trials
table records its source (``warm_from``), and a plan recomputed for the report follows that chain
back to its cold start. Plans are kept in memory, within a byte budget: when it is full, the plan
whose ε is closest to another kept plan's goes, so the kept ones stay spread over the range.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DEFAULT_BUDGET = 1 << 30


@dataclass(frozen=True)
class WarmStart:
    number: int
    """The finished trial the plan comes from."""
    epsilon: float
    plan: NDArray[np.floating]


class WarmStarts:
    """Finished trials' plans by ε, for the nearest-ε lookup; thread-safe."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET) -> None:
        self.budget = budget_bytes
        self._kept: list[WarmStart] = []
        self._lock = threading.Lock()

    def add(self, number: int, epsilon: float, plan: NDArray[np.floating]) -> None:
        if plan.nbytes > self.budget:
            return
        with self._lock:
            self._kept.append(WarmStart(number, epsilon, plan))
            while sum(w.plan.nbytes for w in self._kept) > self.budget:
                self._kept.pop(self._most_crowded())

    def nearest(self, epsilon: float) -> WarmStart | None:
        """The kept plan nearest to ``epsilon`` in log ε (ties: the earlier trial), or None."""
        with self._lock:
            if not self._kept:
                return None
            return min(self._kept, key=lambda w: (abs(math.log(w.epsilon / epsilon)), w.number))

    def _most_crowded(self) -> int:
        logs = [math.log(w.epsilon) for w in self._kept]
        gaps = [
            min((abs(a - b) for j, b in enumerate(logs) if j != i), default=math.inf)
            for i, a in enumerate(logs)
        ]
        return int(np.argmin(gaps))
