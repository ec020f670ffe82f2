"""Turning the two sides of an alignment into matched, normalised dissimilarity matrices.

A side is a feature matrix (videos × emotions) or a precomputed RDM, as a numpy array, or a polars
DataFrame with an id column (wide: one column per emotion; or the query layer's long form, which
is pivoted with ``emoalign.query.to_wide``). Rows are matched by id: the target is reordered
into the source's order, and ids present on one side only are an error that lists them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

import emoalign
from emoalign.distance import METRICS
from emoalign.factored import EXACT_METRICS, LowRankRDM, rdm_factors

LONG_FORM_COLUMNS = ("video_id", "item", "value")
_SHOW = 10
# RSA correlates the RDMs' off-diagonal pairs, and a correlation needs two of them: 3 videos.
MIN_VIDEOS = 3


@dataclass(frozen=True)
class Side:
    """One side after parsing: its rows' ids, and either features or a precomputed RDM."""

    values: NDArray[np.float64]
    is_rdm: bool
    ids: list[str] | None
    columns: list[str] | None


@dataclass(frozen=True)
class Prepared:
    """Both sides in the same video order, as GW cost matrices scaled to a maximum of 1."""

    ids: list[str]
    source: NDArray[np.float64]
    """Source features (or its RDM when an RDM was given), rows in ``ids`` order."""
    target: NDArray[np.float64]
    source_is_rdm: bool
    target_is_rdm: bool
    source_metric: str | None
    target_metric: str | None
    labels: NDArray[Any] | None
    source_columns: list[str] | None
    target_columns: list[str] | None
    costs: tuple[NDArray[np.float64] | LowRankRDM, NDArray[np.float64] | LowRankRDM]
    """What the solver takes: C1 and C2 as exact factors where the metric has them (see
    :func:`emoalign.rdm_factors`; the same matrices, solved in O(n² k) per iteration instead of
    O(n³)), else C1 and C2 themselves."""

    # The dense RDMs are built on first use only: a factored study at n = 20,000 never needs
    # them (3.2 GB each in float64), and the solver, figures and RSA read the factors.
    @functools.cached_property
    def C1(self) -> NDArray[np.float64]:
        """The source RDM, scaled to a maximum of 1 (dense; built on first use)."""
        return _dense(self.costs[0], self.source, self.source_metric)

    @functools.cached_property
    def C2(self) -> NDArray[np.float64]:
        """The target RDM, scaled to a maximum of 1 (dense; built on first use)."""
        return _dense(self.costs[1], self.target, self.target_metric)

    @property
    def cost_form(self) -> str:
        """How the solver holds the costs, for the trials table and the report."""
        forms = [
            f"factored (rank {c.rank})" if isinstance(c, LowRankRDM) else "dense"
            for c in self.costs
        ]
        return forms[0] if forms[0] == forms[1] else " / ".join(forms)

    @property
    def n(self) -> int:
        return len(self.ids)

    def fingerprint(self) -> str:
        """A digest of everything about the inputs that decides the alignment."""
        digest = hashlib.sha256()
        for part in (
            "\x1f".join(self.ids),
            str(self.source_is_rdm),
            str(self.target_is_rdm),
            str(self.source_metric),
            str(self.target_metric),
        ):
            digest.update(part.encode())
            digest.update(b"\x1e")
        digest.update(np.ascontiguousarray(self.source).tobytes())
        digest.update(np.ascontiguousarray(self.target).tobytes())
        return digest.hexdigest()


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(repr(x) for x in list(items)[:_SHOW])
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return shown + more


def looks_like_rdm(arr: NDArray[np.float64]) -> bool:
    """Square, symmetric, non-negative with a zero diagonal: a dissimilarity matrix."""
    n, m = arr.shape
    return bool(
        n == m
        and n > 1
        and np.all(np.diag(arr) == 0)
        and np.all(arr >= 0)
        and np.allclose(arr, arr.T, rtol=1e-7, atol=1e-12)
    )


def _id_column(df: pl.DataFrame, id_column: str | None, name: str) -> str:
    if id_column is not None:
        if id_column not in df.columns:
            raise ValueError(f"{name} has no id column {id_column!r} (columns: {df.columns})")
        return id_column
    if "video_id" in df.columns:
        return "video_id"
    text = [c for c, t in df.schema.items() if not t.is_numeric()]
    if not text:
        raise ValueError(
            f"{name} has no id column: name it video_id or pass id_column; rows are matched by "
            f"id, not by position"
        )
    return text[0]


def _from_frame(df: pl.DataFrame, id_column: str | None, name: str) -> Side:
    if all(c in df.columns for c in LONG_FORM_COLUMNS) and "task" in df.columns:
        df = _long_to_wide(df, name)
        id_column = "video_id"
    key = _id_column(df, id_column, name)
    ids = df.get_column(key).cast(pl.String)
    if ids.null_count():
        raise ValueError(f"{name} has {ids.null_count()} rows without an id in {key!r}")
    dupes = ids.filter(ids.is_duplicated()).unique(maintain_order=True).to_list()
    if dupes:
        raise ValueError(f"{name} has duplicated ids: {_listing(dupes)}")
    data = df.drop(key)
    non_numeric = [c for c, t in data.schema.items() if not t.is_numeric()]
    if non_numeric:
        raise ValueError(
            f"{name} has non-numeric columns {non_numeric}; keep only the id and the ratings"
        )
    if data.width == 0:
        raise ValueError(f"{name} has no rating columns besides the id {key!r}")
    values = data.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
    return Side(values=values, is_rdm=False, ids=ids.to_list(), columns=data.columns)


def _long_to_wide(df: pl.DataFrame, name: str) -> pl.DataFrame:
    from emoalign.query import to_wide

    if "model" in df.columns:
        models = df.get_column("model").drop_nulls().unique(maintain_order=True).to_list()
        if len(models) > 1:
            raise ValueError(
                f"{name} holds answers of several models {models}; filter it to one "
                f"(df.filter(pl.col('model') == ...)) before aligning"
            )
    return to_wide(df)


def parse_side(data: Any, name: str, id_column: str | None = None) -> Side:
    """A numpy array (features, or an RDM detected by its shape) or a polars DataFrame."""
    if isinstance(data, pl.DataFrame):
        side = _from_frame(data, id_column, name)
    else:
        if isinstance(data, (pl.Series, pl.LazyFrame)):
            raise TypeError(f"{name} must be a numpy array or a polars DataFrame")
        arr = np.asarray(data)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D (videos × emotions, or an RDM), got {arr.shape}")
        arr = arr.astype(np.float64)
        side = Side(values=arr, is_rdm=looks_like_rdm(arr), ids=None, columns=None)
    n = side.values.shape[0]
    if n < MIN_VIDEOS:
        raise ValueError(
            f"{name} has {n} video(s); an alignment needs at least {MIN_VIDEOS} on each side "
            "(RSA correlates pairs of videos)"
        )
    bad = ~np.isfinite(side.values).all(axis=1)
    if bad.any():
        where = (
            [side.ids[i] for i in np.flatnonzero(bad)]
            if side.ids is not None
            else [str(i) for i in np.flatnonzero(bad)]
        )
        raise ValueError(
            f"{name} has missing (NaN) or infinite ratings for {int(bad.sum())} video(s): "
            f"{_listing(where)}; drop or impute them before aligning"
        )
    return side


def _match(source: Side, target: Side) -> tuple[list[str], NDArray[np.intp]]:
    """The shared ids in source order, and the target rows that hold them."""
    if (source.ids is None) != (target.ids is None):
        raise ValueError(
            "one side has ids (a DataFrame) and the other does not (an array); rows are matched "
            "by id, so give both as DataFrames with an id column, or both as arrays in the same "
            "video order"
        )
    if source.ids is None or target.ids is None:
        n, m = source.values.shape[0], target.values.shape[0]
        if n != m:
            raise ValueError(f"source has {n} videos and target {m}; they must be the same videos")
        return [str(i) for i in range(n)], np.arange(n)
    position = {v: i for i, v in enumerate(target.ids)}
    only_source = [v for v in source.ids if v not in position]
    source_set = set(source.ids)
    only_target = [v for v in target.ids if v not in source_set]
    if only_source or only_target:
        parts = []
        if only_source:
            parts.append(f"{len(only_source)} only in source: {_listing(only_source)}")
        if only_target:
            parts.append(f"{len(only_target)} only in target: {_listing(only_target)}")
        raise ValueError("source and target hold different videos; " + "; ".join(parts))
    return list(source.ids), np.array([position[v] for v in source.ids], dtype=np.intp)


def parse_labels(labels: Any, ids: list[str], has_ids: bool) -> NDArray[Any] | None:
    """One label per video in ``ids`` order, from a sequence, a mapping or an id+label frame."""
    if labels is None:
        return None
    if isinstance(labels, pl.DataFrame):
        if labels.width != 2:
            raise ValueError(
                f"a labels DataFrame needs two columns (id, label), got {labels.columns}"
            )
        labels = dict(zip(*(labels.get_column(c).to_list() for c in labels.columns), strict=True))
    if isinstance(labels, Mapping):
        missing = [v for v in ids if v not in labels]
        if missing:
            raise ValueError(f"labels lack {len(missing)} video(s): {_listing(missing)}")
        return np.asarray([labels[v] for v in ids])
    arr = np.asarray(labels.to_list() if isinstance(labels, pl.Series) else labels)
    if arr.ndim != 1 or len(arr) != len(ids):
        raise ValueError(
            f"labels must give one label per video ({len(ids)}), got shape {arr.shape}"
            + (" (labels follow the source's row order)" if has_ids else "")
        )
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError("labels contain NaN")
    return arr


def _scaled(cost: Any, name: str) -> Any:
    """``cost`` (a fresh dense RDM, divided in place, or factors) scaled to a maximum of 1.

    GW costs are compared across sides: scaling each to a maximum of 1 makes ε mean the same for
    any metric or rating scale.
    """
    top = float(cost.max())
    if top <= 0:
        raise ValueError(f"all videos of the {name} are identical; there is no structure to align")
    if isinstance(cost, LowRankRDM):
        return cost / top
    cost /= top  # in place: no second n x n array
    return cost


def _scaled_rdm(values: NDArray[np.float64], metric: str, name: str) -> NDArray[np.float64]:
    return _scaled(np.asarray(emoalign.rdm(values, metric=metric), dtype=np.float64), name)


def _cost(
    values: NDArray[np.float64], is_rdm: bool, metric: str, name: str
) -> NDArray[np.float64] | LowRankRDM:
    """What the solver takes for one side, scaled to a maximum of 1: exact factors where the
    metric has them, else the dense RDM."""
    if is_rdm:
        return _scaled(np.array(values, dtype=np.float64), name)
    if metric not in METRICS:
        raise ValueError(f"unknown {name} metric {metric!r}; choose from {', '.join(METRICS)}")
    if metric not in EXACT_METRICS:
        return _scaled_rdm(values, metric, name)
    return _scaled(rdm_factors(values, metric), name)


def _dense(
    cost: NDArray[np.float64] | LowRankRDM, values: NDArray[np.float64], metric: str | None
) -> NDArray[np.float64]:
    """The dense scaled RDM of a side: the cost itself, or the RDM the factors stand for,
    computed directly (exact zeros on the diagonal, as ``emoalign.rdm`` gives)."""
    if not isinstance(cost, LowRankRDM):
        return cost
    assert metric is not None
    return _scaled_rdm(values, metric, "side")


def prepare(
    source: Any,
    target: Any,
    *,
    metric: str = "euclidean",
    source_metric: str | None = None,
    target_metric: str | None = None,
    labels: Any = None,
    id_column: str | None = None,
) -> Prepared:
    src = parse_side(source, "source", id_column)
    tgt = parse_side(target, "target", id_column)
    ids, order = _match(src, tgt)
    tgt_values = tgt.values[order][:, order] if tgt.is_rdm else tgt.values[order]
    smetric = None if src.is_rdm else (source_metric or metric)
    tmetric = None if tgt.is_rdm else (target_metric or metric)
    costs = (
        _cost(src.values, src.is_rdm, smetric or "", "source"),
        _cost(tgt_values, tgt.is_rdm, tmetric or "", "target"),
    )
    return Prepared(
        ids=ids,
        source=src.values,
        target=tgt_values,
        source_is_rdm=src.is_rdm,
        target_is_rdm=tgt.is_rdm,
        source_metric=smetric,
        target_metric=tmetric,
        labels=parse_labels(labels, ids, src.ids is not None),
        source_columns=src.columns,
        target_columns=tgt.columns,
        costs=costs,
    )
