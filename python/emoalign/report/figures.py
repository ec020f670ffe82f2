"""The report's figures, drawn with matplotlib's Agg backend (no display needed).

Matrices are drawn with videos sorted by category and the category blocks outlined, so that at
n = 2185 the structure is read from the blocks rather than from individual cells; images are
rasterised and antialiased when downsampled so that thin diagonals survive.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects, ticker
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image

from emoalign.alignment.embedding import AlignedEmbedding
from emoalign.factored import LowRankRDM, cost_entries
from emoalign.report.pooling import pooled_image

DPI = 150


@dataclass(frozen=True)
class Order:
    """Videos sorted by category: the permutation, block edges and the labelled blocks."""

    index: NDArray[np.intp]
    edges: NDArray[np.intp]
    names: list[str]
    counts: NDArray[np.intp]


def category_order(labels: NDArray[Any] | None, n: int) -> Order:
    if labels is None:
        return Order(np.arange(n), np.array([0, n]), [], np.array([n]))
    names, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    index = np.argsort(inverse, kind="stable")
    edges = np.concatenate([[0], np.cumsum(counts)])
    return Order(index, edges, [str(x) for x in names], counts)


def category_colors(k: int) -> NDArray[np.float64]:
    if k <= 10:
        return plt.get_cmap("tab10")(np.arange(k))
    if k <= 20:
        return plt.get_cmap("tab20")(np.arange(k))
    # Enough distinct hues for the 34 Cowen & Keltner categories.
    pool = np.vstack([plt.get_cmap(m)(np.arange(20)) for m in ("tab20", "tab20b", "tab20c")])
    return pool[np.linspace(0, len(pool) - 1, k).astype(int)]


def _blocks(ax: Any, order: Order, n: int, axis_labels: bool = True) -> None:
    if len(order.names) == 0:
        return
    for edge in order.edges[1:-1]:
        ax.axhline(edge - 0.5, color="white", lw=0.4)
        ax.axvline(edge - 0.5, color="white", lw=0.4)
    # Label only blocks wide enough to hold text; tiny categories stay outlined but unnamed.
    wide = order.counts >= max(1, n / 70)
    centres = (order.edges[:-1] + order.edges[1:]) / 2 - 0.5
    size = 7 if len(order.names) <= 12 else 4.5
    ticks = centres[wide]
    names = [name for name, keep in zip(order.names, wide, strict=True) if keep]
    ax.set_yticks(ticks, names, fontsize=size)
    if axis_labels:
        ax.set_xticks(ticks, names, fontsize=size, rotation=90)
    else:
        ax.set_xticks([])


RDM_CELLS = 1000
"""Most cells a side of an RDM heat map; a larger RDM is mean-pooled (see ``pooling``)."""
PLAN_CELLS = 600
"""Most cells a side of a plan heat map; a larger plan is max-pooled."""


def rdms_figure(
    C1: NDArray | LowRankRDM,
    C2: NDArray | LowRankRDM,
    order: Order,
    names: tuple[str, str],
    metrics: tuple[str, str],
    cells: int | None = None,
) -> tuple[Figure, int]:
    """Both RDMs side by side, videos sorted by category, titled with side name and metric.

    Above ``cells`` videos (default ``RDM_CELLS``) each image is the mean of blocks of s × s
    entries, streamed from the matrix (or its factors) without a second n × n array. Returns
    the figure and s (1: exact).
    """
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.4), layout="constrained")
    idx = order.index
    n = len(idx)
    step = 1
    for ax, C, name, metric in zip(axes, (C1, C2), names, metrics, strict=True):
        pooled = pooled_image(C, idx, idx, RDM_CELLS if cells is None else cells, "mean")
        step = pooled.step
        im = ax.imshow(
            pooled.image,
            cmap="viridis",
            interpolation="antialiased",
            rasterized=True,
            vmin=0,
            vmax=1,
            extent=(-0.5, n - 0.5, n - 0.5, -0.5),
        )
        ax.set_title(f"{name}: {metric} RDM")
        ax.set_xlabel("videos (sorted by category)")
        ax.set_ylabel("videos (sorted by category)")
        _blocks(ax, order, n)
        fig.colorbar(im, ax=ax, shrink=0.7, label=f"{metric} distance (scaled to max 1)")
    return fig, step


def plan_figure(
    plan: NDArray, order: Order, names: tuple[str, str], cells: int | None = None
) -> tuple[Figure, int]:
    """The transport plan × n; above ``cells`` videos (default ``PLAN_CELLS``) each image cell
    is the maximum of a block of s × s entries, so that every hit stays visible (averaging, as
    antialiasing does, fades a one-cell-wide diagonal away at n = 2185). The blocks are
    streamed from the plan in bands of rows: no second n × m array. Returns the figure and s
    (1: exact)."""
    n, m = plan.shape
    fig, ax = plt.subplots(figsize=(7.4, 6.6), layout="constrained")
    pooled = pooled_image(
        plan, order.index, order.index, PLAN_CELLS if cells is None else cells, "max"
    )
    scaled = pooled.image  # the pooled image is ours: scaled in place, not copied
    scaled *= n
    vmax = max(float(np.quantile(plan.max(axis=1) * n, 0.5)), 1e-12)
    im = ax.imshow(
        scaled,
        cmap="magma_r",
        interpolation="nearest",
        rasterized=True,
        vmin=0,
        vmax=vmax,
        extent=(-0.5, m - 0.5, n - 0.5, -0.5),
    )
    ax.set_title(f"optimal transport plan, {names[0]} → {names[1]}")
    ax.set_ylabel(f"{names[0]} videos (sorted by category)")
    ax.set_xlabel(f"{names[1]} videos (sorted by category)")
    _blocks(ax, order, n)
    fig.colorbar(im, ax=ax, shrink=0.75, label="mass × n (1 = all of a row on one video)")
    return fig, pooled.step


def epsilon_figure(
    eps: NDArray,
    gw: NDArray,
    rate: NDArray,
    converged: NDArray[np.bool_],
    best: int,
    rate_name: str,
) -> Figure:
    """(a) GW distance against ε, coloured by matching rate; (b) matching rate against GW
    distance, as in GWTune. Non-converged trials are hollow; ``best`` (an index) is ringed."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    norm = matplotlib.colors.Normalize(0, 100)
    cmap = plt.get_cmap("viridis")
    for ax, x, y in ((left, eps, gw), (right, gw, rate)):
        ok = converged
        ax.scatter(
            x[ok], y[ok], c=rate[ok], cmap=cmap, norm=norm, s=30, edgecolors="k", linewidths=0.3,
            label="converged",
        )  # fmt: skip
        if (~ok).any():
            ax.scatter(
                x[~ok], y[~ok], facecolors="none", edgecolors=cmap(norm(rate[~ok])), s=30,
                linewidths=1.2, marker="s", label="stopped at max_iter",
            )  # fmt: skip
        ax.scatter(
            [x[best]], [y[best]], s=180, facecolors="none", edgecolors="red", lw=1.6,
            label="best (lowest GW distance)",
        )  # fmt: skip
    left.set_xscale("log")
    # Ticks at 1, 2 and 5 × 10^k written as plain decimals: a search often spans less than a
    # decade, where the default log axis labels crowd into one another.
    left.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    left.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    left.xaxis.set_minor_formatter(ticker.NullFormatter())
    right.xaxis.set_major_locator(ticker.MaxNLocator(5))
    left.set_xlabel("ε (entropic regularisation, log scale)")
    left.set_ylabel("GW distance (without entropy)")
    left.set_title("(a) ε search")
    right.set_xlabel("GW distance (without entropy)")
    right.set_ylabel(f"{rate_name} (%)")
    right.set_ylim(-5, 107)  # room for the ring around a trial at 0 % or 100 %
    right.set_title(f"(b) {rate_name} against GW distance")
    left.legend(loc="best", fontsize=8)
    fig.colorbar(
        matplotlib.cm.ScalarMappable(norm, cmap), ax=[left, right], label=f"{rate_name} (%)"
    )
    return fig


def matching_figure(
    rates: dict[str, dict[int, float]],
    intervals: dict[str, dict[int, tuple[float, float]]],
    chance: dict[str, dict[int, float]],
    baseline: dict[str, dict[int, float]] | None,
    shuffles: int,
) -> Figure:
    """Top-k matching rates with Wilson intervals, chance lines on top, and the baseline."""
    fig, ax = plt.subplots(figsize=(7.6, 4.6), layout="constrained")
    groups = [(level, k) for level in rates for k in sorted(rates[level])]
    x = np.arange(len(groups))
    width = 0.38 if baseline else 0.6
    values = np.array([rates[level][k] for level, k in groups])
    low = np.array([intervals[level][k][0] for level, k in groups])
    high = np.array([intervals[level][k][1] for level, k in groups])
    shift = width / 2 if baseline else 0
    bars = ax.bar(
        x - shift, values, width, color="#3b6ea8", label="alignment (95 % Wilson CI)", zorder=2
    )
    # Rounding can put a bound a hair inside its rate; matplotlib rejects negative lengths.
    yerr = np.clip([values - low, high - values], 0, None)
    ax.errorbar(
        x - shift, values, yerr=yerr, fmt="none", ecolor="black", elinewidth=0.9, capsize=3,
        zorder=3,
    )  # fmt: skip
    ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=7, padding=6)
    if baseline:
        shuffled = [baseline[level][k] for level, k in groups]
        what = "1 shuffle" if shuffles == 1 else f"mean of {shuffles} shuffles"
        ax.bar(x + shift, shuffled, width, label=f"shuffled ratings ({what})", color="#bbbbbb")
    # Drawn last, dashed and haloed, so that chance stays visible on top of any bar.
    halo = [patheffects.withStroke(linewidth=3.2, foreground="white")]
    for xi, (level, k) in zip(x, groups, strict=True):
        ax.hlines(
            chance[level][k], xi - 0.45, xi + 0.45, colors="#d62728", lw=1.6, linestyles="--",
            zorder=5, path_effects=halo, label="chance" if xi == 0 else None,
        )  # fmt: skip
    ax.set_xticks(x, [f"{level}\ntop-{k}" for level, k in groups], fontsize=8)
    ax.set_ylabel("matching rate (%)")
    ax.set_ylim(0, 110)
    ax.set_title("matching rate against chance")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    return fig


def embedding_figure(
    embedding: AlignedEmbedding,
    labels: NDArray[Any] | None,
    names: tuple[str, str],
    total: int | None = None,
) -> Figure:
    """Both sides in the shared PCA plane (● source, × target), a segment joining each video's
    two points up to 300 videos; the axes give the variance explained. ``labels`` are all
    ``total`` videos' (default: as many as the embedding has); when the embedding holds a
    subsample of them, the title says how many are shown."""
    fig, ax = plt.subplots(figsize=(8.6, 6.4), layout="constrained")
    X, Y = embedding.source, embedding.target
    n = X.shape[0]
    total = n if total is None else total
    if labels is not None:
        labels = labels[embedding.videos]
    size = 16 if n <= 300 else 4
    if n <= 300:
        # One segment per video joins its two points: short segments are a faithful picture.
        segments = np.stack([X[:, :2], Y[:, :2]], axis=1)
        ax.add_collection(LineCollection(segments, colors="#999999", linewidths=0.5, zorder=1))
    groups = [(None, np.ones(n, bool))] if labels is None else [
        (name, labels == name) for name in np.unique(labels)
    ]  # fmt: skip
    colors = (
        category_colors(len(groups)) if labels is not None else np.array([[0.23, 0.43, 0.66, 1]])
    )
    for (name, mask), color in zip(groups, colors, strict=True):
        ax.scatter(
            *X[mask, :2].T, s=size, color=color, marker="o", alpha=0.85, zorder=2,
            label=names[0] if name is None else str(name), rasterized=n > 300,
        )  # fmt: skip
        ax.scatter(
            *Y[mask, :2].T, s=size * 1.4, color=color, marker="x", alpha=0.85, zorder=2,
            linewidths=0.9, label=names[1] if name is None else None, rasterized=n > 300,
        )  # fmt: skip
    ax.legend(
        title=None if labels is None else "category (● " + names[0] + ", × " + names[1] + ")",
        title_fontsize=7, fontsize=6 if len(groups) > 12 else 8, loc="center left",
        bbox_to_anchor=(1.01, 0.5), ncol=1 if len(groups) <= 20 else 2,
        markerscale=1.5 if n > 300 else 1, frameon=False,
    )  # fmt: skip
    share = embedding.explained * 100
    ax.set_xlabel(f"shared PC 1 ({share[0]:.1f} % of aligned variance)")
    ax.set_ylabel(f"shared PC 2 ({share[1]:.1f} % of aligned variance)")
    subsample = "" if n == total else f"\n{n:,} of {total:,} videos shown (stratified subsample)"
    ax.set_title(
        f"aligned MDS: ● {names[0]}, × {names[1]}; pair gap / spread = {embedding.gap:.2f}"
        + subsample,
        fontsize=10,
    )
    ax.set_aspect("equal", adjustable="datalim")
    return fig


MAX_SCATTER_PAIRS = 20_000


def condensed_pairs(n: int, k: NDArray[np.int64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The pairs (i, j), i < j, at positions ``k`` of scipy's condensed order over n items,
    without the 2 × n(n − 1)/2 index arrays of ``np.triu_indices`` (3.2 GB at n = 20,000)."""
    i = np.arange(n, dtype=np.int64)
    starts = i * n - i * (i + 1) // 2  # position of (i, i + 1)
    rows = np.searchsorted(starts, k, side="right") - 1
    return rows.astype(np.intp), (k - starts[rows] + rows + 1).astype(np.intp)


def rsa_figure(
    C1: NDArray | LowRankRDM,
    C2: NDArray | LowRankRDM,
    labels: NDArray[Any] | None,
    stats: dict[str, tuple[float, str]],
    names: tuple[str, str],
    metrics: tuple[str, str],
    seed: int = 0,
    stat_videos: int | None = None,
) -> tuple[Figure, int]:
    """Pairwise dissimilarities of one side against the other, within-category pairs in colour.

    Above ``MAX_SCATTER_PAIRS`` pairs a seeded random sample is drawn, read entry by entry from
    the matrices or their factors. ``stat_videos``: how many videos ``stats`` were computed on,
    when a subsample (said in the figure). Returns the figure and the number of pairs drawn.
    """
    fig, ax = plt.subplots(figsize=(6.6, 5.6), layout="constrained")
    n = C1.shape[0]
    total = n * (n - 1) // 2
    if total > MAX_SCATTER_PAIRS:
        rng = np.random.default_rng(seed)
        shown = np.sort(rng.choice(total, MAX_SCATTER_PAIRS, replace=False))
    else:
        shown = np.arange(total, dtype=np.int64)
    rows, cols = condensed_pairs(n, shown)
    x, y = cost_entries(C1, rows, cols), cost_entries(C2, rows, cols)
    dense = len(shown) > 3000
    style = {"s": 3 if dense else 9, "alpha": 0.35 if dense else 0.6, "rasterized": dense}
    if labels is None:
        ax.scatter(x, y, color="#3b6ea8", lw=0, label="video pairs", **style)
    else:
        within = labels[rows] == labels[cols]
        ax.scatter(x[~within], y[~within], color="#9e9e9e", lw=0, label="between categories",
                   **style)  # fmt: skip
        ax.scatter(x[within], y[within], color="#e66101", lw=0, label="within a category",
                   **style)  # fmt: skip
    text = "\n".join(f"{m.capitalize()} r = {r:.3f}, Mantel p {p}" for m, (r, p) in stats.items())
    if stat_videos is not None and stat_videos < n:
        text += f"\n(on a subsample of {stat_videos:,} of {n:,} videos)"
    ax.text(
        0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=8.5,
        bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": "none"},
    )  # fmt: skip
    ax.legend(loc="lower right", fontsize=8, markerscale=2.5 if dense else 1.5)
    ax.set_xlabel(f"{names[0]}: {metrics[0]} distance (scaled)")
    ax.set_ylabel(f"{names[1]}: {metrics[1]} distance (scaled)")
    sampled = "" if len(shown) == total else f" (random {len(shown):,} of {total:,} shown)"
    ax.set_title(f"RSA over {total:,} video pairs{sampled}", fontsize=10)
    return fig, len(shown)


@dataclass(frozen=True)
class Rendered:
    """One figure as PNG (shown in the page) and SVG (offered for download)."""

    png: bytes
    svg: bytes
    size: tuple[int, int]
    """The PNG's width and height in pixels."""


def render(fig: Figure) -> Rendered:
    """Saves ``fig`` as PNG and SVG (no timestamps, so reruns give the same bytes) and closes it."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, format="svg", dpi=DPI, metadata={"Date": None})
    plt.close(fig)
    with Image.open(io.BytesIO(png.getvalue())) as image:
        size = image.size
    return Rendered(png.getvalue(), svg.getvalue(), size)
