"""``emoalign align``: GW alignment of two emotion structures, with an ε search and a report."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from emoalign._urls import redact
from emoalign.cli.errors import (
    nonnegative_float,
    nonnegative_int,
    output_folder,
    positive_float,
    positive_int,
    user_errors,
)
from emoalign.cli.storage import storage_errors
from emoalign.distance import METRICS

CK_PREFIX = "cowen-keltner"

HELP = """\
SOURCE and TARGET are each one of:
  FILE.csv | FILE.parquet   wide (an id column + one numeric column per emotion; the id column is
                            video_id, --id-column, or the first text column) or the long form
                            written by `emoalign query` (pivoted to videos × items)
  cowen-keltner:BLOCK[@PATH]  a block of the Cowen & Keltner (2017) CSV: categories (34),
                            dimensions (14) or free_response (600); PATH is the CSV or its folder
                            (default: --data)
Rows are matched by video id. --labels is `cowen-keltner[@PATH]` (each video's top category) or a
CSV/Parquet file with two columns (id, label); with a cowen-keltner source it defaults to the
top categories.

The study lives in --storage: a SQLite file path or a database URL (postgresql+psycopg://...);
without it, DIR/study.db when --report DIR is given, else memory. Running the same command with
the same --storage and --study on several machines shares the work; after Ctrl-C or a crash,
running it again resumes.

examples:
  emoalign align cowen-keltner:categories cowen-keltner:dimensions \\
      --data ../shared/data/cowen_keltner_2017 --trials 50 --report out/ck
  emoalign align human.csv model.parquet --labels labels.csv --metric correlation \\
      --storage postgresql+psycopg://me@db/emo --study run1 --report out/run1
"""


def _read_table(path: Path, argument: str, expected: str) -> pl.DataFrame:
    """A CSV/TSV/Parquet table; errors name the ``argument`` (e.g. ``SOURCE``) and what it
    ``expected``."""
    if not path.is_file():
        raise FileNotFoundError(f"{argument} {path}: no such file; give {expected}")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv", ".txt"):
        raise ValueError(f"{argument} {path}: expected a .csv, .tsv or .parquet file")
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(
            path, separator="\t" if suffix == ".tsv" else ",", infer_schema_length=None
        )
    except pl.exceptions.PolarsError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{argument} {path}: not a readable {suffix[1:]} table ({reason})"
        ) from exc


@contextlib.contextmanager
def _naming(argument: str, spec: str) -> Iterator[None]:
    """Puts the argument and its value in front of an input error raised inside."""
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:
        raise type(exc)(f"{argument} {spec}: {exc}") from exc


def _ck(spec: str, data: str | None) -> Any:
    from emoalign.datasets import load_cowen_keltner

    _, _, path = spec.partition("@")
    location = path or data
    if not location:
        raise ValueError(f"give the Cowen & Keltner CSV as {spec}@PATH or with --data PATH")
    return load_cowen_keltner(location)


def load_side(
    spec: str, data: str | None, argument: str
) -> tuple[pl.DataFrame, dict[str, str] | None]:
    """A side's table, plus default labels when it comes from the Cowen & Keltner set."""
    if spec.startswith(CK_PREFIX + ":"):
        block = spec[len(CK_PREFIX) + 1 :].partition("@")[0]
        with _naming(argument, spec):
            ck = _ck(spec, data)
            table = ck.block(block)
        return table, dict(zip(ck.ids, ck.labels.tolist(), strict=True))
    expected = "a CSV/Parquet file or cowen-keltner:BLOCK[@PATH]"
    return _read_table(Path(spec), argument, expected), None


def side_name(spec: str) -> str:
    """A side's name in the report: the file's stem, or the Cowen & Keltner block without PATH."""
    if spec.startswith(CK_PREFIX + ":"):
        return spec.partition("@")[0]
    return Path(spec).stem


def load_labels(spec: str, data: str | None) -> dict[str, str]:
    if spec == CK_PREFIX or spec.startswith(CK_PREFIX + "@"):
        with _naming("--labels", spec):
            ck = _ck(spec, data)
        return dict(zip(ck.ids, ck.labels.tolist(), strict=True))
    expected = "cowen-keltner[@PATH] or a CSV/Parquet file with two columns (id, label)"
    table = _read_table(Path(spec), "--labels", expected)
    if table.width != 2:
        raise ValueError(
            f"--labels {spec}: a labels file has two columns (id, label), got {table.columns}"
        )
    ids, labels = (table.get_column(c).cast(pl.String).to_list() for c in table.columns)
    return dict(zip(ids, labels, strict=True))


def subsample(
    source: pl.DataFrame, target: pl.DataFrame, n: int, seed: int, id_column: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The same seeded random subset of videos on both sides (for quick looks at large sets)."""
    from emoalign.alignment.inputs import parse_side
    from emoalign.alignment.subsample import stratified_subsample

    ids = parse_side(source, "source", id_column).ids
    if ids is None or n < 3 or n > len(ids):
        raise ValueError(f"--subsample must be between 3 and the {len(ids or [])} source videos")
    keep = [ids[i] for i in stratified_subsample(len(ids), n, seed=seed)]

    def pick(df: pl.DataFrame) -> pl.DataFrame:
        if "item" in df.columns and "value" in df.columns and "task" in df.columns:
            return df.filter(pl.col("video_id").cast(pl.String).is_in(keep))
        key = id_column or (
            "video_id"
            if "video_id" in df.columns
            else next(c for c, t in df.schema.items() if not t.is_numeric())
        )
        return df.filter(pl.col(key).cast(pl.String).is_in(keep))

    return pick(source), pick(target)


def print_summary(
    summary: dict[str, Any], extra: tuple[tuple[str, str], ...] = (), out: Any = None
) -> None:
    from emoalign.report.numbers import p_value

    out = sys.stdout if out is None else out
    rows = [
        ("videos", f"{summary['n_videos']}"),
        ("best ε", f"{summary['epsilon']:.4g} (trial {summary['best_trial']})"),
        ("GW distance", f"{summary['gw_dist']:.6g}"),
        ("converged", "yes" if summary["converged"] else "no"),
    ]
    for level in ("item", "category"):
        if level in summary:
            for key, value in summary[level].items():
                chance = summary[f"{level}_chance"][key]
                rows.append((f"{level} matching {key}", f"{value:5.1f} %  (chance {chance:.1f} %)"))
    for method in ("pearson", "spearman"):
        r = summary[f"rsa_{method}"]
        p = "" if r["p_value"] is None else f", Mantel p {p_value(r['p_value'], r['permutations'])}"
        rows.append((f"RSA {method} r", f"{r['r']:.3f}{p}"))
    for row in summary.get("baseline", [])[:1]:
        item = row.get("item_top1")
        cat = row.get("category_top1")
        text = f"item top1 {item:.1f} %" + (
            f", category top1 {cat:.1f} %" if cat is not None else ""
        )
        rows.append(("shuffled baseline", text))
    rows.extend(extra)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=out)


def check_eps_range(args: argparse.Namespace) -> None:
    """``--eps-min`` and ``--eps-max`` (each checked positive by argparse) in order."""
    if args.eps_min > args.eps_max:
        raise ValueError(
            f"--eps-min {args.eps_min:g} is above --eps-max {args.eps_max:g}; swap them"
        )


@user_errors
def run(args: argparse.Namespace) -> int:
    from emoalign.alignment import align, provenance

    check_eps_range(args)
    source, source_labels = load_side(args.source, args.data, "SOURCE")
    target, _ = load_side(args.target, args.data, "TARGET")
    labels = load_labels(args.labels, args.data) if args.labels else source_labels
    if args.subsample is not None:
        source, target = subsample(source, target, args.subsample, args.seed, args.id_column)
    storage = args.storage
    if storage is None and args.report is not None:
        storage = str(Path(args.report) / "study.db")
    kwargs: dict[str, Any] = {}
    if args.inits is not None:
        kwargs["n_inits"] = args.inits
    try:
        with storage_errors(storage):
            result = align(
                source,
                target,
                metric=args.metric,
                source_metric=args.source_metric,
                target_metric=args.target_metric,
                labels=labels,
                eps_range=(args.eps_min, args.eps_max),
                n_trials=args.trials,
                init=args.init.split(","),
                sampler=args.sampler,
                storage=storage,
                study_name=args.study,
                seed=args.seed,
                max_iter=args.max_iter,
                warm_start=args.warm_start,
                prune=False if args.no_prune else args.prune,
                precision=args.precision,
                n_jobs=args.jobs,
                refine=args.refine,
                plans_dir=args.plans,
                heartbeat=args.heartbeat,
                id_column=args.id_column,
                progress=not args.no_progress,
                **kwargs,
            )
    except KeyboardInterrupt:
        if storage is not None:
            print(
                f"interrupted; the study in {redact(storage)} resumes when this command is run "
                "again",
                file=sys.stderr,
            )
        raise
    provenance.record_cli(result, args.argv)
    if args.baseline > 0:
        result.baseline(args.baseline)
    summary = result.summary(permutations=args.permutations)
    where = f" in {redact(storage)}" if storage else " (in memory)"
    print(f"study {result.study_name}{where}")
    print_summary(summary)
    if args.report is not None:
        page = result.report(
            args.report,
            names=(side_name(args.source), side_name(args.target)),
            permutations=args.permutations,
        )
        print(f"report: {page}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "align",
        help="align two emotion structures over the same videos (GW with an ε search)",
        description="Unsupervised Gromov-Wasserstein alignment of two emotion structures over "
        "the same videos, with an Optuna ε search, matching rates, RSA and an HTML report.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("target", metavar="TARGET")
    parser.add_argument("--data", metavar="PATH", help="the Cowen & Keltner CSV or its folder")
    parser.add_argument("--id-column", metavar="COL", help="id column of CSV/Parquet inputs")
    parser.add_argument("--metric", default="euclidean", choices=METRICS)
    parser.add_argument("--source-metric", choices=METRICS)
    parser.add_argument("--target-metric", choices=METRICS)
    parser.add_argument("--labels", metavar="SPEC", help="cowen-keltner[@PATH] or FILE (id, label)")
    parser.add_argument("--trials", type=positive_int, default=100, metavar="N")
    parser.add_argument(
        "--inits", type=positive_int, metavar="N", help="initial plans per trial (3)"
    )
    parser.add_argument(
        "--init",
        default="random",
        help="random, permutation, uniform, or a comma list cycled through",
    )
    parser.add_argument("--sampler", default="tpe", choices=("tpe", "grid", "random"))
    parser.add_argument("--eps-min", type=positive_float, default=1e-4)
    parser.add_argument("--eps-max", type=positive_float, default=1e-2)
    parser.add_argument("--storage", metavar="URL", help="SQLite path or database URL")
    parser.add_argument("--study", metavar="NAME", help="study name (default: digest of inputs)")
    parser.add_argument(
        "--plans", metavar="DIR", type=output_folder, help="folder for the best plans (.npy)"
    )
    parser.add_argument(
        "--heartbeat",
        type=positive_int,
        default=10,
        metavar="S",
        help="seconds between trial heartbeats; a trial silent for 3×S is retried",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--subsample",
        type=positive_int,
        metavar="N",
        help="align a seeded random subset of N videos (quick looks)",
    )
    parser.add_argument("--max-iter", type=positive_int, default=500)
    parser.add_argument(
        "--jobs", type=positive_int, default=1, help="trials run at once in this process"
    )
    parser.add_argument(
        "--precision",
        default="float64",
        choices=("float64", "float32"),
        help="arithmetic of the trials (float32: ~2.5x faster; the best plan refined in float64)",
    )
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="add a start from the plan of the finished trial nearest in ε",
    )
    parser.add_argument(
        "--prune",
        type=nonnegative_float,
        default=1e-4,
        metavar="X",
        help="abandon a start once it cannot improve on the best GW distance by X (relative)",
    )
    parser.add_argument("--no-prune", action="store_true", help="solve every start to convergence")
    parser.add_argument("--refine", action="store_true", help="refine the best plan at smaller ε")
    parser.add_argument(
        "--baseline",
        type=nonnegative_int,
        default=1,
        metavar="N",
        help="shuffled-ratings alignments to compare with (0: none)",
    )
    parser.add_argument(
        "--permutations", type=nonnegative_int, default=1000, help="Mantel permutations"
    )
    parser.add_argument(
        "--report", metavar="DIR", type=output_folder, help="write report.html, PNGs, metrics.json"
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
