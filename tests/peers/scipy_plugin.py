"""pytest plugin: scipy's own ``spatial/tests/test_distance.py`` with emoalign's pdist/cdist.

``scripts/peer_suites.sh`` runs that file from the installed scipy (it ships in scipy's wheel)
with ``-p scipy_plugin``. The plugin replaces ``scipy.spatial.distance.pdist`` and ``cdist``
before the test module is imported, so the names it imports, and the weighted wrappers it builds
from them at import time, are emoalign's.

Routing
    A call goes to emoalign when its metric is one of the names emoalign implements
    (``EMOALIGN_METRICS``), given as a string, with no ``out=`` and no metric keywords (``w=``,
    ``p=``, ``V=``, ``VI=``...). Everything else falls through to scipy's original, so the rest of
    the suite still runs and the calls that reach emoalign are exactly the ones it claims to
    serve. Aliases (``'euclid'``, ``'cos'``...) also fall through: emoalign takes the canonical
    names only.

Checks
    Calls that reach emoalign are counted per test, and the session fails when fewer than
    ``MIN_CALLS`` calls or ``MIN_TESTS`` tests reached it: a routing change that silently sent
    everything back to scipy would otherwise leave a green suite that compares nothing.
    ``EXPECTED_DIFFERENCES`` lists the tests that fail because of a documented difference; each is
    marked xfail(strict=True), so one that starts passing fails the run and the list is updated.

Set ``EMOALIGN_PEER_REPORT`` to a file path to have the counts written there as JSON.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import scipy.spatial.distance as ssd

import emoalign

EMOALIGN_METRICS = frozenset(
    {"euclidean", "sqeuclidean", "cityblock", "chebyshev", "cosine", "correlation"}
)

# Measured with scipy 1.17.1: 87 tests, 254 calls reached emoalign. The floors sit ~10% below so
# that scipy adding or dropping a few cases does not break CI, while a routing bug does.
MIN_CALLS = 230
MIN_TESTS = 78

_FLOAT32 = (
    "float32 input gives float32 output in emoalign (a documented choice, see "
    "emoalign.distance; scipy computes and returns float64): on scipy's test data the values "
    "agree with scipy's to <= 2e-7 relative (cosine 1.5e-6: 1 - u.v/(|u||v|) cancels), "
    "outside this test's float64-level rtol"
)
_FLOAT32_OUT = (
    "the reference comes from scipy's out= path (float64) on float32 data, the value under test "
    "from emoalign (float32 output, documented in emoalign.distance): they differ by float32 "
    "rounding (~1e-7 relative), the test asks for rtol=1e-15"
)
_COSINE_ROUNDING = (
    "float64 rounding order: cosine's 1 - u.v/(|u||v|) is summed in a different order by "
    "emoalign and scipy; on cdist-X1/X2 they are <= 3.3e-15 relative apart and each is within "
    "2.3e-15 of the value computed in extended precision, but the test asks the default path "
    "(emoalign) and scipy's out= path to agree to rtol=1e-15"
)
# Metrics whose float32 results differ from scipy's float64 ones by more than rtol=1e-7 on the
# test data; euclidean and chebyshev happen to stay within it.
_F32_OFF = ("cityblock", "correlation", "cosine", "sqeuclidean")
EXPECTED_DIFFERENCES: dict[str, str] = {
    **{f"TestPdist::test_pdist_out[{m}]": _FLOAT32_OUT for m in sorted(EMOALIGN_METRICS)},
    **{
        f"Test{c.title()}dist::test_{c}dist_{check}[{m}]": _FLOAT32
        for c in ("p", "c")
        for check in ("calling_conventions", "dtype_equivalence")
        for m in _F32_OFF
    },
    **{
        f"TestPdist::test_pdist_{m}_random_float32": _FLOAT32
        for m in ("euclidean", "cosine", "cityblock", "correlation")
    },
    "TestCdist::test_cdist_out[cosine]": _COSINE_ROUNDING,
}

_calls: Counter[str] = Counter()
_current: list[str] = []
_scipy_pdist = ssd.pdist
_scipy_cdist = ssd.cdist


def _ours(metric: Any, out: Any, kwargs: dict[str, Any]) -> bool:
    return out is None and not kwargs and isinstance(metric, str) and metric in EMOALIGN_METRICS


def _count() -> None:
    _calls[_current[0] if _current else "<outside a test>"] += 1


def pdist(X: Any, metric: Any = "euclidean", *, out: Any = None, **kwargs: Any) -> Any:
    """scipy's signature; emoalign for the metrics it implements, scipy for the rest."""
    if _ours(metric, out, kwargs):
        _count()
        return emoalign.pdist(X, metric)
    return _scipy_pdist(X, metric, out=out, **kwargs)


def cdist(XA: Any, XB: Any, metric: Any = "euclidean", *, out: Any = None, **kwargs: Any) -> Any:
    """scipy's signature; emoalign for the metrics it implements, scipy for the rest."""
    if _ours(metric, out, kwargs):
        _count()
        return emoalign.cdist(XA, XB, metric)
    return _scipy_cdist(XA, XB, metric, out=out, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    ssd.pdist, ssd.cdist = pdist, cdist


def _short_id(item: pytest.Item) -> str:
    return f"{item.cls.__name__}::{item.name}" if item.cls else item.name


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: the lists are checked on everything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ids = {_short_id(item) for item in items}
    stale = set(EXPECTED_DIFFERENCES) - ids
    if stale:
        raise pytest.UsageError(f"expected differences name no collected test: {sorted(stale)}")
    for item in items:
        reason = EXPECTED_DIFFERENCES.get(_short_id(item))
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _current[:] = [_short_id(item)]
    try:
        return (yield)
    finally:
        _current.clear()


def _totals() -> tuple[int, int]:
    return sum(_calls.values()), sum(1 for test in _calls if test != "<outside a test>")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    calls, tests = _totals()
    report = os.environ.get("EMOALIGN_PEER_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as f:
            json.dump({"reached": tests, "calls": calls}, f)
    if (calls < MIN_CALLS or tests < MIN_TESTS) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    calls, tests = _totals()
    terminalreporter.write_line(
        f"scipy peer suite: {tests} tests reached emoalign ({calls} pdist/cdist calls; "
        f"floors {MIN_TESTS} tests, {MIN_CALLS} calls)"
    )
    if calls < MIN_CALLS or tests < MIN_TESTS:
        terminalreporter.write_line("  FAILED: fewer calls reached emoalign than the floor")
