"""``emoalign.query`` is both the package and the entry point, whatever has been imported."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import emoalign
import emoalign.query.output  # binds emoalign.query to the package: the call must survive it
from emoalign.query import QueryOptions, Sampling
from emoalign.query.run import query as run_query
from emoalign.query.testing import FakeLLMServer, write_test_video


def test_query_is_callable_after_a_submodule_import(tmp_path: Path) -> None:
    video = write_test_video(tmp_path / "a.mp4", seconds=0.5)
    server = FakeLLMServer()
    with server.running():
        df = emoalign.query(
            video,
            provider="openai",
            model="gpt-4o-mini",
            base_url=server.openai_url,
            task="openset",
            sampling=Sampling(frames=1),
            options=QueryOptions(progress=False),
            cache=False,
        )
    assert isinstance(df, pl.DataFrame)
    assert df["video_id"].unique().to_list() == ["a"]
    assert df["status"].unique().to_list() == ["ok"]
    assert len(server.requests) == 1
    # One object under the name: the package, which also holds every submodule.
    assert emoalign.query is sys.modules["emoalign.query"]
    assert emoalign.query.output is sys.modules["emoalign.query.output"]
    assert inspect.signature(emoalign.query) == inspect.signature(run_query)


@pytest.mark.parametrize(
    "imports",
    [
        # What align() does for long-form input: the submodule first, then the public name.
        "import emoalign.query.output\nimport emoalign\nfirst = emoalign.query\n",
        # The public name first, then a submodule import that would rebind it.
        "import emoalign\nfirst = emoalign.query\nimport emoalign.query.output\n",
    ],
    ids=["submodule-first", "name-first"],
)
def test_query_is_callable_whatever_the_import_order(imports: str) -> None:
    # Each order in a fresh interpreter, where nothing has been imported yet.
    code = imports + (
        "import inspect\n"
        "from emoalign import query\n"
        "assert first is emoalign.query is query, (first, emoalign.query, query)\n"
        "assert callable(query)\n"
        "print(list(inspect.signature(query).parameters)[:3])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['videos', 'provider', 'model']"
