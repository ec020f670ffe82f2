"""The ε search: Optuna trials, each one ε tried from several initial plans.

Work is divided by *rank*. Every trial that is not a retry gets the next rank (its position
among such trials, which the storage's atomic trial numbering makes unique across workers);
ranks 0..n_trials−1 are the study's work, and a trial that draws a higher rank ends at once as
pruned, without solving. With the grid and random samplers ε is a function of the rank alone
(the rank-th grid point, or a draw seeded by (seed, rank)), so a distributed study computes
exactly what a serial one does. TPE proposes from the trials finished so far, which differ between
workers and runs, so it draws with a generator seeded by (seed, trial number): every worker runs
the same command and seed, yet no two trials draw alike (one seeded generator per worker would
propose the same ε in every worker that samples from the same history). A retry (the heartbeat
callback re-queues a dead worker's trial, and Ctrl-C re-queues the interrupted one) carries the
original's ε and rank. So each rank is solved once, again only if its worker died, and a crashed
or interrupted study resumes where it stopped.

Trials reuse each other's work, recorded per trial: a start that has settled where it cannot beat
the best distance found is abandoned, and a trial all of whose starts are is marked pruned
(``pruning``; on by default); and, on request, a trial adds a start from the plan of the
finished trial nearest in ε that its worker holds (``warm``). A pruned trial's rank counts as
done.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import optuna
from numpy.typing import NDArray
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from emoalign.alignment.plans import PlanStore
from emoalign.alignment.pruning import PruneRule
from emoalign.alignment.solve import SolverOptions, TrialAbandoned, TrialSolution, solve_trial
from emoalign.alignment.storage import MAX_RETRY, Heartbeat, has_heartbeat, retry_callback
from emoalign.alignment.warm import WarmStarts
from emoalign.factored import LowRankRDM

SAMPLERS = ("tpe", "grid", "random")
PARAM = "epsilon"


@dataclass(frozen=True)
class SearchSpec:
    eps_range: tuple[float, float]
    n_trials: int
    kinds: tuple[str, ...]
    sampler: str
    seed: int
    options: SolverOptions
    warm_start: bool = False
    prune: PruneRule | None = field(default_factory=PruneRule)

    def __post_init__(self) -> None:
        lo, hi = self.eps_range
        if not (0 < lo <= hi) or not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(
                f"eps_range must be (low, high) with 0 < low <= high, got {self.eps_range}"
            )
        if (
            isinstance(self.n_trials, bool)
            or not isinstance(self.n_trials, int)
            or self.n_trials < 1
        ):
            raise ValueError(f"n_trials must be a positive int, got {self.n_trials!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")

    def config(self) -> dict[str, Any]:
        return {
            "eps_range": list(self.eps_range),
            "n_trials": self.n_trials,
            "kinds": list(self.kinds),
            "sampler": self.sampler,
            "seed": self.seed,
            "options": asdict(self.options),
            "warm_start": self.warm_start,
            "prune": None if self.prune is None else asdict(self.prune),
        }

    def scheduled_epsilon(self, rank: int) -> float:
        """ε of a rank for the grid and random samplers (TPE chooses its own)."""
        lo, hi = self.eps_range
        if self.sampler == "grid":
            if self.n_trials == 1:
                return float(math.sqrt(lo * hi))
            return float(np.geomspace(lo, hi, self.n_trials)[rank])
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, rank, 0x5EED]))
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        if self.sampler == "tpe":
            return TrialSeededTPE(self.seed, n_startup_trials=min(10, max(1, self.n_trials // 3)))
        return ScheduleSampler(self)


def is_retry(trial: FrozenTrial) -> bool:
    return "failed_trial" in trial.system_attrs


def ranks(trials: Sequence[FrozenTrial]) -> dict[int, int]:
    """Every trial's rank, by trial number.

    A trial that is not a retry ranks by how many such trials precede it; a retry (its
    ``failed_trial`` names the first trial of its chain) inherits that trial's rank.
    """
    out: dict[int, int] = {}
    fresh = 0
    for t in sorted(trials, key=lambda t: t.number):
        if is_retry(t):
            continue
        out[t.number] = fresh
        fresh += 1
    for t in trials:
        if is_retry(t):
            out[t.number] = out.get(int(t.system_attrs["failed_trial"]), fresh)
    return out


class ScheduleSampler(optuna.samplers.BaseSampler):
    """Returns the ε that the spec assigns to the trial's rank, whichever worker asks."""

    def __init__(self, spec: SearchSpec) -> None:
        self._spec = spec

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, dist: BaseDistribution
    ) -> Any:
        rank = ranks(study.get_trials(deepcopy=False))[trial.number]
        return self._spec.scheduled_epsilon(min(rank, self._spec.n_trials - 1))


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """Optuna's TPE with the random draws of each trial seeded by (study seed, trial number).

    A fresh ``TPESampler`` serves each call: TPE keeps no state between trials other than its
    generator, and a per-call instance is also safe across the worker's threads.
    """

    def __init__(self, seed: int, n_startup_trials: int) -> None:
        self._seed = seed
        self._n_startup_trials = n_startup_trials

    def _for(self, trial: FrozenTrial) -> optuna.samplers.TPESampler:
        # RandomState seeds are 32-bit; SeedSequence mixes (seed, number) into one.
        state = np.random.SeedSequence([self._seed, trial.number, 0x7E5]).generate_state(1)
        # constant_liar: trials running elsewhere count as poor results, so that concurrent
        # workers spread out instead of proposing near neighbours (Optuna's advice for parallel
        # TPE; a serial study has no such trials and is unaffected).
        return optuna.samplers.TPESampler(
            seed=int(state[0]), n_startup_trials=self._n_startup_trials, constant_liar=True
        )

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, dist: BaseDistribution
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, dist)


@dataclass(frozen=True)
class StudyState:
    done: set[int]
    """Ranks with a complete or pruned trial."""
    claimed: int
    """Ranks below n_trials that some trial has taken."""
    waiting: bool
    running: bool
    stuck: list[FrozenTrial]
    """Failed trials of ranks that nothing queued, running or complete will finish."""


def is_pruned(trial: FrozenTrial) -> bool:
    """Stopped as settled above the best distance (not a surplus trial, also marked pruned)."""
    return trial.state == TrialState.PRUNED and not trial.user_attrs.get("surplus")


def study_state(trials: Sequence[FrozenTrial], n_trials: int) -> StudyState:
    rank = ranks(trials)
    finished = {rank[t.number] for t in trials if t.state == TrialState.COMPLETE or is_pruned(t)}
    live = finished | {
        rank[t.number] for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)
    }
    return StudyState(
        done=finished,
        claimed=min(n_trials, sum(1 for t in trials if not is_retry(t))),
        waiting=any(t.state == TrialState.WAITING for t in trials),
        running=any(t.state == TrialState.RUNNING for t in trials),
        stuck=[
            t
            for t in trials
            if t.state == TrialState.FAIL
            and rank[t.number] < n_trials
            and rank[t.number] not in live
        ],
    )


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Hides Optuna's notes that heartbeats and fail_stale_trials are meant for Study.optimize:
    this loop runs the heartbeat itself (see ``storage.Heartbeat``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        yield


class Worker:
    """Runs trials of one study until every rank is complete."""

    def __init__(
        self,
        study: optuna.Study,
        spec: SearchSpec,
        C1: NDArray[np.float64] | LowRankRDM,
        C2: NDArray[np.float64] | LowRankRDM,
        labels: NDArray[Any] | None,
        plans: PlanStore,
        poll: float = 1.0,
    ) -> None:
        self.study = study
        self.spec = spec
        self.C1, self.C2, self.labels = C1, C2, labels
        self.plans = plans
        self.warm = WarmStarts() if spec.warm_start else None
        self.poll = poll
        self.stop = threading.Event()
        self.retry = retry_callback()
        self._lock = threading.Lock()
        self.identity = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, progress: tqdm | None = None) -> None:
        n_trials = self.spec.n_trials
        looked_twice = False
        while not self.stop.is_set():
            if has_heartbeat(self.study._storage):
                with quiet_optuna():
                    optuna.storages.fail_stale_trials(self.study)
            state = study_state(self.study.get_trials(deepcopy=False), n_trials)
            if progress is not None:
                with self._lock:
                    progress.n = len(state.done)
                    progress.refresh()
            if len(state.done) >= n_trials:
                return
            if not state.waiting and state.claimed >= n_trials:
                if state.running:
                    # Every rank is taken. Wait: if a taker died, its heartbeat goes stale and the
                    # retry is queued for a live worker to pick up.
                    time.sleep(self.poll)
                    continue
                if not looked_twice:
                    # Whoever fails a stale trial queues its retry just after marking it failed;
                    # seen between the two writes it looks stuck, so look again before giving up.
                    looked_twice = True
                    time.sleep(self.poll)
                    continue
                numbers = ", ".join(str(t.number) for t in state.stuck)
                raise RuntimeError(
                    f"trials {numbers} failed {MAX_RETRY + 1} times and are not retried again; "
                    f"fix the cause (see the worker's error) and enqueue them, or start a new study"
                )
            looked_twice = False
            self._one_trial()

    def _one_trial(self) -> None:
        with quiet_optuna():
            trial = self.study.ask()
        # The heartbeat starts before anything else, so a worker killed at any point after ask()
        # leaves a trial that goes stale and is retried.
        with Heartbeat(self.study._storage, trial._trial_id):
            rank = ranks(self.study.get_trials(deepcopy=False))[trial.number]
            trial.set_user_attr("rank", rank)
            if rank >= self.spec.n_trials:
                # Another worker claimed the last rank first; end this one without any work.
                trial.set_user_attr("surplus", True)
                self.study.tell(trial, state=TrialState.PRUNED)
                return
            trial.set_user_attr("worker", self.identity)
            try:
                epsilon = trial.suggest_float(PARAM, *self.spec.eps_range, log=True)
                solution = solve_trial(
                    self.C1,
                    self.C2,
                    epsilon,
                    self.spec.kinds,
                    self.spec.seed,
                    self.spec.options,
                    warm=self.warm.nearest(epsilon) if self.warm is not None else None,
                    prune=self.spec.prune,
                    best_known=self._best_value,
                )
            except TrialAbandoned as stop:
                attrs = {
                    "n_iter": max(s.n_iter for s in stop.starts),
                    "seconds": sum(s.seconds for s in stop.starts),
                    "starts": [s.as_dict() for s in stop.starts],
                    "settled_at": min(s.gw_dist for s in stop.starts),
                    "warm_from": stop.starts[0].warm_from,
                }
                for key, value in attrs.items():
                    trial.set_user_attr(key, value)
                # TPE ranks pruned trials by their last reported value: without one it would take
                # them for the worst, and steer away from the ε that came closest to the best.
                trial.report(attrs["settled_at"], attrs["n_iter"])
                self.study.tell(trial, state=TrialState.PRUNED)
                return
            except BaseException:
                # Failed or interrupted (Ctrl-C): queue the same work again (up to MAX_RETRY
                # times) so that a resumed study redoes it, then let the error through.
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                self.retry(self.study, self.study._storage.get_trial(trial._trial_id))
                raise
            self._record(trial, solution)

    def _best_value(self) -> float | None:
        """The lowest GW distance of the study's complete trials, or None."""
        values = [
            t.value
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None
        ]
        return min(values, default=None)

    def _record(self, trial: optuna.Trial, solution: TrialSolution) -> None:
        best = solution.best
        attrs: dict[str, Any] = {
            "best_start": solution.starts.index(best),
            "best_init": best.kind,
            "warm_from": best.warm_from,
            "converged": best.converged,
            "n_iter": best.n_iter,
            "n_inner_iter": best.n_inner_iter,
            "marginal_error": best.marginal_error,
            "seconds": sum(s.seconds for s in solution.starts),
            "starts": [s.as_dict() for s in solution.starts],
        }
        top1 = solution.plan.argmax(axis=1)
        n, m = solution.plan.shape
        if n == m:
            attrs["item_rate"] = 100.0 * float(np.mean(top1 == np.arange(n)))
        if self.labels is not None:
            attrs["category_rate"] = 100.0 * float(np.mean(self.labels[top1] == self.labels))
        finished = {
            t.number: t.value
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None
        }
        if not finished or best.gw_dist < min(finished.values()):
            where = self.plans.save(trial.number, solution.plan, best.gw_dist)
            if where is not None:
                attrs["plan_file"] = where
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        self.study.tell(trial, best.gw_dist)
        if self.warm is not None:
            self.warm.add(trial.number, solution.epsilon, solution.plan)
        if "plan_file" in attrs:
            self.plans.prune(best.gw_dist, finished)


def run_search(worker: Worker, n_jobs: int = 1, progress: bool = True) -> None:
    """Runs ``n_jobs`` worker threads (the core releases the GIL) until the study is complete."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int, got {n_jobs!r}")
    bar = tqdm(total=worker.spec.n_trials, desc="ε search", unit="trial", disable=not progress)
    try:
        if n_jobs == 1:
            worker.run(bar)
            return
        with ThreadPoolExecutor(n_jobs) as pool:
            futures = [pool.submit(worker.run, bar) for _ in range(n_jobs)]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                # Ctrl-C reaches only this thread: let the others finish their trial and stop.
                worker.stop.set()
                raise
    finally:
        bar.close()
