"""Shared fixtures and test tiers.

- Real data sets live in ``../shared/data`` beside the repository (``shared_data``).
- ``pytest`` alone skips tests marked ``slow``; ``pytest --slow`` (what ``scripts/test.sh`` and CI
  run) includes them.
- Hypothesis profiles: ``ci`` is derandomised (every run draws the same examples, so CI cannot go
  red by chance; failing draws found by exploring are pinned as ``@example``s) and is what
  ``scripts/test.sh`` selects with ``--hypothesis-profile=ci``; the default profile explores new
  random draws on every run, for developers hunting bugs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow (CI does)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (scripts/test.sh does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data shared beside the repository; tests that need it fail loudly without it."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"no shared data at {SHARED_DATA}; the repository must sit beside shared/")
    return SHARED_DATA
