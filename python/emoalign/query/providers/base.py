"""What a provider must do: turn a :class:`Request` into an HTTP call and a reply back into text.

API keys are read from the environment only, held in a :class:`Secret` whose ``repr`` hides the
value, and scrubbed from any text that could reach an exception, a log or a cache row.
"""

from __future__ import annotations

import base64
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from emoalign.query.request import Request


class Secret:
    """An API key that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    reply_id: str | None
    tokens_in: int
    tokens_out: int
    truncated: bool = False
    """The output-token limit cut the reply (``finish_reason: "length"``, ``MAX_TOKENS``)."""
    received: float | None = field(default=None, compare=False)
    """When the reply arrived (Unix seconds) as the cache recorded it, so that replays keep the
    date; None for a reply that has just arrived. Not part of equality."""


class ProtocolError(Exception):
    """A 200 response whose body is not what the protocol documents (treated as transient)."""


class PayloadTooLarge(ValueError):
    """A request whose media exceed what the provider accepts inline; fails that unit only."""


class Provider(ABC):
    """One HTTP API. Subclasses set the class variables and build/parse the JSON bodies."""

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    default_key_envs: ClassVar[tuple[str, ...]]

    def __init__(
        self, model: str, *, base_url: str | None = None, api_key_env: str | None = None
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be a non-empty model name, e.g. model='gpt-4o-mini'")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.model = model
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        envs = (api_key_env,) if api_key_env else self.default_key_envs
        value = next((os.environ[e] for e in envs if os.environ.get(e)), None)
        # Official endpoints need a key; a local server given with base_url usually does not.
        if value is None and (api_key_env or base_url is None):
            raise ValueError(
                f"no API key for provider {self.name!r}: set the environment variable "
                f"{' or '.join(envs)}, or name another variable with api_key_env"
            )
        self.key = Secret(value) if value else None

    def default_temperature(self) -> float | None:
        """The temperature sent when the caller leaves it to the model (None: omit the key).

        0 makes replies as repeatable as the API allows; subclasses omit it for models that
        reject or discourage any value but their own.
        """
        return 0.0

    def identity(self) -> str:
        """What, besides the request, decides the answer; never includes the key."""
        return f"{self.name}|{self.base_url}|{self.model}"

    def redact(self, text: str) -> str:
        return self.key.redact(text) if self.key else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def headers(self) -> dict[str, str]: ...

    @abstractmethod
    def payload(self, request: Request, images: Mapping[str, bytes]) -> dict[str, Any]: ...

    @abstractmethod
    def parse(self, body: Any) -> Reply: ...

    def encode(self, payload: dict[str, Any]) -> bytes:
        """The bytes posted for ``payload``: JSON, unless the API takes another form."""
        # orjson: the stdlib encoder took ~180 µs for a 7 kB body, orjson ~25 µs.
        return orjson.dumps(payload)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_bytes(images: Mapping[str, bytes], digest: str) -> bytes:
    try:
        return images[digest]
    except KeyError:
        raise KeyError(f"no image bytes supplied for frame digest {digest[:12]}") from None
