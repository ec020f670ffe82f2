"""``emoalign.align``: prepare both sides, run (or join) the ε search, collect the best plan."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import FrozenTrial, TrialState

from emoalign.alignment import provenance
from emoalign.alignment.inits import schedule
from emoalign.alignment.inputs import prepare
from emoalign.alignment.lowrank_study import LowRankAlignment, lowrank_study
from emoalign.alignment.plans import FolderPlans, MemoryPlans, PlanStore
from emoalign.alignment.pruning import PruneRule
from emoalign.alignment.refine import refine as refine_plan
from emoalign.alignment.result import Alignment
from emoalign.alignment.search import PARAM, SearchSpec, Worker, is_pruned, ranks, run_search
from emoalign.alignment.solve import SolverOptions, solve_start
from emoalign.alignment.storage import open_storage, open_study, sqlite_path, storage_url
from emoalign.alignment.warm import WarmStart
from emoalign.gw import ConvergenceWarning


def _plan_store(storage: Any, backend: BaseStorage, study_name: str, plans_dir: Any) -> PlanStore:
    if plans_dir is not None:
        return FolderPlans(Path(plans_dir) / study_name)
    if isinstance(backend, InMemoryStorage):
        return MemoryPlans()
    if isinstance(storage, (str, os.PathLike)):
        db = sqlite_path(storage_url(storage))
        if db is not None:
            return FolderPlans(db.with_name(db.name + ".plans") / study_name)
    return PlanStore()


def trials_table(trials: Sequence[Any]) -> pl.DataFrame:
    """One row per finished trial (surplus ones left out), in trial order."""
    rank = ranks(trials)
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        if t.state not in (TrialState.COMPLETE, TrialState.FAIL) and not is_pruned(t):
            continue
        a = t.user_attrs
        rows.append(
            {
                "trial": t.number,
                "rank": rank[t.number],
                "state": t.state.name.lower(),
                "epsilon": t.params.get(PARAM),
                "gw_dist": t.value,
                "best_init": a.get("best_init"),
                "warm_from": a.get("warm_from"),
                "settled_at": a.get("settled_at"),
                "converged": a.get("converged"),
                "n_iter": a.get("n_iter"),
                "item_rate": a.get("item_rate"),
                "category_rate": a.get("category_rate"),
                "seconds": a.get("seconds"),
                "worker": a.get("worker"),
                "retry_of": t.system_attrs.get("failed_trial"),
            }
        )
    schema = {
        "trial": pl.Int64,
        "rank": pl.Int64,
        "state": pl.String,
        "epsilon": pl.Float64,
        "gw_dist": pl.Float64,
        "best_init": pl.String,
        "warm_from": pl.Int64,
        "settled_at": pl.Float64,
        "converged": pl.Boolean,
        "n_iter": pl.Int64,
        "item_rate": pl.Float64,
        "category_rate": pl.Float64,
        "seconds": pl.Float64,
        "worker": pl.String,
        "retry_of": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _recompute_plan(
    number: int, trials: Sequence[FrozenTrial], costs: tuple[Any, Any], spec: SearchSpec
) -> np.ndarray:
    """A trial's best plan, solved again: its start is deterministic given (seed, ε, index) or,
    for a warm start, given the plan of the trial it started from, so the chain of warm starts is
    followed back to a cold start and solved forward."""
    by_number = {t.number: t for t in trials}
    chain = [by_number[number]]
    while True:
        a = chain[-1].user_attrs
        source = a["starts"][a["best_start"]].get("warm_from")
        if source is None:
            break
        chain.append(by_number[source])
    plan = None
    for t in reversed(chain):
        a = t.user_attrs
        start = a["starts"][a["best_start"]]
        warm = None if plan is None else WarmStart(-1, float("nan"), plan)
        result, plan = solve_start(
            *costs,
            float(t.params[PARAM]),
            start["kind"],
            start["index"],
            spec.seed,
            spec.options,
            warm=warm if start["kind"] == "warm" else None,
        )
        if not np.isclose(result.gw_dist, t.value, rtol=1e-6, atol=1e-12):
            warnings.warn(
                f"recomputing trial {t.number}'s plan gave GW distance {result.gw_dist:.6g}, "
                f"not the recorded {t.value:.6g} (the solver is not bitwise reproducible here)",
                RuntimeWarning,
                stacklevel=3,
            )
    assert plan is not None
    return plan


SOLVERS = ("entropic", "lowrank")
# Settings of the ε search that a low-rank study has no use for.
_SEARCH_ONLY = (
    "eps_range", "n_trials", "init", "sampler", "storage", "study_name", "inner_tol",
    "warm_start", "prune", "precision", "n_jobs", "refine", "plans_dir", "heartbeat",
)  # fmt: skip


def _lowrank(
    prepared: Any,
    given: dict[str, Any],
    call: str,
    started: str,
    n_inits: int,
    seed: int,
    max_iter: int,
    tol: float,
    rank: int | None,
) -> LowRankAlignment:
    unused = [name for name in _SEARCH_ONLY if name in given]
    if unused:
        raise ValueError(
            f"{', '.join(unused)}: settings of the ε search, which solver='lowrank' does not run "
            f"(a low-rank coupling has no ε; its parameter is rank=)"
        )
    if isinstance(n_inits, bool) or not isinstance(n_inits, int) or n_inits < 1:
        raise ValueError(f"n_inits must be a positive int, got {n_inits!r}")
    # lowrank_gw's own limits unless given: its tol is on the value's decrease, not the plan's.
    limits = {
        "max_iter": max_iter if "max_iter" in given else 1000,
        "tol": tol if "tol" in given else 1e-5,
    }
    record = {
        "command": call,
        "interface": "python",
        "started": started,
        "versions": provenance.versions(),
        "seed": int(seed),
        "metrics": {"source": prepared.source_metric, "target": prepared.target_metric},
        "solver": {"method": "low-rank GW (mirror descent, Dykstra projections)", "rank": rank,
                   "n_inits": n_inits, **limits},
    }  # fmt: skip
    result = lowrank_study(prepared, rank=rank, n_inits=n_inits, seed=int(seed), **limits,
                           provenance=record)  # fmt: skip
    record["finished"] = provenance.utc_now()
    return result


def _prune_rule(prune: bool | float) -> PruneRule | None:
    if isinstance(prune, bool):
        return PruneRule() if prune else None
    if isinstance(prune, (int, float)):
        return PruneRule(improvement=float(prune))
    raise TypeError(f"prune must be a bool or a relative improvement such as 1e-4, got {prune!r}")


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of an ``align`` call that differ from their defaults, in order."""
    params = inspect.signature(align).parameters

    def is_default(name: str) -> bool:
        value, default = values[name], params[name].default
        simple = (bool, int, float, str, tuple, type(None))
        return value is default or (
            isinstance(value, simple) and type(value) is type(default) and value == default
        )

    return {
        name: values[name]
        for name in params
        if name not in ("source", "target") and not is_default(name)
    }


def align(
    source: ArrayLike | pl.DataFrame,
    target: ArrayLike | pl.DataFrame,
    *,
    metric: str = "euclidean",
    source_metric: str | None = None,
    target_metric: str | None = None,
    labels: ArrayLike | None = None,
    eps_range: tuple[float, float] = (1e-4, 1e-2),
    n_trials: int = 100,
    n_inits: int = 3,
    init: str | Sequence[str] = "random",
    sampler: str = "tpe",
    storage: str | os.PathLike[str] | BaseStorage | None = None,
    study_name: str | None = None,
    seed: int = 0,
    max_iter: int = 500,
    tol: float = 1e-7,
    inner_tol: float = 1e-5,
    warm_start: bool = False,
    prune: bool | float = True,
    precision: str = "float64",
    solver: str = "entropic",
    rank: int | None = None,
    n_jobs: int = 1,
    refine: bool = False,
    plans_dir: str | os.PathLike[str] | None = None,
    heartbeat: int = 10,
    id_column: str | None = None,
    progress: bool = False,
) -> Alignment | LowRankAlignment:
    r"""Align two emotion structures over the same videos: entropic GW with an ε search.

    Each side becomes an RDM over the videos (``emoalign.rdm``, scaled to a maximum of 1), and
    entropic Gromov-Wasserstein (Peyré, Cuturi & Solomon, 2016) looks for the soft
    correspondence $T$ between the two sets of videos that best preserves their
    dissimilarities, without ever being told which video is which:

    $$\min_{T \in \Pi(p, q)} \sum_{i,j,k,l} \big(C^1_{ik} - C^2_{jl}\big)^2 T_{ij} T_{kl}
      - \varepsilon H(T),$$

    with uniform marginals $p, q$ and entropy $H(T) = -\sum_{ij} T_{ij} (\log T_{ij} - 1)$. The
    problem is non-convex and the solution depends on ε, so, as in GWTune, an Optuna study
    draws ε log-uniformly from ``eps_range`` for ``n_trials`` trials, solves each from
    ``n_inits`` initial plans, and keeps the plan with the lowest GW distance overall. The
    plan is then scored by how often it maps a video to itself (item level) or to a video of
    the same category (category level); see ``matching_rate``.

    Parameters
    ----------
    source, target : array_like or polars.DataFrame
        Feature matrices (videos × emotions, e.g. human and model ratings) or square RDMs, as
        arrays in the same video order, or polars DataFrames with an id column
        (``video_id``, ``id_column``, or the first text column), matched by id. The long-form
        output of ``emoalign.query`` is pivoted to videos × items.
    metric : str, default "euclidean"
        Dissimilarity for both sides (see ``emoalign.rdm``) unless ``source_metric`` /
        ``target_metric`` override it. Ignored for sides given as RDMs.
    source_metric, target_metric : str, optional
        Per-side metrics.
    labels : array_like, optional
        One category per video (source order), for category-level matching and the report's
        per-category breakdown.
    eps_range : (float, float), default (1e-4, 1e-2)
        Bounds of ε; relative to the RDMs' maximum of 1. Small ε gives sharp plans but slow,
        possibly non-converging solves: choose the range for the data (the trials table's
        ``converged`` and ``n_iter`` columns show where that starts).
    n_trials : int, default 100
        Trials of the study (shared by every process joining it).
    n_inits : int, default 3
        Initial plans per trial; the lowest GW distance is kept.
    init : str or sequence of str, default "random"
        ``"random"``, ``"permutation"``, ``"uniform"``, or a list cycled through the starts.
    sampler : {"tpe", "grid", "random"}, default "tpe"
        How ε is chosen across trials.
    storage : str, os.PathLike or optuna storage, optional
        None (in memory), a file path (SQLite), or a database URL such as
        ``postgresql+psycopg://user@host:5432/db``. Processes calling ``align`` with the same
        inputs, settings, storage and ``study_name`` share the work of one study, never solving
        the same ε twice (TPE seeds each trial from ``seed`` and the trial number); a killed
        worker's trial is retried and an interrupted study resumes.
    study_name : str, optional
        Defaults to a digest of the inputs and settings, so a name cannot be reused for a
        different alignment.
    seed : int, default 0
        Seeds the sampler and the initial plans.
    max_iter : int, default 500
        Outer iterations per solve.
    tol : float, default 1e-7
        Outer tolerance on the plan's change.
    inner_tol : float, default 1e-5
        Sinkhorn tolerance on the marginals.
    warm_start : bool, default False
        Add a start to each trial, run first, from the plan of the finished trial nearest in ε
        (in log ε) that this process holds; the ``n_inits`` starts keep their seeds, so the
        search explores as without it. A trial's answer then depends on the trials finished
        before it, and the trials table's ``warm_from`` names the source. Off by default:
        measured, it does not pay. Replacing a cold start, it cost the search its exploration
        (on six 40-video synthetic studies the best GW distance ended 1.3–8× higher: the chain
        stays in the basins its first trials found); added to it, it cost more time than it
        saved on the Cowen & Keltner study (one basin, where a warm start saves 10–50% of the
        iterations).
    prune : bool or float, default True
        Abandon a start once its GW distance has settled where it cannot improve on the best
        found by more than 1e-4 (relative; a float sets this threshold), forecast from its
        last iterations while the plan contracts (see ``emoalign.alignment.pruning``). A trial
        all of whose starts are abandoned is marked ``pruned``, with the distance it settled at
        in ``settled_at``; it could not have been the best trial. False solves every start to
        convergence, for a complete trials table.
    precision : {"float64", "float32"}, default "float64"
        Arithmetic of the trials. ``"float32"`` solves each trial in single precision, 2.4–2.6×
        faster on the factored C&K RDMs with the same matching rates and GW distances within
        4e-5 (relative), and then solves the best trial's ε again in float64 from its plan: the
        reported plan and GW distance are float64's (the trials table keeps the float32
        values).
    solver : {"entropic", "lowrank"}, default "entropic"
        ``"entropic"``: the ε search above. ``"lowrank"``: a rank-``rank`` coupling
        $P = Q\,\mathrm{diag}(1/g)\,R^\top$ by ``emoalign.lowrank_gw`` (Scetbon, Peyré &
        Cuturi, 2022), from ``n_inits`` k-means starts, the lowest GW distance kept; it needs
        factored costs (``metric`` sqeuclidean, cosine, correlation or spearman), has no ε,
        forms nothing n × n, and aligns categories rather than single videos. It returns a
        ``LowRankAlignment`` (matching rates streamed from the factors, no HTML report), and
        refuses the ε search's settings.
    rank : int, optional
        The coupling's rank, for ``solver="lowrank"`` only (required there).
    n_jobs : int, default 1
        Trials run in threads.
    refine : bool, default False
        Continue the best plan to smaller ε while that lowers the GW distance.
    plans_dir : str or os.PathLike, optional
        Where best plans are kept as ``.npy`` files (default: beside a SQLite file; in memory
        for in-memory studies; otherwise the best plan is recomputed).
    heartbeat : int, default 10
        Seconds between a worker's heartbeats in RDB storage; a silent worker's trial is
        retried.
    id_column : str, optional
        The id column of DataFrame inputs.
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    Alignment or LowRankAlignment
        (``LowRankAlignment`` for ``solver="lowrank"``.) The plan, best ε, GW distance,
        convergence, the trials table, matching rates with
        chance levels, a per-category breakdown, RSA, aligned embeddings, a shuffled-ratings
        baseline and ``report(dir)``. Its ``provenance`` records versions, dates, this call
        (data described by type and shape), seeds, ε range, sampler, metrics, solver and
        precision, trial counts and the storage kind (a password in a storage URL is redacted).

    Raises
    ------
    TypeError
        If an input is not an array or DataFrame of numbers.
    ValueError
        If the inputs do not cover the same videos, have bad shapes or non-finite values, or a
        setting is out of range (the message names it), or a ``study_name`` is reused for
        other inputs.

    Warns
    -----
    ConvergenceWarning
        If the best trial's solve stopped at ``max_iter`` before converging.

    References
    ----------
    Peyré, G., Cuturi, M. and Solomon, J. (2016). Gromov-Wasserstein averaging of kernel and
    distance matrices. *ICML*, PMLR 48, 2664–2672.

    Sasaki, M., Takeda, K., Abe, K. and Oizumi, M. (2023). Toolbox for Gromov-Wasserstein
    optimal transport: application to unsupervised alignment in neuroscience (GWTune).
    bioRxiv 2023.09.15.558038.

    Examples
    --------
    >>> import emoalign
    >>> from emoalign.alignment import synthetic_pair
    >>> pair = synthetic_pair(n_categories=4, per_category=8, seed=3)
    >>> res = emoalign.align(pair.human, pair.model, labels=pair.labels,
    ...                      eps_range=(1e-3, 1e-2), n_trials=4)  # doctest: +SKIP
    >>> res.matching_rate(1), res.category_matching_rate(1)  # doctest: +SKIP
    (71.875, 93.75)
    """
    started = provenance.utc_now()
    call = provenance.python_call(source, target, _given(locals()))
    prepared = prepare(
        source,
        target,
        metric=metric,
        source_metric=source_metric,
        target_metric=target_metric,
        labels=labels,
        id_column=id_column,
    )
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    given = _given(locals())
    if solver == "lowrank":
        return _lowrank(prepared, given, call, started, n_inits, seed, max_iter, tol, rank)
    if rank is not None:
        raise ValueError("rank= is for solver='lowrank'; the entropic study's plans are full rank")
    spec = SearchSpec(
        eps_range=(float(eps_range[0]), float(eps_range[1])),
        n_trials=n_trials,
        kinds=tuple(schedule(init, n_inits)),
        sampler=sampler,
        seed=int(seed),
        options=SolverOptions(
            max_iter=int(max_iter), tol=float(tol), inner_tol=float(inner_tol), precision=precision
        ),
        warm_start=bool(warm_start),
        prune=_prune_rule(prune),
    )
    config = {"inputs": prepared.fingerprint(), **spec.config()}
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    name = study_name or f"emoalign-{digest[:16]}"
    backend = open_storage(storage, heartbeat)
    study = open_study(backend, name, spec.make_sampler(), config)
    plans = _plan_store(storage, backend, name, plans_dir)
    labels_arr = prepared.labels
    worker = Worker(study, spec, *prepared.costs, labels_arr, plans)
    run_search(worker, n_jobs=n_jobs, progress=progress)

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    rank = ranks(trials)
    best = min(complete, key=lambda t: (t.value, rank[t.number]))
    epsilon = float(best.params[PARAM])
    plan = plans.load(best.number)
    if plan is None:
        plan = _recompute_plan(best.number, trials, prepared.costs, spec)
    gw_dist = float(best.value)
    converged = bool(best.user_attrs.get("converged"))
    if spec.options.precision != "float64":
        # The trials ranked ε in float32; the answer is the float64 fixed point, reached from
        # the best float32 plan (30–60 iterations on the C&K RDMs, plans within 3e-8).
        n, m = plan.shape
        final = spec.options.in_float64().solve(
            *prepared.costs,
            np.full(n, 1.0 / n),
            np.full(m, 1.0 / m),
            epsilon,
            plan.astype(np.float64),
        )
        plan, gw_dist, converged = final.plan, float(final.gw_dist), bool(final.converged)
    if not converged:
        warnings.warn(
            f"the best trial's solve (ε={epsilon:g}) stopped at max_iter={max_iter} before "
            f"converging; raise max_iter for a trustworthy plan",
            ConvergenceWarning,
            stacklevel=2,
        )
    refined: list[float] = []
    if refine:
        step = refine_plan(*prepared.costs, plan, gw_dist, epsilon, spec.options)
        plan, gw_dist, refined = step.plan, step.gw_dist, step.epsilons
    # Every trial solved the same costs; the column says how the solver held them.
    table = trials_table(trials).with_columns(pl.lit(prepared.cost_form).alias("costs"))
    record = provenance.collect(
        call=call,
        spec=spec,
        metrics=(prepared.source_metric, prepared.target_metric),
        storage=storage,
        trials=table,
        started=started,
    )
    return Alignment(
        prepared=prepared,
        plan=plan,
        epsilon=epsilon,
        gw_dist=gw_dist,
        converged=converged,
        best_trial=best.number,
        trials=table,
        spec=spec,
        study_name=name,
        refined_epsilons=refined,
        provenance=record,
    )
