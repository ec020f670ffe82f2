"""RSA inference that can rank models: bootstrap over videos, pairwise tests, a noise ceiling.

The Mantel test says whether one model's RDM correlates with the human one at all. Whether one
model is closer to people than another needs the sampling variability of both correlations over
videos, which a bootstrap over videos estimates (as rsatoolbox's pattern bootstrap does): each
sample draws videos with replacement and correlates the RDMs over the pairs of different videos
drawn, leaving out a video's pairs with its own duplicates. Each candidate's correlation and each
difference between two candidates are computed on the same samples, so the differences keep the
positive correlation between candidates, which is what makes them sensitive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from emoalign import _core
from emoalign.comparison.inputs import Matched, match
from emoalign.comparison.stats import bootstrap_p, check_level, check_n_boot, holm, percentile_ci
from emoalign.distance import METRICS, pdist
from emoalign.rsa import rsa, upper_triangle

BOOT_METHODS = ("spearman", "pearson")


@dataclass(frozen=True)
class NoiseCeiling:
    """Split-half reliability of the human RDM, stepped up to the full rater group.

    Raters are split at random into two halves; each half's mean ratings give an RDM; the two
    RDMs' correlation ``split_half`` is stepped up by Spearman-Brown (2r / (1 + r)) to the
    reliability of the RDM of all raters, ``ceiling``: about the correlation an independent
    group of as many raters would reach with this one, a level no model can be expected to pass.
    """

    ceiling: float
    ci_low: float
    ci_high: float
    """Percentiles of the stepped-up value over the random splits (how much the split matters)."""
    split_half: float
    n_splits: int
    n_raters: int


@dataclass(frozen=True)
class RSAComparison:
    """Per-candidate RSA against a reference with bootstrap CIs, and pairwise differences."""

    table: pl.DataFrame
    """One row per candidate: r, ci_low, ci_high, se (bootstrap), mantel_p, n_videos, n_boot
    (samples where r was defined)."""
    pairwise: pl.DataFrame
    """One row per pair (a, b): diff = r_a − r_b, its CI, two-sided bootstrap p and Holm's
    adjusted p across all pairs."""
    boot: NDArray[np.float64] = field(repr=False)
    """Bootstrap correlations, samples × candidates (NaN where a sample's RDM was constant)."""
    candidates: list[str]
    method: str
    n_boot: int
    seed: int
    ci: float
    noise_ceiling: NoiseCeiling | None
    ceiling_note: str
    ids: list[str] = field(repr=False)
    unmatched: dict[str, dict[str, list[str]]] = field(repr=False)

    def r(self, name: str) -> float:
        return float(self.table.filter(pl.col("candidate") == name)["r"][0])


def condensed(values: NDArray[np.float64], is_rdm: bool, metric: str, name: str) -> NDArray:
    """The upper triangle of a side's RDM (computed with ``metric`` from ratings)."""
    if is_rdm:
        return upper_triangle(values, name)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    return np.asarray(pdist(values, metric=metric), dtype=np.float64)


def noise_ceiling(
    raters: Any,
    *,
    method: str = "spearman",
    metric: str = "euclidean",
    n_splits: int = 100,
    seed: int = 0,
    ci: float = 0.95,
) -> NoiseCeiling:
    """Split-half noise ceiling of the RDM of rater-level ratings (videos × raters × items).

    Missing ratings are NaN; each half's mean ignores them, but every video needs at least one
    rating in each half of every split.
    """
    arr = np.asarray(raters, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(
            f"raters must be videos × raters × items (3-D), got shape {arr.shape}; without "
            f"rater-level data no noise ceiling can be computed"
        )
    n_raters = arr.shape[1]
    if n_raters < 2:
        raise ValueError(f"raters holds {n_raters} rater(s); a split-half ceiling needs 2 or more")
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    level = check_level(ci)
    rng = np.random.default_rng(seed)
    half = n_raters // 2
    raw = np.empty(n_splits)
    for s in range(n_splits):
        perm = rng.permutation(n_raters)
        means = []
        for part in (perm[:half], perm[half : 2 * half]):
            sub = arr[:, part, :]
            rated = np.isfinite(sub).any(axis=1)
            if not rated.all():
                bad = np.flatnonzero(~rated.all(axis=1))
                raise ValueError(
                    f"{bad.size} video(s) (rows {bad[:10].tolist()}) have an item no rater in a "
                    f"random half rated; a split-half ceiling needs more raters per video"
                )
            means.append(np.nanmean(sub, axis=1))
        a = condensed(means[0], False, metric, "half A")
        b = condensed(means[1], False, metric, "half B")
        raw[s] = rsa(a, b, method=method).r  # type: ignore[arg-type]
    stepped = 2 * raw / (1 + raw)
    low, high = percentile_ci(stepped, level)
    return NoiseCeiling(
        ceiling=float(stepped.mean()),
        ci_low=low,
        ci_high=high,
        split_half=float(raw.mean()),
        n_splits=int(n_splits),
        n_raters=int(n_raters),
    )


def _pairwise(names: list[str], r: NDArray, boot: NDArray, level: float) -> pl.DataFrame:
    rows = []
    for i, j in combinations(range(len(names)), 2):
        d = boot[:, i] - boot[:, j]
        low, high = percentile_ci(d, level)
        rows.append(
            {
                "a": names[i],
                "b": names[j],
                "diff": float(r[i] - r[j]),
                "ci_low": low,
                "ci_high": high,
                "p": bootstrap_p(d),
            }
        )
    schema = {
        "a": pl.String,
        "b": pl.String,
        "diff": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "p": pl.Float64,
    }
    table = pl.DataFrame(rows, schema=schema)
    return table.with_columns(pl.Series("p_holm", holm(table["p"].to_numpy()), pl.Float64))


def compare_matched(
    matched: Matched,
    *,
    method: str = "spearman",
    metric: str = "euclidean",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    permutations: int = 1000,
    raters: Any = None,
    n_splits: int = 100,
    samples: NDArray[np.intp] | None = None,
) -> RSAComparison:
    """``compare_rsa`` on sides already matched by video (see ``comparison.inputs``)."""
    if method not in BOOT_METHODS:
        raise ValueError(f"method must be one of {BOOT_METHODS} for the bootstrap, got {method!r}")
    n_boot = check_n_boot(n_boot)
    level = check_level(ci)
    names = list(matched.others)
    if not names:
        raise ValueError("candidates is empty; give at least one model to compare")
    x = condensed(matched.reference, matched.reference_is_rdm, metric, "reference")
    ys = np.stack(
        [condensed(matched.others[k], matched.others_is_rdm[k], metric, str(k)) for k in names]
    )
    results = [
        rsa(x, y, method=method, permutations=permutations, seed=seed)  # type: ignore[arg-type]
        for y in ys
    ]
    r = np.array([res.r for res in results])
    if samples is not None:
        samples = np.ascontiguousarray(samples, dtype=np.int64)
        if samples.ndim != 2:
            raise ValueError(f"samples must be n_boot × n_videos, got shape {samples.shape}")
    boot = _core.rsa_bootstrap(
        x, np.ascontiguousarray(ys), method=method, n_boot=n_boot, seed=int(seed), samples=samples
    )
    rows = []
    for k, name in enumerate(names):
        col = boot[:, k]
        finite = col[np.isfinite(col)]
        low, high = percentile_ci(col, level)
        rows.append(
            {
                "candidate": str(name),
                "r": float(r[k]),
                "ci_low": low,
                "ci_high": high,
                "se": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
                "mantel_p": results[k].p_value,
                "n_videos": matched.n,
                "n_boot": int(finite.size),
            }
        )
    ceiling = None
    note = (
        "no noise ceiling: rater-level human data (videos × raters × items) were not given, so "
        "the reliability of the human RDM is unknown"
    )
    if raters is not None:
        arr = np.asarray(raters, dtype=np.float64)
        if arr.ndim == 3 and matched.reference_rows is not None:
            arr = arr[matched.reference_rows]
        ceiling = noise_ceiling(
            arr, method=method, metric=metric, n_splits=n_splits, seed=seed, ci=level
        )
        note = (
            f"split-half noise ceiling over {ceiling.n_splits} random splits of "
            f"{ceiling.n_raters} raters, Spearman-Brown corrected: {ceiling.ceiling:.3f}"
        )
    return RSAComparison(
        table=pl.DataFrame(rows),
        pairwise=_pairwise([str(n) for n in names], r, boot, level),
        boot=boot,
        candidates=[str(n) for n in names],
        method=method,
        n_boot=n_boot,
        seed=int(seed),
        ci=level,
        noise_ceiling=ceiling,
        ceiling_note=note,
        ids=matched.ids,
        unmatched=matched.unmatched,
    )


def compare_rsa(
    reference: Any,
    candidates: Mapping[str, Any],
    *,
    method: str = "spearman",
    metric: str = "euclidean",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    permutations: int = 1000,
    raters: Any = None,
    n_splits: int = 100,
    id_column: str | None = None,
    samples: Any = None,
) -> RSAComparison:
    """RSA of several candidates against one reference, with inference over videos.

    Parameters
    ----------
    reference
        The human set: ratings (a wide or long-form polars frame, or a videos × items array)
        or an RDM (a square array).
    candidates
        A mapping of name to ratings or RDM, matched to the reference by video id (frames) or
        by row order (arrays). The comparison runs on the videos every side holds.
    method
        'spearman' (ranks of the RDM entries) or 'pearson'.
    metric
        The distance that turns ratings into RDMs (see ``emoalign.rdm``).
    n_boot, seed, ci
        Bootstrap samples over videos, their seed (every number reproduces from it) and the
        confidence level of the percentile intervals.
    permutations
        Mantel permutations for each candidate's one-sided p (0: none).
    raters
        Rater-level human ratings, videos × raters × items with NaN where a rater did not rate,
        rows in the reference's row order: adds a split-half noise ceiling (``n_splits``).
    samples
        Optional n_boot × n_videos array of video indices to use as the bootstrap samples (for
        custom schemes or to reproduce another tool's draws).

    Returns
    -------
    RSAComparison
        ``table`` (per candidate: r, CI, se, Mantel p), ``pairwise`` (differences with CIs,
        bootstrap p and Holm-adjusted p), ``boot``, ``noise_ceiling`` and ``ceiling_note``.
    """
    if not isinstance(candidates, Mapping):
        raise TypeError(
            "candidates must be a mapping of name to ratings or RDM; for a single model pass "
            "{'name': model}"
        )
    matched = match(reference, candidates, id_column=id_column)
    return compare_matched(
        matched,
        method=method,
        metric=metric,
        n_boot=n_boot,
        seed=seed,
        ci=ci,
        permutations=permutations,
        raters=raters,
        n_splits=n_splits,
        samples=None if samples is None else np.asarray(samples),
    )
