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
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import TrialState

from emoalign.alignment import provenance
from emoalign.alignment.inits import schedule
from emoalign.alignment.inputs import prepare
from emoalign.alignment.plans import FolderPlans, MemoryPlans, PlanStore
from emoalign.alignment.refine import refine as refine_plan
from emoalign.alignment.result import Alignment
from emoalign.alignment.search import PARAM, SearchSpec, Worker, ranks, run_search
from emoalign.alignment.solve import SolverOptions, solve_start
from emoalign.alignment.storage import open_storage, open_study, sqlite_path, storage_url
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
        if t.user_attrs.get("surplus") or t.state not in (TrialState.COMPLETE, TrialState.FAIL):
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
        "converged": pl.Boolean,
        "n_iter": pl.Int64,
        "item_rate": pl.Float64,
        "category_rate": pl.Float64,
        "seconds": pl.Float64,
        "worker": pl.String,
        "retry_of": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


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
    source: Any,
    target: Any,
    *,
    metric: str = "euclidean",
    source_metric: str | None = None,
    target_metric: str | None = None,
    labels: Any = None,
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
    n_jobs: int = 1,
    refine: bool = False,
    plans_dir: str | os.PathLike[str] | None = None,
    heartbeat: int = 10,
    id_column: str | None = None,
    progress: bool = False,
) -> Alignment:
    """Aligns two emotion structures over the same videos with entropic GW and an ε search.

    ``source``/``target``: feature matrices (videos × emotions) or RDMs, as numpy arrays (same
    video order) or polars DataFrames with an id column (``video_id``, ``id_column``, or the
    first text column; the query layer's long form is pivoted). Rows are matched by id. Each
    side's RDM (``metric``, or ``source_metric``/``target_metric``) is scaled to a maximum of 1.

    Each of ``n_trials`` trials draws ε log-uniformly from ``eps_range`` (``sampler``: 'tpe',
    'grid' or 'random') and solves from ``n_inits`` initial plans (``init``: 'random',
    'permutation', 'uniform' or a list cycled through), keeping the lowest GW distance; the best
    trial has the lowest GW distance overall. ``max_iter``, ``tol`` and ``inner_tol`` bound each
    solve.

    ``storage``: None (in memory), a file path (SQLite) or a database URL such as
    ``postgresql+psycopg://user@host:5432/db``. Processes calling ``align`` with the same
    inputs, settings, storage and ``study_name`` share the work of one study, never solving the
    same ε twice (TPE seeds each trial from ``seed`` and the trial number); a study that was
    interrupted resumes. ``study_name`` defaults to a digest of the inputs and settings.
    ``plans_dir`` keeps best plans as .npy files (default: beside a SQLite file; in memory for
    in-memory studies; otherwise the best plan is recomputed). ``n_jobs`` runs trials in threads.
    ``refine`` continues the best plan to smaller ε while that lowers the GW distance.

    The result's ``provenance`` records versions, dates, this call (data described by type and
    shape), seeds, ε range, sampler, metrics, solver and precision, trial counts and the storage
    kind (a password in a storage URL is redacted).
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
    spec = SearchSpec(
        eps_range=(float(eps_range[0]), float(eps_range[1])),
        n_trials=n_trials,
        kinds=tuple(schedule(init, n_inits)),
        sampler=sampler,
        seed=int(seed),
        options=SolverOptions(max_iter=int(max_iter), tol=float(tol), inner_tol=float(inner_tol)),
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
        start = best.user_attrs["starts"][best.user_attrs["best_start"]]
        result, plan = solve_start(
            *prepared.costs,
            epsilon,
            start["kind"],
            start["index"],
            spec.seed,
            spec.options,
        )
        if not np.isclose(result.gw_dist, best.value, rtol=1e-6, atol=1e-12):
            warnings.warn(
                f"recomputing trial {best.number}'s plan gave GW distance {result.gw_dist:.6g}, "
                f"not the recorded {best.value:.6g} (the solver is not bitwise reproducible here)",
                RuntimeWarning,
                stacklevel=2,
            )
    gw_dist = float(best.value)
    converged = bool(best.user_attrs.get("converged"))
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
        dtype=prepared.C1.dtype,
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
