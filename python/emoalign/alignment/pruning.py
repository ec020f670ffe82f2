"""Stopping a start early once it has settled where it cannot beat the best GW distance found.

A study keeps the plan with the lowest GW distance, so a start whose distance has stopped
falling at or above the best one so far cannot win: not the trial (its other starts, the warm
one among them), and not the study. On the Cowen & Keltner RDMs the GW distance
settles to five digits within 15–20 outer iterations, while the plan takes 55–120 to meet the
study's tolerance: a start that will lose costs most of its time after its outcome is known.

The rule is a forecast, so it is built to err on the side of solving on. After every outer
iteration the solver reports the GW distance of its current plan (``entropic_gw``'s
``gw_value``). A start is abandoned only when all of these hold:

* it has run ``min_iter`` iterations;
* the plan's relative change has shrunk at every one of the last ``window`` iterations and is
  below ``settled_change``: the iteration is contracting onto a fixed point. Passing near a
  saddle, the distance can look settled for a few iterations while the plan's change is still
  around 1e-2, and then fall again as the change grows (seen on a 40-video study: settled at
  0.00986 by the forecast at iteration 18, with the change at 1.6e-2; it grew from iteration 19
  and the start ended at 0.00934, the study's best);
* its distance, less ``reach_margin`` times the fall still to come, would still improve on the
  best distance by less than ``improvement`` (relative: 1e-4 by default, far below the
  differences between ε that a study resolves, and above the 1e-9 at which two starts reaching
  the same fixed point agree). The fall still to come is forecast as for a linear rate: the last
  fall times ρ / (1 − ρ), with ρ the slowest ratio of successive falls in the window; where the
  distance wobbles instead of falling (the inner solver's noise), as ``reach_margin`` times the
  wobble. A start whose falls are not shrinking (ρ ≥ ``max_rate``) is never abandoned.

Measured on the Cowen & Keltner RDMs, a start's distance settles to 1e-4 by iteration 15–20
of 55–120, and its plan's change falls below 1e-3 by iteration 20–30.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field


class StartAbandoned(Exception):
    """Raised from the solver's callback to stop a start that cannot beat the best distance."""

    def __init__(self, iteration: int, value: float, best: float) -> None:
        super().__init__(
            f"abandoned at iteration {iteration}: GW distance {value:.6g} cannot beat the "
            f"best {best:.6g}"
        )
        self.iteration = iteration
        self.value = value


@dataclass(frozen=True)
class PruneRule:
    """When a start counts as settled where it cannot beat the best distance (see the module)."""

    improvement: float = 1e-4
    min_iter: int = 10
    window: int = 5
    settled_change: float = 1e-3
    reach_margin: float = 3.0
    max_rate: float = 0.95

    def __post_init__(self) -> None:
        if not (math.isfinite(self.improvement) and 0 <= self.improvement < 1):
            raise ValueError(
                f"prune must be True, False or a relative improvement in [0, 1) such as 1e-4, "
                f"got {self.improvement!r}"
            )
        if self.window < 2 or self.min_iter < self.window + 1:
            raise ValueError("prune window must be >= 2 and min_iter > window")

    def forecast(self, values: list[float]) -> float | None:
        """The lowest distance the start can still reach, or None if it is not settling."""
        recent = values[-(self.window + 1) :]
        if any(b > a for a, b in itertools.pairwise(recent)):
            # Not monotone: near its fixed point the distance wobbles at the level the inner
            # Sinkhorn's tolerance leaves (1e-8 relative on the C&K RDMs, alternating between
            # long and short projections), and successive falls say nothing about a rate.
            # Take the wobble itself as what is left to fall.
            spread = max(recent) - min(recent)
            return min(recent) - self.reach_margin * spread
        falls = [a - b for a, b in itertools.pairwise(recent)]
        if falls[-1] == 0.0:
            return recent[-1]
        rates = [b / a if a > 0 else math.inf for a, b in itertools.pairwise(falls)]
        rate = max(rates)
        if not rate < self.max_rate:
            return None
        return recent[-1] - self.reach_margin * falls[-1] * rate / (1.0 - rate)

    def cannot_win(self, values: list[float], changes: list[float], best: float) -> bool:
        if len(values) < self.min_iter or not all(map(math.isfinite, values[-self.window :])):
            return False
        recent = changes[-self.window :]
        contracting = all(b < a for a, b in itertools.pairwise(recent))
        if not (contracting and recent[-1] <= self.settled_change):
            return False  # still moving, or maybe leaving a saddle
        floor = self.forecast(values)
        return floor is not None and floor > best - self.improvement * abs(best)


@dataclass
class StartWatch:
    """The solver callback of one start: abandons it when ``rule`` says so against ``best()``.


    ``best`` is the lowest distance known elsewhere (finished trials, the trial's earlier
    starts), or None while there is none; it is looked up every ``refresh`` iterations.
    """

    rule: PruneRule
    best: Callable[[], float | None]
    refresh: int = 10
    values: list[float] = field(default_factory=list)
    changes: list[float] = field(default_factory=list)
    _best: float | None = None

    def __call__(
        self, iteration: int, change: float, marginal: float, inner: int, gw_value: float
    ) -> None:
        self.values.append(gw_value)
        self.changes.append(change)
        if len(self.values) < self.rule.min_iter:
            return
        if self._best is None or iteration % self.refresh == 0:
            self._best = self.best()
        if self._best is not None and self.rule.cannot_win(self.values, self.changes, self._best):
            raise StartAbandoned(iteration, gw_value, self._best)
