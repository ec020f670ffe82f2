"""Writing the report folder: one self-contained ``report.html`` meant to be read (and printed) as
a paper's supplement, each figure as PNG and SVG, and ``metrics.json`` with every number shown.

The page states how the study was run (provenance header and a "Reproduce" block), says what it
did in a methods paragraph with citations, numbers and captions its figures and tables, and
writes each kind of number with one precision (``report.numbers``). Elements that show a key
number carry ``data-metric="<path in metrics.json>"`` so tests can check the page against the
JSON.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emoalign.alignment.matching import wilson_interval
from emoalign.report import figures, gallery, methods, numbers
from emoalign.report.files import write_bytes, write_text
from emoalign.report.tables import Column, key, plain, table

if TYPE_CHECKING:
    from emoalign.alignment.result import Alignment

KS = (1, 3, 5)

_STYLE = """
:root{color-scheme:light}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1060px;
margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.55em;margin:.2em 0 .3em}h2{font-size:1.2em;margin-top:2.2em;
border-bottom:1px solid #ccc}
h2,h3,caption{break-after:avoid;page-break-after:avoid}
.lede{font-size:1.02em;margin:.2em 0 1em}.lede b{white-space:nowrap}
.wrap{overflow-x:auto;max-width:100%;margin:.6em 0}
table{border-collapse:collapse;font-size:.86em;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-size:.95em;padding:.3em 0;color:#333}
td,th{border:1px solid #d6d6d6;padding:.25em .6em;text-align:right;vertical-align:top}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
table.prov td,table.prov th{text-align:left;border:none;border-bottom:1px solid #eee}
table.prov th{background:none;white-space:nowrap;padding-right:1.2em;font-weight:600}
tr.best td{background:#fff3c4;font-weight:600}
figure{margin:1.6em 0;break-inside:avoid;page-break-inside:avoid}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.9em;margin-top:.4em}
a.dl{font-size:.85em;margin-left:.6em}
pre{background:#f5f5f5;padding:.7em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em}
.note{color:#555;font-size:.88em}.refs{font-size:.88em}.refs li{margin:.25em 0}
@media (max-width:820px){body{font-size:14px;padding:0 .6em}table{font-size:.8em}}
@media print{@page{margin:14mm}body{max-width:none;margin:0;font-size:10pt}a.dl{display:none}
.wrap{overflow:visible;break-inside:avoid;page-break-inside:avoid}
figure img{max-height:5.4in;width:auto}a{color:inherit;text-decoration:none}}
"""


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _provenance_rows(
    a: Alignment, names: tuple[str, str], permutations: int, shuffles: int
) -> list[tuple[str, str]]:
    prov = a.provenance
    p, spec = a.prepared, a.spec
    e = html.escape
    versions = prov.get("versions", {})
    software = ", ".join(
        f"{name} {e(str(v))}"
        for name, v in versions.items()
        if v is not None and name not in ("git", "platform")
    )
    if versions.get("git"):
        software = software.replace(
            f"emoalign {e(str(versions['emoalign']))}",
            f"emoalign {e(str(versions['emoalign']))} (git {e(str(versions['git']))})",
            1,
        )
    solver = prov.get("solver", {})
    trials = prov.get("trials", {})
    storage = prov.get("storage", {})
    categories = "" if a.labels is None else f", {len(np.unique(a.labels))} categories"
    rows = [
        ("Study", e(a.study_name)),
        (
            "Data",
            f"{e(names[0])} (source) → {e(names[1])} (target); {a.n} videos{categories}",
        ),
        (
            "RDMs",
            "; ".join(
                f"{e(name)}: "
                + (f"{e(metric)} distance between rating vectors" if metric else "given as an RDM")
                for name, metric in zip(names, (p.source_metric, p.target_metric), strict=True)
            )
            + "; each scaled to max 1",
        ),
        (
            "ε search",
            f"[{spec.eps_range[0]:g}, {spec.eps_range[1]:g}], log scale; sampler "
            f"{e(spec.sampler)}; {spec.n_trials} trials requested, "
            f"{trials.get('complete', '?')} complete, {trials.get('pruned', 0)} pruned (settled "
            f"where they could not beat the best), {trials.get('failed', 0)} failed, "
            f"{trials.get('retries', 0)} retries",
        ),
        (
            "Initial plans",
            f"{len(spec.kinds)} per trial ({e(', '.join(spec.kinds))})"
            + (
                ", plus a warm start from the plan of the finished trial nearest in ε"
                if spec.warm_start
                else ""
            ),
        ),
        (
            "Solver",
            f"{e(str(solver.get('method', 'entropic GW')))}; {e(str(solver.get('loss', '')))}; "
            f"{e(str(solver.get('precision', '')))}; Anderson acceleration "
            f"{'on' if solver.get('accelerate') else 'off'}; max_iter {spec.options.max_iter}, "
            f"tol {spec.options.tol:g}, inner_tol {spec.options.inner_tol:g}; "
            f"{solver.get('threads', '?')} thread(s)",
        ),
        (
            "Statistics",
            f"Mantel tests with {permutations:,} permutations; shuffled-ratings baseline: "
            + (f"{shuffles} shuffle{'s' if shuffles != 1 else ''}" if shuffles else "not run"),
        ),
        ("Seed", str(spec.seed)),
        ("Command", f"<code>{e(str(prov.get('command', '—')))}</code>"),
        ("Software", software or "—"),
        ("Run (UTC)", f"{e(prov.get('started', '?'))} – {e(prov.get('finished', '?'))}"),
        (
            "Storage",
            e(str(storage.get("kind", "?")))
            + (f" ({e(str(storage['location']))})" if storage.get("location") else ""),
        ),
    ]
    return rows


def write_report(
    alignment: Alignment,
    out_dir: str | os.PathLike[str],
    *,
    names: tuple[str, str] = ("source", "target"),
    title: str = "emoalign alignment report",
    permutations: int = 1000,
) -> Path:
    """Writes ``report.html``, each figure as PNG and SVG, and ``metrics.json`` into ``out_dir``.

    Parameters
    ----------
    alignment : Alignment
        The study's result. Its shuffled-ratings baseline appears if it was computed
        (``alignment.baseline(n)``) before the report.
    out_dir : str or path
        Folder for the files (created if missing); each file is written atomically.
    names : (str, str)
        What the two sides are called throughout (for example ``("human", "model")``).
    title : str
        The page's title.
    permutations : int
        Mantel permutations of the RSA p-values.

    Returns
    -------
    Path
        The HTML file.
    """
    out = Path(out_dir)
    a = alignment
    labels = a.labels
    ks = tuple(k for k in KS if k <= a.n)
    order = figures.category_order(labels, a.n)
    summary = a.summary(ks, permutations)
    metric_names = (
        a.prepared.source_metric or "given",
        a.prepared.target_metric or "given",
    )
    rates: dict[str, dict[int, float]] = {"item": {k: a.matching_rate(k) for k in ks}}
    chance: dict[str, dict[int, float]] = {"item": {k: a.chance(k) for k in ks}}
    if labels is not None:
        rates["category"] = {k: a.category_matching_rate(k) for k in ks}
        chance["category"] = {k: a.category_chance(k) for k in ks}
    intervals = {
        level: {k: wilson_interval(rate, a.n) for k, rate in by_k.items()}
        for level, by_k in rates.items()
    }
    shuffles = a.baseline_shuffles
    baseline = None
    if shuffles:
        mean = a.baseline(shuffles).mean().to_dicts()[0]
        baseline = {
            level: {k: float(mean.get(f"{level}_top{k}", float("nan"))) for k in ks}
            for level in rates
        }
    stats = {
        m: (summary[f"rsa_{m}"]["r"], numbers.p_value(summary[f"rsa_{m}"]["p_value"], permutations))
        for m in ("pearson", "spearman")
    }
    drawn, derived = gallery.draw(
        a, names, metric_names, order, rates, intervals, chance, baseline, shuffles, stats
    )
    for fig in drawn:
        write_bytes(out / f"{fig.name}.png", fig.image.png)
        write_bytes(out / f"{fig.name}.svg", fig.image.svg)

    metrics = dict(summary)
    metrics["names"] = list(names)
    for level in intervals:
        metrics[f"{level}_ci95"] = {f"top{k}": list(v) for k, v in intervals[level].items()}
    if baseline is not None:
        metrics["baseline_mean"] = {
            level: {f"top{k}": v for k, v in by_k.items()} for level, by_k in baseline.items()
        }
    metrics.update(derived)
    if labels is not None:
        metrics["per_category"] = a.per_category(1).to_dicts()
    metrics["trials"] = a.trials.to_dicts()
    write_text(out / "metrics.json", json.dumps(_json_ready(metrics), indent=2))

    page = _page(a, names, title, permutations, shuffles, ks, rates, intervals, chance, baseline,
                 summary, drawn)  # fmt: skip
    return write_text(out / "report.html", page)


def _page(
    a: Alignment,
    names: tuple[str, str],
    title: str,
    permutations: int,
    shuffles: int,
    ks: tuple[int, ...],
    rates: dict[str, dict[int, float]],
    intervals: dict[str, dict[int, tuple[float, float]]],
    chance: dict[str, dict[int, float]],
    baseline: dict[str, dict[int, float]] | None,
    summary: dict[str, Any],
    drawn: list[gallery.Figure],
) -> str:
    e = html.escape
    spec = a.spec
    categories = "" if a.labels is None else f" in {len(np.unique(a.labels))} categories"
    metric = (
        e(a.prepared.source_metric or "given")
        if a.prepared.source_metric == a.prepared.target_metric
        else f"{e(a.prepared.source_metric or 'given')} / {e(a.prepared.target_metric or 'given')}"
    )
    lede = (
        f"{e(names[0])} vs {e(names[1])}: {key('n_videos', str(a.n))} videos{categories}, "
        f"{metric} RDMs. Entropic GW alignment with ε searched in "
        f"[{spec.eps_range[0]:g}, {spec.eps_range[1]:g}] over {spec.n_trials} trials: best "
        f"<b>ε = {key('epsilon', numbers.epsilon(a.epsilon))}</b> (trial "
        f"{key('best_trial', str(a.best_trial))}), <b>GW distance "
        f"{key('gw_dist', numbers.distance(a.gw_dist))}</b>, <b>item matching top-1 "
        f"{key('item.top1', numbers.percent(rates['item'][1]))} %</b>"
        + (
            f", <b>category matching top-1 "
            f"{key('category.top1', numbers.percent(rates['category'][1]))} %</b>"
            if "category" in rates
            else ""
        )
        + f", <b>Spearman RSA r = "
        f"{key('rsa_spearman.r', numbers.correlation(summary['rsa_spearman']['r']))}</b>."
        + ("" if a.converged else " <b>The best trial did not converge.</b>")
    )
    prov = "".join(
        f"<tr><th>{k}</th><td>{v}</td></tr>"
        for k, v in _provenance_rows(a, names, permutations, shuffles)
    )
    what = "1 shuffle" if shuffles == 1 else f"mean of {shuffles} shuffles"
    match_rows = [
        {
            "level": level,
            "k": k,
            "rate": rates[level][k],
            "ci": intervals[level][k],
            "chance": chance[level][k],
            "shuffled": None if baseline is None else baseline[level][k],
        }
        for level in rates
        for k in ks
    ]
    match_columns: list[Column] = [
        ("level", "level", plain),
        ("k", "top-k", plain),
        ("rate", "matching (%)", numbers.percent),
        ("ci", "95 % CI (%)", numbers.interval),
        ("chance", "chance (%)", numbers.percent),
    ]
    if baseline is not None:
        match_columns.append(("shuffled", f"shuffled, {what} (%)", numbers.percent))
    rsa_rows = [
        {
            "method": m.capitalize(),
            "r": summary[f"rsa_{m}"]["r"],
            "p": numbers.p_value(summary[f"rsa_{m}"]["p_value"], permutations),
            "key": f"rsa_{m}",
        }
        for m in ("pearson", "spearman")
    ]
    rsa_columns: list[Column] = [
        ("method", "correlation", plain),
        ("r", "r", numbers.correlation),
        ("p", "Mantel p (one-sided)", plain),
    ]
    tables = [
        table(
            match_rows,
            match_columns,
            f"<b>Table 1.</b> Top-k matching rates of the best plan over {a.n} videos, in "
            f"percent of videos, with 95 % Wilson intervals and exact chance levels."
            + ("" if baseline is None else f" Shuffled: the baseline ({what})."),
            metric=lambda row, col: f"{row['level']}.top{row['k']}" if col == "rate" else None,
        ),
        table(
            rsa_rows,
            rsa_columns,
            f"<b>Table 2.</b> RSA between the two RDMs over {a.n * (a.n - 1) // 2:,} video "
            f"pairs (upper triangles).",
            metric=lambda row, col: f"{row['key']}.r" if col == "r" else None,
        ),
    ]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{e(title)}</h1><p class=lede>{lede}</p>",
        f"<div class=wrap><table class=prov>{prov}</table></div></header>",
        "<h2>Methods</h2>",
        methods.paragraph(a, names, permutations, shuffles, ks),
        "<h2>Results</h2>",
        *tables,
        "<h2>Figures</h2>",
        *(gallery.figure_html(i + 1, fig) for i, fig in enumerate(drawn)),
    ]
    number = 3
    if a.labels is not None:
        per_category = a.per_category(1).to_dicts()
        parts += [
            "<h2>Per category</h2>",
            table(
                per_category,
                [
                    ("label", "category", plain),
                    ("videos", "videos", plain),
                    ("item_rate", "item top-1 (%)", numbers.percent),
                    ("category_rate", "category top-1 (%)", numbers.percent),
                    ("category_chance", "category chance (%)", numbers.percent),
                ],
                f"<b>Table {number}.</b> Top-1 matching rates by category (percent of the "
                f"category's videos), largest categories first.",
            ),
        ]
        number += 1
    parts += [
        "<h2>Trials</h2>",
        _trialstable(a, number),
        "<h2>Reproduce</h2>",
        _reproduce(a),
        "<h2>References</h2>",
        methods.reference_list(),
        "</body></html>",
    ]
    return "\n".join(parts)


def _trialstable(a: Alignment, number: int) -> str:
    """Complete trials sorted by GW distance, the best marked; columns that say nothing (the
    worker's host:PID, all-empty ones) left out."""
    complete = a.trials.filter(a.trials["state"] == "complete").sort(["gw_dist", "trial"])
    columns: list[Column] = [
        ("trial", "trial", plain),
        ("epsilon", "ε", lambda v: numbers.epsilon(v) if v is not None else "—"),
        ("gw_dist", "GW distance", numbers.distance),
        ("converged", "converged", plain),
        ("n_iter", "iterations", plain),
        ("best_init", "best start", plain),
        ("warm_from", "warm from trial", plain),
        ("item_rate", "item top-1 (%)", numbers.percent),
        ("category_rate", "category top-1 (%)", numbers.percent),
        ("seconds", "time (s)", numbers.seconds),
        ("retry_of", "retry of trial", plain),
        ("costs", "GW costs", plain),
    ]
    columns = [c for c in columns if complete[c[0]].null_count() < complete.height]
    rows = complete.to_dicts()
    for row in rows:
        if row["trial"] == a.best_trial:
            row["trial"] = f"{row['trial']} ★"
    pruned = int((a.trials["state"] == "pruned").sum())
    failed = int((a.trials["state"] == "fail").sum())
    return table(
        rows,
        columns,
        f"<b>Table {number}.</b> The {complete.height} complete trials, lowest GW distance first; "
        f"★ marks the best (its plan is the one reported"
        + (", refined at smaller ε)." if a.refined_epsilons else ").")
        + (
            f" {pruned} trial(s) pruned (settled where they could not beat the best) are not "
            f"listed."
            if pruned
            else ""
        )
        + (f" {failed} failed trial(s) are not listed." if failed else ""),
        row_class=lambda row: "best" if str(row["trial"]).endswith("★") else "",
    )


def _reproduce(a: Alignment) -> str:
    prov = a.provenance
    command = html.escape(str(prov.get("command", "")))
    if prov.get("interface") == "cli":
        note = (
            "The command that produced this study (credentials redacted). Run with the same "
            "emoalign version, inputs and seed, it recomputes the same trials."
        )
    else:
        note = (
            "The Python call that produced this study; data arguments are described by type "
            "and shape, and credentials are redacted."
        )
    return (
        f"<p class=note>{note} Every number on this page is in <code>metrics.json</code> beside "
        f"it.</p><pre data-metric=provenance.command>{command}</pre>"
    )
