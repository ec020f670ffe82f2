"""The request engine: bounded concurrency, rate limits, retries, cache, validation re-asks.

``Engine.ask`` turns one ``Request`` into an ``Outcome``. Each HTTP reply is committed
to the cache before it is validated or shared (see ``replies``), so a re-ask chain
interrupted midway resumes from its last paid reply and a replay re-validates cached text without
any network call.

Transport failures (timeouts, resets, 429/5xx, malformed bodies) are retried by tenacity with
exponential backoff and jitter, or after the delay the server states: ``retry-after-ms`` /
``Retry-After`` headers, else a delay in the error body (Gemini's ``RetryInfo.retryDelay``,
OpenAI's "try again in 1.5s"). They are not cached: a later run tries again. Replies that fail
validation are paid for, so they are cached and re-asked a bounded number of times, then
recorded with their raw text.

A reply cut by the output-token limit (thinking models spend that budget on thoughts too) is not
an invalid answer: it is asked again, unchanged, with twice the limit, up to ``max_tokens_cap``,
and is recorded as an error naming the limit if it is still cut there.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

import aiohttp
import orjson
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from emoalign.query.bodies import Bodies
from emoalign.query.cache import Cache
from emoalign.query.cost import Usage
from emoalign.query.delays import body_retry_delay
from emoalign.query.providers.base import PayloadTooLarge, ProtocolError, Provider, Reply
from emoalign.query.replies import ReplyStore
from emoalign.query.request import Request, Text, cache_key
from emoalign.query.tasks import InvalidReply

T = TypeVar("T")

# Statuses worth another attempt; everything else in 4xx means the request itself is wrong.
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# Rough token cost of one image for the tokens/min limiter (Gemini bills 258 per image; OpenAI
# low-detail images cost 85, high-detail small ones a few hundred).
_TOKENS_PER_IMAGE = 260


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """How requests are sent. Defaults suit a paid API; tests shrink the delays."""

    concurrency: int = 16
    rpm: float | None = None  # requests per minute
    tpm: float | None = None  # tokens per minute (estimated before sending)
    repeats: int = 1
    # "auto": 0 where the model accepts it, else left out (reasoning models, Gemini 3); None: left
    # out; a number: sent as given.
    temperature: float | Literal["auto"] | None = "auto"
    max_tokens: int = 1024
    # A reply cut by max_tokens is asked again with twice the limit, up to this (None: 8 x).
    max_tokens_cap: int | None = None
    thinking_budget: int | None = None  # Gemini thinking tokens (0: off, -1: dynamic)
    timeout: float = 120.0  # seconds per HTTP attempt
    retries: int = 6  # extra attempts after a transient failure
    reasks: int = 2  # extra attempts after a reply that fails validation
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    retry_after_cap: float = 300.0  # never sleep longer than this on a server's say-so
    progress: bool | None = None  # None: show a bar when stderr is a terminal

    def __post_init__(self) -> None:
        _check_int("concurrency", self.concurrency, 1)
        _check_int("repeats", self.repeats, 1)
        _check_int("max_tokens", self.max_tokens, 1)
        _check_int("retries", self.retries, 0)
        _check_int("reasks", self.reasks, 0)
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if self.temperature not in ("auto", None) and not (
            isinstance(self.temperature, (int, float))
            and not isinstance(self.temperature, bool)
            and 0.0 <= self.temperature <= 2.0
        ):
            raise ValueError(
                f"temperature must be a number in [0, 2], 'auto' or None (leave it out), "
                f"got {self.temperature!r}"
            )
        if self.max_tokens_cap is not None:
            _check_int("max_tokens_cap", self.max_tokens_cap, self.max_tokens)
        if self.thinking_budget is not None:
            _check_int("thinking_budget", self.thinking_budget, -1)
        for name in ("timeout", "backoff_initial", "backoff_max", "retry_after_cap"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")

    @property
    def token_cap(self) -> int:
        """The largest output-token limit a cut reply is re-asked with."""
        return self.max_tokens_cap if self.max_tokens_cap is not None else 8 * self.max_tokens

    def for_provider(self, provider: Provider) -> QueryOptions:
        """These options with ``temperature="auto"`` decided for the provider's model."""
        if self.temperature != "auto":
            return self
        return replace(self, temperature=provider.default_temperature())


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class TransientError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestFailed(Exception):
    """A request the server rejected for good (4xx other than 408/409/425/429)."""


def output_limit_error(request: Request, cap: int) -> str:
    return (
        f"output limit: the reply was cut at max_tokens={request.max_tokens} (finish_reason "
        f"'length' / MAX_TOKENS), the cap for re-asks (max_tokens_cap={cap}); raise "
        "max_tokens_cap, or lower the model's thinking (thinking_budget for Gemini)"
    )


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    status: str  # "ok" | "invalid" | "error"
    value: T | None = None
    raw: str | None = None
    reply_id: str | None = None
    error: str | None = None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred, finer) or ``Retry-After``."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _exception(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def estimate_tokens(request: Request) -> int:
    chars = sum(len(p.text) for t in request.turns for p in t.parts if isinstance(p, Text))
    return chars // 4 + _TOKENS_PER_IMAGE * len(request.image_digests) + request.max_tokens


ImageLoader = Callable[[], Awaitable[Mapping[str, bytes]]]


class Engine:
    """Send requests to one provider. Use as ``async with Engine(...) as engine``."""

    def __init__(
        self, provider: Provider, cache: Cache | None, options: QueryOptions, usage: Usage
    ) -> None:
        self.provider = provider
        self.options = options.for_provider(provider)
        self.usage = usage
        self._identity = provider.identity()
        self._url = provider.url()
        self._semaphore = asyncio.Semaphore(options.concurrency)
        self._rpm = AsyncLimiter(options.rpm, 60) if options.rpm else None
        self._tpm = AsyncLimiter(options.tpm, 60) if options.tpm else None
        self._store = ReplyStore(cache) if cache is not None else None
        self._bodies = Bodies(provider, size=2 * options.concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[str, asyncio.Future[Reply]] = {}

    async def __aenter__(self) -> Engine:
        connector = aiohttp.TCPConnector(limit=self.options.concurrency)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            # The key is added per request from the provider, never stored on the session.
            raise_for_status=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._store is not None:
            self._store.close()  # replies whose callers were cancelled were still paid for
        if self._session is not None:
            await self._session.close()
            self._session = None

    def key(self, request: Request) -> str:
        return cache_key(self._identity, request)

    async def ask(
        self,
        request: Request,
        parse: Callable[[str], T],
        images: ImageLoader | None = None,
    ) -> Outcome[T]:
        """Send (or replay) ``request`` until ``parse`` accepts the reply or re-asks run out.

        The request is sent with this engine's temperature and thinking budget.
        """
        options = self.options
        request = request.with_settings(
            temperature=options.temperature,  # type: ignore[arg-type]  # decided in __init__
            max_tokens=request.max_tokens,
            thinking_budget=options.thinking_budget,
        )
        reason = ""
        reply: Reply | None = None
        attempts = 0
        while attempts <= options.reasks:
            try:
                reply = await self._reply(self.key(request), request, images)
            except (TransientError, RequestFailed, PayloadTooLarge) as exc:
                self.usage.errors += 1
                return Outcome("error", error=self.provider.redact(str(exc)))
            if reply.truncated:
                # Not the model's fault: the same question again with room to finish.
                larger = min(2 * request.max_tokens, options.token_cap)
                if larger <= request.max_tokens:
                    self.usage.errors += 1
                    return Outcome(
                        "error",
                        raw=self.provider.redact(reply.text),
                        reply_id=reply.reply_id,
                        error=output_limit_error(request, options.token_cap),
                    )
                request = request.with_settings(
                    temperature=request.temperature,
                    max_tokens=larger,
                    thinking_budget=request.thinking_budget,
                )
                continue
            attempts += 1
            try:
                value = parse(reply.text)
            except InvalidReply as exc:
                reason = str(exc)
                request = request.with_correction(reply.text, reason)
                continue
            return Outcome("ok", value=value, raw=reply.text, reply_id=reply.reply_id)
        self.usage.invalid += 1
        assert reply is not None  # the loop ran at least once
        return Outcome(
            "invalid",
            raw=self.provider.redact(reply.text),
            reply_id=reply.reply_id,
            error=f"invalid reply after {attempts} attempt(s): {reason}",
        )

    async def _reply(self, key: str, request: Request, images: ImageLoader | None) -> Reply:
        """The cached reply, else a new one; an identical request in flight shares its reply.

        Identical prompts (two samples with the same words, say) would otherwise both miss the
        cache and both be paid for. From the lookup until the new reply is committed the key stays
        in flight, so nothing else can look it up, ask for it, or use it before it is durable.
        """
        pending = self._inflight.get(key)
        if pending is not None:
            # shield: a cancelled waiter must not cancel the future the owner will resolve.
            reply = await asyncio.shield(pending)
            self.usage.add_cached(reply)
            return reply
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        paid = False
        try:
            reply = await self._store.get(key) if self._store is not None else None
            if reply is None:
                reply = await self._send(request, images)
                paid = True
                if self._store is not None:
                    await self._store.put(key, reply)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._inflight[key]
        future.set_result(reply)
        if paid:
            self.usage.add_paid(self.provider.model, reply)
        else:
            self.usage.add_cached(reply)
        return reply

    async def _send(self, request: Request, images: ImageLoader | None) -> Reply:
        needed = request.media_digests
        loaded: Mapping[str, bytes] = await images() if (needed and images is not None) else {}
        body = self._bodies.get(request, loaded)
        tokens = estimate_tokens(request) if self._tpm is not None else 0
        try:
            # Most requests succeed at once; tenacity is only set up for those that do not.
            return await self._attempt(body, tokens)
        except TransientError as exc:
            if self.options.retries == 0:
                raise
            first_failure = exc
        self.usage.retries += 1
        await asyncio.sleep(self._wait_after(first_failure, 1))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.options.retries),
            wait=lambda state: self._wait_after(_exception(state), state.attempt_number + 1),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
            before_sleep=self._count_retry,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(body, tokens)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _attempt(self, body: bytes, tokens: int) -> Reply:
        async with self._semaphore:
            if self._rpm is not None:
                await self._rpm.acquire()
            if self._tpm is not None:
                await self._tpm.acquire(min(tokens, self._tpm.max_rate))
            return await self._post(body)

    def _wait_after(self, exc: BaseException | None, failures: int) -> float:
        """Seconds to sleep after the ``failures``-th failed attempt."""
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            # Honour the server, plus a little jitter so that waiting clients do not return at once.
            return min(hinted, self.options.retry_after_cap) * (1.0 + 0.1 * random.random())
        # Exponential backoff plus full jitter.
        backoff = self.options.backoff_initial * 2 ** (failures - 1)
        return min(backoff, self.options.backoff_max) + random.uniform(
            0, self.options.backoff_initial
        )

    def _count_retry(self, state: RetryCallState) -> None:
        self.usage.retries += 1

    async def _post(self, body: bytes) -> Reply:
        assert self._session is not None, "use the engine inside 'async with'"
        self.usage.requests += 1
        try:
            async with self._session.post(
                self._url, data=body, headers=self.provider.headers()
            ) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = retry_after_seconds(resp.headers)
                if retry_after is None and status != 200:
                    retry_after = body_retry_delay(raw)
        except (TimeoutError, aiohttp.ClientError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise TransientError(self.provider.redact(f"{kind}: {exc}")) from None
        if status != 200:
            snippet = self.provider.redact(raw[:300].decode("utf-8", "replace"))
            message = f"HTTP {status} from {self.provider.name}: {snippet}"
            if status in _TRANSIENT_STATUS:
                raise TransientError(message, retry_after)
            raise RequestFailed(message)
        try:
            reply = self.provider.parse(orjson.loads(raw))
        except (ValueError, ProtocolError) as exc:
            raise TransientError(
                f"malformed response body: {self.provider.redact(str(exc))}"
            ) from None
        return reply
