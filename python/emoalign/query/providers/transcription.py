"""OpenAI-compatible speech to text: ``POST {base_url}/audio/transcriptions`` (multipart form).

Spoken by OpenAI (``whisper-1``, ``gpt-4o-transcribe``), vLLM, faster-whisper-server / speaches
and whisper.cpp's server. One request per window's WAV; the reply's ``text`` is the transcript.
It is a :class:`Provider` like the chat APIs, so transcriptions are cached, retried and resumed
by the same engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from emoalign.query.providers.base import ProtocolError, Provider, Reply, image_bytes
from emoalign.query.providers.openai import OPENAI_BASE_URL
from emoalign.query.request import Audio, Request

# Fixed, so that equal requests encode to equal bodies; long enough never to occur in a WAV, and
# within RFC 2046's 70 characters.
_BOUNDARY = "emoalign-" + hashlib.sha256(b"emoalign multipart boundary").hexdigest()[:48]


class TranscriptionProvider(Provider):
    name = "transcribe"
    default_base_url = OPENAI_BASE_URL
    default_key_envs = ("OPENAI_API_KEY",)

    def url(self) -> str:
        return f"{self.base_url}/audio/transcriptions"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"}
        if self.key is not None:
            headers["Authorization"] = f"Bearer {self.key.reveal()}"
        return headers

    def payload(self, request: Request, images: Mapping[str, bytes]) -> dict[str, Any]:
        clips = [p for t in request.turns for p in t.parts if isinstance(p, Audio)]
        if len(clips) != 1:
            raise ValueError(f"a transcription request holds one audio clip, got {len(clips)}")
        payload: dict[str, Any] = {"model": self.model, "response_format": "json"}
        if request.temperature is not None:  # None: the server's default
            payload["temperature"] = str(request.temperature)
        payload["file"] = image_bytes(images, clips[0].digest)
        return payload

    def encode(self, payload: dict[str, Any]) -> bytes:
        """The multipart/form-data body: text fields, then the WAV as ``file``."""
        out = bytearray()
        for name, value in payload.items():
            out += f"--{_BOUNDARY}\r\n".encode()
            if isinstance(value, bytes):
                out += (
                    f'Content-Disposition: form-data; name="{name}"; filename="audio.wav"\r\n'
                    "Content-Type: audio/wav\r\n\r\n"
                ).encode()
                out += value
            else:
                out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()
            out += b"\r\n"
        out += f"--{_BOUNDARY}--\r\n".encode()
        return bytes(out)

    def parse(self, body: Any) -> Reply:
        try:
            text = body["text"]
            if not isinstance(text, str):
                raise TypeError(f"text is {type(text).__name__}")
            usage = body.get("usage") or {}
            return Reply(
                text=text,
                reply_id=None,
                tokens_in=int(usage.get("input_tokens") or 0),
                tokens_out=int(usage.get("output_tokens") or 0),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ProtocolError(
                f"unexpected transcription body ({type(exc).__name__}: {exc})"
            ) from None
