"""Provider-neutral request model and the cache key derived from it.

A request is a short conversation (user turn, and for re-asks the model's invalid reply plus a
correction) with a JSON schema and sampling parameters. Images are referenced by the digest of
their JPEG bytes so that a request can be keyed, and found in the cache, without any pixels.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Image:
    digest: str  # sha256 hex of the bytes; the bytes are supplied at send time
    mime: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class Audio:
    """A WAV clip, referenced like an image by the digest of the exact bytes sent."""

    digest: str
    mime: str = "audio/wav"


Part = Text | Image | Audio

# Tag of each media part in the canonical content. Requests without audio serialise exactly as
# before audio existed, so their cache keys (and existing caches) are unchanged.
_MEDIA_TAGS = {Image: "i", Audio: "a"}


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Request:
    turns: tuple[Turn, ...]
    schema: dict[str, Any] | None  # None: a free-text reply (stage-1 descriptions, fusion)
    schema_name: str
    temperature: float | None  # None: the key is left out and the model uses its default
    max_tokens: int
    # Part of the key only: it makes repeated samples of the same prompt distinct cache entries.
    repeat: int = 0
    thinking_budget: int | None = None  # Gemini's thinkingConfig.thinkingBudget; None: unset
    _content: tuple[str, str] | None = field(default=None, compare=False, repr=False)
    _fingerprint: str | None = field(default=None, compare=False, repr=False)

    @property
    def image_digests(self) -> list[str]:
        return [p.digest for t in self.turns for p in t.parts if isinstance(p, Image)]

    @property
    def media_digests(self) -> list[str]:
        """Digests of every image and audio part: the bytes a body needs."""
        return [p.digest for t in self.turns for p in t.parts if not isinstance(p, Text)]

    def content(self) -> tuple[str, str]:
        """Canonical JSON of what decides the answer apart from ``repeat``, and of the schema.

        Requests that differ only in ``repeat`` have equal content: they send the same body.
        Computed once and shared by the copies ``for_repeat`` makes.
        """
        if self._content is None:
            turns = [
                [
                    t.role,
                    [
                        ["t", p.text]
                        if isinstance(p, Text)
                        else [_MEDIA_TAGS[type(p)], p.digest, p.mime]
                        for p in t.parts
                    ],
                ]
                for t in self.turns
            ]
            doc: list[Any] = [turns, self.schema_name, self.temperature, self.max_tokens]
            if self.thinking_budget is not None:
                # Only when set, so that the keys of requests without one stay as they were.
                doc.append({"thinking_budget": self.thinking_budget})
            text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
            object.__setattr__(self, "_content", (text, canonical_schema(self.schema)))
        return self._content  # type: ignore[return-value]

    def fingerprint(self) -> str:
        """Canonical JSON of everything in the request that decides the answer."""
        if self._fingerprint is None:
            doc, schema = self.content()
            # Byte for byte the JSON of [turns, name, temperature, max_tokens, repeat] that keyed
            # the cache before content() was split out, so existing caches still hit.
            text = f"{doc[:-1]},{self.repeat}]|{schema}"
            object.__setattr__(self, "_fingerprint", text)
        return self._fingerprint  # type: ignore[return-value]

    def for_repeat(self, repeat: int) -> Request:
        """The same prompt as sample ``repeat``, sharing the content computed once for all."""
        self.content()
        return replace(self, repeat=repeat, _fingerprint=None)

    def with_settings(
        self, *, temperature: float | None, max_tokens: int, thinking_budget: int | None
    ) -> Request:
        """The same conversation sent with other sampling settings (itself if they are equal)."""
        if (temperature, max_tokens, thinking_budget) == (
            self.temperature,
            self.max_tokens,
            self.thinking_budget,
        ):
            return self
        return replace(
            self,
            temperature=temperature,
            max_tokens=max_tokens,
            thinking_budget=thinking_budget,
            _content=None,
            _fingerprint=None,
        )

    def with_correction(self, raw_reply: str, reason: str) -> Request:
        """The conversation extended by the invalid reply and a request to fix it."""
        if self.schema is None:
            correction = f"Your reply could not be used: {reason}. Please answer again."
        else:
            correction = (
                f"Your reply could not be used: {reason}. Reply again with only a JSON value "
                "that follows the requested schema exactly."
            )
        turns = (
            *self.turns,
            Turn("assistant", (Text(raw_reply),)),
            Turn("user", (Text(correction),)),
        )
        return replace(self, turns=turns, _content=None, _fingerprint=None)


# Canonical JSON of schemas seen, by identity: every request of a study shares one schema object,
# and serialising it with sorted keys for each request was the largest cost of keying.
_SCHEMA_MEMO: dict[int, tuple[dict[str, Any], str]] = {}


def canonical_schema(schema: dict[str, Any] | None) -> str:
    hit = _SCHEMA_MEMO.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(_SCHEMA_MEMO) >= 256:  # schemas built per request (not via a Task) must not pile up
        _SCHEMA_MEMO.clear()
    _SCHEMA_MEMO[id(schema)] = (schema, text)
    return text


# hashlib lets go of the GIL to hash 2 KiB or more at once. For a ~4 kB fingerprint that buys
# nothing (~20 µs of hashing) and hands the GIL to a frame-decoding thread, which may keep it for
# the whole 5 ms switch interval: keys took 270 µs on average in the requests/s benchmark. The
# same bytes fed in shorter slices hash without letting go.
_HASH_SLICE = 2047


def cache_key(provider_identity: str, request: Request) -> str:
    """SHA-256 over the provider identity (name, endpoint, model) and the request fingerprint."""
    data = memoryview(f"{provider_identity}\x00{request.fingerprint()}".encode())
    h = hashlib.sha256()
    for start in range(0, len(data), _HASH_SLICE):
        h.update(data[start : start + _HASH_SLICE])
    return h.hexdigest()
