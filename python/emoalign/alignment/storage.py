"""Where a study lives: in memory, in a SQLite file, or on a database server shared by workers.

On a database (SQLite or a server URL such as ``postgresql+psycopg://user@host/db``) every
running trial records a heartbeat; a trial whose worker stopped beating for ``grace`` seconds is
marked failed by the next worker that looks, and re-queued with the same parameters (Optuna's
heartbeat retry callback), so a killed worker's work is redone exactly once.

Workers that start together on an empty PostgreSQL database would race to create Optuna's schema
(one dies on ``CREATE TYPE ... already exists``); they take a PostgreSQL advisory lock around it,
so the first creates the schema and the others find it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from sqlalchemy.pool import NullPool

CONFIG_ATTR = "emoalign_config"
MAX_RETRY = 3
# Key of the advisory lock held while creating the schema (any fixed 64-bit value: "emoalign").
SCHEMA_LOCK = 0x656D6F616C69676E


def storage_url(storage: str | os.PathLike[str]) -> str:
    """A database URL; a plain path means a SQLite file there."""
    text = os.fspath(storage)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:":
        return Path(url[len(prefix) :])
    return None


def open_storage(
    storage: str | os.PathLike[str] | BaseStorage | None, heartbeat: int = 10
) -> BaseStorage:
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
        raise ValueError(f"heartbeat must be a positive number of seconds, got {heartbeat!r}")
    url = storage_url(storage)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several processes may share one SQLite file; wait for its lock rather than failing.
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
    with warnings.catch_warnings(), schema_lock(url):
        # heartbeat_interval is flagged experimental; it has been stable since Optuna 2.9.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            grace_period=3 * heartbeat,
            heartbeat_stale_trial_callback=retry_callback(),
        )


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Holds a PostgreSQL advisory lock (a no-op on other databases) while Optuna creates or
    checks its tables, so that concurrent first starts on an empty database never collide."""
    if sqlalchemy.engine.make_url(url).get_backend_name() != "postgresql":
        yield
        return
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            # Session-level: released below, or by the server if this process dies holding it.
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})
            try:
                yield
            finally:
                conn.execute(
                    sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK}
                )
    finally:
        engine.dispose()


def retry_callback() -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """Optuna's re-queueing of a dead trial (same parameters, linked by ``failed_trial``)."""
    with warnings.catch_warnings():
        # Stable in practice since Optuna 2.8; the flag only says its interface may change.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)


def has_heartbeat(storage: BaseStorage) -> bool:
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


def open_study(
    storage: BaseStorage, study_name: str, sampler: optuna.samplers.BaseSampler, config: dict
) -> optuna.Study:
    """Creates the study or joins it; joining one made for another problem is an error."""
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        direction="minimize",
        load_if_exists=True,
    )
    wanted = json.loads(json.dumps(config))
    existing = study.user_attrs.get(CONFIG_ATTR)
    if existing is None:
        # Two workers creating the study at once both write the same value, so no lock is needed.
        study.set_user_attr(CONFIG_ATTR, wanted)
    elif existing != wanted:
        differing = sorted(
            k for k in set(existing) | set(wanted) if existing.get(k) != wanted.get(k)
        )
        raise ValueError(
            f"study {study_name!r} in this storage was made for a different alignment "
            f"(differs in {', '.join(differing)}); choose another study name"
        )
    return study


class Heartbeat:
    """Records a running trial's heartbeat every interval, from a thread, until stopped."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if has_heartbeat(self._storage):
            interval = float(self._storage.get_heartbeat_interval())  # type: ignore[attr-defined]
            self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._beat, args=(interval,), daemon=True)
            self._thread.start()
        return self

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
