"""``emoalign.compare``: one human set against several models at every level, side by side.

For each model against the humans: video-level agreement, RSA with bootstrap inference, and the
GWOT alignment study (an ε search on Optuna, each model its own study in one shared storage, so
it resumes and distributes as ``align`` does). Model against model: RSA with Mantel tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import polars as pl

from emoalign.alignment import Alignment, align
from emoalign.comparison.agreement import Agreement, agreement_arrays
from emoalign.comparison.inference import RSAComparison, compare_matched, condensed
from emoalign.comparison.inputs import Matched, match, same_items
from emoalign.rsa import rsa

KS = (1, 3, 5)


@dataclass
class Comparison:
    """A multi-model study: every level for every model against the same human videos."""

    matched: Matched = field(repr=False)
    models: list[str]
    agreement: dict[str, Agreement] = field(repr=False)
    rsa: RSAComparison = field(repr=False)
    model_rsa: pl.DataFrame = field(repr=False)
    """RSA r and Mantel p between every two sides (the humans included)."""
    alignments: dict[str, Alignment] = field(repr=False)
    names: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return self.matched.n

    def levels(self) -> pl.DataFrame:
        """One row per model: each level's key number, with its CI or chance level."""
        rows = []
        for name in self.models:
            row: dict[str, Any] = {"model": name}
            summary = self.agreement[name].summary if name in self.agreement else None
            if summary is not None:
                for stat in summary.iter_rows(named=True):
                    row[f"video_{stat['statistic']}"] = stat["mean"]
                    row[f"video_{stat['statistic']}_ci"] = (stat["ci_low"], stat["ci_high"])
            r = self.rsa.table.filter(pl.col("candidate") == name).row(0, named=True)
            row.update(rsa_r=r["r"], rsa_ci=(r["ci_low"], r["ci_high"]), rsa_mantel_p=r["mantel_p"])
            if name in self.alignments:
                a = self.alignments[name]
                row["epsilon"] = a.epsilon
                row["item_top1"] = a.matching_rate(1)
                row["item_top1_chance"] = a.chance(1)
                if a.labels is not None:
                    row["category_top1"] = a.category_matching_rate(1)
                    row["category_top1_chance"] = a.category_chance(1)
            rows.append(row)
        return pl.DataFrame(rows)

    def summary(self, permutations: int = 1000) -> dict[str, Any]:
        """Every number of the study as plain JSON-ready values."""
        ks = tuple(k for k in KS if k <= self.n)
        out: dict[str, Any] = {
            "n_videos": self.n,
            "models": self.models,
            "unmatched": {
                name: {k: len(v) for k, v in u.items()}
                for name, u in self.matched.unmatched.items()
            },
            "rsa": {
                "method": self.rsa.method,
                "n_boot": self.rsa.n_boot,
                "ci": self.rsa.ci,
                "table": self.rsa.table.to_dicts(),
                "pairwise": self.rsa.pairwise.to_dicts(),
                "noise_ceiling": None
                if self.rsa.noise_ceiling is None
                else vars(self.rsa.noise_ceiling),
                "ceiling_note": self.rsa.ceiling_note,
            },
            "model_rsa": self.model_rsa.to_dicts(),
            "agreement": {
                name: {
                    "summary": a.summary.to_dicts(),
                    "by_category": None if a.by_category is None else a.by_category.to_dicts(),
                }
                for name, a in self.agreement.items()
            },
            "alignment": {name: a.summary(ks, permutations) for name, a in self.alignments.items()},
        }
        return out

    def report(self, out_dir: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Writes the side-by-side ``report.html``, its figures and ``metrics.json``."""
        from emoalign.report.compare import write_compare_report

        return write_compare_report(self, out_dir, **kwargs)


def _model_rsa(
    matched: Matched,
    human: str,
    against_human: RSAComparison,
    metric: str,
    method: str,
    permutations: int,
    seed: int,
) -> pl.DataFrame:
    """RSA between every two sides; the human rows come from ``against_human`` (same test)."""
    rows = [
        {"a": human, "b": row["candidate"], "r": row["r"], "mantel_p": row["mantel_p"]}
        for row in against_human.table.iter_rows(named=True)
    ]
    sides = {
        name: condensed(values, matched.others_is_rdm[name], metric, name)
        for name, values in matched.others.items()
    }
    for a, b in combinations(sides, 2):
        res = rsa(sides[a], sides[b], method=method, permutations=permutations, seed=seed)  # type: ignore[arg-type]
        rows.append({"a": a, "b": b, "r": res.r, "mantel_p": res.p_value})
    return pl.DataFrame(
        rows, schema={"a": pl.String, "b": pl.String, "r": pl.Float64, "mantel_p": pl.Float64}
    )


def compare(
    human: Any,
    models: Mapping[str, Any] | Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    labels: Any = None,
    metric: str = "euclidean",
    method: str = "spearman",
    n_boot: int = 1000,
    ci: float = 0.95,
    permutations: int = 1000,
    raters: Any = None,
    n_trials: int = 100,
    eps_range: tuple[float, float] = (1e-4, 1e-2),
    n_inits: int = 3,
    storage: str | os.PathLike[str] | None = None,
    study: str | None = None,
    seed: int = 0,
    max_iter: int = 500,
    n_jobs: int = 1,
    gw: bool = True,
    human_name: str = "human",
    id_column: str | None = None,
    progress: bool = False,
) -> Comparison:
    """Compares one human set with several models at every level.

    Parameters
    ----------
    human
        Human ratings (a wide or long-form polars frame, or a videos × items array).
    models
        A mapping of name to ratings, or a sequence (named by ``names``, else model_1, ...).
        Every model must rate the human's items (for video-level agreement); videos are
        matched by id and the study runs on those every side holds.
    labels
        Category per video (mapping, (id, label) frame, or a sequence in the human rows' order):
        per-category agreement and category-level matching.
    metric, method
        The RDM distance, and the RSA correlation ('spearman' or 'pearson').
    n_boot, ci, permutations, raters
        Bootstrap samples over videos and confidence level; Mantel permutations; rater-level
        human data (videos × raters × items) for a noise ceiling.
    n_trials, eps_range, n_inits, storage, study, seed, max_iter, n_jobs
        The GWOT study per model, as in ``emoalign.align``; each model's study is named
        ``{study}-{model}`` (or by a digest of its inputs) in the one ``storage``.
    gw
        False skips the GWOT studies (agreement and RSA only).

    Returns
    -------
    Comparison
        ``agreement``, ``rsa``, ``model_rsa``, ``alignments``, ``levels()``, ``summary()`` and
        ``report(dir)``.
    """
    if isinstance(models, Mapping):
        named = {str(k): v for k, v in models.items()}
    else:
        models = list(models)
        labels_ = (
            list(names) if names is not None else [f"model_{i + 1}" for i in range(len(models))]
        )
        if len(labels_) != len(models):
            raise ValueError(f"names gives {len(labels_)} names for {len(models)} models")
        if len(set(labels_)) != len(labels_):
            raise ValueError(f"names must be distinct, got {labels_}")
        named = dict(zip(labels_, models, strict=True))
    if not named:
        raise ValueError("no models given; compare needs at least one model besides the humans")
    if human_name in named:
        raise ValueError(f"a model is named {human_name!r}, the name of the human set; rename it")
    matched = match(human, named, reference_name=human_name, labels=labels, id_column=id_column)
    # Items are checked before anything slow runs: a mismatch is a setup error.
    rated = same_items(matched, human_name)
    agreements = {
        name: agreement_arrays(
            matched.ids,
            matched.reference,
            values,
            matched.reference_items,
            matched.labels,
            n_boot=n_boot,
            seed=seed,
            ci=ci,
            unmatched={
                "human_only": matched.unmatched.get(name, {}).get("reference_only", []),
                "model_only": matched.unmatched.get(name, {}).get("model_only", []),
            },
        )
        for name, values in rated.items()
    }
    rsa_cmp = compare_matched(
        matched,
        method=method,
        metric=metric,
        n_boot=n_boot,
        seed=seed,
        ci=ci,
        permutations=permutations,
        raters=raters,
    )
    model_rsa = _model_rsa(matched, human_name, rsa_cmp, metric, method, permutations, seed)
    alignments: dict[str, Alignment] = {}
    if gw:
        for name, values in matched.others.items():
            alignments[name] = align(
                matched.reference,
                values,
                metric=metric,
                labels=matched.labels,
                eps_range=eps_range,
                n_trials=n_trials,
                n_inits=n_inits,
                storage=storage,
                study_name=None if study is None else f"{study}-{name}",
                seed=seed,
                max_iter=max_iter,
                n_jobs=n_jobs,
                progress=progress,
            )
    return Comparison(
        matched=matched,
        models=list(named),
        agreement=agreements,
        rsa=rsa_cmp,
        model_rsa=model_rsa,
        alignments=alignments,
        names=(human_name, *named),
    )
