"""HTTP providers: OpenAI-compatible Chat Completions and Google Gemini generateContent."""

from __future__ import annotations

from emoalign.query.providers.base import (
    PayloadTooLarge,
    ProtocolError,
    Provider,
    Reply,
    Secret,
)
from emoalign.query.providers.gemini import GeminiProvider
from emoalign.query.providers.openai import OpenAIProvider
from emoalign.query.providers.transcription import TranscriptionProvider

PROVIDERS: dict[str, type[Provider]] = {"openai": OpenAIProvider, "gemini": GeminiProvider}


def make_provider(
    provider: str | Provider,
    model: str | None = None,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    inline_limit_bytes: int | None = None,
) -> Provider:
    """A provider instance from its name (``openai`` or ``gemini``), or the instance itself.

    ``inline_limit_bytes`` caps Gemini's inline media per request (default 20 MiB).
    """
    if isinstance(provider, Provider):
        if (
            model is not None
            or base_url is not None
            or api_key_env is not None
            or inline_limit_bytes is not None
        ):
            raise ValueError(
                "pass model, base_url and api_key_env to the provider's constructor, not "
                "alongside a provider instance"
            )
        return provider
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    if model is None:
        raise ValueError("model is required, e.g. model='gpt-4o-mini'")
    if inline_limit_bytes is not None:
        if provider != "gemini":
            raise ValueError("inline_limit_bytes applies to provider='gemini' only")
        return GeminiProvider(
            model, base_url=base_url, api_key_env=api_key_env, inline_limit_bytes=inline_limit_bytes
        )
    return PROVIDERS[provider](model, base_url=base_url, api_key_env=api_key_env)


__all__ = [
    "PROVIDERS",
    "GeminiProvider",
    "OpenAIProvider",
    "PayloadTooLarge",
    "ProtocolError",
    "Provider",
    "Reply",
    "Secret",
    "TranscriptionProvider",
    "make_provider",
]
