"""The side-by-side report of a multi-model study (``emoalign compare``).

One page: a table of every level with CIs, RSA bars with CIs and the pairwise tests, item and
category matching per model against chance, the distribution of per-video agreement and the
model-by-model RSA matrix; the figures as PNGs and every number in ``metrics.json``.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from emoalign.alignment.matching import wilson_interval
from emoalign.report import figures
from emoalign.report.files import write_bytes, write_text
from emoalign.report.html import _STYLE, _json_ready
from emoalign.report.tables import records

if TYPE_CHECKING:
    from emoalign.comparison.inference import RSAComparison
    from emoalign.comparison.study import Comparison

KS = (1, 3, 5)
AGREEMENT_LABELS = {
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "cosine": "cosine",
    "top1_in_top1": "top-1 in human top-1 (%)",
    "top1_in_top3": "top-1 in human top-3 (%)",
}


def _interval(value: float, low: float, high: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return "—"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def rsa_bars_figure(cmp: RSAComparison) -> Figure:
    """Each model's RSA r with its bootstrap CI, and the noise ceiling when there is one."""
    table = cmp.table
    names = table["candidate"].to_list()
    r = table["r"].to_numpy()
    low, high = table["ci_low"].to_numpy(), table["ci_high"].to_numpy()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(names) + 2), 4.4), layout="constrained")
    x = np.arange(len(names))
    colors = figures.category_colors(max(len(names), 1))
    ax.bar(x, r, 0.6, color=colors[: len(names)], edgecolor="k", linewidth=0.4)
    ax.errorbar(x, r, yerr=[r - low, high - r], fmt="none", ecolor="k", capsize=5, lw=1.2)
    # Values sit above the interval, where the error bar cannot hide them.
    for xi, value, top in zip(x, r, np.where(np.isfinite(high), high, r), strict=True):
        ax.annotate(
            f"{value:.3f}",
            (xi, top),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 3),
            textcoords="offset points",
        )
    if cmp.noise_ceiling is not None:
        nc = cmp.noise_ceiling
        ax.axhspan(nc.ci_low, nc.ci_high, color="#bbbbbb", alpha=0.5, lw=0)
        ax.axhline(nc.ceiling, color="#555555", ls="--", lw=1, label="noise ceiling")
        ax.legend(fontsize=8, loc="lower right")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, names, fontsize=9)
    ax.set_ylabel(f"RSA {cmp.method} r with the humans")
    ax.set_title(
        f"RSA with {cmp.ci:.0%} bootstrap CIs over videos\n({cmp.n_boot} samples)", fontsize=10
    )
    return fig


def agreement_figure(values: dict[str, np.ndarray], statistic: str) -> Figure:
    """The distribution over videos of one per-video agreement statistic, model by model."""
    names = list(values)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(names) + 2), 4.4), layout="constrained")
    data = [v[np.isfinite(v)] for v in values.values()]
    shown = [d if d.size else np.array([np.nan]) for d in data]
    parts = ax.violinplot(shown, showmedians=True, showextrema=False)
    colors = figures.category_colors(max(len(names), 1))
    for body, color in zip(parts["bodies"], colors, strict=False):
        body.set_facecolor(color)
        body.set_alpha(0.6)
    for i, d in enumerate(data, start=1):
        ax.text(
            i,
            1.02,
            f"mean {d.mean():.3f}" if d.size else "none",
            ha="center",
            fontsize=8,
            transform=ax.get_xaxis_transform(),
        )
    ax.set_xticks(np.arange(1, len(names) + 1), names, fontsize=9)
    ax.set_ylabel(f"per-video {AGREEMENT_LABELS[statistic]}")
    ax.set_title("video-level agreement with the humans", pad=18, fontsize=10)
    return fig


def model_rsa_figure(names: list[str], rows: list[dict[str, Any]]) -> Figure:
    """RSA r between every two sides, humans included."""
    k = len(names)
    index = {name: i for i, name in enumerate(names)}
    M = np.eye(k)
    for row in rows:
        i, j = index[row["a"]], index[row["b"]]
        M[i, j] = M[j, i] = row["r"]
    fig, ax = plt.subplots(figsize=(1.1 * k + 2.8, 1.0 * k + 2.2), layout="constrained")
    im = ax.imshow(M, cmap="RdBu_r", vmin=-1, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{M[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(M[i, j]) > 0.6 else "black",
            )
    ax.set_xticks(range(k), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_title("RSA between every two RDMs")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _levels_rows(c: Comparison) -> list[dict[str, Any]]:
    rows = []
    for name in c.models:
        row: dict[str, Any] = {"model": name}
        for stat in c.agreement[name].summary.iter_rows(named=True):
            digits = 1 if stat["statistic"].startswith("top") else 3  # hit rates are in %
            row[f"video {AGREEMENT_LABELS[stat['statistic']]}"] = _interval(
                stat["mean"], stat["ci_low"], stat["ci_high"], digits
            )
        r = c.rsa.table.filter(c.rsa.table["candidate"] == name).row(0, named=True)
        row[f"RSA {c.rsa.method} r"] = _interval(r["r"], r["ci_low"], r["ci_high"])
        row["Mantel p"] = r["mantel_p"]
        if name in c.alignments:
            a = c.alignments[name]
            row["item top-1 (%)"] = f"{a.matching_rate(1):.1f} (chance {a.chance(1):.1f})"
            if a.labels is not None:
                row["category top-1 (%)"] = (
                    f"{a.category_matching_rate(1):.1f} (chance {a.category_chance(1):.1f})"
                )
        rows.append(row)
    return rows


def write_compare_report(
    comparison: Comparison,
    out_dir: str | os.PathLike[str],
    *,
    title: str = "emoalign comparison report",
    permutations: int = 1000,
) -> Path:
    """Draws the figures and writes them, ``metrics.json`` and ``report.html`` into ``out_dir``;
    returns the HTML file's path."""
    out = Path(out_dir)
    c = comparison
    ks = tuple(k for k in KS if k <= c.n)
    drawn: dict[str, Figure] = {
        "rsa_bars": rsa_bars_figure(c.rsa),
        "agreement_pearson": agreement_figure(
            {m: c.agreement[m].per_video["pearson"].to_numpy() for m in c.models}, "pearson"
        ),
        "model_rsa": model_rsa_figure(list(c.names), c.model_rsa.to_dicts()),
    }
    for name, a in c.alignments.items():
        rates: dict[str, dict[int, float]] = {"item": {k: a.matching_rate(k) for k in ks}}
        chance: dict[str, dict[int, float]] = {"item": {k: a.chance(k) for k in ks}}
        if a.labels is not None:
            rates["category"] = {k: a.category_matching_rate(k) for k in ks}
            chance["category"] = {k: a.category_chance(k) for k in ks}
        intervals = {
            level: {k: wilson_interval(rate, a.n) for k, rate in by_k.items()}
            for level, by_k in rates.items()
        }
        fig = figures.matching_figure(rates, intervals, chance, None, 0)
        fig.axes[0].set_title(f"{name}: matching rate against chance")
        drawn[f"matching_{name}"] = fig
    images: dict[str, bytes] = {}
    for key, fig in drawn.items():
        images[key] = figures.render(fig).png
        write_bytes(out / f"{key}.png", images[key])
    write_text(out / "metrics.json", json.dumps(_json_ready(c.summary(permutations)), indent=2))

    def img(key: str, alt: str) -> str:
        data = base64.b64encode(images[key]).decode("ascii")
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

    unmatched = [
        {
            "model": name,
            "videos only in the humans": len(u["reference_only"]),
            "videos only in the model": len(u["model_only"]),
        }
        for name, u in c.matched.unmatched.items()
    ]
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class=note>{c.n} videos shared by the humans and {len(c.models)} model(s) "
        f"({html.escape(', '.join(c.models))}). Intervals are {c.rsa.ci:.0%} percentile "
        f"bootstrap intervals over videos ({c.rsa.n_boot} samples).</p>",
        "<h2>Every level</h2>",
        records(_levels_rows(c)),
        "<h2>RSA with inference</h2>",
        img("rsa_bars", "RSA r per model with bootstrap CIs"),
        f"<p class=note>{html.escape(c.rsa.ceiling_note)}</p>",
        "<h3>Pairwise differences (Holm-corrected across pairs)</h3>",
        records(c.rsa.pairwise.to_dicts()),
        "<h3>Per model</h3>",
        records(c.rsa.table.to_dicts()),
        "<h2>Video-level agreement</h2>",
        img("agreement_pearson", "per-video Pearson r per model"),
    ]
    for name in c.models:
        a = c.agreement[name]
        parts += [f"<h3>{html.escape(name)}</h3>", records(a.summary.to_dicts())]
        if a.by_category is not None:
            parts += ["<p class=note>per category</p>", records(a.by_category.to_dicts())]
    if c.alignments:
        parts.append("<h2>GWOT matching per model</h2>")
        for name in c.alignments:
            parts.append(img(f"matching_{name}", f"matching rates of {name} against chance"))
    parts += [
        "<h2>RSA between every two RDMs</h2>",
        img("model_rsa", "RSA matrix"),
        records(c.model_rsa.to_dicts()),
    ]
    if any(u["videos only in the humans"] or u["videos only in the model"] for u in unmatched):
        parts += ["<h2>Unmatched videos (left out)</h2>", records(unmatched)]
    parts.append("</body></html>")
    return write_text(out / "report.html", "\n".join(parts))
