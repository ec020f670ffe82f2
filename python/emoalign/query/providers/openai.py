"""OpenAI Chat Completions, and any server that speaks it (vLLM, Ollama, llama.cpp) via base_url.

Images go as ``image_url`` content parts holding base64 ``data:`` URLs and audio as ``input_audio``
parts (base64 WAV); structured output is asked for with
``response_format = {"type": "json_schema", "json_schema": {..., "strict": true}}``, and left out
for free-text requests (``schema=None``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emoalign.query.providers.base import ProtocolError, Provider, Reply, b64, image_bytes
from emoalign.query.request import Audio, Image, Request, Text

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Reasoning models (o1, o3, o4-mini, gpt-5 and its point releases) answer a temperature other than
# their default with HTTP 400; their "-chat" variants are ordinary chat models and accept one.
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)?(?:o\d+|gpt-5)(?:[.-](?!.*chat)|$)", re.IGNORECASE)


class OpenAIProvider(Provider):
    name = "openai"
    default_base_url = OPENAI_BASE_URL
    default_key_envs = ("OPENAI_API_KEY",)

    def default_temperature(self) -> float | None:
        return None if _REASONING_MODEL.match(self.model) else 0.0

    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.key is not None:
            headers["Authorization"] = f"Bearer {self.key.reveal()}"
        return headers

    def payload(self, request: Request, images: Mapping[str, bytes]) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        for turn in request.turns:
            if turn.role == "assistant":
                text = "".join(p.text for p in turn.parts if isinstance(p, Text))
                messages.append({"role": "assistant", "content": text})
                continue
            content: list[dict[str, Any]] = []
            for part in turn.parts:
                if isinstance(part, Text):
                    content.append({"type": "text", "text": part.text})
                elif isinstance(part, Image):
                    data = b64(image_bytes(images, part.digest))
                    url = f"data:{part.mime};base64,{data}"
                    content.append({"type": "image_url", "image_url": {"url": url}})
                elif isinstance(part, Audio):
                    data = b64(image_bytes(images, part.digest))
                    content.append(
                        {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
                    )
            messages.append({"role": "user", "content": content})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.schema,
                    "strict": True,
                },
            },
        }
        if request.schema is None:  # a free-text reply: no structured output
            del body["response_format"]
        # OpenAI deprecated max_tokens (reasoning models reject it); the compatible servers
        # (vLLM, Ollama, llama.cpp) document max_tokens.
        limit_key = "max_completion_tokens" if self.base_url == OPENAI_BASE_URL else "max_tokens"
        body[limit_key] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def parse(self, body: Any) -> Reply:
        try:
            choice = body["choices"][0]
            message = choice["message"]
            # A refusal comes with content null and the explanation in "refusal".
            text = message.get("content") or message.get("refusal") or ""
            usage = body.get("usage") or {}
            return Reply(
                text=str(text),
                reply_id=str(body["id"]) if body.get("id") is not None else None,
                tokens_in=int(usage.get("prompt_tokens") or 0),
                tokens_out=int(usage.get("completion_tokens") or 0),
                truncated=choice.get("finish_reason") == "length",
            )
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise ProtocolError(
                f"unexpected chat completion body ({type(exc).__name__}: {exc})"
            ) from None
