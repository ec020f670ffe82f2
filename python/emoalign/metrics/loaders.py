"""Load label files (OV-MERD CSV, generic CSV/Parquet) into ``{sample id: label}`` mappings.

Every loader rejects duplicated ids (listing them), because a second row for the same sample
would silently replace the first. ``pair_ids`` pairs two mappings and reports the ids found on one
side only instead of dropping them silently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from emoalign.metrics._listparse import ListSyntax, parse_list_string, parse_nested_list_string

PathArg = str | PathLike[str]

# Errors list at most this many ids; the count is always given in full.
_SHOW_IDS = 10


def _show(ids: list[str]) -> str:
    head = ", ".join(repr(i) for i in ids[:_SHOW_IDS])
    return head + (f", … ({len(ids)} in all)" if len(ids) > _SHOW_IDS else "")


def _read_table(path: PathArg, columns: list[str], *, argument: str) -> pl.DataFrame:
    """Read the named columns of a CSV or Parquet file, checking they exist."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{argument}: no such file {str(p)!r}")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        frame = pl.read_parquet(p)
    elif suffix in (".csv", ".tsv"):
        # Read everything as text: ids such as "0001" must keep their zeros, and list cells are
        # parsed by us so that errors can name the row.
        frame = pl.read_csv(
            p, separator="\t" if suffix == ".tsv" else ",", infer_schema=False, encoding="utf8"
        )
    else:
        raise ValueError(f"{argument}: {str(p)!r} is neither .csv, .tsv nor .parquet")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{argument}: {str(p)!r} has no column(s) {missing}; its columns are "
            f"{frame.columns}. Choose the columns with the id/label column arguments."
        )
    frame = frame.select(columns)
    ids = frame.get_column(columns[0])
    if ids.null_count():
        rows = [i + 2 for i in ids.is_null().arg_true().to_list()]
        raise ValueError(
            f"{argument}: {str(p)!r} has empty ids in column {columns[0]!r}, "
            f"rows {rows[:_SHOW_IDS]}"
        )
    dupes = sorted(k for k, n in Counter(ids.cast(pl.String).to_list()).items() if n > 1)
    if dupes:
        raise ValueError(
            f"{argument}: {str(p)!r} has duplicated ids in column {columns[0]!r}: {_show(dupes)}; "
            "keep one row per sample"
        )
    return frame


def load_openset_csv(
    path: PathArg,
    *,
    id_column: str = "name",
    label_column: str = "openset",
    list_syntax: ListSyntax = "python",
    argument: str = "path",
) -> dict[str, list[str]]:
    """Load an OV-MERD style file of open-vocabulary labels, one row per sample.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV, TSV or Parquet file. The label cells hold list strings such as
        ``"['happy', 'relaxed']"``; in Parquet the column may also be a list of strings.
        Empty cells are empty lists.
    id_column : str, default "name"
        The sample id column (read as text, so "0001" keeps its zeros).
    label_column : str, default "openset"
        The column of word lists.
    list_syntax : {"python", "mer2024"}, default "python"
        How list strings are parsed (see ``parse_list_string``).
    argument : str, default "path"
        How errors name the file (the command line passes its option, e.g. ``--gt``).

    Returns
    -------
    dict of str to list of str
        Sample id -> words, in file order.

    Raises
    ------
    ValueError
        If the file is missing, is not .csv/.tsv/.parquet, lacks a column, or has empty or
        duplicated ids (the message names the file, column and rows).
        Also if a list string cannot be parsed or the column has another type.
    """
    frame = _read_table(path, [id_column, label_column], argument=argument)
    ids = frame.get_column(id_column).cast(pl.String).to_list()
    labels = frame.get_column(label_column)
    if labels.dtype == pl.List(pl.String):
        return {i: list(v or []) for i, v in zip(ids, labels.to_list(), strict=True)}
    if labels.dtype != pl.String:
        raise ValueError(
            f"{argument}: column {label_column!r} of {str(path)!r} has type {labels.dtype}; "
            "expected list strings like \"['happy', 'relaxed']\" or a list of strings"
        )
    # Row numbers count the CSV header as row 1, so they match what an editor shows.
    return {
        i: parse_list_string(cell, where=f"{path}, row {row + 2} (id {i!r})", syntax=list_syntax)
        for row, (i, cell) in enumerate(zip(ids, labels.to_list(), strict=True))
    }


def load_categories(
    path: PathArg, *, id_column: str, label_column: str, argument: str = "path"
) -> dict[str, str]:
    """Load closed-set labels (one category per sample) from a CSV, TSV or Parquet file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    id_column : str
        The sample id column.
    label_column : str
        The category column.
    argument : str, default "path"
        How errors name the file (the command line passes its option, e.g. ``--gt``).

    Returns
    -------
    dict of str to str
        Sample id -> category.

    Raises
    ------
    ValueError
        If the file is missing, is not .csv/.tsv/.parquet, lacks a column, or has empty or
        duplicated ids (the message names the file, column and rows).
        Also if a label is empty.
    """
    frame = _read_table(path, [id_column, label_column], argument=argument)
    labels = frame.get_column(label_column)
    if labels.null_count():
        rows = [i + 2 for i in labels.is_null().arg_true().to_list()]
        raise ValueError(
            f"{argument}: {str(path)!r} has empty labels in column {label_column!r}, rows "
            f"{rows[:_SHOW_IDS]}; every sample needs a category"
        )
    ids = frame.get_column(id_column).cast(pl.String).to_list()
    return dict(zip(ids, labels.cast(pl.String).to_list(), strict=True))


def load_values(
    path: PathArg, *, id_column: str, value_column: str, argument: str = "path"
) -> dict[str, float]:
    """Load one numeric rating per sample (e.g. valence) from a CSV, TSV or Parquet file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    id_column : str
        The sample id column.
    value_column : str
        The numeric column.
    argument : str, default "path"
        How errors name the file (the command line passes its option, e.g. ``--gt``).

    Returns
    -------
    dict of str to float
        Sample id -> value.

    Raises
    ------
    ValueError
        If the file is missing, is not .csv/.tsv/.parquet, lacks a column, or has empty or
        duplicated ids (the message names the file, column and rows).
        Also if a value is missing, NaN or not a number.
    """
    frame = _read_table(path, [id_column, value_column], argument=argument)
    raw = frame.get_column(value_column)
    values = raw.cast(pl.Float64, strict=False)
    bad = (values.is_null() | values.is_nan()).arg_true().to_list()
    if bad:
        shown = [(r + 2, raw[r]) for r in bad[:_SHOW_IDS]]
        raise ValueError(
            f"{argument}: {str(path)!r} column {value_column!r} has missing or non-numeric "
            f"values at (row, value) {shown}{' …' if len(bad) > _SHOW_IDS else ''}"
        )
    ids = frame.get_column(id_column).cast(pl.String).to_list()
    return dict(zip(ids, values.to_list(), strict=True))


def load_synonym_groups(
    path: PathArg, *, list_syntax: ListSyntax = "python"
) -> dict[str, list[list[str]]]:
    """Load MER2024-style synonym groups: ``{sample: [[word, synonym, ...], ...]}``.

    Parameters
    ----------
    path : str or os.PathLike
        A JSON file of that shape (as ``emoalign.query.group_synonyms`` writes it), or a folder
        of MERTools per-sample ``<sample>.npy`` files, each holding the LLM's answer as a
        string like ``"[['joyful', 'happy'], ['worried']]"`` (the unzipped
        ``MER2024/ov_store/openset-synonym``).
    list_syntax : {"python", "mer2024"}, default "python"
        How the ``.npy`` strings are parsed (see ``parse_list_string``).

    Returns
    -------
    dict of str to list of list of str

    Raises
    ------
    ValueError
        If the path does not exist, the folder has no ``.npy`` file, a file does not hold one
        string, or the JSON is invalid or of another shape.
    TypeError
        If a sample's groups are not lists of words.
    """
    p = Path(path)
    if p.is_dir():
        groups: dict[str, list[list[str]]] = {}
        files = sorted(p.glob("*.npy"))
        if not files:
            raise ValueError(f"synonyms: folder {str(p)!r} holds no <sample>.npy files")
        for f in files:
            # allow_pickle stays off: these files hold plain strings, never objects.
            item = np.load(f, allow_pickle=False)
            if item.shape != () or item.dtype.kind != "U":
                raise ValueError(
                    f"synonyms: {str(f)!r} should hold one string, got {item.dtype}{item.shape}"
                )
            groups[f.stem] = parse_nested_list_string(str(item), where=str(f), syntax=list_syntax)
        return groups
    if not p.is_file():
        raise ValueError(f"synonyms: no such file or folder {str(p)!r}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"synonyms: {str(p)!r} is not valid JSON ({exc})") from None
    return check_synonym_groups(data, where=str(p))


def check_synonym_groups(data: Any, *, where: str = "synonyms") -> dict[str, list[list[str]]]:
    """Validate synonym groups of shape ``{sample: [[word, ...], ...]}``.

    Parameters
    ----------
    data : mapping
        The groups, e.g. decoded JSON.
    where : str, default "synonyms"
        Where they came from, for error messages.

    Returns
    -------
    dict of str to list of list of str
        The same groups as plain dicts and lists.

    Raises
    ------
    TypeError
        If ``data`` is not a mapping of sample id to lists of word lists.
    """
    if not isinstance(data, Mapping):
        raise TypeError(
            f"{where}: expected a mapping of sample -> list of word groups, "
            f"got {type(data).__name__}"
        )
    out: dict[str, list[list[str]]] = {}
    for name, groups in data.items():
        if not isinstance(groups, list | tuple) or not all(
            isinstance(g, list | tuple) and all(isinstance(w, str) for w in g) for g in groups
        ):
            raise TypeError(
                f"{where}: sample {name!r} should map to a list of word lists like "
                f"[['joyful', 'happy'], ['worried']], got {groups!r}"
            )
        out[str(name)] = [list(g) for g in groups]
    return out


@dataclass(frozen=True)
class IdPairing:
    """Sample ids present on both sides (scored), and those present on one side only.

    Attributes
    ----------
    ids : list of str
        Ids on both sides, sorted.
    only_ground_truth : list of str
        Ids with a ground truth but no prediction, sorted.
    only_predictions : list of str
        Ids with a prediction but no ground truth, sorted.
    """

    ids: list[str]
    only_ground_truth: list[str]
    only_predictions: list[str]

    def summary(self) -> dict[str, Any]:
        """The counts and ids that every score output carries."""
        return {
            "n_only_ground_truth": len(self.only_ground_truth),
            "n_only_predictions": len(self.only_predictions),
            "only_ground_truth": self.only_ground_truth,
            "only_predictions": self.only_predictions,
        }


def pair_ids(
    ground_truth: Mapping[str, Any], predictions: Mapping[str, Any], *, strict: bool
) -> IdPairing:
    """Pair the sample ids of ground truth and predictions before scoring.

    Parameters
    ----------
    ground_truth, predictions : mapping
        Keyed by sample id.
    strict : bool
        Raise if an id is on one side only; otherwise such ids are left out of ``ids`` and
        reported in the ``IdPairing``.

    Returns
    -------
    IdPairing
        The shared ids in sorted order (so the input order cannot change a score), and the
        one-sided ones.

    Raises
    ------
    ValueError
        With ``strict``, if the sides cover different samples (the message lists them).
    """
    gt_ids, pred_ids = set(ground_truth), set(predictions)
    only_gt = sorted(gt_ids - pred_ids)
    only_pred = sorted(pred_ids - gt_ids)
    if strict and (only_gt or only_pred):
        parts = []
        if only_gt:
            parts.append(f"{len(only_gt)} id(s) have no prediction: {_show(only_gt)}")
        if only_pred:
            parts.append(f"{len(only_pred)} id(s) have no ground truth: {_show(only_pred)}")
        raise ValueError(
            "ground_truth and predictions cover different samples; "
            + "; ".join(parts)
            + ". Pass strict=False to score the shared ids and report the rest"
            + " (give a sample with no answer an empty prediction to count it as a miss)."
        )
    return IdPairing(sorted(gt_ids & pred_ids), only_gt, only_pred)
