"""pytest plugin: POT's own tests, from its source distribution, with emoalign's entropic GW.

``scripts/peer_suites.sh`` downloads the sdist of the installed POT version and runs its
``test/test_solvers.py`` and ``test/test_partial.py`` with ``-p pot_plugin``. Nothing of POT's is
kept in this repository; this plugin is the only glue.

What is patched
    Every public binding of POT's ``entropic_gromov_wasserstein`` and
    ``entropic_gromov_wasserstein2``: ``ot.gromov.*`` and ``ot.solvers._gromov``'s import of the
    latter (which ``ot.solve_gromov`` calls). The defining module ``ot.gromov._bregman`` keeps its
    own functions, so POT's original stays callable as the reference below.

What is selected, and why
    Only tests that reach the entropic GW solver; the rest of the two files exercise other
    solvers and would say nothing about emoalign.

    * ``test_solve_gromov_grid`` entries with ``reg`` set, ``unbalanced=None`` and
      ``unbalanced_type`` not ``semirelaxed``: that is exactly the branch of ``ot.solve_gromov``
      that calls ``entropic_gromov_wasserstein2`` (``reg_type`` is always ``entropy`` in the grid).
      Each entry calls it twice (the plain GW problem, from numpy and from the backend), and twice
      more when ``alpha == 1`` (the fused problem without its linear term). Entries with
      ``reg=None`` run exact GW; ``unbalanced`` or ``semirelaxed`` entries run other solvers.
    * ``test_partial_gromov_wasserstein``: compares ``ot.gromov.entropic_gromov_wasserstein``
      with POT's independent entropic *partial* GW solver at ``m = 1`` (atol 1e-2).

    POT's ``conftest.py`` (not in the sdist) parametrises the ``nx`` fixture over its backends
    and adds ``pytest.skip_backend``; here ``nx`` is the NumPy backend only, since emoalign takes
    numpy arrays, and ``skip_backend`` skips only what names numpy.

What is checked, beyond POT's own assertions
    * every selected test called emoalign at least once (counted per test; a test that never
      reached emoalign fails, and the session fails if a skipped one never reached it either);
    * every call also runs POT's original on the same arguments and the plans and values must
      agree to ``REF_ATOL``. The grid alone only compares emoalign with itself (numpy against
      the "backend", which is numpy too), so without this it could not catch a wrong answer.
      A reference whose Sinkhorn did not converge (POT warns) is no reference: such calls are
      allowed only in the tests of ``UNCONVERGED_REFERENCE``, which must really see one.

Set ``EMOALIGN_PEER_REPORT`` to a file path to have the counts written there as JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import ot
import ot.gromov
import pytest

import emoalign

_POT = importlib.import_module("ot.gromov._bregman")
_SOLVERS = importlib.import_module("ot.solvers._gromov")

# Both solvers iterate the same map from the same start and stop once a step moves the plan by
# <= 1e-9 in Frobenius norm (POT: absolute, checked every 10 iterations) with Sinkhorn marginals
# solved to 1e-9. On the grid's 3x5 problems (eps = 0.1, contraction rate < 0.9) each is within
# 1e-8 of the common fixed point; measured: plans 2.6e-10 apart, values 1.7e-11.
REF_ATOL = 1e-8

# Tests whose POT reference does not converge, so its answer cannot be compared, and why.
UNCONVERGED_REFERENCE: dict[str, str] = {
    "test_partial.py::test_partial_gromov_wasserstein": (
        "costs up to 850 (unnormalised squared distances) against epsilon=10: POT's Sinkhorn "
        "stops at its default 1000 iterations with a 2e-4 marginal error (4e-6 after 1e5), "
        "so its plan is 2e-5 off; emoalign's has marginals to 1e-10 and a lower entropic "
        "objective. POT's own test compares with entropic partial GW at atol=1e-2"
    ),
}

# Node ids (relative to POT's test/ directory) that are expected to fail with emoalign, and why.
# Each becomes xfail(strict=True): an unexpected pass fails the run, so the list stays honest.
# None today (POT 0.9.7.post1): with every keyword POT passes accepted, all selected tests pass
# and every converged reference agrees to REF_ATOL. What would differ is excluded by design and
# said above: backends other than NumPy (emoalign is numpy only). POT's test_bregman.py, not in
# the sdist, is covered by tests/test_core_gw_behaviours.py; its PPA test with numItermax=1 has
# tolerances that encode POT's Sinkhorn update order (u, then v), a difference, not a target.
EXPECTED_DIFFERENCES: dict[str, str] = {}

_calls: Counter[str] = Counter()
_compared: Counter[str] = Counter()
_unconverged: Counter[str] = Counter()
_current: list[str] = []
_selected: list[str] = []


def _selected_test(item: pytest.Item) -> bool:
    """The tests that reach POT's entropic GW solver; see the module docstring."""
    name = item.name.split("[")[0]
    if name == "test_partial_gromov_wasserstein":
        return True
    if name != "test_solve_gromov_grid":
        return False
    params = item.callspec.params
    return (
        params["reg"] is not None
        and params["reg_type"] == "entropy"
        and params["unbalanced"] is None
        and params["unbalanced_type"] != "semirelaxed"
    )


def _assert_same(what: str, ours: Any, theirs: Any) -> None:
    diff = float(np.max(np.abs(np.asarray(ours) - np.asarray(theirs))))
    assert diff <= REF_ATOL, f"{what}: emoalign differs from POT by {diff:.2e} > {REF_ATOL:g}"


def _reference(
    pot_function: Callable[..., Any], args: tuple, kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]] | None:
    """POT's own answer (and log) on the same arguments; None when its Sinkhorn warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = pot_function(*args, **{**kwargs, "log": True})
    return None if caught else answer


def _patched(name: str) -> Callable[..., Any]:
    ours = getattr(emoalign, name)
    pot_function = getattr(_POT, name)

    def drop_in(*args: Any, **kwargs: Any) -> Any:
        test = _current[0] if _current else "<outside a test>"
        _calls[test] += 1
        got = ours(*args, **kwargs)
        reference = _reference(pot_function, args, kwargs)
        if reference is None:
            _unconverged[test] += 1
            assert test in UNCONVERGED_REFERENCE, f"POT's reference did not converge in {test}"
            return got
        ref, ref_log = reference
        if name == "entropic_gromov_wasserstein2":
            value, plan = (got[0], got[1]["T"]) if kwargs.get("log") else (got, None)
            _assert_same(f"{name} value", value, ref)
            if plan is not None:
                _assert_same(f"{name} plan", plan, ref_log["T"])
        else:
            _assert_same(f"{name} plan", got[0] if kwargs.get("log") else got, ref)
        _compared[test] += 1
        return got

    drop_in.__name__ = name
    return drop_in


def _skip_backend(backend: str, reason: str | None = None) -> Callable[[Any], Any]:
    """POT's conftest adds ``pytest.skip_backend(name)`` to its test modules' namespace; with
    ``nx`` the NumPy backend only, it skips a test only when it names ``numpy``."""
    if backend == "numpy":
        return pytest.mark.skip(reason=reason or "skipped for the numpy backend")
    return lambda test: test


def pytest_configure(config: pytest.Config) -> None:
    pytest.skip_backend = _skip_backend  # type: ignore[attr-defined]
    for module, name in (
        (ot.gromov, "entropic_gromov_wasserstein"),
        (ot.gromov, "entropic_gromov_wasserstein2"),
        (_SOLVERS, "entropic_gromov_wasserstein2"),
    ):
        assert getattr(module, name) is getattr(_POT, name), f"{module.__name__}.{name} moved"
        setattr(module, name, _patched(name))


@pytest.fixture
def nx() -> ot.backend.Backend:
    """POT's test backend, NumPy only: emoalign takes numpy arrays."""
    return ot.backend.NumpyBackend()


def _short_id(item: pytest.Item) -> str:
    return f"{item.path.name}::{item.name}"


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: the lists are checked on everything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = [item for item in items if _selected_test(item)]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
    ids = {_short_id(item) for item in keep}
    stale = (set(EXPECTED_DIFFERENCES) | set(UNCONVERGED_REFERENCE)) - ids
    if stale:
        raise pytest.UsageError(f"expected differences name unselected tests: {sorted(stale)}")
    for item in keep:
        reason = EXPECTED_DIFFERENCES.get(_short_id(item))
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
    _selected[:] = sorted(ids)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _current[:] = [_short_id(item)]
    try:
        result = yield
    finally:
        _current.clear()
    test = _short_id(item)
    if _calls[test] == 0:
        raise AssertionError(f"{item.nodeid} never reached emoalign's entropic GW")
    if test in UNCONVERGED_REFERENCE and _unconverged[test] == 0:
        raise AssertionError(f"{test}: POT's reference converged; drop it from the list")
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    missed = [test for test in _selected if _calls[test] == 0]
    report = os.environ.get("EMOALIGN_PEER_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "selected": len(_selected),
                    "reached": len(_selected) - len(missed),
                    "calls": sum(_calls.values()),
                    "compared": sum(_compared.values()),
                    "missed": missed,
                },
                f,
            )
    if missed and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reached = sum(1 for test in _selected if _calls[test] > 0)
    terminalreporter.write_line(
        f"POT peer suite: {reached} of {len(_selected)} selected tests reached emoalign "
        f"({sum(_calls.values())} calls; {sum(_compared.values())} checked against POT's own "
        f"solver, {sum(_unconverged.values())} where POT's did not converge)"
    )
    for test in _selected:
        if _calls[test] == 0:
            terminalreporter.write_line(f"  never reached emoalign: {test}")
