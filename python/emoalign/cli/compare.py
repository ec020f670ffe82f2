"""``emoalign compare``: one human set against several models at every level, one report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emoalign.cli.align import load_labels, load_side
from emoalign.cli.errors import user_errors
from emoalign.distance import METRICS

HELP = """\
HUMAN and each MODEL are one of:
  FILE.csv | FILE.parquet   wide (an id column + one numeric column per emotion) or the long
                            form written by `emoalign query`
  cowen-keltner:BLOCK[@PATH]  a block of the Cowen & Keltner (2017) CSV (see `emoalign align`)
Every model must rate the human's items. Videos are matched by id; the study runs on the videos
every side holds and lists the others. With a cowen-keltner HUMAN, --labels defaults to its top
categories.

For each model against the humans: video-level agreement (per-video Pearson, Spearman, cosine,
top-1 hits, with bootstrap CIs), RSA with a bootstrap over videos (CIs, pairwise differences
with Holm correction) and the GWOT study (an ε search; every model's study lives in the one
--storage, so the command resumes and distributes as `align` does). Model against model: RSA.

examples:
  emoalign compare cowen-keltner:categories gemini.parquet gpt.parquet --names gemini gpt \\
      --data ../shared/data/cowen_keltner_2017 --trials 50 --eps-min 1e-3 --report out/cmp
  emoalign compare human.csv a.csv b.csv c.csv --labels labels.csv --no-gw --report out/rsa
"""


def print_levels(result: Any, out: Any = None) -> None:
    out = sys.stdout if out is None else out
    ci = f"{result.rsa.ci:.0%} CI"
    print(f"{result.n} videos; {len(result.models)} model(s); intervals: {ci}", file=out)
    for name in result.models:
        print(f"\n{name}", file=out)
        for row in result.agreement[name].summary.iter_rows(named=True):
            fmt = ".1f" if row["statistic"].startswith("top") else ".3f"  # hit rates in %
            print(
                f"  video {row['statistic']:<14} {row['mean']:8{fmt}}  "
                f"[{row['ci_low']:{fmt}}, {row['ci_high']:{fmt}}]"
                + (f"  ({row['n_undefined']} undefined)" if row["n_undefined"] else ""),
                file=out,
            )
        r = result.rsa.table.filter(result.rsa.table["candidate"] == name).row(0, named=True)
        p = "" if r["mantel_p"] is None else f"  Mantel p = {r['mantel_p']:.3g}"
        interval = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        print(f"  RSA {result.rsa.method:<16} {r['r']:8.3f}  {interval}{p}", file=out)
        if name in result.alignments:
            a = result.alignments[name]
            print(
                f"  GW item top-1       {a.matching_rate(1):7.1f} %  (chance {a.chance(1):.1f} %)",
                file=out,
            )
            if a.labels is not None:
                print(
                    f"  GW category top-1   {a.category_matching_rate(1):7.1f} %  "
                    f"(chance {a.category_chance(1):.1f} %)",
                    file=out,
                )
    if result.rsa.pairwise.height:
        print("\nRSA differences (Holm-corrected):", file=out)
        for row in result.rsa.pairwise.iter_rows(named=True):
            print(
                f"  {row['a']} − {row['b']}: {row['diff']:+.3f} "
                f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]  p = {row['p']:.3g}, "
                f"Holm p = {row['p_holm']:.3g}",
                file=out,
            )
    print(f"\n{result.rsa.ceiling_note}", file=out)


@user_errors
def run(args: argparse.Namespace) -> int:
    from emoalign.comparison import compare

    human, human_labels = load_side(args.human, args.data, "HUMAN")
    models = [load_side(spec, args.data, "MODEL")[0] for spec in args.models]
    names = args.names or [Path(spec).stem if ":" not in spec else spec for spec in args.models]
    labels = load_labels(args.labels, args.data) if args.labels else human_labels
    storage = args.storage
    if storage is None and args.report is not None and not args.no_gw:
        storage = str(Path(args.report) / "study.db")
    try:
        result = compare(
            human,
            models,
            names=names,
            labels=labels,
            metric=args.metric,
            method=args.method,
            n_boot=args.boot,
            ci=args.ci,
            permutations=args.permutations,
            n_trials=args.trials,
            eps_range=(args.eps_min, args.eps_max),
            n_inits=args.inits,
            storage=storage,
            study=args.study,
            seed=args.seed,
            max_iter=args.max_iter,
            n_jobs=args.jobs,
            gw=not args.no_gw,
            id_column=args.id_column,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        if storage is not None:
            print(
                f"interrupted; the studies in {storage} resume when this command is run again",
                file=sys.stderr,
            )
        raise
    print_levels(result)
    if args.report is not None:
        page = result.report(args.report, permutations=args.permutations)
        print(f"report: {page}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare humans with several models at every level (agreement, RSA, GWOT)",
        description="Video-level agreement, RSA with bootstrap inference and GWOT alignment of "
        "one human set against several models, with one side-by-side report.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("human", metavar="HUMAN")
    parser.add_argument("models", metavar="MODEL", nargs="+")
    parser.add_argument("--names", nargs="+", metavar="NAME", help="one name per MODEL")
    parser.add_argument("--data", metavar="PATH", help="the Cowen & Keltner CSV or its folder")
    parser.add_argument("--id-column", metavar="COL", help="id column of CSV/Parquet inputs")
    parser.add_argument("--labels", metavar="SPEC", help="cowen-keltner[@PATH] or FILE (id, label)")
    parser.add_argument("--metric", default="euclidean", choices=METRICS)
    parser.add_argument("--method", default="spearman", choices=("spearman", "pearson"))
    parser.add_argument("--boot", type=int, default=1000, metavar="N", help="bootstrap samples")
    parser.add_argument("--ci", type=float, default=0.95, help="confidence level (0.95)")
    parser.add_argument("--permutations", type=int, default=1000, help="Mantel permutations")
    parser.add_argument("--trials", type=int, default=100, metavar="N")
    parser.add_argument("--inits", type=int, default=3, metavar="N", help="initial plans per trial")
    parser.add_argument("--eps-min", type=float, default=1e-4)
    parser.add_argument("--eps-max", type=float, default=1e-2)
    parser.add_argument("--storage", metavar="URL", help="SQLite path or database URL")
    parser.add_argument("--study", metavar="NAME", help="study name prefix (one study per model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=1, help="trials run at once in this process")
    parser.add_argument("--no-gw", action="store_true", help="skip the GWOT studies")
    parser.add_argument("--report", metavar="DIR", help="write report.html, PNGs, metrics.json")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
