"""The report's figures as page elements: each drawn, numbered, captioned from the study's own
numbers, given alt text that says what it shows, and offered as SVG."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from emoalign.report import figures, numbers
from emoalign.report.tables import key

if TYPE_CHECKING:
    from emoalign.alignment.result import Alignment

MAX_EMBEDDED_SVG = 1_000_000
"""Bytes up to which a figure's SVG is embedded in the page (base64 adds a third)."""


@dataclass(frozen=True)
class Figure:
    """One numbered figure: where it goes, its caption and its alt text."""

    name: str
    title: str
    caption: str
    alt: str
    image: figures.Rendered


def data_uri(kind: str, data: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def figure_html(number: int, fig: Figure) -> str:
    # Shown at 96 CSS px per figure inch (the PNG holds figures.DPI px per inch, for sharp
    # zoom and print), so that text has the same size in every figure.
    width, height = (round(v * 96 / figures.DPI) for v in fig.image.size)
    return (
        f'<figure id="fig-{fig.name}">'
        f'<img alt="{html.escape(fig.alt)}" width={width} height={height} '
        f'src="{data_uri("image/png", fig.image.png)}">'
        f"<figcaption><b>Figure {number}.</b> <b>{html.escape(fig.title)}.</b> {fig.caption}"
        f"{svg_link(number, fig)}</figcaption></figure>"
    )


def svg_link(number: int, fig: Figure) -> str:
    """The figure's SVG, embedded for download; a big one (a heat map of a large study, whose
    SVG is itself a raster) is linked as the file beside the page, to keep the page small."""
    if len(fig.image.svg) <= MAX_EMBEDDED_SVG:
        href = data_uri("image/svg+xml", fig.image.svg)
        return f'<a class=dl download="figure{number}-{fig.name}.svg" href="{href}">SVG</a>'
    return f'<a class=dl href="{fig.name}.svg">SVG ({fig.name}.svg, beside this page)</a>'


def _pooled(step: int, how: str, what: str) -> str:
    """The caption's sentence on a pooled heat map ("" when every entry has its own cell)."""
    if step == 1:
        return ""
    reduce = "largest" if how == "max" else "mean"
    return (
        f" The image is {how}-pooled for display: each cell shows the {reduce} {what} of a "
        f"block of {step} × {step} videos."
    )


def draw(
    a: Alignment,
    names: tuple[str, str],
    metric_names: tuple[str, str],
    order: figures.Order,
    rates: dict[str, dict[int, float]],
    intervals: dict[str, dict[int, tuple[float, float]]],
    chance: dict[str, dict[int, float]],
    baseline: dict[str, dict[int, float]] | None,
    shuffles: int,
    stats: dict[str, tuple[float, str]],
) -> tuple[list[Figure], dict[str, Any]]:
    """The six figures with captions, plus the figure-derived numbers for metrics.json."""
    e = html.escape
    n = a.n
    k_text = "" if a.labels is None else f", sorted into {len(order.names)} category blocks"
    complete = a.trials.filter(a.trials["state"] == "complete")
    rate_col = "category_rate" if a.labels is not None else "item_rate"
    rate_name = ("category" if a.labels is not None else "item") + " matching top-1"
    eps = complete["epsilon"].to_numpy()
    gw = complete["gw_dist"].to_numpy()
    trial_rates = complete[rate_col].fill_null(float("nan")).to_numpy()
    converged = complete["converged"].fill_null(False).to_numpy().astype(bool)
    best = int(np.flatnonzero(complete["trial"].to_numpy() == a.best_trial)[0])
    stalled = int((~converged).sum())
    embedding = a.aligned_embedding(2)
    shown_videos = len(embedding.videos)
    rsa_videos = a.rsa_videos
    rsa_fig, shown_pairs = figures.rsa_figure(
        *a.costs, a.labels, stats, names, metric_names, seed=a.spec.seed, stat_videos=rsa_videos
    )
    rdms_fig, rdm_step = figures.rdms_figure(*a.costs, order, names, metric_names)
    plan_fig, plan_step = figures.plan_figure(a.plan, order, names)
    pairs = n * (n - 1) // 2
    level_rates = "; ".join(
        f"{level} top-1 {numbers.percent(rates[level][1])} % (chance "
        f"{numbers.percent(chance[level][1])} %)"
        for level in rates
    )
    shuffled = "" if not shuffles else (
        f" Grey bars: the shuffled-ratings baseline "
        f"({'1 shuffle' if shuffles == 1 else f'mean of {shuffles} shuffles'}), aligned at the "
        f"same ε."
    )  # fmt: skip
    same = "" if a.labels is None else (
        " Orange: pairs of videos from the same category; grey: pairs from different categories."
    )  # fmt: skip
    sampled = (
        "" if shown_pairs == pairs else f" A seeded random {shown_pairs:,} of the pairs are drawn."
    )
    rsa_subsample = "" if rsa_videos == n else (
        f" r and Mantel p are computed over the {rsa_videos * (rsa_videos - 1) // 2:,} pairs of "
        f"a seeded subsample of {rsa_videos:,} of the {n:,} videos, stratified by category."
    )  # fmt: skip
    drawn = [
        Figure(
            "rdms",
            "Representational dissimilarity matrices",
            f"{e(names[0])} ({e(metric_names[0])}) and {e(names[1])} ({e(metric_names[1])}) "
            f"dissimilarities between the {n} videos, each scaled to a maximum of 1; videos in "
            f"the same order on both{e(k_text)}, white lines between categories."
            + _pooled(rdm_step, "mean", "distance"),
            f"Two heat maps of {n}×{n} dissimilarity matrices, {names[0]} ({metric_names[0]}) "
            f"left and {names[1]} ({metric_names[1]}) right{k_text}.",
            figures.render(rdms_fig),
        ),
        Figure(
            "plan",
            "Optimal transport plan",
            f"The plan at ε = {numbers.epsilon(a.epsilon)} (trial {a.best_trial}): row i shows "
            f"how {e(names[0])} video i's mass is spread over the {e(names[1])} videos (× n, so "
            f"1 means the whole row on one video; the colour scale ends at the median of the "
            f"rows' largest entries, and entries above it share the darkest colour); rows and "
            f"columns in the same video order, so item matches lie on the diagonal and category "
            f"matches inside its blocks." + _pooled(plan_step, "max", "plan entry"),
            f"Heat map of the {n}×{n} transport plan from {names[0]} to {names[1]} videos; "
            f"item matching top-1 is {numbers.percent(rates['item'][1])} %.",
            figures.render(plan_fig),
        ),
        Figure(
            "epsilon",
            "ε search",
            f"(a) GW distance (without the entropy term) of each of the {len(eps)} complete "
            f"trials against ε, coloured by {rate_name}; (b) {rate_name} against GW distance, "
            f"as in GWTune. Red ring: the best trial (lowest GW distance). Hollow squares: "
            f"trials that stopped at max_iter = {a.spec.options.max_iter} before converging "
            f"({stalled} of {len(eps)}).",
            f"Two scatter plots of {len(eps)} trials: GW distance against epsilon on a log "
            f"scale, and {rate_name} against GW distance; the best trial at epsilon "
            f"{numbers.epsilon(a.epsilon)} with GW distance {numbers.distance(a.gw_dist)} is "
            f"ringed.",
            figures.render(
                figures.epsilon_figure(eps, gw, trial_rates, converged, best, rate_name)
            ),
        ),
        Figure(
            "matching",
            "Matching rates",
            f"Top-k matching rates of the plan (blue, with 95 % Wilson intervals over {n} "
            f"videos) against chance (dashed red).{shuffled}",
            f"Bar chart of matching rates with confidence intervals and chance lines: "
            f"{level_rates}.",
            figures.render(figures.matching_figure(rates, intervals, chance, baseline, shuffles)),
        ),
        Figure(
            "embedding",
            "Aligned embedding",
            (
                ""
                if shown_videos == n
                else f"{shown_videos:,} of the {n:,} videos shown: a seeded subsample, "
                "stratified by category, on which the MDS, the alignment and the PCA are computed. "
            )
            + f"Classical MDS of each RDM in {embedding.aligned_dim} dimensions (keeping "
            f"{numbers.percent(100 * embedding.kept[0])} % and "
            f"{numbers.percent(100 * embedding.kept[1])} % of the variance); the {e(names[1])} "
            f"embedding rotated, scaled and shifted onto the {e(names[0])} one through the plan "
            f"(weighted Procrustes), then both projected on one shared PCA basis (axes give the "
            f"share of the aligned variance). "
            + ("Grey segments join each video's two points. " if n <= 300 else "")
            + "Faithfulness: mean distance between a video's two points over the spread (RMS "
            f"distance from the centroid) = "
            f"{key('embedding.gap', f'{embedding.gap:.2f}')} (0: every pair coincides; about "
            f"1.4 for unrelated clouds).",
            f"Scatter of both sides' videos in one aligned MDS plane, {names[0]} as dots and "
            f"{names[1]} as crosses, coloured by category; mean pair gap over spread "
            f"{embedding.gap:.2f}.",
            figures.render(figures.embedding_figure(embedding, a.labels, names, n)),
        ),
        Figure(
            "rsa",
            "Representational similarity",
            f"Dissimilarity of each video pair in {e(names[0])}'s RDM against {e(names[1])}'s, "
            f"over all {pairs:,} pairs.{sampled}{same}{rsa_subsample} "
            + "; ".join(
                f"{m.capitalize()} r = {r:.3f}, Mantel p {p}" for m, (r, p) in stats.items()
            )
            + ".",
            f"Scatter of {names[0]} against {names[1]} pairwise dissimilarities; "
            + "; ".join(f"{m} r {r:.3f}" for m, (r, _) in stats.items())
            + ".",
            figures.render(rsa_fig),
        ),
    ]
    derived = {
        "embedding": {
            "gap": embedding.gap,
            "explained": embedding.explained.tolist(),
            "aligned_dim": embedding.aligned_dim,
            "kept": list(embedding.kept),
            "videos": shown_videos,
        },
        "pooling": {"rdms": rdm_step, "plan": plan_step},
        "figures": {
            f.name: {"number": i + 1, "width": f.image.size[0], "height": f.image.size[1]}
            for i, f in enumerate(drawn)
        },
    }
    return drawn, derived
