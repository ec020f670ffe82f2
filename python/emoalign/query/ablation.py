"""Modality ablations in the MER-OV way: every subset of V, A, T, in one- and two-stage form.

All 14 configurations run at once through the same engines, so a call they share (the stage-1
video description of a window is the same request in V, VA, VT and VAT) is paid for once, from
the cache or from the in-flight request. With ground truth, each configuration is scored with
:mod:`emoalign.metrics` into one tidy table: set precision/recall/F (and emotion-wheel F) for
``openset``, accuracy, WAF and UAR for ``classify``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from emoalign.deid.settings import Deidentify
from emoalign.metrics import (
    accuracy,
    load_categories,
    load_openset_csv,
    openset_scores,
    uar,
    weighted_f1,
    wheel_scores,
)
from emoalign.query.cost import Usage
from emoalign.query.engine import QueryOptions
from emoalign.query.modalities import ABLATION_SUBSETS, parse_modalities, short_name
from emoalign.query.output import Rows, to_wide, write_parquet
from emoalign.query.pipeline import Prompts
from emoalign.query.provenance import provenance_metadata, query_provenance
from emoalign.query.providers import Provider
from emoalign.query.run import (
    PIPELINES,
    CacheSpec,
    PathLike,
    Providers,
    Videos,
    open_cache,
    resolve_sampling,
    resolve_task,
    resolve_videos,
    study_class,
)
from emoalign.query.study import Decoder, Pipeline
from emoalign.query.tasks import Task
from emoalign.query.video import Sampling

SCORE_SCHEMA: dict[str, pl.DataType] = {
    "pipeline": pl.String(),
    "modalities": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "n": pl.Int64(),  # videos scored
    "failed": pl.Int64(),  # of those, videos without any valid answer (scored as wrong/empty)
}


@dataclass(frozen=True)
class AblationResult:
    """``table``: the long-form rows of every configuration, with ``pipeline`` and
    ``modalities`` (``V``, ``VA``, ...) columns first; ``scores``: the tidy score table, or None
    without ground truth."""

    table: pl.DataFrame
    scores: pl.DataFrame | None


async def aablate(
    videos: Videos,
    *,
    provider: str | Provider,
    model: str | None = None,
    task: str | Task = "openset",
    emotions: str | PathLike | Sequence[str] | None = None,
    scale: tuple[float, float] | None = None,
    template: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    sampling: Sampling | None = None,
    options: QueryOptions | None = None,
    cache: CacheSpec = None,
    out: PathLike | None = None,
    usage: Usage | None = None,
    describe_model: str | Provider | None = None,
    fuse_model: str | Provider | None = None,
    prompts: Prompts | None = None,
    deidentify: bool | Deidentify | None = None,
    inline_limit_bytes: int | None = None,
    transcribe: str | Provider | None = None,
    transcribe_base_url: str | None = None,
    subsets: Sequence[str | Sequence[str]] = ABLATION_SUBSETS,
    ground_truth: PathLike | None = None,
    gt_column: str | None = None,
    wheel: PathLike | None = None,
    scores: PathLike | None = None,
) -> AblationResult:
    """Run ``task`` on every modality subset in both pipelines; score them with ``ground_truth``.

    Arguments shared with :func:`~emoalign.query.aquery` mean the same. ``subsets`` defaults to
    V, A, T, VA, VT, AT, VAT. ``ground_truth`` is a CSV/Parquet file keyed by ``name`` (the video
    id) with an ``openset`` column (``"['happy', 'tense']"``) or, for ``classify``, a ``label``
    column (``gt_column`` names another); ``wheel`` adds MER2025/26 emotion-wheel F for openset.
    ``scores`` writes the score table (CSV or Parquet). A video's prediction pools its windows
    and repeats: openset keeps the words named by at least half of its units, classify takes the
    label chosen most often.
    """
    task_obj = resolve_task(task, emotions, scale, template)
    if ground_truth is not None and task_obj.name not in ("openset", "classify"):
        raise ValueError(
            f"ground_truth scoring supports the openset and classify tasks, not {task_obj.name!r}"
        )
    if ground_truth is None and (scores is not None or wheel is not None):
        raise ValueError("scores and wheel need ground_truth")
    if wheel is not None and task_obj.name != "openset":
        raise ValueError("wheel scores are for the openset task")
    grid = [parse_modalities(s) for s in subsets]
    if not grid:
        raise ValueError("subsets: give at least one modality subset")
    provs = Providers.make(
        provider,
        model,
        describe_model,
        fuse_model,
        base_url=base_url,
        api_key_env=api_key_env,
        inline_limit_bytes=inline_limit_bytes,
        transcribe=transcribe,
        transcribe_base_url=transcribe_base_url,
    )
    needs_audio = ("audio",) if any("audio" in s for s in grid) else None
    sampling = resolve_sampling(sampling, needs_audio, deidentify, provs.transcribe is not None)
    # Each engine decides "auto" settings for its own model; see aquery.
    options = options if options is not None else QueryOptions()
    decided = options.for_provider(provs.main)
    usage = usage if usage is not None else Usage()
    paths = resolve_videos(videos)
    show = options.progress if options.progress is not None else sys.stderr.isatty()
    configs = [(p, s) for p in PIPELINES for s in grid]
    rows = {c: Rows(provs.main.model, task_obj.name) for c in configs}
    store, owned = open_cache(cache)
    try:
        async with AsyncExitStack() as stack:
            engine, describe, fuse, speech = await provs.engines(stack, store, options, usage)
            decoder = Decoder(sampling, keep=16)
            studies = [
                study_class(p)(
                    engine,
                    task_obj,
                    sampling,
                    decided,
                    store,
                    rows[(p, s)],
                    Pipeline(s, prompts or Prompts(), describe, fuse, None, speech),
                    decoder,
                )
                for p, s in configs
            ]
            # Only the first shows progress: the others move in step with it.
            await asyncio.gather(*(st.run(paths, show and i == 0) for i, st in enumerate(studies)))
    finally:
        if owned and store is not None:
            store.close()
    table = pl.concat(
        [
            rows[(p, s)]
            .frame()
            .select(
                pl.lit(p, pl.String).alias("pipeline"),
                pl.lit(short_name(s), pl.String).alias("modalities"),
                pl.all(),
            )
            for p, s in configs
        ]
    )
    if out is not None:
        record = query_provenance(
            provs.main,
            task_obj,
            sampling,
            decided,
            usage,
            pipeline=provs.provenance("ablation", [short_name(s) for s in grid], prompts, options),
        )
        write_parquet(table, out, provenance_metadata(record))
    score_table = None
    if ground_truth is not None:
        score_table = score_ablation(table, task_obj.name, ground_truth, gt_column, wheel)
        if scores is not None:
            write_table(score_table, scores)
    return AblationResult(table, score_table)


def ablate(videos: Videos, **kwargs: object) -> AblationResult:
    """Synchronous :func:`aablate` (same arguments); not callable from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("ablate() cannot run inside an event loop; use 'await aablate(...)'")
    return asyncio.run(aablate(videos, **kwargs))  # type: ignore[arg-type]


def score_ablation(
    table: pl.DataFrame,
    task: str,
    ground_truth: PathLike,
    gt_column: str | None = None,
    wheel: PathLike | None = None,
) -> pl.DataFrame:
    """The tidy score table of an ablation ``table`` (see :func:`aablate`)."""
    if task == "openset":
        gt_open = load_openset_csv(ground_truth, label_column=gt_column or "openset")
    else:
        gt_cls = load_categories(ground_truth, id_column="name", label_column=gt_column or "label")
    records: list[dict[str, object]] = []
    for (pipeline, mods), part in table.group_by(["pipeline", "modalities"], maintain_order=True):
        videos = part.get_column("video_id").unique(maintain_order=True).to_list()
        wide = to_wide(part.drop("pipeline", "modalities"), task=task)
        shares = {
            row["video_id"]: {k: v for k, v in row.items() if k != "video_id"}
            for row in wide.iter_rows(named=True)
        }
        if task == "openset":
            ids = [v for v in videos if v in gt_open]
            pred = {v: [w for w, x in shares.get(v, {}).items() if x >= 0.5] for v in ids}
            gt = {v: gt_open[v] for v in ids}
            found = openset_scores(gt, pred)
            metrics = {
                "set_precision": found["precision"],
                "set_recall": found["recall"],
                "set_f1": found["f1"],
            }
            if wheel is not None:
                metrics["wheel_f1"] = wheel_scores(gt, pred, wheel=wheel)["level1"]["f1"]
        else:
            ids = [v for v in videos if v in gt_cls]
            # The most chosen label; a video without any valid answer counts as wrong ("").
            guess = {v: max(s, key=s.__getitem__) if s else "" for v, s in shares.items()}
            truth = [gt_cls[v] for v in ids]
            chosen = [guess.get(v, "") for v in ids]
            metrics = {
                "accuracy": accuracy(truth, chosen) if ids else float("nan"),
                "waf": weighted_f1(truth, chosen) if ids else float("nan"),
                "uar": uar(truth, chosen) if ids else float("nan"),
            }
        failed = sum(1 for v in ids if not shares.get(v))
        records += [
            {
                "pipeline": pipeline,
                "modalities": mods,
                "metric": name,
                "value": float(value),
                "n": len(ids),
                "failed": failed,
            }
            for name, value in metrics.items()
        ]
    return pl.DataFrame(records, schema=SCORE_SCHEMA)


def write_table(df: pl.DataFrame, path: PathLike) -> Path:
    """Write CSV or Parquet by suffix, atomically."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".parquet":
        return write_parquet(df, target)
    if suffix != ".csv":
        raise ValueError(f"scores must be a .csv or .parquet path, got {str(target)!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        df.write_csv(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# help(ablate) and IDEs show aablate's keyword arguments.
ablate.__signature__ = inspect.signature(aablate)  # type: ignore[attr-defined]
