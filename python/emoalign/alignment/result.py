"""The outcome of an alignment study and the measures computed from it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

import emoalign
from emoalign.alignment import matching
from emoalign.alignment.baseline import shuffled_baseline
from emoalign.alignment.embedding import AlignedEmbedding, aligned_embedding
from emoalign.alignment.inputs import Prepared
from emoalign.alignment.search import SearchSpec
from emoalign.alignment.subsample import stratified_subsample
from emoalign.factored import LowRankRDM, cost_block
from emoalign.rsa import RSAResult

RSA_MAX_VIDEOS = 3000
"""Above this many videos, RSA is computed on a seeded stratified subsample of them: 4.5 million
pairs pin r down to the third decimal, while all 200 million pairs of n = 20,000 would take hours
with 1000 Mantel permutations and gigabytes of condensed vectors."""
_TOP_K = 5
"""The widest top-k computed on the first matching rate asked (the report's largest k)."""
EMBEDDING_MAX_VIDEOS = 2000
"""Above this many videos, the aligned embedding is computed on (and shows) a subsample."""


def _check_max_videos(max_videos: int) -> int:
    # RSA correlates pairs (two need three videos), and so does the embedding's MDS.
    if isinstance(max_videos, bool) or not isinstance(max_videos, int | np.integer):
        raise TypeError(f"max_videos must be an int, got {type(max_videos).__name__}")
    if max_videos < 3:
        raise ValueError(f"max_videos must be at least 3 videos, got {max_videos}")
    return int(max_videos)


def _upper_triangle(D: NDArray[np.float64]) -> NDArray[np.float64]:
    """The entries i < j of a square matrix in scipy's condensed order (row by row, without
    the index arrays of ``np.triu_indices``)."""
    return np.concatenate([D[i, i + 1 :] for i in range(len(D) - 1)])


@dataclass
class Alignment:
    """A GW alignment of two emotion structures over the same videos.

    ``plan[i, j]`` is the mass sent from source video ``ids[i]`` to target video ``ids[j]``;
    ``gw_dist`` is its GW loss without the entropy term, the criterion the best trial was
    chosen by. Returned by ``emoalign.align``.

    Attributes
    ----------
    plan : numpy.ndarray, shape (n, n)
        The best transport plan (rows sum to 1/n).
    epsilon : float
        The ε of the best trial.
    gw_dist : float
        The plan's GW loss without the entropy term.
    converged : bool
        Whether the best trial's solve met its tolerance.
    best_trial : int
        The number of the best trial.
    trials : polars.DataFrame
        One row per finished trial: ε, GW distance, convergence, iterations, matching rates.
    study_name : str
        The Optuna study's name.
    refined_epsilons : list of float
        The smaller ε values the plan was refined through (``align(..., refine=True)``).
    """

    prepared: Prepared = field(repr=False)
    plan: NDArray[np.float64] = field(repr=False)
    epsilon: float
    gw_dist: float
    converged: bool
    best_trial: int
    trials: pl.DataFrame = field(repr=False)
    spec: SearchSpec = field(repr=False)
    study_name: str
    refined_epsilons: list[float] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict, repr=False)
    """How the study was run (see ``alignment.provenance``); the CLI sets its command line."""
    _rsa: dict[tuple[str, int, int, int], RSAResult] = field(default_factory=dict, repr=False)
    _baseline: pl.DataFrame | None = field(default=None, repr=False)
    _top: NDArray[np.intp] | None = field(default=None, init=False, repr=False)

    @property
    def ids(self) -> list[str]:
        """The video ids, in the order of the plan's rows and columns."""
        return self.prepared.ids

    @property
    def labels(self) -> NDArray[Any] | None:
        """One category per video, if labels were given to ``align``."""
        return self.prepared.labels

    @property
    def n(self) -> int:
        """The number of videos."""
        return self.prepared.n

    @property
    def C1(self) -> NDArray[np.float64]:
        """The source RDM, scaled to a maximum of 1."""
        return self.prepared.C1

    @property
    def C2(self) -> NDArray[np.float64]:
        """The target RDM, scaled to a maximum of 1."""
        return self.prepared.C2

    @property
    def costs(self) -> tuple[NDArray[np.float64] | LowRankRDM, NDArray[np.float64] | LowRankRDM]:
        """The source and target RDMs as the solver held them: factors where the metric has
        them (never densified by the result's figures and measures), else the dense matrices."""
        return self.prepared.costs

    def subsample(self, size: int, seed: int | None = None) -> NDArray[np.intp]:
        """A seeded subsample of ``size`` videos, stratified by category when there are labels
        (see ``emoalign.alignment.subsample.stratified_subsample``).

        Parameters
        ----------
        size : int
            How many videos; all n when ``size >= n``.
        seed : int, optional
            Default: the study's seed.

        Returns
        -------
        ndarray of intp
            Ascending video (plan row) indices.
        """
        seed = self.spec.seed if seed is None else seed
        return stratified_subsample(self.n, size, self.labels, seed)

    def _labels(self, labels: Any) -> NDArray[Any]:
        chosen = self.labels if labels is None else np.asarray(labels)
        if chosen is None:
            raise ValueError("no labels: pass labels= here or to align()")
        if chosen.ndim != 1 or len(chosen) != self.n:
            raise ValueError(
                f"labels must give one label per video ({self.n}), got shape {chosen.shape}"
            )
        return chosen

    def matching_rate(self, k: int = 1) -> float:
        """Item-level top-k matching rate: percent of videos whose k largest plan entries
        include the video itself (see ``emoalign.alignment.matching_rate``).

        Parameters
        ----------
        k : int, default 1
            How many of a row's largest entries count.

        Returns
        -------
        float
            In [0, 100]; compare with ``chance(k)``.
        """
        return self._rate(k, None)

    def category_matching_rate(self, k: int = 1, labels: Any = None) -> float:
        """Category-level top-k matching rate: percent of videos whose k largest plan entries
        include a video of the same category.

        Parameters
        ----------
        k : int, default 1
            How many of a row's largest entries count.
        labels : array_like, optional
            One category per video; default: the labels given to ``align``.

        Returns
        -------
        float
            In [0, 100]; compare with ``category_chance(k)``.

        Raises
        ------
        ValueError
            If there are no labels, or not one per video.
        """
        return self._rate(k, self._labels(labels))

    def _rate(self, k: int, labels: NDArray[Any] | None) -> float:
        """``matching.matching_rate`` of the plan, from one top-k pass kept for every k."""
        k = matching._check_k(k, self.n)
        if self._top is None or self._top.shape[1] < k:
            # The first k of a row's top-k' (k' >= k) are its top-k, ties included, so one pass
            # at the widest k the report asks for serves every k: at n = 20,000 a pass over the
            # plan takes seconds.
            self._top = matching.top_k(self.plan, max(k, min(self.n, _TOP_K)))
        rows = np.arange(self.n)
        hit = matching.row_hits(self._top[:, :k], rows, (self.n, self.n), labels, None)
        return 100.0 * float(hit.mean())

    def chance(self, k: int = 1) -> float:
        """The item-level rate of a random plan: 100 k / n percent.

        Parameters
        ----------
        k : int, default 1
            How many of a row's largest entries count.

        Returns
        -------
        float
        """
        return matching.chance_rate(self.n, k=k)

    def category_chance(self, k: int = 1, labels: Any = None) -> float:
        """The category-level rate of a random plan (see ``emoalign.alignment.chance_rate``).

        Parameters
        ----------
        k : int, default 1
            How many of a row's largest entries count.
        labels : array_like, optional
            One category per video; default: the labels given to ``align``.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If there are no labels, or not one per video.
        """
        return matching.chance_rate(self.n, k=k, labels=self._labels(labels))

    def per_category(self, k: int = 1, labels: Any = None) -> pl.DataFrame:
        """Item and category matching rates per category, with chance.

        Parameters
        ----------
        k : int, default 1
            How many of a row's largest entries count.
        labels : array_like, optional
            One category per video; default: the labels given to ``align``.

        Returns
        -------
        polars.DataFrame
            See ``emoalign.alignment.per_category``.

        Raises
        ------
        ValueError
            If there are no labels, or not one per video.
        """
        return matching.per_category(self.plan, self._labels(labels), k)

    def rsa(
        self,
        method: str = "spearman",
        permutations: int = 1000,
        seed: int | None = None,
        max_videos: int | None = None,
    ) -> RSAResult:
        """RSA between the two RDMs, with a Mantel permutation p-value (cached per arguments).

        Parameters
        ----------
        method : {"spearman", "pearson", "kendall"}, default "spearman"
        permutations : int, default 1000
        seed : int, optional
            Seeds the permutations and the subsample; default: the study's seed.
        max_videos : int, optional
            Default: ``RSA_MAX_VIDEOS``. Above this many videos, r and p are computed over the
            pairs of a seeded subsample of ``max_videos`` videos, stratified by category
            (``n_pairs`` says how many pairs); its RDMs are read from the costs block by block,
            never as n × n matrices.

        Returns
        -------
        RSAResult
            See ``emoalign.rsa``.
        """
        seed = self.spec.seed if seed is None else seed
        max_videos = self.rsa_videos if max_videos is None else _check_max_videos(max_videos)
        key = (method, permutations, seed, min(max_videos, self.n))
        if key not in self._rsa:
            idx = self.subsample(max_videos, seed)
            # Condensed upper triangles: a block of factors, A[idx] @ B[idx].T, is symmetric
            # only to rounding, which RSA's square-matrix check rightly refuses.
            D1, D2 = (_upper_triangle(cost_block(C, idx, idx)) for C in self.costs)
            self._rsa[key] = emoalign.rsa(
                D1,
                D2,
                method=method,  # type: ignore[arg-type]
                permutations=permutations,
                seed=seed,
            )
        return self._rsa[key]

    @property
    def rsa_videos(self) -> int:
        """How many videos ``rsa()`` and the summary's RSA use by default (all up to
        ``RSA_MAX_VIDEOS``, then a stratified subsample of that many)."""
        return min(self.n, RSA_MAX_VIDEOS)

    def aligned_embedding(
        self, dim: int = 2, aligned_dim: int = 20, max_videos: int | None = None
    ) -> AlignedEmbedding:
        """Both RDMs' MDS coordinates in one frame.

        The target is Procrustes-aligned to the source through the plan in ``aligned_dim``
        dimensions (enough to keep most of the variance), then both are projected on one shared
        PCA basis, so the two points of a video sit together when the plan matches it.

        Parameters
        ----------
        dim : int, default 2
            Dimensions shown.
        aligned_dim : int, default 20
            Dimensions the alignment is done in.
        max_videos : int, optional
            Default: ``EMBEDDING_MAX_VIDEOS``. Above this many videos, the embedding is
            computed on a seeded subsample of ``max_videos`` videos stratified by category
            (``.videos`` lists them): their RDM blocks are read from the costs
            (``A[idx] @ B[idx].T`` for factors) and the Procrustes step follows the plan's
            block between them.

        Returns
        -------
        AlignedEmbedding
            ``.source`` and ``.target`` coordinates (one row per video in ``.videos``, dim
            columns), the variance each shown axis explains, and ``.gap``: the mean distance
            between a video's two points over the spread (small when the plan matches videos
            to themselves).
        """
        idx = self.subsample(
            EMBEDDING_MAX_VIDEOS if max_videos is None else _check_max_videos(max_videos)
        )
        C1, C2 = (cost_block(C, idx, idx) for C in self.costs)
        plan = self.plan if len(idx) == self.n else self.plan[np.ix_(idx, idx)]
        embedding = aligned_embedding(C1, C2, plan, dim, aligned_dim)
        return replace(embedding, videos=idx)

    def baseline(self, n_shuffles: int = 1) -> pl.DataFrame:
        """Matching rates when the target's ratings are shuffled: what the search finds in
        structure that carries no correspondence (computed once, then cached).

        Parameters
        ----------
        n_shuffles : int, default 1
            Shuffled alignments, each with the study's ε and starts.

        Returns
        -------
        polars.DataFrame
            One row per shuffle, with its GW distance and matching rates.
        """
        if self._baseline is None or self._baseline.height < n_shuffles:
            p = self.prepared
            self._baseline = shuffled_baseline(
                p.C1,
                p.target,
                p.target_is_rdm,
                p.target_metric,
                p.labels,
                self.epsilon,
                self.spec.kinds,
                self.spec.seed,
                self.spec.options,
                n_shuffles,
            )
        return self._baseline.head(n_shuffles)

    def has_baseline(self) -> bool:
        return self._baseline is not None

    @property
    def baseline_shuffles(self) -> int:
        """How many shuffled-ratings alignments have been computed (0 before ``baseline()``)."""
        return 0 if self._baseline is None else self._baseline.height

    def summary(self, ks: tuple[int, ...] = (1, 3, 5), permutations: int = 1000) -> dict[str, Any]:
        """The key numbers, as plain JSON-ready values."""
        ks = tuple(k for k in ks if k <= self.n)
        out: dict[str, Any] = {
            "n_videos": self.n,
            "study": self.study_name,
            "epsilon": self.epsilon,
            "gw_dist": self.gw_dist,
            "converged": self.converged,
            "best_trial": self.best_trial,
            "n_trials": self.trials.height,
            "refined_epsilons": self.refined_epsilons,
            "source_metric": self.prepared.source_metric,
            "target_metric": self.prepared.target_metric,
            "item": {f"top{k}": self.matching_rate(k) for k in ks},
            "item_chance": {f"top{k}": self.chance(k) for k in ks},
        }
        if self.labels is not None:
            out["category"] = {f"top{k}": self.category_matching_rate(k) for k in ks}
            out["category_chance"] = {f"top{k}": self.category_chance(k) for k in ks}
            out["n_categories"] = len(np.unique(self.labels))
        for method in ("pearson", "spearman"):
            r = self.rsa(method, permutations)
            out[f"rsa_{method}"] = {"r": r.r, "p_value": r.p_value, "permutations": permutations}
        out["rsa_videos"] = self.rsa_videos
        if self._baseline is not None:
            out["baseline"] = self._baseline.to_dicts()
            out["baseline_shuffles"] = self._baseline.height
        out["provenance"] = self.provenance
        return out

    def report(self, out_dir: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Writes ``report.html`` (self-contained), the figures as PNGs and ``metrics.json``."""
        from emoalign.report import write_report

        return write_report(self, out_dir, **kwargs)
