"""The reply store: lookups and commits in batches, yet no reply used before it is durable."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from emoalign.query import QueryOptions, Usage
from emoalign.query.cache import Cache
from emoalign.query.engine import Engine
from emoalign.query.providers import OpenAIProvider
from emoalign.query.providers.base import Reply
from emoalign.query.replies import ReplyStore
from emoalign.query.request import Request, Text, Turn
from emoalign.query.testing import FakeLLMServer


def reply(i: int) -> Reply:
    return Reply(f'{{"n": {i}}}', f"id{i}", 10, 2)


def stored_keys(path: Path) -> set[str]:
    # A second connection sees only committed transactions: what a kill -9 would leave.
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT key FROM replies")}


class CountingCache(Cache):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions = 0
        self.selects = 0

    def put_replies(self, replies: Sequence[tuple[str, Reply]]) -> None:
        self.transactions += 1
        super().put_replies(replies)

    def get_replies(self, keys: Sequence[str]) -> dict[str, Reply]:
        self.selects += 1
        return super().get_replies(keys)


def test_each_put_returns_once_committed_and_concurrent_puts_share_a_transaction(
    tmp_path: Path,
) -> None:
    cache = CountingCache(tmp_path / "c.sqlite")

    async def main() -> None:
        store = ReplyStore(cache)

        async def put(i: int) -> None:
            await store.put(f"k{i}", reply(i))
            assert f"k{i}" in stored_keys(cache.path)

        await asyncio.gather(*(put(i) for i in range(50)))

    asyncio.run(main())
    assert stored_keys(cache.path) == {f"k{i}" for i in range(50)}
    assert cache.transactions == 1
    assert cache.get_reply("k7") == reply(7)


def test_a_cancelled_caller_s_reply_is_still_committed(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")

    async def main() -> None:
        store = ReplyStore(cache)
        task = asyncio.create_task(store.put("paid", reply(1)))
        await asyncio.sleep(0)  # the put is pending; its commit is due next turn
        task.cancel()
        assert stored_keys(cache.path) == set()
        store.close()  # the engine's shutdown commits at once
        assert stored_keys(cache.path) == {"paid"}
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert stored_keys(cache.path) == {"paid"}


def test_a_failed_commit_reaches_every_waiter_and_stores_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")
    cache.put_replies([("taken", reply(0))])
    # A trigger makes the second row of the batch fail after the first was inserted.
    with sqlite3.connect(cache.path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON replies WHEN NEW.key = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )

    async def main() -> list[BaseException | None]:
        store = ReplyStore(cache)
        return await asyncio.gather(
            store.put("good", reply(1)), store.put("bad", reply(2)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert stored_keys(cache.path) == {"taken"}  # the batch was rolled back as a whole
    cache.put_replies([("later", reply(3))])  # and the connection is usable again
    assert stored_keys(cache.path) == {"taken", "later"}


def test_lookups_of_one_turn_share_a_select_and_see_committed_replies_only(
    tmp_path: Path,
) -> None:
    cache = CountingCache(tmp_path / "c.sqlite")
    cache.put_replies([(f"k{i}", reply(i)) for i in range(3)])
    keys = [f"k{i}" for i in range(1200)]  # more than one statement's worth of parameters

    async def main() -> None:
        store = ReplyStore(cache)
        found = await asyncio.gather(*(store.get(k) for k in keys))
        assert found[:4] == [reply(0), reply(1), reply(2), None] and found.count(None) == 1197
        assert cache.selects == 1
        # A reply put but not yet committed is not found: nothing may use it yet.
        got = await asyncio.gather(store.get("new"), store.put("new", reply(9)), store.get("k1"))
        assert got == [None, None, reply(1)]
        assert await store.get("new") == reply(9)

    asyncio.run(main())


def test_identical_requests_in_flight_are_paid_once(tmp_path: Path) -> None:
    server = FakeLLMServer(latency=0.05)

    async def main(usage: Usage) -> list[str | None]:
        provider = OpenAIProvider("m", base_url=server.openai_url)
        options = QueryOptions(concurrency=4, progress=False)
        request = Request((Turn("user", (Text("same"),)),), {"type": "object"}, "s", 0.0, 8)
        async with Engine(provider, Cache(tmp_path / "c.sqlite"), options, usage) as engine:
            first = await asyncio.gather(*(engine.ask(request, str) for _ in range(5)))
            again = await engine.ask(request, str)
        return [o.reply_id for o in [*first, again]]

    with server.running():
        usage = Usage()
        reply_ids = asyncio.run(main(usage))
    assert server.answered == 1 and len(set(reply_ids)) == 1
    assert (usage.paid_replies, usage.cached_replies) == (1, 5)


CHILD = """
import asyncio, os, signal, sys
from emoalign.query import QueryOptions, Usage
from emoalign.query import QueryOptions, Usage
from emoalign.query.cache import Cache
from emoalign.query.engine import Engine
from emoalign.query.providers import OpenAIProvider
from emoalign.query.engine import Engine
from emoalign.query.providers import OpenAIProvider
from emoalign.query.request import Request, Text, Turn

async def main() -> None:
    provider = OpenAIProvider("m", base_url=sys.argv[1])
    options = QueryOptions(concurrency=8, progress=False)
    acknowledged = 0
    async with Engine(provider, Cache(sys.argv[2]), options, Usage()) as engine:
        async def one(i: int) -> None:
            nonlocal acknowledged
            request = Request((Turn("user", (Text(f"q{i}"),)),), {"type": "object"}, "s", 0.0, 8)
            outcome = await engine.ask(request, str)
            assert outcome.status == "ok"
            print(engine.key(request), flush=True)  # the caller now relies on this reply
            acknowledged += 1
            if acknowledged == int(sys.argv[3]):
                os.kill(os.getpid(), signal.SIGKILL)

        await asyncio.gather(*(one(i) for i in range(400)))

asyncio.run(main())
"""


def test_every_reply_acknowledged_before_a_kill_is_in_the_cache(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    cache = tmp_path / "cache.sqlite"
    server = FakeLLMServer(record=False)
    with server.running():
        child = subprocess.run(
            [sys.executable, str(script), server.openai_url, str(cache), "150"],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ,
        )
        answered = server.answered
    assert child.returncode == -signal.SIGKILL, child.stderr
    acknowledged = set(child.stdout.split())
    assert len(acknowledged) == 150
    assert acknowledged <= stored_keys(cache)
    # Replies still in flight or in the commit window were lost, not half-stored.
    assert len(stored_keys(cache)) <= answered
