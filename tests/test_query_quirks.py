"""Today's model quirks against the scripted server: reasoning models that reject a temperature,
thinking tokens that cut replies at the output limit, Gemini's thinking budget, and retry delays
stated only in an error body."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from emoalign.cli import build_parser
from emoalign.query import QueryOptions, Usage
from emoalign.query.cache import Cache
from emoalign.query.engine import Engine, Outcome
from emoalign.query.providers import GeminiProvider, OpenAIProvider, Provider
from emoalign.query.request import Request, Text, Turn, cache_key
from emoalign.query.testing import Fail, FakeLLMServer, output_limit

FAST = dict(progress=False, backoff_initial=0.001, backoff_max=0.005, timeout=5.0)
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["joy", "fear"]}},
    "required": ["label"],
    "additionalProperties": False,
}


def request(max_tokens: int = 1024) -> Request:
    return Request(
        turns=(Turn("user", (Text("Which emotion?"),)),),
        schema=SCHEMA,
        schema_name="label",
        temperature=0.0,
        max_tokens=max_tokens,
    )


def parse(text: str) -> str:
    return json.loads(text)["label"]


def ask(
    provider: Provider,
    options: QueryOptions,
    cache: Cache | None = None,
    usage: Usage | None = None,
) -> Outcome[str]:
    async def main() -> Outcome[str]:
        async with Engine(provider, cache, options, usage or Usage()) as engine:
            return await engine.ask(request(options.max_tokens), parse)

    return asyncio.run(main())


def make(protocol: str, server: FakeLLMServer, model: str) -> Provider:
    if protocol == "openai":
        return OpenAIProvider(model, base_url=server.openai_url)
    return GeminiProvider(model, base_url=server.gemini_url)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer(fixed_temperature_models=("o4-mini", "gpt-5-mini"))
    with srv.running():
        yield srv


# -- temperature ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("o1", None),
        ("o3-mini", None),
        ("o4-mini-2025-04-16", None),
        ("gpt-5", None),
        ("gpt-5.1", None),
        ("gpt-5-mini", None),
        ("openai/gpt-5-nano", None),
        ("gpt-5-chat-latest", 0.0),
        ("gpt-4o", 0.0),
        ("gpt-4.1-mini", 0.0),
        ("omni-vision", 0.0),
        ("Qwen2-VL-7B-Instruct", 0.0),
    ],
)
def test_openai_reasoning_families_leave_temperature_out(
    model: str, expected: float | None
) -> None:
    provider = OpenAIProvider(model, base_url="http://127.0.0.1:9/v1")
    assert provider.default_temperature() == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gemini-3-pro-preview", None), ("models/gemini-3-flash", None), ("gemini-2.5-flash", 0.0)],
)
def test_gemini_3_keeps_its_default_temperature(model: str, expected: float | None) -> None:
    assert GeminiProvider(model, base_url="http://127.0.0.1:9/v1beta").default_temperature() == (
        expected
    )


def test_reasoning_model_is_asked_without_temperature(server: FakeLLMServer) -> None:
    outcome = ask(make("openai", server, "o4-mini"), QueryOptions(**FAST))
    assert (outcome.status, outcome.value) == ("ok", "joy")
    assert "temperature" not in server.requests[0].body


def test_a_temperature_given_to_a_reasoning_model_is_its_400(server: FakeLLMServer) -> None:
    # What every video ended as before "auto": the server rejects the key, and a 400 is final.
    outcome = ask(make("openai", server, "gpt-5-mini"), QueryOptions(**FAST, temperature=0.0))
    assert outcome.status == "error"
    assert outcome.error is not None and "HTTP 400" in outcome.error
    assert "temperature" in outcome.error and len(server.requests) == 1


@pytest.mark.parametrize(
    ("protocol", "temperature", "sent"),
    [
        ("openai", "auto", 0.0),
        ("openai", None, None),
        ("openai", 0.7, 0.7),
        ("gemini", "auto", 0.0),
        ("gemini", None, None),
    ],
)
def test_temperature_settings_reach_the_body(
    server: FakeLLMServer, protocol: str, temperature: object, sent: float | None
) -> None:
    model = "gpt-4o-mini" if protocol == "openai" else "gemini-2.5-flash"
    options = QueryOptions(**FAST, temperature=temperature)  # type: ignore[arg-type]
    assert ask(make(protocol, server, model), options).status == "ok"
    body = server.requests[0].body
    holder = body if protocol == "openai" else body["generationConfig"]
    assert holder.get("temperature", None) == sent
    assert ("temperature" in holder) == (sent is not None)


def test_omitted_temperature_is_its_own_cache_entry(server: FakeLLMServer) -> None:
    provider = make("openai", server, "gpt-4o-mini")
    zero = request().with_settings(temperature=0.0, max_tokens=1024, thinking_budget=None)
    omitted = request().with_settings(temperature=None, max_tokens=1024, thinking_budget=None)
    assert cache_key(provider.identity(), zero) != cache_key(provider.identity(), omitted)


# -- replies cut by the output limit ----------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "model"), [("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash")]
)
def test_cut_reply_is_asked_again_with_a_larger_limit(protocol: str, model: str) -> None:
    srv = FakeLLMServer(thinking_tokens=1500)  # thinks past the default 1024-token limit
    usage = Usage()
    with srv.running():
        # reasks=0: a cut reply is not an invalid one and spends none of the re-asks.
        outcome = ask(make(protocol, srv, model), QueryOptions(**FAST, reasks=0), usage=usage)
    assert (outcome.status, outcome.value) == ("ok", "joy")
    assert [output_limit(protocol, r.body) for r in srv.requests] == [1024, 2048]
    assert usage.invalid == 0 and usage.errors == 0 and usage.paid_replies == 2
    # Thinking is billed as output (Gemini reports it apart from the candidates): the whole
    # first limit, then 1500 thoughts and the 5-token answer.
    assert usage.tokens_out == 1024 + 1500 + len('{"label": "joy"}') // 4 + 1


def test_cut_at_the_cap_is_a_clear_error(tmp_path: Path) -> None:
    srv = FakeLLMServer(thinking_tokens=10_000)
    usage = Usage()
    with srv.running(), Cache(tmp_path / "c.sqlite") as cache:
        options = QueryOptions(**FAST, max_tokens_cap=4096)
        outcome = ask(make("gemini", srv, "gemini-2.5-pro"), options, cache, usage)
        assert [output_limit("gemini", r.body) for r in srv.requests] == [1024, 2048, 4096]
        assert outcome.status == "error" and outcome.raw == ""
        assert outcome.error == (
            "output limit: the reply was cut at max_tokens=4096 (finish_reason 'length' / "
            "MAX_TOKENS), the cap for re-asks (max_tokens_cap=4096); raise max_tokens_cap, or "
            "lower the model's thinking (thinking_budget for Gemini)"
        )
        assert usage.errors == 1 and usage.invalid == 0
        # The cut replies were paid for: a replay knows they were cut and asks nothing.
        again = ask(make("gemini", srv, "gemini-2.5-pro"), options, cache)
        assert (again.status, again.error) == (outcome.status, outcome.error)
        assert len(srv.requests) == 3


def test_cut_replies_replay_from_the_cache(tmp_path: Path) -> None:
    srv = FakeLLMServer(thinking_tokens=1500)
    with srv.running(), Cache(tmp_path / "c.sqlite") as cache:
        first = ask(make("openai", srv, "gpt-4o-mini"), QueryOptions(**FAST), cache)
        usage = Usage()
        second = ask(make("openai", srv, "gpt-4o-mini"), QueryOptions(**FAST), cache, usage)
    assert first.status == second.status == "ok" and len(srv.requests) == 2
    assert usage.requests == 0 and usage.cached_replies == 2


def test_an_old_cache_gains_the_cut_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, reply_id TEXT, "
            "tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, created REAL NOT NULL)"
        )
        db.execute("INSERT INTO replies VALUES ('k', '{}', 'r', 1, 2, 1700000000.0)")
    with Cache(path) as cache:
        reply = cache.get_reply("k")
    assert reply is not None and reply.truncated is False and reply.received == 1700000000.0


# -- Gemini thinking budget -------------------------------------------------------------------


def test_gemini_thinking_budget_is_sent_and_keyed() -> None:
    srv = FakeLLMServer(thinking_tokens=1500)
    with srv.running():
        outcome = ask(
            make("gemini", srv, "gemini-2.5-flash"), QueryOptions(**FAST, thinking_budget=0)
        )
    assert outcome.status == "ok" and len(srv.requests) == 1  # no thoughts, nothing cut
    assert srv.requests[0].body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    provider = GeminiProvider("gemini-2.5-flash", base_url="http://127.0.0.1:9/v1beta")
    budgets = {
        cache_key(
            provider.identity(),
            request().with_settings(temperature=0.0, max_tokens=1024, thinking_budget=b),
        )
        for b in (None, 0, 512)
    }
    assert len(budgets) == 3
    # Requests without a budget keep the keys that caches were written with.
    assert "thinking_budget" not in request().fingerprint()


# -- delays stated in error bodies ------------------------------------------------------------

RETRY_INFO = json.dumps(
    {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "DELAY"},
            ],
        }
    }
)


def _gap(srv: FakeLLMServer) -> float:
    assert len(srv.requests) == 2
    return srv.requests[1].received - srv.requests[0].received


def test_gemini_retry_info_is_honoured(server: FakeLLMServer) -> None:
    server.push(Fail(429, body=RETRY_INFO.replace("DELAY", "0.4s")))  # no Retry-After header
    usage = Usage()
    outcome = ask(make("gemini", server, "gemini-2.5-flash"), QueryOptions(**FAST), usage=usage)
    assert outcome.status == "ok" and usage.retries == 1
    # Generic backoff would have waited ~0.002 s; the body asked for 0.4 s (+ up to 10% jitter).
    assert 0.4 <= _gap(server) < 0.4 * 1.1 + 0.3


def test_body_delay_is_capped_like_retry_after(server: FakeLLMServer) -> None:
    server.push(Fail(429, body=RETRY_INFO.replace("DELAY", "30s")))
    options = QueryOptions(**FAST, retry_after_cap=0.3)
    assert ask(make("gemini", server, "gemini-2.5-flash"), options).status == "ok"
    assert 0.3 <= _gap(server) < 0.3 * 1.1 + 0.3


def test_openai_try_again_in_message_is_honoured(server: FakeLLMServer) -> None:
    message = (
        "Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): "
        "Limit 200000, Used 199800, Requested 900. Please try again in 350ms."
    )
    server.push(Fail(429, body=json.dumps({"error": {"message": message, "type": "tokens"}})))
    assert ask(make("openai", server, "gpt-4o-mini"), QueryOptions(**FAST)).status == "ok"
    assert 0.35 <= _gap(server) < 0.35 * 1.1 + 0.3


def test_a_header_wins_over_the_body(server: FakeLLMServer) -> None:
    server.push(Fail(429, {"retry-after-ms": "50"}, body=RETRY_INFO.replace("DELAY", "20s")))
    assert ask(make("gemini", server, "gemini-2.5-flash"), QueryOptions(**FAST)).status == "ok"
    assert 0.05 <= _gap(server) < 1.0


# -- options and the command line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": "hot"}, "temperature must be a number in \\[0, 2\\], 'auto' or None"),
        ({"temperature": True}, "temperature"),
        ({"max_tokens_cap": 512}, "max_tokens_cap must be an integer >= 1024"),
        ({"thinking_budget": -2}, "thinking_budget must be an integer >= -1"),
    ],
)
def test_options_reject_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QueryOptions(**kwargs)


def test_default_cap_is_eight_times_the_limit() -> None:
    assert QueryOptions(max_tokens=500).token_cap == 4000
    assert QueryOptions(max_tokens=500, max_tokens_cap=600).token_cap == 600


@pytest.mark.parametrize(
    ("argv", "temperature"),
    [([], "auto"), (["--temperature", "omit"], None), (["--temperature", "0.3"], 0.3)],
)
def test_cli_temperature_choices(argv: list[str], temperature: object) -> None:
    args = build_parser().parse_args(
        ["query", "v.mp4", "--provider", "gemini", "--model", "m", "--out", "o.parquet", *argv]
    )
    assert args.temperature == temperature


def test_cli_rejects_a_word_temperature(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["query", "v.mp4", "--provider", "openai", "--model", "m", "--out", "o.parquet"]
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--temperature", "warm"])
    assert "expected a number in [0, 2], 'auto' or 'omit', got 'warm'" in capsys.readouterr().err
