"""Token usage and estimated cost of a run.

Prices are list prices in US dollars per million tokens (input, output) as published by the
providers in 2025; they change, so pass ``prices=`` to ``Usage`` for exact accounting. A
model missing from the table is counted in tokens with no cost estimate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from emoalign.query.providers.base import Reply

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
}


def price_for(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    """Exact match, else the longest table entry that prefixes the model (dated snapshots)."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


@dataclass
class Usage:
    """Counters for one or more runs; pass the same instance to accumulate."""

    prices: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    requests: int = 0  # HTTP attempts, including retried ones
    retries: int = 0
    paid_replies: int = 0
    cached_replies: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens_in: int = 0
    cached_tokens_out: int = 0
    invalid: int = 0
    errors: int = 0
    cost_usd: float | None = 0.0
    first_reply: float | None = None  # Unix time of the earliest reply used (paid or cached)
    last_reply: float | None = None
    _price_memo: dict[str, tuple[float, float] | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    def _dated(self, reply: Reply) -> None:
        # A reply without a recorded time has just arrived.
        when = reply.received if reply.received is not None else time.time()
        self.first_reply = when if self.first_reply is None else min(self.first_reply, when)
        self.last_reply = when if self.last_reply is None else max(self.last_reply, when)

    def add_paid(self, model: str, reply: Reply) -> None:
        self._dated(reply)
        self.paid_replies += 1
        self.tokens_in += reply.tokens_in
        self.tokens_out += reply.tokens_out
        if model not in self._price_memo:
            self._price_memo[model] = price_for(model, self.prices)
        price = self._price_memo[model]
        if price is None:
            self.cost_usd = None
        elif self.cost_usd is not None:
            self.cost_usd += (reply.tokens_in * price[0] + reply.tokens_out * price[1]) / 1e6

    def add_cached(self, reply: Reply) -> None:
        self._dated(reply)
        self.cached_replies += 1
        self.cached_tokens_in += reply.tokens_in
        self.cached_tokens_out += reply.tokens_out

    def summary(self) -> str:
        cost = (
            "unknown (model not in the price table)"
            if self.cost_usd is None
            else f"${self.cost_usd:.4f}"
        )
        return (
            f"{self.paid_replies} paid replies ({self.tokens_in} in / {self.tokens_out} out "
            f"tokens, est. cost {cost}), {self.cached_replies} from cache, {self.requests} HTTP "
            f"requests ({self.retries} retried), {self.invalid} invalid, {self.errors} failed"
        )
