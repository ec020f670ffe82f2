"""``emoalign score``: score emotion predictions against human labels.

- ``score openset``: MER2024 set precision/recall (optionally with synonym groups) and, with
  ``--wheel``, MER2025/MER2026 emotion-wheel scores, from OV-MERD style ``name,openset`` files.
- ``score classify``: closed-set metrics (accuracy, WAF, macro-F1, UAR, WAR, per class).
- ``score dimensions``: CCC, Pearson, MAE, MSE, optionally sentiment Acc-2/Acc-7 and MER2023's
  combined score.

Each prints a table and, with ``--json PATH``, writes every number (and the ids found on one side
only) to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from emoalign.cli.errors import output_file, user_errors
from emoalign.metrics import (
    classification_report,
    dimensional_scores,
    load_categories,
    load_openset_csv,
    load_values,
    mer2023_score,
    openset_scores,
    pair_ids,
    plot_confusion_matrix,
    weighted_f1,
    wheel_scores,
)
from emoalign.metrics._listparse import LIST_SYNTAXES
from emoalign.metrics.loaders import IdPairing


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score emotion predictions against human labels",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="score_kind", required=True, metavar="KIND")

    openset = kinds.add_parser(
        "openset", help="open-vocabulary scores (MER2024 synonym sets, MER2025/26 wheels)"
    )
    _add_common(openset)
    openset.add_argument(
        "--synonyms",
        type=Path,
        help="per-sample synonym groups: a JSON file {sample: [[word, …], …]} or a folder of "
        "MERTools <sample>.npy files",
    )
    openset.add_argument("--wheel", type=Path, help="emotion_wheel.json for the wheel scores")
    openset.add_argument(
        "--list-syntax",
        choices=LIST_SYNTAXES,
        default="python",
        help="how to read list cells: python literals, or MERTools' MER2024 quote splitting "
        "(reproduces published MER2024 numbers) (default: python)",
    )

    classify = kinds.add_parser("classify", help="closed-set emotion classification metrics")
    _add_common(classify)
    classify.add_argument("--id-column", default="name", help="sample id column (default: name)")
    classify.add_argument(
        "--label-column",
        default="discrete",
        help="label column in both files (default: discrete, as in MER2023)",
    )
    classify.add_argument(
        "--pred-label-column", help="label column of --pred if it differs from --label-column"
    )
    classify.add_argument(
        "--labels", help="comma-separated class order for the confusion matrix (default: sorted)"
    )
    classify.add_argument(
        "--plot", type=output_file, help="save the confusion matrix plot here (.png)"
    )

    dims = kinds.add_parser("dimensions", help="dimensional and sentiment-intensity metrics")
    _add_common(dims)
    dims.add_argument("--id-column", default="name", help="sample id column (default: name)")
    dims.add_argument(
        "--value-column", default="valence", help="rating column in both files (default: valence)"
    )
    dims.add_argument(
        "--pred-value-column", help="rating column of --pred if it differs from --value-column"
    )
    dims.add_argument(
        "--sentiment",
        action="store_true",
        help="also Acc-2/F1 (has0, non0) and Acc-7 on the CMU-MOSI [-3, 3] scale",
    )
    dims.add_argument(
        "--emotion-column",
        help="discrete-emotion column in both files: adds its WAF and MER2023's combined score "
        "WAF - 0.25*MSE (e.g. discrete)",
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", type=Path, required=True, help="ground-truth labels (CSV/Parquet)")
    parser.add_argument("--pred", type=Path, required=True, help="predictions (CSV/Parquet)")
    parser.add_argument("--json", type=output_file, help="also write the results to this JSON file")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail if the files cover different samples (default: score the shared ones and "
        "report the rest)",
    )
    parser.set_defaults(func=run, error_prefix=parser.prog)


@user_errors
def run(args: argparse.Namespace) -> int:
    """Run one ``score`` sub-command; bad input is reported on stderr with exit code 2."""
    handlers = {"openset": _openset, "classify": _classify, "dimensions": _dimensions}
    results = handlers[args.score_kind](args)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_jsonable(results), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _openset(args: argparse.Namespace) -> dict[str, Any]:
    gt = load_openset_csv(args.gt, list_syntax=args.list_syntax, argument="--gt")
    pred = load_openset_csv(args.pred, list_syntax=args.list_syntax, argument="--pred")
    kwargs: dict[str, Any] = {"strict": args.strict, "list_syntax": args.list_syntax}
    results: dict[str, Any] = {
        "openset": openset_scores(gt, pred, synonyms=args.synonyms, **kwargs)
    }
    s = results["openset"]
    title = "MER2024 set scores" + (" (synonym groups)" if args.synonyms else " (no grouping)")
    rows = [(k, s[k]) for k in ("precision", "recall", "mean", "f1", "n")]
    rows.append(("skipped: empty ground truth", s["n_skipped_empty_ground_truth"]))
    if args.synonyms:
        rows.append(("scored without synonym groups", len(s["without_synonyms"])))
    _print_table(title, rows)
    if args.wheel is not None:
        w = wheel_scores(gt, pred, wheel=args.wheel, **kwargs)
        results["wheel"] = w
        wrows: list[tuple[str, Any]] = []
        for level in ("level1", "level2"):
            wrows += [(f"{level} {m}", w[level][m]) for m in ("precision", "recall", "f1")]
        for name, levels in w["per_wheel"].items():
            for level, sc in levels.items():
                wrows.append((f"{name} {level} p/r/f1 (n)", _prf(sc)))
        _print_table("MER2025/26 emotion-wheel scores", wrows)
    _print_pairing(pair_ids(gt, pred, strict=False))
    return results


def _prf(sc: dict[str, Any]) -> str:
    return f"{sc['precision']:.4f} / {sc['recall']:.4f} / {sc['f1']:.4f} ({sc['n']})"


def _classify(args: argparse.Namespace) -> dict[str, Any]:
    gt = load_categories(
        args.gt, id_column=args.id_column, label_column=args.label_column, argument="--gt"
    )
    pred = load_categories(
        args.pred,
        id_column=args.id_column,
        label_column=args.pred_label_column or args.label_column,
        argument="--pred",
    )
    pairs = pair_ids(gt, pred, strict=args.strict)
    if not pairs.ids:
        raise ValueError("the two files share no sample id")
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    report = classification_report(
        [gt[i] for i in pairs.ids], [pred[i] for i in pairs.ids], labels=labels
    )
    keys = ("accuracy", "waf", "macro_f1", "uar", "war", "n")
    _print_table("closed-set classification", [(k, report[k]) for k in keys])
    per_class = [(c, _prf({**v, "n": v["support"]})) for c, v in report["per_class"].items()]
    _print_table("per class: precision / recall / f1 (support)", per_class)
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_confusion_matrix(report["confusion_matrix"], report["labels"], path=args.plot)
        print(f"wrote {args.plot}")
    _print_pairing(pairs)
    return {"classification": report, **pairs.summary()}


def _dimensions(args: argparse.Namespace) -> dict[str, Any]:
    column = args.pred_value_column or args.value_column
    gt = load_values(
        args.gt, id_column=args.id_column, value_column=args.value_column, argument="--gt"
    )
    pred = load_values(args.pred, id_column=args.id_column, value_column=column, argument="--pred")
    pairs = pair_ids(gt, pred, strict=args.strict)
    if not pairs.ids:
        raise ValueError("the two files share no sample id")
    scores: dict[str, Any] = dimensional_scores(
        [gt[i] for i in pairs.ids], [pred[i] for i in pairs.ids], sentiment=args.sentiment
    )
    if args.emotion_column:
        kw = {"id_column": args.id_column, "label_column": args.emotion_column}
        gt_emo = load_categories(args.gt, **kw, argument="--gt")
        pred_emo = load_categories(args.pred, **kw, argument="--pred")
        # The combined score needs both parts on the same samples.
        scores["waf"] = weighted_f1(
            [gt_emo[i] for i in pairs.ids], [pred_emo[i] for i in pairs.ids]
        )
        scores["mer2023_score"] = mer2023_score(scores["waf"], scores["mse"])
    _print_table(f"dimensional scores ({args.value_column})", list(scores.items()))
    _print_pairing(pairs)
    return {"dimensions": scores, **pairs.summary()}


def _print_table(title: str, rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(title)
    print("-" * max(len(title), width + 12))
    for key, value in rows:
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {text}")
    print()


def _print_pairing(pairs: IdPairing) -> None:
    for label, ids in (
        ("only in ground truth (not scored)", pairs.only_ground_truth),
        ("only in predictions (not scored)", pairs.only_predictions),
    ):
        if ids:
            shown = ", ".join(ids[:10]) + (" …" if len(ids) > 10 else "")
            print(f"{len(ids)} id(s) {label}: {shown}")


def _jsonable(value: Any) -> Any:
    """Plain JSON: NaN (an undefined correlation) becomes null instead of invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
