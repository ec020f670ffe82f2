"""A local stand-in for the model APIs, for tests, benchmarks and dry runs.

``FakeLLMServer`` speaks OpenAI Chat Completions (``POST /v1/chat/completions``) and Gemini
``POST /v1beta/models/{model}:generateContent`` on 127.0.0.1 (and OpenAI's speech to text,
``POST /v1/audio/transcriptions``), records every request, and answers
with JSON generated from the request's schema (or from a ``responder``). Queued actions make it
misbehave, one action per incoming request: error statuses with ``Retry-After``, connection
resets, non-JSON bodies, chosen reply text (malformed or schema-breaking JSON), and delays.

It can also play today's model quirks: ``thinking_tokens`` makes it a thinking model whose
thoughts count against the request's output limit (a reply that does not fit comes back empty with
``finish_reason: "length"`` / ``MAX_TOKENS``; Gemini's ``thinkingBudget`` caps the thoughts), and
``fixed_temperature_models`` reject any ``temperature`` with HTTP 400, as OpenAI's reasoning
models do.

Run ``python -m emoalign.query.testing`` to serve until interrupted (prints the two base URLs).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiohttp import web

Responder = Callable[[str, dict[str, Any]], str]


@dataclass(frozen=True)
class Fail:
    """Answer with this status (e.g. 429 with ``{"Retry-After": "0.01"}``)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"error": {"message": "scripted failure"}}'


@dataclass(frozen=True)
class Delay:
    """Wait this long, then answer normally (longer than the client timeout = a timeout)."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Drop the connection without answering."""


@dataclass(frozen=True)
class Garbage:
    """Answer 200 with a body that is not JSON."""


@dataclass(frozen=True)
class Say:
    """Answer 200 with this reply text instead of the generated one."""

    text: str


Action = Fail | Delay | Reset | Garbage | Say


@dataclass(frozen=True)
class Recorded:
    protocol: str  # "openai" | "gemini"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received: float = 0.0  # time.monotonic() on arrival


def schema_answer(schema: dict[str, Any]) -> Any:
    """A value that satisfies a (JSON or Gemini-style) schema: midpoints, first enum values."""
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        return {k: schema_answer(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [schema_answer(schema.get("items", {"type": "string"}))]
    if kind in ("number", "integer"):
        lo, hi = schema.get("minimum", 0), schema.get("maximum", 1)
        mid = (lo + hi) / 2
        return int(mid) if kind == "integer" else mid
    if kind == "boolean":
        return True
    return schema["enum"][0] if schema.get("enum") else "calm"


def request_schema(protocol: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the body asks for, or None for a free-text request."""
    if protocol == "openai":
        fmt = body.get("response_format")
        return fmt["json_schema"]["schema"] if fmt else None
    return body["generationConfig"].get("responseSchema")


def request_text(protocol: str, body: dict[str, Any]) -> str:
    """All text parts of the body's last user turn, joined by newlines."""
    if protocol == "openai":
        content = body["messages"][-1]["content"]
        return "\n".join(p["text"] for p in content if p.get("type") == "text")
    return "\n".join(p["text"] for p in body["contents"][-1]["parts"] if "text" in p)


def default_responder(protocol: str, body: dict[str, Any]) -> str:
    schema = request_schema(protocol, body)
    if schema is None:
        # A free-text reply that names its prompt, so tests can trace what fed what.
        digest = hashlib.sha256(request_text(protocol, body).encode()).hexdigest()[:12]
        return f"Reply {digest}: the person appears calm and slightly tense."
    return json.dumps(schema_answer(schema))


def count_images(protocol: str, body: dict[str, Any]) -> int:
    if protocol == "openai":
        return sum(
            1
            for m in body["messages"]
            if isinstance(m["content"], list)
            for p in m["content"]
            if p.get("type") == "image_url"
        )
    return sum(1 for c in body["contents"] for p in c["parts"] if "inline_data" in p)


class FakeLLMServer:
    """Loopback server for both protocols; see the module docstring."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        record: bool = True,
        latency: float = 0.0,
        thinking_tokens: int = 0,
        fixed_temperature_models: tuple[str, ...] = (),
    ) -> None:
        self.responder = responder or default_responder
        self.record = record
        self.latency = latency  # seconds every normal reply waits (a slow model)
        self.thinking_tokens = thinking_tokens
        self.fixed_temperature_models = fixed_temperature_models
        self.requests: list[Recorded] = []
        self.answered = 0  # replies fully produced (status 200 with a body)
        self._script: deque[Action] = deque()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- scripting ---------------------------------------------------------------------------
    def push(self, *actions: Action) -> None:
        """Queue actions; each incoming request consumes one (FIFO), then answers are normal."""
        self._script.extend(actions)

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def gemini_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"

    # -- serving -----------------------------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1beta/models/{target}", self._gemini)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        # handler_cancellation: a client that gave up (timeout) stops its scripted delay too.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextmanager
    def running(self) -> Iterator[FakeLLMServer]:
        """Serve from a background thread (for synchronous callers such as ``query``)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        thread = threading.Thread(target=self._serve_thread, args=(loop, started), daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake server did not start within 10 s")
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    def _serve_thread(self, loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self.start())
        started.set()
        loop.run_forever()

    # -- handlers ----------------------------------------------------------------------------
    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._handle("openai", request)

    async def _transcribe(self, request: web.Request) -> web.StreamResponse:
        """Multipart form in; ``{"text": ...}`` out, naming the WAV's digest so tests can trace it.

        Recorded with protocol ``transcribe`` and the form fields as the body (the file as bytes).
        """
        form = await request.post()
        body: dict[str, Any] = {}
        for name, value in form.items():
            body[name] = value.file.read() if isinstance(value, web.FileField) else str(value)
        if self.record:
            self.requests.append(
                Recorded("transcribe", request.path, dict(request.headers), body, time.monotonic())
            )
        action = self._script.popleft() if self._script else None
        if isinstance(action, Fail):
            return web.Response(status=action.status, text=action.body, headers=action.headers)
        wav = body.get("file")
        if not isinstance(wav, bytes):
            return web.json_response({"error": "no file"}, status=400)
        self.answered += 1
        return web.json_response({"text": f"words {hashlib.sha256(wav).hexdigest()[:12]}"})

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        if not request.match_info["target"].endswith(":generateContent"):
            return web.json_response({"error": "unknown method"}, status=404)
        return await self._handle("gemini", request)

    async def _handle(self, protocol: str, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"error": "request body is not JSON"}, status=400)
        if self.record:
            self.requests.append(
                Recorded(protocol, request.path, dict(request.headers), body, time.monotonic())
            )
        action = self._script.popleft() if self._script else None
        text: str | None = None
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
        elif isinstance(action, Fail):
            return web.Response(
                status=action.status,
                text=action.body,
                headers=action.headers,
                content_type="application/json",
            )
        elif isinstance(action, Reset):
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        elif isinstance(action, Garbage):
            return web.Response(text="<html>upstream hiccup", content_type="text/html")
        elif isinstance(action, Say):
            text = action.text
        if (
            protocol == "openai"
            and "temperature" in body
            and body.get("model") in self.fixed_temperature_models
        ):
            return web.json_response(_UNSUPPORTED_TEMPERATURE, status=400)
        if text is None:
            text = self.responder(protocol, body)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        self.answered += 1
        prompt_tokens = 50 + 258 * count_images(protocol, body)
        thoughts = self._thoughts(protocol, body)
        out_tokens = len(text) // 4 + 1
        limit = output_limit(protocol, body)
        cut = thoughts + out_tokens > limit
        if cut:
            # The limit ran out while thinking or answering: nothing usable comes back, and the
            # whole limit was spent (billed).
            thoughts = min(thoughts, int(limit))
            text, out_tokens = "", int(limit) - thoughts
        n = next(self._ids)
        if protocol == "openai":
            reply: dict[str, Any] = {
                "id": f"chatcmpl-fake{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "length" if cut else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": thoughts + out_tokens,
                    "total_tokens": prompt_tokens + thoughts + out_tokens,
                    "completion_tokens_details": {"reasoning_tokens": thoughts},
                },
            }
        else:
            # A cut Gemini reply has a content without parts.
            content: dict[str, Any] = {"role": "model"}
            if not cut:
                content["parts"] = [{"text": text}]
            reply = {
                "candidates": [
                    {"content": content, "finishReason": "MAX_TOKENS" if cut else "STOP"}
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": out_tokens,
                    "thoughtsTokenCount": thoughts,
                    "totalTokenCount": prompt_tokens + thoughts + out_tokens,
                },
                "responseId": f"gemini-fake{n}",
            }
        return web.json_response(reply)

    def _thoughts(self, protocol: str, body: dict[str, Any]) -> int:
        """Tokens this reply spends thinking (Gemini's thinkingBudget caps them; -1: no cap)."""
        if protocol == "gemini":
            budget = body["generationConfig"].get("thinkingConfig", {}).get("thinkingBudget")
            if budget is not None and budget >= 0:
                return min(self.thinking_tokens, budget)
        return self.thinking_tokens


# What OpenAI answers when a reasoning model is sent a temperature.
_UNSUPPORTED_TEMPERATURE = {
    "error": {
        "message": "Unsupported value: 'temperature' does not support 0.0 with this model. Only "
        "the default (1) value is supported.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_value",
    }
}


def output_limit(protocol: str, body: dict[str, Any]) -> float:
    """The request's output-token limit (unlimited when it sets none)."""
    if protocol == "openai":
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
    else:
        limit = body["generationConfig"].get("maxOutputTokens")
    return float("inf") if limit is None else limit


def write_test_video(
    path: str | Path,
    *,
    seconds: float = 1.0,
    fps: int = 10,
    size: tuple[int, int] = (32, 24),
    seed: int = 0,
    audio: bool = False,
) -> Path:
    """A small MPEG-4 video whose frames differ by index and, for seeds below 65,536, by seed.

    ``audio`` adds an AAC track (16 kHz mono) of a tone whose pitch depends on the seed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        for i in range(max(1, round(seconds * fps))):
            # The frame index tints the background; the seed's 16 low bits are drawn as white
            # blocks on a 4 x 4 grid, a pattern lossy coding cannot confuse with another seed.
            pixels = np.empty((height, width, 3), dtype=np.uint8)
            pixels[:] = ((i * 23) % 256, 96, 160)
            for bit in range(16):
                if seed >> bit & 1:
                    r, c = divmod(bit, 4)
                    rows = slice(r * height // 4, (r + 1) * height // 4)
                    pixels[rows, c * width // 4 : (c + 1) * width // 4] = 255
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            t = np.arange(round(16000 * seconds)) / 16000
            tone = (6000 * np.sin(2 * np.pi * (200 + 10 * (seed % 64)) * t)).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, 0
            for packet in sound.encode(frame):
                container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = FakeLLMServer(record=False)
        await server.start(args.port)
        print(f"openai {server.openai_url}\ngemini {server.gemini_url}", flush=True)
        await asyncio.Event().wait()

    with suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
