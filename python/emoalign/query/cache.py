"""Persistent cache of paid replies and of video sampling plans, in SQLite (WAL mode).

Replies are committed as they arrive, a few per transaction (see ``replies``), and nothing
uses a reply before its commit: a run killed at any point (Ctrl-C, crash, ``kill -9``) keeps every
reply it relied on. WAL with ``synchronous=NORMAL`` survives a process crash; only an
operating-system crash can lose the last transactions.
Replies are keyed by ``emoalign.query.request.cache_key``; API keys are never stored.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from emoalign.query.providers.base import Reply

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    reply_id TEXT,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    created REAL NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS plans (
    key TEXT PRIMARY KEY,
    plan TEXT NOT NULL
);
"""

# Below SQLite's oldest limit on the number of parameters of one statement (999).
_KEYS_PER_SELECT = 500


def default_cache_path() -> Path:
    """``$EMOALIGN_CACHE``, else ``$XDG_CACHE_HOME/emoalign/query.sqlite`` (``~/.cache``)."""
    if os.environ.get("EMOALIGN_CACHE"):
        return Path(os.environ["EMOALIGN_CACHE"])
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "emoalign" / "query.sqlite"


class Cache:
    """Reply and plan store. Used from one event-loop thread; several processes may share it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"cache={str(self.path)!r} is a directory; pass a file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, with explicit transactions where needed.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(replies)")}
        if "truncated" not in columns:
            # Caches written before cut replies were told apart: none of their replies is marked.
            try:
                self._db.execute(
                    "ALTER TABLE replies ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0"
                )
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another process added it just now
                    raise

    def get_reply(self, key: str) -> Reply | None:
        return self.get_replies([key]).get(key)

    def get_replies(self, keys: Sequence[str]) -> dict[str, Reply]:
        """The replies stored under any of ``keys``, by key."""
        found: dict[str, Reply] = {}
        for start in range(0, len(keys), _KEYS_PER_SELECT):
            chunk = keys[start : start + _KEYS_PER_SELECT]
            rows = self._db.execute(
                "SELECT key, text, reply_id, tokens_in, tokens_out, truncated, created "
                f"FROM replies WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for key, text, reply_id, tokens_in, tokens_out, truncated, created in rows:
                found[key] = Reply(text, reply_id, tokens_in, tokens_out, bool(truncated), created)
        return found

    def put_replies(self, replies: Sequence[tuple[str, Reply]]) -> None:
        """Store ``(key, reply)`` pairs in one transaction: all of them, or none on error."""
        now = time.time()
        rows = [
            (k, r.text, r.reply_id, r.tokens_in, r.tokens_out, r.received or now, int(r.truncated))
            for k, r in replies
        ]
        self._db.execute("BEGIN IMMEDIATE")  # take the write lock now, not halfway through
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO replies (key, text, reply_id, tokens_in, tokens_out, "
                "created, truncated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def get_plan(self, key: str) -> str | None:
        row = self._db.execute("SELECT plan FROM plans WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put_plan(self, key: str, plan: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO plans VALUES (?, ?)", (key, plan))

    def count_replies(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"
