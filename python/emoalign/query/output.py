"""The long-form result table, its failure rows, Parquet output, and the wide view.

Long form, one row per (video, window, repeat, item):

=========  =======  ============================================================================
column     dtype    meaning
=========  =======  ============================================================================
video_id   str      the video's id (file stem, or the key of the mapping passed in)
model      str      model name as sent to the provider
task       str      ratings | dimensions | openset | classify
item       str      emotion or dimension name; for openset the word; for classify the label
value      float64  the rating; 1.0 for an openset word or the chosen label; null on failure
repeat     int64    0 .. repeats-1 (independent samples of the same prompt)
reply_id   str      the provider's id of the reply used (null if none arrived)
window     int64    0 .. windows-1 for videos split into windows, else 0
status     str      ok | invalid | error | video_error
error      str      why the unit failed (null when ok)
raw        str      the model's raw reply text for ``invalid`` (null otherwise)
=========  =======  ============================================================================

Every (video_id, window, repeat) unit has either its ``ok`` rows or exactly one failure row
(item and value null). A video that cannot be decoded gets one ``video_error`` row per repeat,
at window 0. A file written by ``query`` carries its provenance (provider, model, prompts,
settings, dates of the replies) in its metadata: see :mod:`emoalign.query.provenance`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

SCHEMA: dict[str, pl.DataType] = {
    "video_id": pl.String(),
    "model": pl.String(),
    "task": pl.String(),
    "item": pl.String(),
    "value": pl.Float64(),
    "repeat": pl.Int64(),
    "reply_id": pl.String(),
    "window": pl.Int64(),
    "status": pl.String(),
    "error": pl.String(),
    "raw": pl.String(),
}
CONTRACT_COLUMNS = ("video_id", "model", "task", "item", "value", "repeat", "reply_id")
STATUSES = ("ok", "invalid", "error", "video_error")
_AGGS = ("mean", "median", "min", "max")


class Rows:
    """Accumulates units, not rows: a unit's fields are stored once and repeated per item only
    when the frame is built, in one vectorised gather (~30 µs per 34-item unit before, ~10 now).
    """

    _UNIT_COLUMNS = ("video_id", "repeat", "reply_id", "window", "status", "error", "raw")

    def __init__(self, model: str, task: str) -> None:
        self.model = model
        self.task = task
        self.units: dict[str, list[object]] = {name: [] for name in self._UNIT_COLUMNS}
        self.sizes: list[int] = []  # rows per unit
        self.items: list[str | None] = []
        self.values: list[float | None] = []

    def add_ok(
        self,
        video_id: str,
        window: int,
        repeat: int,
        reply_id: str | None,
        pairs: list[tuple[str, float]],
    ) -> None:
        self._add_unit(video_id, window, repeat, reply_id, "ok", None, None, len(pairs))
        for item, value in pairs:
            self.items.append(item)
            self.values.append(value)

    def add_failure(
        self,
        video_id: str,
        window: int,
        repeat: int,
        status: str,
        error: str,
        raw: str | None = None,
        reply_id: str | None = None,
    ) -> None:
        self._add_unit(video_id, window, repeat, reply_id, status, error, raw, 1)
        self.items.append(None)
        self.values.append(None)

    def _add_unit(
        self,
        video_id: str,
        window: int,
        repeat: int,
        reply_id: str | None,
        status: str,
        error: str | None,
        raw: str | None,
        size: int,
    ) -> None:
        u = self.units
        u["video_id"].append(video_id)
        u["repeat"].append(repeat)
        u["reply_id"].append(reply_id)
        u["window"].append(window)
        u["status"].append(status)
        u["error"].append(error)
        u["raw"].append(raw)
        self.sizes.append(size)

    def frame(self) -> pl.DataFrame:
        units = pl.DataFrame(self.units, schema={c: SCHEMA[c] for c in self._UNIT_COLUMNS})
        unit_of_row = np.repeat(np.arange(len(self.sizes)), self.sizes)
        df = units[unit_of_row].with_columns(
            pl.lit(self.model, pl.String).alias("model"),
            pl.lit(self.task, pl.String).alias("task"),
            pl.Series("item", self.items, pl.String),
            pl.Series("value", self.values, pl.Float64),
        )
        return df.select(list(SCHEMA)).sort(["video_id", "window", "repeat"], maintain_order=True)


def empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def write_parquet(
    df: pl.DataFrame,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a table to Parquet atomically.

    The table goes to a temporary file in the same folder, which then replaces the target: a
    crash leaves either the old file or the new one, never half of one.

    Parameters
    ----------
    df : polars.DataFrame
        The table.
    path : str or os.PathLike
        Target file; missing parent folders are created.
    metadata : mapping of str to str, optional
        Key-value metadata for the file (the provenance record of ``emoalign.query.provenance``).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        if metadata:
            # pyarrow: polars writes key-value metadata only in recent releases.
            table = df.to_arrow()
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
            pq.write_table(table, tmp, compression="zstd")
        else:
            df.write_parquet(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def failures(df: pl.DataFrame) -> pl.DataFrame:
    """The failure rows of a long-form table (``status`` other than ``ok``).

    Parameters
    ----------
    df : polars.DataFrame
        As returned by ``emoalign.query``.

    Returns
    -------
    polars.DataFrame
        One row per failed (video, window, repeat) unit, with ``status`` and ``error``.
    """
    return df.filter(pl.col("status") != "ok")


def to_wide(df: pl.DataFrame, *, task: str | None = None, agg: str = "mean") -> pl.DataFrame:
    """Pivot a long-form query table to videos × items, ready for ``emoalign.rdm``.

    Parameters
    ----------
    df : polars.DataFrame
        As returned by ``emoalign.query``.
    task : str, optional
        The task to pivot; required when ``df`` holds several.
    agg : {"mean", "median", "min", "max"}, default "mean"
        How ratings and dimensions are aggregated over repeats and windows. For ``openset``
        and ``classify`` each cell is the share of a video's successful (window, repeat) units
        that named the word or chose the label (0.0 when never), so ``agg`` must stay "mean".

    Returns
    -------
    polars.DataFrame
        ``video_id``, then one float column per item in first-seen order. Failure rows are
        left out; a video whose units all failed is absent.

    Raises
    ------
    TypeError
        If ``df`` is not a polars DataFrame.
    ValueError
        If ``df`` lacks the long-form columns, ``agg`` or ``task`` is invalid, or ``task`` is
        needed and not given.
    """
    if not isinstance(df, pl.DataFrame):
        raise TypeError(
            f"df must be a polars DataFrame from emoalign.query, not {type(df).__name__}"
        )
    missing = [c for c in ("video_id", "task", "item", "value", "repeat") if c not in df.columns]
    if missing:
        raise ValueError(
            f"df lacks the long-form columns {missing}; pass the frame query() returned"
        )
    if agg not in _AGGS:
        raise ValueError(f"agg must be one of {', '.join(_AGGS)}, got {agg!r}")
    tasks = df.get_column("task").unique(maintain_order=True).to_list()
    if task is None:
        if len(tasks) != 1:
            raise ValueError(f"df holds tasks {tasks}; choose one with task=")
        task = tasks[0]
    elif task not in tasks:
        raise ValueError(f"task={task!r} is not in df (it holds {tasks})")
    ok = df.filter(pl.col("task") == task)
    if "status" in ok.columns:
        ok = ok.filter(pl.col("status") == "ok")
    if "window" not in ok.columns:
        ok = ok.with_columns(pl.lit(0, dtype=pl.Int64).alias("window"))
    items = ok.get_column("item").unique(maintain_order=True).to_list()
    if not items:
        return pl.DataFrame(schema={"video_id": pl.String()})
    if task in ("openset", "classify"):
        if agg != "mean":
            raise ValueError(f"task {task!r} is aggregated as a share of units; use agg='mean'")
        units = ok.group_by("video_id").agg(
            pl.struct("window", "repeat").n_unique().alias("_units")
        )
        long = (
            ok.group_by("video_id", "item")
            .agg(pl.struct("window", "repeat").n_unique().alias("_hits"))
            .join(units, on="video_id")
            .with_columns((pl.col("_hits") / pl.col("_units")).alias("value"))
        )
        fill = 0.0
    else:
        long = ok.group_by("video_id", "item").agg(getattr(pl.col("value"), agg)())
        fill = None
    wide = long.pivot(on="item", index="video_id", values="value").sort("video_id")
    for item in items:
        if item not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(item))
    cells = pl.col(items).cast(pl.Float64)
    return wide.select("video_id", cells if fill is None else cells.fill_null(fill))
