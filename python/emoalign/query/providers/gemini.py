"""Google Gemini ``models/{model}:generateContent`` (REST, v1beta).

Images and audio go as ``inline_data`` parts (base64), whose total size is capped by
``inline_limit_bytes`` (Gemini refuses inline requests over 20 MB); structured output is asked
for with ``generationConfig.responseMimeType = "application/json"`` and ``responseSchema``
(left out for free-text requests), which takes an OpenAPI 3.0 subset: upper-case type names,
no ``additionalProperties``, and ``propertyOrdering`` to keep the keys in the listed order. The
key goes in the ``x-goog-api-key`` header, never in the URL, so that it cannot leak through a
logged address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emoalign.query.providers.base import (
    PayloadTooLarge,
    ProtocolError,
    Provider,
    Reply,
    b64,
    image_bytes,
)
from emoalign.query.request import Audio, Image, Request, Text

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
# Google: for Gemini 3, keep the default temperature (1.0); lower values may cause looping.
_DEFAULT_TEMPERATURE_ONLY = ("gemini-3",)
# Gemini's documented cap on an inline (non-File-API) request.
DEFAULT_INLINE_LIMIT = 20 * 1024 * 1024

_KEPT_KEYWORDS = ("description", "enum", "minimum", "maximum", "minItems", "maxItems", "required")


def to_gemini_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Translate the JSON-Schema subset used by the tasks into Gemini's Schema object."""
    out: dict[str, Any] = {}
    if "type" in schema:
        out["type"] = str(schema["type"]).upper()
    for key in _KEPT_KEYWORDS:
        if key in schema:
            out[key] = schema[key]
    if "properties" in schema:
        out["properties"] = {k: to_gemini_schema(v) for k, v in schema["properties"].items()}
        out["propertyOrdering"] = list(schema["properties"])
    if "items" in schema:
        out["items"] = to_gemini_schema(schema["items"])
    return out


class GeminiProvider(Provider):
    name = "gemini"
    default_base_url = GEMINI_BASE_URL
    default_key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        inline_limit_bytes: int = DEFAULT_INLINE_LIMIT,
    ) -> None:
        super().__init__(model, base_url=base_url, api_key_env=api_key_env)
        if (
            not isinstance(inline_limit_bytes, int)
            or isinstance(inline_limit_bytes, bool)
            or inline_limit_bytes < 1
        ):
            raise ValueError(
                f"inline_limit_bytes must be a positive integer, got {inline_limit_bytes!r}"
            )
        self.inline_limit_bytes = inline_limit_bytes

    def default_temperature(self) -> float | None:
        bare = self.model.removeprefix("models/")
        return None if bare.startswith(_DEFAULT_TEMPERATURE_ONLY) else 0.0

    def url(self) -> str:
        return f"{self.base_url}/models/{self.model}:generateContent"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.key is not None:
            headers["x-goog-api-key"] = self.key.reveal()
        return headers

    def payload(self, request: Request, images: Mapping[str, bytes]) -> dict[str, Any]:
        contents = []
        inline = 0
        for turn in request.turns:
            parts: list[dict[str, Any]] = []
            for part in turn.parts:
                if isinstance(part, Text):
                    parts.append({"text": part.text})
                elif isinstance(part, (Image, Audio)):
                    data = b64(image_bytes(images, part.digest))
                    inline += len(data)
                    parts.append({"inline_data": {"mime_type": part.mime, "data": data}})
            # Checked before sending: the server would refuse it only after the upload.
            if inline > self.inline_limit_bytes:
                raise PayloadTooLarge(
                    f"the window's inline media take {inline / 2**20:.1f} MiB in base64, over "
                    f"Gemini's inline limit of {self.inline_limit_bytes / 2**20:.1f} MiB; use "
                    "shorter windows (window_seconds), fewer or smaller frames, or raise "
                    "inline_limit_bytes if your endpoint accepts more"
                )
            contents.append(
                {"role": "model" if turn.role == "assistant" else "user", "parts": parts}
            )
        config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
        if request.schema is not None:  # None: a free-text reply, no structured output
            config["responseMimeType"] = "application/json"
            config["responseSchema"] = to_gemini_schema(request.schema)
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.thinking_budget is not None:
            # Thinking tokens count against maxOutputTokens; 0 turns thinking off where the
            # model allows it, -1 lets the model decide.
            config["thinkingConfig"] = {"thinkingBudget": request.thinking_budget}
        return {"contents": contents, "generationConfig": config}

    def parse(self, body: Any) -> Reply:
        try:
            usage = body.get("usageMetadata") or {}
            candidates = body.get("candidates") or []
            truncated = bool(candidates) and candidates[0].get("finishReason") == "MAX_TOKENS"
            if candidates:
                parts = (candidates[0].get("content") or {}).get("parts") or []
                # Thinking models may return their thoughts as parts flagged "thought".
                text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
            else:
                # A blocked prompt has no candidates; the reason becomes the (invalid) reply.
                feedback = body.get("promptFeedback") or {}
                text = f"[no candidates: {feedback.get('blockReason', 'unknown reason')}]"
            return Reply(
                text=text,
                reply_id=str(body["responseId"]) if body.get("responseId") is not None else None,
                tokens_in=int(usage.get("promptTokenCount") or 0),
                tokens_out=int(usage.get("candidatesTokenCount") or 0)
                + int(usage.get("thoughtsTokenCount") or 0),
                truncated=truncated,
            )
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise ProtocolError(
                f"unexpected generateContent body ({type(exc).__name__}: {exc})"
            ) from None
