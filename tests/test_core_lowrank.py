"""Low-rank GW (emoalign.lowrank_gw): marginals, descent, agreement with the dense solver and with
POT's low-rank solver, streamed matching, and refusals of bad input."""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emoalign
from emoalign.alignment.matching import chance_rate, matching_rate
from emoalign.lowrank import lowrank_gw, lowrank_matching_rate, lowrank_top_k


def sqeuclidean_factors(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact factors of C_ij = |x_i − x_j|²: A = [|x|², 1, −2X], B = [1, |x|², X]."""
    sq = (X**2).sum(axis=1, keepdims=True)
    one = np.ones_like(sq)
    return np.hstack([sq, one, -2.0 * X]), np.hstack([one, sq, X])


def dense(f: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return f[0] @ f[1].T


def planted(n: int, seed: int, d: int = 5, clusters: int = 4, noise: float = 0.05):
    """Clustered points and a noisy permuted copy: Y[j] = X[perm[j]] + noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 3.0
    labels = rng.integers(clusters, size=n)
    X = centres[labels] + rng.normal(size=(n, d))
    perm = rng.permutation(n)
    Y = X[perm] + noise * rng.normal(size=(n, d))
    return X, Y, labels, perm


@pytest.fixture(scope="module")
def solved():
    X, Y, labels, perm = planted(120, seed=1)
    f1, f2 = sqeuclidean_factors(X), sqeuclidean_factors(Y)
    return f1, f2, labels, perm, lowrank_gw(f1, f2, rank=8)


def test_marginals_hold_to_1e8(solved):
    *_, res = solved
    plan = res.plan()
    n, m = plan.shape
    np.testing.assert_allclose(plan.sum(axis=1), np.full(n, 1.0 / n), rtol=0, atol=1e-8)
    np.testing.assert_allclose(plan.sum(axis=0), np.full(m, 1.0 / m), rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.Q.sum(axis=0), res.g, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.R.sum(axis=0), res.g, rtol=0, atol=1e-12)
    assert res.marginal_error <= 1e-8
    assert (res.Q >= 0).all() and (res.R >= 0).all()


def test_marginals_hold_with_given_weights():
    X, Y, *_ = planted(50, seed=3)
    rng = np.random.default_rng(0)
    p, q = rng.uniform(0.5, 2, 50), rng.uniform(0.5, 2, 50)
    p, q = p / p.sum(), q / q.sum()
    res = lowrank_gw(sqeuclidean_factors(X), sqeuclidean_factors(Y), p, q, rank=5, warn=False)
    plan = res.plan()
    np.testing.assert_allclose(plan.sum(axis=1), p, rtol=0, atol=1e-8)
    np.testing.assert_allclose(plan.sum(axis=0), q, rtol=0, atol=1e-8)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(2, 25),
    m=st.integers(2, 25),
    d1=st.integers(1, 6),
    d2=st.integers(1, 6),
    rank_share=st.floats(0.0, 1.0),
    uniform=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_shape_keeps_marginals_descends_and_values_match(
    n, m, d1, d2, rank_share, uniform, seed
):
    """Random shapes, dimensions, ranks and marginals (n != m included)."""
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, d1)), rng.normal(size=(m, d2))
    p = None if uniform else rng.uniform(0.2, 1.0, n)
    q = None if uniform else rng.uniform(0.2, 1.0, m)
    p, q = (None, None) if uniform else (p / p.sum(), q / q.sum())
    rank = 1 + int(rank_share * (min(n, m) - 1))
    f1, f2 = sqeuclidean_factors(X), sqeuclidean_factors(Y)
    res = lowrank_gw(f1, f2, p, q, rank=rank, max_iter=200, warn=False)
    plan = res.plan()
    a = np.full(n, 1.0 / n) if p is None else p
    b = np.full(m, 1.0 / m) if q is None else q
    np.testing.assert_allclose(plan.sum(axis=1), a, rtol=0, atol=1e-8)
    np.testing.assert_allclose(plan.sum(axis=0), b, rtol=0, atol=1e-8)
    assert (np.diff(res.history) <= 0).all()
    dense_value = emoalign.gw_value(dense(f1), dense(f2), plan)
    assert res.gw_dist == pytest.approx(dense_value, rel=1e-9, abs=1e-12 * res.history[0])


def test_objective_decreases_and_is_the_dense_gw_value(solved):
    f1, f2, *_, res = solved
    history = np.asarray(res.history)
    assert len(history) == res.n_iter + 1 >= 3
    assert (np.diff(history) <= 0).all()
    assert history[-1] < history[0]
    assert res.converged
    # The factored value is the GW loss of the dense plan between the dense costs.
    dense_value = emoalign.gw_value(dense(f1), dense(f2), res.plan())
    assert res.gw_dist == pytest.approx(dense_value, rel=1e-10)


def test_full_rank_agrees_with_the_dense_entropic_solver():
    """At r = n the low-rank set holds every coupling, but the two solvers minimise different
    objectives (entropic GW adds −εH(P); low-rank GW has no entropy), so their plans cannot be
    equal. What must agree is the alignment: on a planted permutation both put each row's
    largest mass on the true partner, and both GW values are a small fraction of the product
    coupling's (neither is equal to the other: the entropic plan is blurred by ε, the low-rank
    one approaches the permutation by multiplicative steps that never reach its zeros)."""
    X, Y, _, perm = planted(24, seed=5, d=4, clusters=24, noise=0.01)
    f1, f2 = sqeuclidean_factors(X), sqeuclidean_factors(Y)
    C1, C2 = dense(f1), dense(f2)
    scale = max(C1.max(), C2.max())
    lr = lowrank_gw(f1, f2, rank=24, tol=1e-9)
    ent = emoalign.entropic_gw(C1 / scale, C2 / scale, epsilon=1e-3)
    partner = np.argsort(perm)  # X[i] went to Y[partner[i]]
    np.testing.assert_array_equal(ent.plan.argmax(axis=1), partner)
    np.testing.assert_array_equal(lr.plan().argmax(axis=1), partner)
    ent_value = emoalign.gw_value(C1, C2, ent.plan)
    product = emoalign.gw_value(C1, C2, np.full((24, 24), 1.0 / 24**2))
    assert lr.gw_dist <= 0.01 * product
    assert ent_value <= 0.01 * product
    assert lr.gw_dist == pytest.approx(ent_value, rel=0.25)


def _pot_value(X, Y, rank, seed):
    """POT's low-rank GW from its own random start; whether it converged, and its GW value."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Q, R, g = ot.gromov.lowrank_gromov_wasserstein_samples(
            X, Y, rank=rank, seed_init=seed, numItermax=1000
        )
    converged = not any("did not converge" in str(w.message) for w in caught)
    plan = (Q / g) @ R.T
    C1, C2 = dense(sqeuclidean_factors(X)), dense(sqeuclidean_factors(Y))
    return converged, emoalign.gw_value(C1, C2, plan)


def test_no_worse_than_pot_where_pot_converges():
    compared, no_worse = 0, 0
    # POT's stopping rule is absolute, so it converges on costs of order one (on raw costs it
    # stops at numItermax, still at the product coupling).
    for seed in range(6):
        X, Y, *_ = planted(60, seed=seed)
        scale = np.abs(X).max()
        X, Y = X / scale, Y / scale
        pot_converged, pot_value = _pot_value(X, Y, rank=4, seed=seed)
        if not pot_converged:
            continue
        compared += 1
        ours = lowrank_gw(sqeuclidean_factors(X), sqeuclidean_factors(Y), rank=4, warn=False)
        no_worse += ours.gw_dist <= pot_value * (1 + 1e-6)
    assert compared >= 4, f"POT converged on only {compared} of 6 draws"
    assert no_worse == compared, f"worse than POT on {compared - no_worse} of {compared} draws"


def test_streamed_matching_equals_dense_matching(solved):
    _, _, labels, perm, res = solved
    plan = res.plan()
    target_labels = labels[perm]
    for k in (1, 3):
        np.testing.assert_array_equal(
            lowrank_top_k(res, k), np.argsort(-plan, axis=1, kind="stable")[:, :k]
        )
        assert lowrank_matching_rate(res, labels, target_labels, k=k) == matching_rate(
            plan, k, labels, target_labels
        )
    rows = np.array([5, 0, 77])
    assert lowrank_matching_rate(res, labels, target_labels, rows=rows) == pytest.approx(
        100.0 * np.mean(target_labels[plan[rows].argmax(axis=1)] == labels[rows])
    )
    # Category level is what a rank-r coupling is for: far above chance (about 25 % here) on
    # clusters that overlap (centres 3 apart, unit noise, so no method scores 100 %).
    chance = chance_rate(120, labels=labels, target_labels=target_labels)
    assert chance < 30.0
    assert lowrank_matching_rate(res, labels, target_labels) >= 85.0


def test_accepts_objects_with_A_and_B(solved):
    f1, f2, *_, res = solved

    class Factored:
        def __init__(self, f):
            self.A, self.B = f

    again = lowrank_gw(Factored(f1), Factored(f2), rank=8)
    assert again.gw_dist == res.gw_dist


@pytest.mark.parametrize("rank", [0, -1, 121])
def test_rank_out_of_range(solved, rank):
    f1, f2, *_ = solved
    with pytest.raises(ValueError, match="rank"):
        lowrank_gw(f1, f2, rank=rank)


def test_bad_factors(solved):
    f1, f2, *_ = solved
    A, B = f1
    with pytest.raises(ValueError, match="C1's factors have shapes"):
        lowrank_gw((A, B[:, :-1]), f2, rank=3)
    with pytest.raises(ValueError, match="C2's factors have shapes"):
        lowrank_gw(f1, (f2[0], f2[1][:-1]), rank=3)
    bad = A.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lowrank_gw((bad, B), f2, rank=3)
    with pytest.raises(TypeError, match="dense array"):
        lowrank_gw(dense(f1), f2, rank=3)
    with pytest.raises(TypeError, match="pair"):
        lowrank_gw("C1", f2, rank=3)
    with pytest.raises(TypeError, match="rank must be an int"):
        lowrank_gw(f1, f2, rank=2.0)
    with pytest.raises(ValueError, match="p must hold one weight"):
        lowrank_gw(f1, f2, np.ones(3) / 3, rank=3)


def test_plan_refuses_what_does_not_fit(solved, monkeypatch):
    *_, res = solved
    monkeypatch.setattr("emoalign.lowrank._available_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match="lowrank_matching_rate"):
        res.plan()


def test_warm_start_continues_and_max_iter_warns():
    X, Y, *_ = planted(40, seed=2)
    f1, f2 = sqeuclidean_factors(X), sqeuclidean_factors(Y)
    with pytest.warns(emoalign.ConvergenceWarning, match="max_iter=2"):
        first = lowrank_gw(f1, f2, rank=4, max_iter=2)
    assert not first.converged and first.n_iter == 2
    again = lowrank_gw(f1, f2, rank=4, init=first, warn=False)
    assert again.history[0] == first.gw_dist
    assert again.gw_dist < first.gw_dist
    with pytest.raises(ValueError, match="init"):
        lowrank_gw(f1, f2, rank=5, init=first)
    with pytest.raises(ValueError, match="init must be 'kmeans'"):
        lowrank_gw(f1, f2, rank=4, init="random")


def test_deterministic_given_the_seed():
    X, Y, *_ = planted(60, seed=4)
    f1, f2 = sqeuclidean_factors(X), sqeuclidean_factors(Y)
    one, two = lowrank_gw(f1, f2, rank=6), lowrank_gw(f1, f2, rank=6)
    np.testing.assert_array_equal(one.Q, two.Q)
    np.testing.assert_array_equal(one.R, two.R)


def test_callback_sees_every_step_and_can_stop_the_solve(solved):
    f1, f2, *_ = solved
    seen = []
    res = lowrank_gw(f1, f2, rank=8, callback=lambda *args: seen.append(args))
    assert [s[0] for s in seen] == list(range(1, res.n_iter + 1))
    # The reported decreases are the history's, relative to one fixed scale.
    decreases = np.array([s[1] for s in seen])
    steps = -np.diff(res.history)
    assert (decreases >= 0).all()
    np.testing.assert_allclose(decreases / decreases[0], steps / steps[0], rtol=1e-9, atol=1e-12)

    def stop(iteration, *_):
        if iteration == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lowrank_gw(f1, f2, rank=8, callback=stop)
