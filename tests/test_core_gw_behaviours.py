"""The entropic GW drop-ins against POT on the behaviours POT's own ``test/gromov/test_bregman.py``
covers (that file is not in POT's sdist, so scripts/peer_suites.sh cannot run it): the
``symmetric`` flag, asymmetric costs, G0, kl_loss, PPA, float32/float64 in and out, the log,
verbose, and ``entropic_gromov_wasserstein2``'s value against the GW loss of its plan.

Reference runs: POT with ``tol=1e-11`` and the drop-ins with the same ``tol``. Both iterate the
same map from the same start and stop once a step moves the plan by <= 1e-11 (Frobenius norm).
On the problems below the iteration contracts at rate rho <= 0.6 (0.35 measured on the
isometric pair at eps = 0.1), so each plan is within 1e-11 * rho / (1 - rho) <= 2e-11 of the
fixed point, and POT's Sinkhorn (stopThr 1e-9 on the marginals) adds up to ~1e-9 to its own.
``PLAN_ATOL = 1e-8`` leaves a 10x margin over that (entries are <= 1/n = 0.1 here); measured:
1e-10. Values: gw_dist is a sum of n^2 m^2 products of such entries with costs <= 10^2, hence
``VALUE_RTOL = 1e-7``.

Known differences, documented rather than tested as targets:
    * POT's PPA test runs ``numItermax=1`` (one Sinkhorn sweep per outer step, as Xu et al. 2019
      suggest) and its tolerances (rows 1e-4, columns 1e-2) encode POT's update order: u first,
      then v, so the column marginals are the ones left off. emoalign's sweep order is its own,
      so those iterates are not compared; PPA is compared run to convergence instead.
    * ``symmetric=True`` on asymmetric costs: POT silently uses the one-sided gradient, emoalign
      refuses with a ValueError (tested below).
    * POT records ``log['err']`` every 10 iterations, emoalign every iteration.
    * kl_loss on costs with zeros (POT's test normalises distances, zero diagonal): both use
      log(C + 1e-18), giving costs of ~41 against eps = 0.1, where POT's Sinkhorn does not
      converge in 2e5 iterations; such problems are not a usable reference, so kl_loss is
      compared on positive costs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import ot
import pytest

import emoalign

TOL = 1e-11
PLAN_ATOL = 1e-8
VALUE_RTOL = 1e-7


def gaussian_space(n: int, seed: int) -> np.ndarray:
    """Squared distances between n standard-normal points in the plane, divided by their max."""
    X = np.random.default_rng(seed).standard_normal((n, 2))
    C = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return C / C.max()


def reversed_copy(C: np.ndarray) -> np.ndarray:
    """The same space with its points listed backwards: an isometric copy, GW distance 0."""
    return C[::-1, ::-1].copy()


def asymmetric_space(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 10.0, (n, n))


def weights(n: int, seed: int) -> np.ndarray:
    w = np.random.default_rng(seed).dirichlet(np.full(n, 2.0)) + 1e-2
    return w / w.sum()


def pot_gw_value(C1: Any, C2: Any, p: Any, q: Any, T: Any, loss: str) -> float:
    """POT's GW loss of plan T with marginals p, q (how POT computes its own ``gw_dist``)."""
    return float(ot.gromov.gwloss(*ot.gromov.init_matrix(C1, C2, p, q, loss), T))


def pot_plan(*args: Any, **kw: Any) -> np.ndarray:
    """POT's plan, which must have converged: a Sinkhorn warning makes it no reference. (PPA
    takes log(T); entries that underflowed to 0 give -inf there and stay 0, their limit, so
    numpy's divide-by-zero warning is not a failure.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", "divide by zero encountered in log", RuntimeWarning)
        return ot.gromov.entropic_gromov_wasserstein(*args, tol=TOL, **kw)


@pytest.mark.parametrize("loss", ["square_loss", "kl_loss"])
def test_symmetric_flag_on_symmetric_costs(loss: str) -> None:
    """None detects symmetry; True uses the one-sided gradient; False averages it with the
    transposed one, which for symmetric costs is the same gradient: all three give POT's plan."""
    C1 = gaussian_space(10, 0) + (0.1 if loss == "kl_loss" else 0.0)
    C2 = gaussian_space(12, 1) + (0.1 if loss == "kl_loss" else 0.0)
    p, q = weights(10, 2), weights(12, 3)
    ref = pot_plan(C1, C2, p, q, loss, 0.1, symmetric=True)
    plans = [
        emoalign.entropic_gromov_wasserstein(C1, C2, p, q, loss, 0.1, symmetric=s, tol=TOL)
        for s in (None, True, False)
    ]
    for plan in plans:
        np.testing.assert_allclose(plan, ref, rtol=0, atol=PLAN_ATOL)
    # The same map in exact arithmetic; float64 rounding of the two gradient forms: 1e-12.
    np.testing.assert_allclose(plans[2], plans[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("loss", ["square_loss", "kl_loss"])
def test_asymmetric_costs_match_pot(loss: str) -> None:
    C1, C2 = asymmetric_space(9, 4), asymmetric_space(11, 5)
    p, q = weights(9, 6), weights(11, 7)
    # eps scales with the costs (<= 10, so the gradient is <= 2 * 100): eps = 10 keeps POT's
    # Sinkhorn converging at its defaults.
    ref = pot_plan(C1, C2, p, q, loss, 10.0, symmetric=False)
    for symmetric in (None, False):
        got = emoalign.entropic_gromov_wasserstein(
            C1, C2, p, q, loss, 10.0, symmetric=symmetric, tol=TOL
        )
        np.testing.assert_allclose(got, ref, rtol=0, atol=PLAN_ATOL)
    value = emoalign.entropic_gromov_wasserstein2(
        C1, C2, p, q, loss, 10.0, symmetric=False, tol=TOL
    )
    assert value == pytest.approx(pot_gw_value(C1, C2, p, q, ref, loss), rel=VALUE_RTOL)


def test_symmetric_true_on_asymmetric_costs_is_refused() -> None:
    """A documented difference: POT would silently use the one-sided gradient."""
    C = asymmetric_space(6, 8)
    with pytest.raises(ValueError, match=r"C1 is not symmetric.*symmetric=False"):
        emoalign.entropic_gromov_wasserstein(C, C.T.copy() + C, symmetric=True)


@pytest.mark.parametrize("loss", ["square_loss", "kl_loss"])
@pytest.mark.parametrize("symmetric", [None, False])
def test_permuted_asymmetric_copy_is_matched_exactly(loss: str, symmetric: bool | None) -> None:
    """POT's asymmetric test: C2 is C1 with its points shuffled. The matching that undoes the
    shuffle costs 0 and, with uniform weights, eps = 0.1 against costs up to 10 leaves it
    with all the mass (the next-best matching is e^-(cost/eps) ~ 1e-40 behind), so the plan
    is the permutation / n to rounding and the GW value is 0."""
    n = 10
    C1 = asymmetric_space(n, 9)
    idx = np.random.default_rng(10).permutation(n)
    C2 = C1[np.ix_(idx, idx)]
    T = emoalign.entropic_gromov_wasserstein(
        C1, C2, None, None, loss, 0.1, symmetric=symmetric, tol=TOL
    )
    expected = np.zeros((n, n))
    expected[idx, np.arange(n)] = 1.0 / n
    np.testing.assert_allclose(T, expected, rtol=0, atol=1e-12)
    value = emoalign.entropic_gromov_wasserstein2(
        C1, C2, None, None, loss, 0.1, symmetric=symmetric, tol=TOL
    )
    assert value == pytest.approx(0.0, abs=1e-10)


def test_isometric_copy_and_default_weights() -> None:
    """POT's first test: a point cloud against itself listed backwards, one weight vector
    given and the other defaulted (uniform). The GW value is at most eps * log(n) (the
    identity matching costs 0 and the entropic optimum trades at most eps * H(p) for it).
    eps = 0.03, not POT's 1e-2: there POT's Sinkhorn does not converge even in 2e4 iterations."""
    eps = 0.03
    C1 = gaussian_space(10, 11)
    C2 = reversed_copy(C1)
    u = np.full(10, 0.1)
    ref = pot_plan(C1, C2, u, u, "square_loss", eps, numItermax=20000)
    for p, q in ((None, u), (u, None), (None, None)):
        got = emoalign.entropic_gromov_wasserstein(C1, C2, p, q, "square_loss", eps, tol=TOL)
        np.testing.assert_allclose(got, ref, rtol=0, atol=PLAN_ATOL)
    value = emoalign.entropic_gromov_wasserstein2(C1, C2, epsilon=eps, tol=TOL)
    assert 0.0 <= value <= eps * np.log(10)
    assert value == pytest.approx(pot_gw_value(C1, C2, u, u, ref, "square_loss"), rel=VALUE_RTOL)


def test_g0_product_start_is_the_default_start() -> None:
    C1, C2 = gaussian_space(8, 12), gaussian_space(9, 13)
    p, q = weights(8, 14), weights(9, 15)
    default = emoalign.entropic_gromov_wasserstein(C1, C2, p, q, epsilon=0.05, tol=TOL)
    explicit = emoalign.entropic_gromov_wasserstein(
        C1, C2, p, q, epsilon=0.05, G0=np.outer(p, q), tol=TOL
    )
    # The same iteration from the same (bitwise) start; 1e-14 allows for nothing but rounding.
    np.testing.assert_allclose(explicit, default, rtol=0, atol=1e-14)
    G0 = np.random.default_rng(16).random((8, 9)) * np.outer(p, q)
    G0 /= G0.sum()
    ref = pot_plan(C1, C2, p, q, "square_loss", 0.05, G0=G0)
    got = emoalign.entropic_gromov_wasserstein(C1, C2, p, q, epsilon=0.05, G0=G0, tol=TOL)
    np.testing.assert_allclose(got, ref, rtol=0, atol=PLAN_ATOL)


def test_log_contents_and_value_of_the_plan() -> None:
    """``log['gw_dist']``, the value of ``entropic_gromov_wasserstein2`` and POT's GW loss of
    the returned plan (with the given p, q, as POT's gw_dist) are one number; ``log['T']`` is
    the plan ``entropic_gromov_wasserstein`` returns."""
    C1, C2 = gaussian_space(10, 17), gaussian_space(7, 18)
    p, q = weights(10, 19), weights(7, 20)
    args = (C1, C2, p, q, "square_loss", 0.05)
    plan, log = emoalign.entropic_gromov_wasserstein(*args, tol=TOL, log=True)
    value, log2 = emoalign.entropic_gromov_wasserstein2(*args, tol=TOL, log=True)
    assert emoalign.entropic_gromov_wasserstein2(*args, tol=TOL) == value
    np.testing.assert_allclose(log2["T"], plan, rtol=0, atol=1e-15)
    assert value == log2["gw_dist"] == pytest.approx(log["gw_dist"], rel=1e-12)
    # The same plan, evaluated by POT and by emoalign's POT-signature gwloss: sums of 4900
    # products in a different order, 1e-12.
    assert value == pytest.approx(pot_gw_value(C1, C2, p, q, plan, "square_loss"), rel=1e-12)
    own = emoalign.gwloss(*emoalign.init_matrix(C1, C2, p, q, "square_loss"), plan)
    assert value == pytest.approx(own, rel=1e-12)
    ref_plan, ref_log = ot.gromov.entropic_gromov_wasserstein(*args, tol=TOL, log=True)
    assert value == pytest.approx(ref_log["gw_dist"], rel=VALUE_RTOL)
    np.testing.assert_allclose(plan, ref_plan, rtol=0, atol=PLAN_ATOL)
    errs = log["err"]
    assert isinstance(errs, list) and all(isinstance(e, float) for e in errs)
    assert len(errs) == log["n_iter"] and log["converged"]
    # One entry per iteration (POT: one per 10), relative to ||T||_F, while tol bounds the
    # absolute change as in POT; 1e-3 allows for the norm taken in float64 either way.
    assert errs[-1] * np.linalg.norm(plan) <= TOL * (1 + 1e-3)
    assert errs[0] * np.linalg.norm(plan) > TOL


@pytest.mark.parametrize("loss", ["square_loss", "kl_loss"])
def test_ppa_with_warmstart_matches_pot(loss: str) -> None:
    """PPA run to convergence (POT's test stops at max_iter=10, before it) with POT's
    ``warmstart=True`` accepted; kl_loss on positive costs (see the module docstring). PPA
    converges to a sparse plan whose small entries slow POT down (~1 s at 5 x 6, 17 s at
    8 x 10), hence the small sizes; measured agreement 7e-10."""
    shift = 0.1 if loss == "kl_loss" else 0.0
    C1, C2 = gaussian_space(5, 21) + shift, gaussian_space(6, 22) + shift
    p, q = weights(5, 23), weights(6, 24)
    args = (C1, C2, p, q, loss, 0.1)
    ref = pot_plan(*args, solver="PPA", max_iter=5000)
    value, log = emoalign.entropic_gromov_wasserstein2(
        *args, solver="PPA", warmstart=True, max_iter=5000, tol=TOL, log=True
    )
    assert log["converged"]
    np.testing.assert_allclose(log["T"], ref, rtol=0, atol=PLAN_ATOL)
    assert value == pytest.approx(pot_gw_value(C1, C2, p, q, ref, loss), rel=VALUE_RTOL)


@pytest.mark.parametrize(("solver", "max_iter"), [("PGD", 1000), ("PPA", 20)])
@pytest.mark.filterwarnings("ignore::emoalign.ConvergenceWarning")
def test_float32_in_float32_out(solver: str, max_iter: int) -> None:
    """POT returns the input's dtype; so does the plan here. float32 results agree with the
    float64 ones to float32 precision: the stopping floor is ten float32 ulp of the plan's
    change (1.2e-6 relative), so 1e-5 relative to the plan's largest entry, and the value
    to 1e-5 relative. PPA runs 20 steps in both precisions (as POT's dtype test runs 2): run
    to convergence, its plan goes sparse and float32 stalls at its floor sooner."""
    C1, C2 = gaussian_space(8, 25), gaussian_space(8, 26)
    kw = {"epsilon": 0.1, "solver": solver, "max_iter": max_iter, "log": True}
    f64, log64 = emoalign.entropic_gromov_wasserstein(C1, C2, **kw)
    f32, log32 = emoalign.entropic_gromov_wasserstein(
        C1.astype(np.float32), C2.astype(np.float32), **kw
    )
    assert f64.dtype == np.float64 and f32.dtype == np.float32
    np.testing.assert_allclose(f32, f64, rtol=0, atol=1e-5 * f64.max())
    assert log32["gw_dist"] == pytest.approx(log64["gw_dist"], rel=1e-5)
    mixed = emoalign.entropic_gromov_wasserstein(C1.astype(np.float32), C2, epsilon=0.1)
    assert mixed.dtype == np.float64  # numpy's promotion, as POT's arithmetic would give


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"loss_fun": "weird_loss"}, "loss_fun"), ({"solver": "BAPG"}, "solver")],
)
def test_unknown_loss_or_solver_is_a_value_error(kwargs: dict[str, str], message: str) -> None:
    """POT raises ValueError for both; so does emoalign, naming the argument."""
    C = gaussian_space(5, 27)
    with pytest.raises(ValueError, match=message):
        emoalign.entropic_gromov_wasserstein(C, C, **kwargs)
    with pytest.raises(ValueError, match=message):
        emoalign.entropic_gromov_wasserstein2(C, C, **kwargs)


def test_stopped_early_the_plan_still_has_the_marginals() -> None:
    """POT's tests stop at max_iter=10 and check the marginals to 1e-4; the run must warn.
    A difference: POT solves every projection to stopThr=1e-9, emoalign solves the early ones
    loosely and tightens as the outer iteration settles (measured L1 marginal error: 6e-5 after
    3 iterations, 1.9e-6 after 10, 3e-10 after 30), so 1e-4 is the bound here too."""
    C1, C2 = gaussian_space(10, 28), gaussian_space(10, 29)
    p, q = weights(10, 30), weights(10, 31)
    with pytest.warns(emoalign.ConvergenceWarning):
        T = emoalign.entropic_gromov_wasserstein(C1, C2, p, q, epsilon=1e-2, max_iter=10)
    assert np.abs(T.sum(1) - p).sum() <= 1e-4
    assert np.abs(T.sum(0) - q).sum() <= 1e-4


def test_verbose_prints_one_row_per_iteration(capsys: pytest.CaptureFixture[str]) -> None:
    """POT's tests run with verbose=True; here each outer iteration prints its number, relative
    change, marginal error and Sinkhorn passes, under a header, and the log says how many."""
    C1, C2 = gaussian_space(6, 32), gaussian_space(7, 33)
    _, log = emoalign.entropic_gromov_wasserstein(C1, C2, epsilon=0.1, verbose=True, log=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("|")[0].strip() == "It."
    rows = [line.split("|") for line in lines if line.split("|")[0].strip().isdigit()]
    assert [int(row[0]) for row in rows] == list(range(1, log["n_iter"] + 1))
    assert [float(row[1]) for row in rows] == pytest.approx(log["err"], rel=1e-4)  # 5 digits
    assert sum(int(row[3]) for row in rows) == log["n_inner_iter"]


def test_value_has_the_inputs_dtype_as_in_pot() -> None:
    """POT's backend returns the GW value as a scalar of the costs' dtype; so do the drop-ins."""
    rng = np.random.default_rng(5)
    C = rng.random((8, 8))
    C = (C + C.T) / 2
    for dtype in (np.float32, np.float64):
        Ct = C.astype(dtype)
        value = emoalign.entropic_gromov_wasserstein2(Ct, Ct, epsilon=0.1)
        ref = ot.gromov.entropic_gromov_wasserstein2(Ct, Ct, epsilon=0.1)
        assert type(value) is type(ref) is dtype
        _, log = emoalign.entropic_gromov_wasserstein(Ct, Ct, epsilon=0.1, log=True)
        assert type(log["gw_dist"]) is dtype
