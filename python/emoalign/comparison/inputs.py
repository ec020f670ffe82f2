"""Matching a reference (the human set) and several others (models) by video id.

Each side is parsed as ``emoalign.align`` parses one (a wide or long-form polars frame, or a
numpy feature matrix or RDM). Unlike an alignment, which needs the very same videos on both
sides, a comparison runs on the videos every side shares and lists the ones it left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from emoalign.alignment.inputs import Side, parse_labels, parse_side

_SHOW = 10


def listing(items: Sequence[str]) -> str:
    """At most ten items, quoted, and how many more there are."""
    shown = ", ".join(repr(x) for x in list(items)[:_SHOW])
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return shown + more


@dataclass(frozen=True)
class Matched:
    """Every side restricted to the shared videos, rows in the reference's order."""

    ids: list[str]
    reference: NDArray[np.float64]
    reference_is_rdm: bool
    reference_items: list[str] | None
    others: dict[str, NDArray[np.float64]]
    others_is_rdm: dict[str, bool]
    others_items: dict[str, list[str] | None]
    unmatched: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Per other side: ids only in the reference and ids only in that side."""
    labels: NDArray[Any] | None = None
    reference_rows: NDArray[np.intp] | None = None
    """Rows of the reference's input that the shared videos came from."""

    @property
    def n(self) -> int:
        return len(self.ids)


def _rows(side: Side, rows: NDArray[np.intp]) -> NDArray[np.float64]:
    return side.values[np.ix_(rows, rows)] if side.is_rdm else side.values[rows]


def match(
    reference: Any,
    others: Mapping[str, Any],
    *,
    reference_name: str = "reference",
    labels: Any = None,
    id_column: str | None = None,
    min_videos: int = 3,
) -> Matched:
    """Parses every side and keeps the videos all of them hold (in the reference's order).

    Sides without ids (numpy arrays) must all be arrays with the same number of rows, which are
    taken to be the same videos in the same order. ``labels`` (a mapping id → label, an
    (id, label) frame, or a sequence in the reference's row order) are restricted likewise.
    """
    if not isinstance(others, Mapping):
        raise TypeError(
            f"the models must be a mapping of name to ratings or RDM, got {type(others).__name__}"
        )
    ref = parse_side(reference, reference_name, id_column)
    parsed = {name: parse_side(data, str(name), id_column) for name, data in others.items()}
    with_ids = [name for name, s in parsed.items() if (s.ids is None) != (ref.ids is None)]
    if with_ids:
        raise ValueError(
            f"{reference_name} {'has' if ref.ids is not None else 'has no'} video ids but "
            f"{with_ids} {'do not' if ref.ids is not None else 'do'}; rows are matched by id, "
            f"so give every side as a DataFrame with an id column, or every side as an array in "
            f"the same video order"
        )
    unmatched: dict[str, dict[str, list[str]]] = {}
    if ref.ids is None:
        n = ref.values.shape[0]
        wrong = {name: s.values.shape[0] for name, s in parsed.items() if s.values.shape[0] != n}
        if wrong:
            raise ValueError(
                f"{reference_name} has {n} videos but {wrong}; arrays must hold the same videos "
                f"in the same order"
            )
        ids = [str(i) for i in range(n)]
        ref_rows = np.arange(n)
        rows = {name: np.arange(n) for name in parsed}
    else:
        shared = set(ref.ids)
        for s in parsed.values():
            shared &= set(s.ids or [])
        ids = [v for v in ref.ids if v in shared]
        for name, s in parsed.items():
            theirs = set(s.ids or [])
            unmatched[name] = {
                "reference_only": [v for v in ref.ids if v not in theirs],
                "model_only": [v for v in s.ids or [] if v not in set(ref.ids)],
            }
        if len(ids) < min_videos:
            detail = "; ".join(
                f"{name}: {len(u['reference_only'])} only in {reference_name} "
                f"({listing(u['reference_only'])}), {len(u['model_only'])} only in {name} "
                f"({listing(u['model_only'])})"
                for name, u in unmatched.items()
            )
            raise ValueError(
                f"only {len(ids)} video(s) are shared by {reference_name} and every model; at "
                f"least {min_videos} are needed. Check that the ids match: {detail}"
            )
        position = {v: i for i, v in enumerate(ref.ids)}
        ref_rows = np.array([position[v] for v in ids], dtype=np.intp)
        rows = {}
        for name, s in parsed.items():
            pos = {v: i for i, v in enumerate(s.ids or [])}
            rows[name] = np.array([pos[v] for v in ids], dtype=np.intp)
    label_arr = None
    if labels is not None:
        if ref.ids is not None and not isinstance(labels, (Mapping, pl.DataFrame)):
            seq = labels.to_list() if isinstance(labels, pl.Series) else list(labels)
            if len(seq) != len(ref.ids):
                raise ValueError(
                    f"labels must give one label per {reference_name} row ({len(ref.ids)}), "
                    f"got {len(seq)}; or pass a mapping of video id to label"
                )
            labels = dict(zip(ref.ids, seq, strict=True))
        label_arr = parse_labels(labels, ids, ref.ids is not None)
    return Matched(
        ids=ids,
        reference=_rows(ref, ref_rows),
        reference_is_rdm=ref.is_rdm,
        reference_items=ref.columns,
        others={name: _rows(s, rows[name]) for name, s in parsed.items()},
        others_is_rdm={name: s.is_rdm for name, s in parsed.items()},
        others_items={name: s.columns for name, s in parsed.items()},
        unmatched=unmatched,
        labels=label_arr,
        reference_rows=ref_rows,
    )


def same_items(matched: Matched, reference_name: str = "reference") -> dict[str, NDArray]:
    """Each model's ratings with their columns in the reference's item order.

    Video-level agreement compares rating vectors item by item, so every side must rate the
    same items; a mismatch is an error naming the items.
    """
    if matched.reference_is_rdm:
        raise ValueError(
            f"{reference_name} is an RDM; video-level agreement needs ratings (videos × items)"
        )
    out = {}
    ref_items = matched.reference_items
    for name, values in matched.others.items():
        if matched.others_is_rdm[name]:
            raise ValueError(
                f"{name} is an RDM; video-level agreement needs ratings (videos × items)"
            )
        items = matched.others_items[name]
        if ref_items is None or items is None:
            if values.shape[1] != matched.reference.shape[1]:
                raise ValueError(
                    f"{reference_name} rates {matched.reference.shape[1]} items but {name} "
                    f"{values.shape[1]}; they must rate the same items"
                )
            out[name] = values
            continue
        missing = [c for c in ref_items if c not in items]
        extra = [c for c in items if c not in ref_items]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{name} lacks {listing(missing)}")
            if extra:
                parts.append(f"{name} has {listing(extra)}, which {reference_name} does not rate")
            raise ValueError(
                f"{reference_name} and {name} rate different items: " + "; ".join(parts)
            )
        out[name] = values[:, [items.index(c) for c in ref_items]]
    return out
