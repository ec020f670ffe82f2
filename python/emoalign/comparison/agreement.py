"""Video-level agreement: how well a model's rating vector for each video matches the human one.

For every shared video: the Pearson and Spearman correlation and the cosine between the two
rating vectors, and whether the model's top item is among the human's top-1 and top-3 items. For
every item: its correlation across videos. Means come with bootstrap intervals over videos.
A correlation with a constant vector (or a cosine with a zero vector) is undefined; such videos
are flagged in ``per_video["undefined"]`` and counted in the summary, never silently averaged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from emoalign.comparison.inputs import match, same_items
from emoalign.comparison.stats import check_level, check_n_boot, percentile_ci, rank_rows

STATISTICS = ("pearson", "spearman", "cosine", "top1_in_top1", "top1_in_top3")


@dataclass(frozen=True)
class Agreement:
    """Video-level agreement of one model with the human ratings."""

    per_video: pl.DataFrame
    """One row per shared video: pearson, spearman, cosine, top1_in_top1, top1_in_top3,
    undefined (why a statistic is missing: 'constant human', 'constant model', ...), label."""
    per_item: pl.DataFrame
    """One row per item: its Pearson and Spearman correlation across videos."""
    summary: pl.DataFrame
    """Per statistic: mean over videos (hit rates in %), bootstrap CI, videos used, undefined."""
    by_category: pl.DataFrame | None
    """Per label (with ``labels``): videos and the mean of each statistic."""
    unmatched: dict[str, list[str]] = field(repr=False)
    """Video ids only in the human set ('human_only') or only in the model's ('model_only')."""
    ci: float
    n_boot: int
    seed: int

    @property
    def n_videos(self) -> int:
        return self.per_video.height

    @property
    def n_unmatched(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.unmatched.items()}

    def mean(self, statistic: str) -> float:
        return float(self.summary.filter(pl.col("statistic") == statistic)["mean"][0])


def _row_correlation(
    A: NDArray[np.float64], B: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Row-wise Pearson r, and which rows of A and of B are constant."""
    a = A - A.mean(axis=1, keepdims=True)
    b = B - B.mean(axis=1, keepdims=True)
    ssa, ssb = (a * a).sum(axis=1), (b * b).sum(axis=1)
    # Relative to the row's scale: rounding leaves ~1e-32 in an exactly constant row.
    const_a = ssa <= 1e-24 * np.maximum(1.0, (A * A).sum(axis=1))
    const_b = ssb <= 1e-24 * np.maximum(1.0, (B * B).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip((a * b).sum(axis=1) / np.sqrt(ssa * ssb), -1.0, 1.0)
    r[const_a | const_b] = np.nan
    return r, const_a, const_b


def _top_sets(X: NDArray[np.float64], k: int) -> NDArray[np.bool_]:
    """Items whose rating reaches the row's k-th largest (ties at the cut are included)."""
    k = min(k, X.shape[1])
    kth = -np.partition(-X, k - 1, axis=1)[:, k - 1 : k]
    return np.greater_equal(X, kth)


def _undefined(const_h: NDArray, const_m: NDArray, zero_h: NDArray, zero_m: NDArray) -> list:
    out: list[str | None] = []
    for ch, cm, zh, zm in zip(const_h, const_m, zero_h, zero_m, strict=True):
        parts = [
            name
            for name, flag in (
                ("zero human", zh),
                ("zero model", zm),
                ("constant human", ch and not zh),
                ("constant model", cm and not zm),
            )
            if flag
        ]
        out.append(", ".join(parts) or None)
    return out


def video_statistics(H: NDArray[np.float64], M: NDArray[np.float64]) -> dict[str, NDArray]:
    """The per-video statistics between two rating matrices with rows and items aligned."""
    pearson, const_h, const_m = _row_correlation(H, M)
    spearman, _, _ = _row_correlation(rank_rows(H), rank_rows(M))
    nh, nm = np.linalg.norm(H, axis=1), np.linalg.norm(M, axis=1)
    zero_h, zero_m = nh == 0, nm == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.clip((H * M).sum(axis=1) / (nh * nm), -1.0, 1.0)
    cosine[zero_h | zero_m] = np.nan
    # The model's top item: every item tied at its maximum must be in the human top-k, so a
    # tie cannot score a hit by luck. A constant vector has no top item.
    model_top = _top_sets(M, 1)
    hits = {}
    for k in (1, 3):
        inside = ~np.any(model_top & ~_top_sets(H, k), axis=1)
        hit = inside.astype(np.float64)
        hit[const_h | const_m] = np.nan
        hits[f"top1_in_top{k}"] = hit
    return {
        "pearson": pearson,
        "spearman": spearman,
        "cosine": cosine,
        **hits,
        "undefined": np.asarray(_undefined(const_h, const_m, zero_h, zero_m), dtype=object),
    }


def _item_correlations(
    H: NDArray[np.float64], M: NDArray[np.float64], items: list[str]
) -> pl.DataFrame:
    pearson, const_h, const_m = _row_correlation(H.T, M.T)
    spearman, _, _ = _row_correlation(rank_rows(H.T), rank_rows(M.T))
    undefined = _undefined(const_h, const_m, np.zeros_like(const_h), np.zeros_like(const_m))
    return pl.DataFrame(
        {
            "item": items,
            "pearson": pearson,
            "spearman": spearman,
            "human_mean": H.mean(axis=0),
            "model_mean": M.mean(axis=0),
            "undefined": pl.Series(undefined, dtype=pl.String),
        },
        nan_to_null=False,
    )


def _summary(stats: dict[str, NDArray], n_boot: int, seed: int, level: float) -> pl.DataFrame:
    n = len(stats["pearson"])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    rows = []
    for name in STATISTICS:
        values = stats[name]
        scale = 100.0 if name.startswith("top") else 1.0
        valid = np.isfinite(values)
        if not valid.any():
            mean, low, high = float("nan"), float("nan"), float("nan")
        else:
            mean = float(values[valid].mean()) * scale
            # All statistics share the resampled videos; an undefined one is left out of a mean.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a sample of undefined only
                boot = np.nanmean(values[idx], axis=1) * scale
            low, high = percentile_ci(boot, level)
        rows.append(
            {
                "statistic": name,
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "n_videos": int(valid.sum()),
                "n_undefined": int((~valid).sum()),
            }
        )
    return pl.DataFrame(rows)


def _by_category(per_video: pl.DataFrame) -> pl.DataFrame:
    return (
        per_video.group_by("label", maintain_order=True)
        .agg(
            pl.len().alias("n_videos"),
            *[pl.col(s).fill_nan(None).mean() for s in ("pearson", "spearman", "cosine")],
            *[pl.col(s).cast(pl.Float64).mean() * 100 for s in ("top1_in_top1", "top1_in_top3")],
        )
        .sort("label")
    )


def agreement(
    human: Any,
    model: Any,
    *,
    labels: Any = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    id_column: str | None = None,
) -> Agreement:
    """Video-level agreement between human and model ratings of the same items.

    Parameters
    ----------
    human, model
        Wide polars frames (an id column and one column per item), the long-form output of
        ``emoalign.query``, or numpy arrays (videos × items, same video order). Rows are
        matched by id; videos on one side only are left out and listed in ``.unmatched``. Both
        sides must rate the same items (matched by column name).
    labels
        Optional category per video (mapping id → label, an (id, label) frame, or a sequence in
        the human rows' order) for a per-category breakdown.
    n_boot, seed, ci
        Bootstrap samples over videos, their seed, and the confidence level of the intervals.
    id_column
        The id column of frame inputs (default ``video_id`` or the first text column).

    Returns
    -------
    Agreement
        ``per_video``, ``per_item``, ``summary`` (means with CIs; hit rates in %),
        ``by_category`` and ``unmatched``.
    """
    matched = match(
        human,
        {"model": model},
        reference_name="human",
        labels=labels,
        id_column=id_column,
        min_videos=2,
    )
    u = matched.unmatched.get("model", {"reference_only": [], "model_only": []})
    return agreement_arrays(
        matched.ids,
        matched.reference,
        same_items(matched, "human")["model"],
        matched.reference_items,
        matched.labels,
        n_boot=n_boot,
        seed=seed,
        ci=ci,
        unmatched={"human_only": u["reference_only"], "model_only": u["model_only"]},
    )


def agreement_arrays(
    ids: list[str],
    H: NDArray[np.float64],
    M: NDArray[np.float64],
    items: list[str] | None,
    labels: NDArray[Any] | None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    unmatched: dict[str, list[str]] | None = None,
) -> Agreement:
    """``agreement`` on rating matrices already matched by video and item."""
    n_boot = check_n_boot(n_boot)
    level = check_level(ci)
    items = items or [f"item_{j}" for j in range(H.shape[1])]
    stats = video_statistics(H, M)
    per_video = pl.DataFrame(
        {
            "video_id": ids,
            **{s: stats[s] for s in STATISTICS},
            "undefined": pl.Series(stats["undefined"].tolist(), dtype=pl.String),
        },
        nan_to_null=False,
    ).with_columns(pl.col("top1_in_top1", "top1_in_top3").fill_nan(None).cast(pl.Boolean))
    by_category = None
    if labels is not None:
        per_video = per_video.with_columns(pl.Series("label", np.asarray(labels).astype(str)))
        by_category = _by_category(per_video)
    return Agreement(
        per_video=per_video,
        per_item=_item_correlations(H, M, items),
        summary=_summary(stats, n_boot, int(seed), level),
        by_category=by_category,
        unmatched=unmatched or {"human_only": [], "model_only": []},
        ci=level,
        n_boot=n_boot,
        seed=int(seed),
    )
