"""How the report writes numbers: one precision per kind of quantity, used by every table,
figure and sentence, so that the same value never appears with two roundings."""

from __future__ import annotations

import math

PERCENT_DECIMALS = 1
R_DECIMALS = 3


def percent(value: float | None) -> str:
    """A rate in percent, one decimal (``95.8``); '—' when missing."""
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.{PERCENT_DECIMALS}f}"


def interval(bounds: tuple[float, float]) -> str:
    """A percent interval, ``[91.2, 98.9]``."""
    return f"[{percent(bounds[0])}, {percent(bounds[1])}]"


def correlation(value: float | None) -> str:
    """A correlation coefficient, three decimals."""
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.{R_DECIMALS}f}"


def epsilon(value: float) -> str:
    """ε, three significant digits (``0.00125``)."""
    return f"{value:.3g}"


def distance(value: float | None) -> str:
    """A GW distance, four significant digits."""
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.4g}"


def seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.2f}"


def p_value(p: float | None, permutations: int) -> str:
    """A permutation p-value, written as a bound when no permutation reached the statistic.

    With ``permutations`` permutations and the observed statistic counted among them the smallest
    possible p is 1 / (permutations + 1); that floor is written ``< 0.001 (999 permutations)``
    (a round bound above the floor), or ``≤ 0.01`` when the floor is itself round.
    """
    if p is None:
        return "not tested"
    floor = 1.0 / (permutations + 1)
    runs = f"{permutations:,} permutations"
    if p <= floor * (1 + 1e-9):
        bound = 10.0 ** math.ceil(math.log10(floor))
        if bound > floor * (1 + 1e-9):
            return f"< {bound:g} ({runs})"
        return f"≤ {floor:g} ({runs})"
    return f"{p:.3f} ({runs})" if p >= 0.001 else f"{p:.2g} ({runs})"
