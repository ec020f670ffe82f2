"""The ε search reusing work: warm starts, abandoned starts and the GW value they are judged on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest

import emoalign
from emoalign.alignment import align, synthetic_pair, synthetic_study
from emoalign.alignment.pruning import PruneRule, StartAbandoned, StartWatch
from emoalign.alignment.solve import SolverOptions, solve_start
from emoalign.alignment.warm import WarmStart, WarmStarts

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::emoalign.ConvergenceWarning")


def costs(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6))
    y = x + 0.05 * rng.random((n, 6))
    c1, c2 = emoalign.rdm(x, "euclidean"), emoalign.rdm(y, "euclidean")
    return c1 / c1.max(), c2 / c2.max()


# -- the GW value the solver reports ----------------------------------------------------------


@pytest.mark.parametrize("factored", [False, True])
def test_callback_gets_the_gw_value_of_each_iterations_plan(factored: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((30, 5))
    y = x + 0.05 * rng.random((30, 5))
    if factored:
        C1 = emoalign.rdm_factors(x, "sqeuclidean").scaled()
        C2 = emoalign.rdm_factors(y, "sqeuclidean").scaled()
    else:
        C1, C2 = (emoalign.rdm(v, "sqeuclidean") for v in (x, y))
        C1, C2 = C1 / C1.max(), C2 / C2.max()
    plans: list[np.ndarray] = []
    values: list[float] = []

    def record(i: int, change: float, marginal: float, inner: int, gw_value: float) -> None:
        values.append(gw_value)

    # Iteration k reports the loss of the plan it started from: rebuild those plans with
    # max_iter = k - 1 solves (deterministic) and score them with gw_value.
    res = emoalign.entropic_gw(C1, C2, epsilon=5e-3, callback=record, max_iter=8, warn=False)
    assert len(values) == res.n_iter == 8
    n = C1.shape[0]
    plans.append(np.full((n, n), 1.0 / n**2))
    for k in range(1, 8):
        plans.append(emoalign.entropic_gw(C1, C2, epsilon=5e-3, max_iter=k, warn=False).plan)
    expected = [emoalign.gw_value(C1, C2, plan) for plan in plans]
    # Factored costs give X exactly; dense float64 ones are updated by float32 increments of the
    # gradient between exact refreshes, whose rounding (~1e-7 of X's scale) the value carries.
    np.testing.assert_allclose(values, expected, rtol=1e-12 if factored else 1e-5)


def test_callback_without_gw_value_keeps_four_arguments() -> None:
    C1, C2 = costs(20)
    seen: list[int] = []
    emoalign.entropic_gw(C1, C2, epsilon=1e-2, callback=lambda *a: seen.append(len(a)))
    assert seen and set(seen) == {4}


def test_an_exception_in_the_callback_stops_the_solve_and_propagates() -> None:
    C1, C2 = costs(20)

    def stop(i: int, change: float, marginal: float, inner: int, gw_value: float) -> None:
        if i == 3:
            raise StartAbandoned(i, gw_value, 0.0)

    with pytest.raises(StartAbandoned, match="abandoned at iteration 3"):
        emoalign.entropic_gw(C1, C2, epsilon=1e-2, callback=stop)


# -- the rule ---------------------------------------------------------------------------------


def geometric(start: float, final: float, rate: float, n: int) -> list[float]:
    return [final + (start - final) * rate**k for k in range(n)]


def test_forecast_of_a_linear_rate_is_the_limit() -> None:
    rule = PruneRule(reach_margin=1.0)
    values = geometric(1.0, 0.5, 0.6, 12)
    assert rule.forecast(values) == pytest.approx(0.5, rel=1e-9)
    # With the default margin the forecast undershoots: it never claims more than is known.
    assert PruneRule().forecast(values) < 0.5


def test_rule_abandons_only_a_contracting_start_that_cannot_win() -> None:
    rule = PruneRule()
    settling = geometric(1.0, 0.5, 0.5, 20)
    contracting = [0.5**k for k in range(20)]
    assert rule.cannot_win(settling, contracting, best=0.4)
    assert not rule.cannot_win(settling, contracting, best=0.6)  # it will be the new best
    # Settled just above the best: it cannot improve on it by more than 1e-4.
    assert rule.cannot_win(settling, contracting, best=0.5 + 1e-6)
    # Still moving (change above 1e-3), or the change growing again (leaving a saddle): the
    # distance may yet fall.
    assert not rule.cannot_win(settling, [0.9**k for k in range(20)], best=0.4)
    regrowing = [*contracting[:-2], contracting[-2] * 1.1, contracting[-2] * 1.2]
    assert not rule.cannot_win(settling, regrowing, best=0.4)
    # Too early, or falls not shrinking.
    assert not rule.cannot_win(settling[:9], [1e-4 / 2**k for k in range(9)], best=0.4)
    steady = [1.0 - 0.01 * k for k in range(20)]
    assert rule.forecast(steady) is None
    assert not rule.cannot_win(steady, contracting, best=0.1)
    # Flat at a value: settled there.
    assert rule.cannot_win([0.7] * 20, contracting, best=0.6)
    assert not rule.cannot_win([math.nan] * 20, contracting, best=0.6)


@pytest.mark.parametrize("bad", [-0.1, 1.0, math.nan])
def test_bad_prune_thresholds_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="prune"):
        PruneRule(improvement=bad)
    pair = synthetic_pair(n_categories=2, per_category=4, seed=0)
    with pytest.raises(ValueError, match="prune"):
        align(pair.human, pair.model, n_trials=1, prune=bad)
    with pytest.raises(TypeError, match="prune"):
        align(pair.human, pair.model, n_trials=1, prune="yes")  # type: ignore[arg-type]


def test_a_watched_start_that_cannot_win_is_abandoned_early() -> None:
    C1, C2 = costs()
    options = SolverOptions()
    full, _ = solve_start(C1, C2, 5e-3, "random", 0, 0, options)
    assert full.converged and full.n_iter > 12
    watch = StartWatch(PruneRule(), lambda: full.gw_dist * 0.9)
    stopped, plan = solve_start(C1, C2, 5e-3, "random", 0, 0, options, watch=watch)
    assert plan is None and stopped.abandoned_at is not None
    assert stopped.n_iter == stopped.abandoned_at < full.n_iter
    assert stopped.gw_dist >= full.gw_dist * (1 - 1e-3)
    # Against a best it can still beat, the same start runs to the end.
    watch = StartWatch(PruneRule(), lambda: full.gw_dist * 1.1)
    kept, plan = solve_start(C1, C2, 5e-3, "random", 0, 0, options, watch=watch)
    assert plan is not None and kept.gw_dist == pytest.approx(full.gw_dist, rel=1e-12)


# -- warm starts ------------------------------------------------------------------------------


def test_warm_starts_are_found_by_log_epsilon_and_stay_spread() -> None:
    plan = np.zeros((10, 10))
    store = WarmStarts(budget_bytes=3 * plan.nbytes)
    assert store.nearest(1e-3) is None
    for number, eps in enumerate((1e-3, 1.1e-3, 1e-2, 3e-3)):
        store.add(number, eps, plan)
    # Four plans over a budget of three: one of the two crowded ones (1e-3, 1.1e-3) went.
    kept = sorted(store.nearest(e).epsilon for e in (1e-3, 1e-2, 3e-3))
    assert kept[1:] == [3e-3, 1e-2] and kept[0] in (1e-3, 1.1e-3)
    assert store.nearest(2e-2).epsilon == 1e-2
    assert store.nearest(2.5e-3).epsilon == 3e-3
    WarmStarts(budget_bytes=10).add(0, 1e-3, plan)  # larger than the budget: not kept, no error


def test_a_warm_start_begins_at_its_neighbours_plan() -> None:
    C1, C2 = costs(60)
    options = SolverOptions()
    _, near_plan = solve_start(C1, C2, 4e-3, "random", 0, 0, options)
    assert near_plan is not None
    warm, warm_plan = solve_start(
        C1, C2, 3.5e-3, "warm", 9, 0, options, warm=WarmStart(7, 4e-3, near_plan)
    )
    assert warm.kind == "warm" and warm.warm_from == 7 and warm.converged
    # Its first iteration starts from the neighbour's plan: the same map from the same point.
    direct = emoalign.entropic_gw(
        C1, C2, epsilon=3.5e-3, G0=near_plan, max_iter=options.max_iter, tol=options.tol,
        inner_tol=options.inner_tol, warn=False,
    )  # fmt: skip
    assert warm_plan is not None
    np.testing.assert_allclose(warm_plan, direct.plan, atol=1e-12)
    with pytest.raises(ValueError, match="warm start needs"):
        solve_start(C1, C2, 3.5e-3, "warm", 9, 0, options)


# -- studies ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n_categories=4, per_category=10, seed=0)


@pytest.mark.parametrize("model", ["close", "far"])
def test_reuse_finds_the_study_the_plain_search_finds(study, model: str) -> None:
    kwargs = {
        "labels": study.labels,
        "n_trials": 8,
        "n_inits": 1,
        "eps_range": (1e-3, 1e-2),
        "seed": 0,
        "sampler": "grid",
    }
    plain = align(study.human, study.models[model], prune=False, **kwargs)
    reuse = align(study.human, study.models[model], warm_start=True, **kwargs)
    # Every cold start is still solved (or abandoned only once it cannot win), so the best
    # distance can only improve on the plain search's.
    assert reuse.gw_dist <= plain.gw_dist * (1 + 1e-6)
    table = reuse.trials
    pruned = table.filter(table["state"] == "pruned")
    assert pruned.height >= 1 and table["warm_from"].is_not_null().sum() >= 1
    # A pruned trial could not have won: solved to the end, it lands above the best.
    by_eps = dict(zip(plain.trials["epsilon"], plain.trials["gw_dist"], strict=True))
    for eps in pruned["epsilon"]:
        assert by_eps[eps] >= reuse.gw_dist * (1 - 1e-4)
    assert reuse.provenance["trials"]["pruned"] == pruned.height
    assert reuse.matching_rate(1) == plain.matching_rate(1) or reuse.gw_dist < plain.gw_dist


def test_a_plan_not_kept_is_recomputed_along_its_warm_chain(study, tmp_path: Path) -> None:
    kwargs = {
        "labels": study.labels,
        "n_trials": 6,
        "n_inits": 1,
        "eps_range": (1e-3, 1e-2),
        "seed": 0,
        "sampler": "grid",
    }
    kept = align(study.human, study.models["close"], warm_start=True, **kwargs)
    # A storage object that is neither in memory nor a path: no plan folder, plans recomputed.
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    recomputed = align(
        study.human, study.models["close"], storage=storage, warm_start=True, **kwargs
    )
    assert recomputed.best_trial == kept.best_trial
    assert recomputed.trials["warm_from"].to_list() == kept.trials["warm_from"].to_list()
    np.testing.assert_allclose(recomputed.plan, kept.plan, atol=1e-9)


def test_a_float32_search_reports_the_float64_fixed_point(study) -> None:
    kwargs = {
        "labels": study.labels,
        "metric": "correlation",
        "n_trials": 6,
        "n_inits": 1,
        "eps_range": (2e-3, 1e-2),
        "seed": 0,
        "sampler": "grid",
        "prune": False,
    }
    exact = align(study.human, study.models["close"], **kwargs)
    fast = align(study.human, study.models["close"], precision="float32", **kwargs)
    # The trials ran in float32 (their values carry its rounding)...
    np.testing.assert_allclose(fast.trials["gw_dist"], exact.trials["gw_dist"], rtol=1e-3)
    assert fast.provenance["solver"]["precision"].startswith("float32")
    # ...and the answer is float64's fixed point at the best trial's ε.
    assert fast.best_trial == exact.best_trial and fast.plan.dtype == np.float64
    assert fast.converged
    assert fast.gw_dist == pytest.approx(exact.gw_dist, rel=1e-6)
    np.testing.assert_allclose(fast.plan, exact.plan, atol=1e-6 / fast.n)
    with pytest.raises(ValueError, match="precision must be one of"):
        align(study.human, study.models["close"], precision="float16", n_trials=1)


# -- the low-rank study -----------------------------------------------------------------------


def test_a_lowrank_study_aligns_categories_from_the_factors() -> None:
    pair = synthetic_pair(n_categories=6, per_category=40, seed=5)
    res = emoalign.align(
        pair.human, pair.model, labels=pair.labels, metric="correlation", solver="lowrank",
        rank=12, n_inits=2, seed=1,
    )  # fmt: skip
    assert isinstance(res, emoalign.LowRankAlignment) and res.rank == 12
    assert len(res.starts) == 2 and res.gw_dist == min(s.gw_dist for s in res.starts)
    # The same numbers as scoring the dense coupling, which a small study can afford.
    dense = res.coupling.plan()
    assert res.category_matching_rate(1) == pytest.approx(
        emoalign.matching_rate(dense, 1, labels=res.labels)
    )
    assert res.matching_rate(1) == pytest.approx(emoalign.matching_rate(dense, 1))
    assert res.category_matching_rate(1) >= 90.0 > 3 * res.category_chance(1)
    summary = res.summary()
    assert summary["rank"] == 12 and summary["category_top1"] == res.category_matching_rate(1)
    assert res.provenance["solver"]["rank"] == 12 and res.provenance["seed"] == 1
    # Deterministic given the seed.
    again = emoalign.align(
        pair.human, pair.model, labels=pair.labels, metric="correlation", solver="lowrank",
        rank=12, n_inits=2, seed=1,
    )  # fmt: skip
    assert again.gw_dist == res.gw_dist


def test_a_lowrank_study_refuses_what_it_cannot_do() -> None:
    pair = synthetic_pair(n_categories=2, per_category=6, seed=0)
    with pytest.raises(ValueError, match="needs factored costs"):
        align(pair.human, pair.model, solver="lowrank", rank=2)  # euclidean: no exact factors
    with pytest.raises(ValueError, match="needs rank="):
        align(pair.human, pair.model, metric="correlation", solver="lowrank")
    with pytest.raises(ValueError, match="eps_range, n_trials: settings of the ε search"):
        align(pair.human, pair.model, metric="correlation", solver="lowrank", rank=2,
              eps_range=(1e-3, 1e-2), n_trials=5)  # fmt: skip
    with pytest.raises(ValueError, match="rank= is for solver='lowrank'"):
        align(pair.human, pair.model, rank=2)
    with pytest.raises(ValueError, match="solver must be one of"):
        align(pair.human, pair.model, solver="dense")
    res = align(pair.human, pair.model, metric="correlation", solver="lowrank", rank=2)
    with pytest.raises(ValueError, match="needs labels"):
        res.category_matching_rate(1)
