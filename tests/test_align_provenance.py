"""A study's provenance: exact command, versions, settings, storage kind, and never a password."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import optuna
import polars as pl
import pytest
from optuna.storages import InMemoryStorage

import emoalign
from emoalign.alignment import provenance, synthetic_pair
from emoalign.cli import main

optuna.logging.set_verbosity(optuna.logging.WARNING)
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql+psycopg://me:s3cret@db:5432/emo", "postgresql+psycopg://me:***@db:5432/emo"),
        ("--storage mysql://root:p%40ss@h/db --x", "--storage mysql://root:***@h/db --x"),
        ("postgresql://me:p@ss@db/emo", "postgresql://me:***@db/emo"),  # unescaped "@"
        ("postgresql://me@db/emo", "postgresql://me@db/emo"),  # no password, nothing to hide
        ("sqlite:////tmp/a:b/study.db", "sqlite:////tmp/a:b/study.db"),
        ("a://u:p@h/x and b://v:q@k/y", "a://u:***@h/x and b://v:***@k/y"),
    ],
)
def test_redact_hides_every_url_password(text: str, expected: str) -> None:
    assert provenance.redact(text) == expected


def test_storage_kind_and_label() -> None:
    url = "postgresql+psycopg://me:s3cret@db/emo"
    assert provenance.storage_kind(None) == "memory"
    assert provenance.storage_kind("runs/study.db") == "sqlite"
    assert provenance.storage_kind(url) == "postgresql+psycopg"
    assert provenance.storage_kind(InMemoryStorage()) == "InMemoryStorage"
    assert provenance.storage_label(url) == "postgresql+psycopg://me:***@db/emo"
    assert provenance.storage_label(None) is None


def test_python_call_describes_data_and_redacts() -> None:
    frame = pl.DataFrame({"video_id": ["a", "b"], "x": [1.0, 2.0]})
    call = provenance.python_call(
        frame,
        np.zeros((2, 2)),
        {"labels": list(range(20)), "storage": "postgresql://u:pw@h/d", "n_trials": 7},
    )
    assert call == (
        "emoalign.align(<polars.DataFrame 2×2>, <numpy.ndarray 2×2 float64>, "
        "labels=<list of 20>, storage='postgresql://u:***@h/d', n_trials=7)"
    )


def test_versions_and_git_describe() -> None:
    versions = provenance.versions()
    assert versions["emoalign"] == emoalign.__version__
    assert versions["numpy"] == np.__version__ and versions["optuna"] == optuna.__version__
    assert versions["polars"] == pl.__version__
    described = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--tags", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    # git describe names the code only when emoalign runs from this checkout (an editable
    # install); an installed wheel (what scripts/test.sh tests) is not the checkout's code.
    from_checkout = Path(emoalign.__file__).resolve().parent == REPO / "python" / "emoalign"
    assert versions["git"] == ((described or None) if from_checkout else None)


def test_cli_records_the_exact_command(tmp_path: Path) -> None:
    pair = synthetic_pair(n_categories=2, per_category=5, seed=1)
    pair.human.write_csv(tmp_path / "human.csv")
    pair.model.write_csv(tmp_path / "model.csv")
    argv = [
        "align", str(tmp_path / "human.csv"), str(tmp_path / "model.csv"), "--trials", "2",
        "--inits", "1", "--sampler", "grid", "--eps-min", "2e-3", "--eps-max", "1e-2",
        "--seed", "3", "--baseline", "0", "--permutations", "19", "--report",
        str(tmp_path / "out"), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    prov = metrics["provenance"]
    assert prov["interface"] == "cli"
    assert prov["command"] == "emoalign " + " ".join(argv)
    assert prov["seed"] == 3 and prov["sampler"] == "grid" and prov["eps_range"] == [2e-3, 1e-2]
    assert prov["trials"] == {"requested": 2, "complete": 1, "failed": 0, "pruned": 1, "retries": 0}
    assert prov["storage"]["kind"] == "sqlite"
    assert prov["storage"]["location"] == str(tmp_path / "out" / "study.db")
    assert prov["metrics"] == {"source": "euclidean", "target": "euclidean"}
    assert prov["solver"]["max_iter"] == 500 and prov["solver"]["precision"] == "float64"
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("emoalign " + " ".join(argv)) == 2  # header and the Reproduce block
