"""The Examples sections of the public docstrings run and print what they say they print."""

from __future__ import annotations

import doctest
import importlib

import pytest

# Every module whose docstrings carry runnable examples (network- and data-bound ones are
# marked "doctest: +SKIP" in place and counted as skipped, not as passed).
MODULES = [
    "emoalign.distance",
    "emoalign.rsa",
    "emoalign.alignment.matching",
    "emoalign.alignment.synthetic",
    "emoalign.metrics.openset",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
