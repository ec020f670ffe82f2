"""The engine's view of the reply cache: lookups and commits batched per event-loop turn.

The requests that look up their reply in one turn of the event loop (the samples of a video, a
replay's window of videos) share one ``SELECT``, made at the start of the next turn; a lookup per
request cost ~15 µs and a hand-over of the GIL each.

A transaction per reply cost ~90 µs of the event loop's time, most of it the commit. The replies
that arrive in one turn (about eight at a time in the requests/s benchmark) now share one
transaction, committed at the start of the next turn: no timer, so a lone request waits for
nothing. The guarantee stays the one a commit per reply gave: ``ReplyStore.put`` returns
only after the reply is committed, and lookups see committed replies only, so nothing counts a
reply as done, or builds on it, before it would survive ``kill -9``. A kill before the commit
loses replies nobody has used yet; the next run asks for them again, as it would had the kill
come just before they arrived.
"""

from __future__ import annotations

import asyncio

from emoalign.query.cache import Cache
from emoalign.query.providers.base import Reply


class ReplyStore:
    """Batches ``Cache.get_replies`` and ``Cache.put_replies`` for one event loop."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._lookups: list[tuple[str, asyncio.Future[Reply | None]]] = []
        self._pending: list[tuple[str, Reply]] = []
        self._committed: asyncio.Future[None] | None = None

    async def get(self, key: str) -> Reply | None:
        """The committed reply stored under ``key``, or None."""
        loop = asyncio.get_running_loop()
        if not self._lookups:
            loop.call_soon(self._look_up)
        found: asyncio.Future[Reply | None] = loop.create_future()
        self._lookups.append((key, found))
        return await found

    async def put(self, key: str, reply: Reply) -> None:
        """Store ``reply`` under ``key``; return once it is committed."""
        if self._committed is None:
            loop = asyncio.get_running_loop()
            self._committed = loop.create_future()
            loop.call_soon(self._commit)
        self._pending.append((key, reply))
        # shield: a cancelled caller must not cancel the commit of the others' replies, nor of
        # its own (it was paid for).
        await asyncio.shield(self._committed)

    def close(self) -> None:
        """Commit what is still pending, at once (on shutdown); raise if that fails."""
        error = self._commit()
        if error is not None:
            raise error

    def _look_up(self) -> None:
        lookups, self._lookups = self._lookups, []
        try:
            replies = self.cache.get_replies([key for key, _ in lookups])
        except Exception as exc:
            for _, found in lookups:
                if not found.done():
                    found.set_exception(exc)
            return
        for key, found in lookups:
            if not found.done():  # else its caller was cancelled
                found.set_result(replies.get(key))

    def _commit(self) -> Exception | None:
        committed, pending = self._committed, self._pending
        if committed is None:
            return None
        self._committed, self._pending = None, []
        try:
            self.cache.put_replies(pending)
        except Exception as exc:
            committed.set_exception(exc)  # every waiter sees it
            return exc
        committed.set_result(None)
        return None
