"""The ε search end to end on synthetic structures: recovery, determinism, resume, extras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

import emoalign
from emoalign.alignment import align, synthetic_pair
from emoalign.alignment import search as search_module

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::emoalign.ConvergenceWarning")
FAST = {"eps_range": (1e-3, 1e-2), "n_inits": 2, "seed": 0}


@pytest.fixture(scope="module")
def small():
    return synthetic_pair(n_categories=4, per_category=8, seed=3)


def test_recovers_the_known_correspondence() -> None:
    pair = synthetic_pair()  # 72 videos, model rows shuffled under the same ids
    result = emoalign.align(pair.human, pair.model, labels=pair.labels, n_trials=12, **FAST)
    assert result.matching_rate(1) >= 95.0
    assert result.category_matching_rate(1) >= 95.0
    assert result.chance(1) == pytest.approx(100 / 72)
    assert result.trials.height == 12
    # Best = lowest GW distance among the trials, as in GWTune.
    complete = result.trials.filter(result.trials["state"] == "complete")
    assert result.gw_dist == pytest.approx(complete["gw_dist"].min())
    assert result.rsa("spearman", 199).r > 0.8


def test_a_seed_reproduces_the_study(small) -> None:
    runs = [
        align(small.human, small.model, labels=small.labels, n_trials=6, sampler=s, **FAST)
        for s in ("grid", "grid", "random", "random")
    ]
    for a, b in (runs[:2], runs[2:]):
        assert a.epsilon == b.epsilon
        # The core's parallel reductions are not bitwise reproducible, and a long solve can
        # carry that into the 9th digit; the answer itself must not move.
        assert a.gw_dist == pytest.approx(b.gw_dist, rel=1e-6)
        np.testing.assert_allclose(a.plan, b.plan, atol=1e-6)
        assert a.matching_rate(1) == b.matching_rate(1)
    assert runs[0].trials["epsilon"].sort().to_list() == pytest.approx(
        np.geomspace(1e-3, 1e-2, 6).tolist()
    )


def test_interrupted_study_resumes(small, tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "study.db"
    real = search_module.solve_trial
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(search_module, "solve_trial", interrupted)
    kwargs = {"labels": small.labels, "n_trials": 5, "sampler": "grid", "storage": db, **FAST}
    with pytest.raises(KeyboardInterrupt):
        align(small.human, small.model, **kwargs)
    assert calls["n"] == 3

    calls["n"] = 0

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(search_module, "solve_trial", counted)
    resumed = align(small.human, small.model, **kwargs)
    assert calls["n"] == 3  # the interrupted trial and the two never started; none redone
    table = resumed.trials
    # Pruned trials are finished too: settled where they could not beat the best.
    finished = table.filter(table["state"].is_in(["complete", "pruned"]))
    assert finished.height == 5 and finished["rank"].n_unique() == 5
    failed = table.filter(table["state"] == "fail")
    assert failed.height == 1
    assert finished.filter(finished["retry_of"] == failed["trial"][0]).height == 1
    plans = list((tmp_path / "study.db.plans" / resumed.study_name).glob("trial-*.npy"))
    assert [p.name for p in plans] == [f"trial-{resumed.best_trial}.npy"]

    serial = align(small.human, small.model, **{**kwargs, "storage": None})
    assert serial.epsilon == resumed.epsilon
    assert serial.gw_dist == pytest.approx(resumed.gw_dist, rel=1e-6)
    np.testing.assert_allclose(serial.plan, resumed.plan, atol=1e-6)


def test_a_study_name_cannot_be_reused_for_other_inputs(small, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    align(small.human, small.model, n_trials=1, storage=db, study_name="x", **FAST)
    with pytest.raises(ValueError, match="different alignment"):
        align(small.model, small.human, n_trials=1, storage=db, study_name="x", **FAST)


def test_refinement_only_lowers_the_distance(small) -> None:
    base = align(small.human, small.model, n_trials=3, sampler="grid", **FAST)
    refined = align(small.human, small.model, n_trials=3, sampler="grid", refine=True, **FAST)
    assert refined.gw_dist <= base.gw_dist
    assert (refined.gw_dist < base.gw_dist) == bool(refined.refined_epsilons)
    np.testing.assert_allclose(refined.plan.sum(axis=1), 1 / small.labels.size, atol=1e-4)


def test_embedding_baseline_and_breakdown(small) -> None:
    result = align(small.human, small.model, labels=small.labels, n_trials=4, **FAST)
    embedding = result.aligned_embedding(2)
    assert embedding.source.shape == embedding.target.shape == (32, 2)
    wider = result.aligned_embedding(3)
    # One shared PCA basis: its leading axes do not depend on how many are shown.
    np.testing.assert_allclose(np.abs(wider.source[:, :2]), np.abs(embedding.source), atol=1e-8)
    assert wider.explained[:2] == pytest.approx(embedding.explained)
    # The plan matches most items (72% top-1 with this seed), so a video's two points sit
    # together: the gap (mean pair distance over the spread) is small.
    assert result.matching_rate(1) >= 50.0
    assert embedding.gap < 0.25
    baseline = result.baseline(2)
    assert baseline.height == 2
    assert baseline["item_top1"].mean() < result.matching_rate(1)
    table = result.per_category()
    assert table["videos"].sum() == 32 and table.height == 4
    with pytest.raises(ValueError, match="one label per video"):
        result.category_matching_rate(1, labels=["a"] * 3)


def test_mds_share_of_variance_is_of_the_positive_eigenvalues() -> None:
    from emoalign.alignment.embedding import mds

    # A correlation RDM is not Euclidean: its double-centred Gram matrix has negative
    # eigenvalues, and a share of the trace could exceed 1.
    X = np.random.default_rng(4).random((60, 6))
    D = emoalign.rdm(X, "correlation")
    sq = D**2
    B = -0.5 * (sq - sq.mean(1)[:, None] - sq.mean(0)[None, :] + sq.mean())
    values = np.linalg.eigvalsh(B)
    assert values.min() < -1e-8
    for dim in (2, 5, 20):
        out = mds(D, dim)
        top = np.sort(values)[::-1][:dim]
        assert out.kept == pytest.approx(np.clip(top, 0, None).sum() / values[values > 0].sum())
        assert 0 < out.kept <= 1
