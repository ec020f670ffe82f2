"""Delays that a server states in the body of an error instead of a ``Retry-After`` header.

Gemini signals an exhausted quota with HTTP 429 ``RESOURCE_EXHAUSTED`` and a
``google.rpc.RetryInfo`` detail whose ``retryDelay`` is a protobuf Duration (``"38s"``,
``"0.5s"``); OpenAI's rate-limit errors say "Please try again in 1.898s" (or ``20ms``,
``1m30s``) in the message. Either is honoured like a ``Retry-After`` header.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")  # protobuf Duration in JSON
# Longer unit names first, and no letter after one: "1m30s", "20ms", "2 minutes", "1.5 seconds".
_UNIT = r"(?:milliseconds?|ms|hours?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])"
_TRY_AGAIN = re.compile(rf"try again in\s+((?:\d+(?:\.\d+)?\s*{_UNIT}\s*)+)", re.IGNORECASE)
_PART = re.compile(rf"(\d+(?:\.\d+)?)\s*({_UNIT})", re.IGNORECASE)


def body_retry_delay(raw: bytes) -> float | None:
    """Seconds the error body asks the client to wait, or None if it states no delay."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    # Gemini's streaming endpoints wrap the error in a one-element list.
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    delay = _retry_info_delay(error.get("details"))
    if delay is None and isinstance(error.get("message"), str):
        delay = _message_delay(error["message"])
    return delay


def _retry_info_delay(details: Any) -> float | None:
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == RETRY_INFO:
            found = _DURATION.match(str(detail.get("retryDelay", "")))
            if found:
                return float(found.group(1))
    return None


def _message_delay(message: str) -> float | None:
    found = _TRY_AGAIN.search(message)
    if found is None:
        return None
    return sum(float(amount) * _unit_seconds(unit) for amount, unit in _PART.findall(found[1]))


def _unit_seconds(unit: str) -> float:
    unit = unit.lower()
    if unit == "ms" or unit.startswith("milli"):
        return 0.001
    return {"h": 3600.0, "m": 60.0, "s": 1.0}[unit[0]]
