"""``emoalign align`` on CSV/Parquet files and ``emoalign demo``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emoalign.alignment import synthetic_pair
from emoalign.cli import main


def test_align_files_with_labels(tmp_path: Path, capsys) -> None:
    pair = synthetic_pair(n_categories=4, per_category=8, seed=2)
    pair.human.write_csv(tmp_path / "human.csv")
    pair.model.write_parquet(tmp_path / "model.parquet")
    labels = pair.human.select("video_id").with_columns(label=pair.labels)
    labels.write_csv(tmp_path / "labels.csv")
    argv = [
        "align", str(tmp_path / "human.csv"), str(tmp_path / "model.parquet"),
        "--labels", str(tmp_path / "labels.csv"), "--trials", "3", "--inits", "2",
        "--eps-min", "1e-3", "--eps-max", "1e-2", "--report", str(tmp_path / "out"),
        "--permutations", "99", "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "category matching top1" in out and "shuffled baseline" in out
    assert (tmp_path / "out" / "report.html").is_file()
    assert (tmp_path / "out" / "study.db").is_file()  # the default storage beside the report
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n_videos"] == 32 and metrics["n_trials"] == 3


def test_search_reuse_can_be_turned_off_and_is_recorded(tmp_path: Path, capsys) -> None:
    pair = synthetic_pair(n_categories=2, per_category=6, seed=1)
    pair.human.write_csv(tmp_path / "a.csv")
    pair.model.write_csv(tmp_path / "b.csv")
    base = ["align", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--trials", "2",
            "--permutations", "9", "--baseline", "0", "--no-progress"]  # fmt: skip
    for extra, warm, prune in (
        ([], False, 1e-4),
        (["--warm-start", "--prune", "0.01"], True, 0.01),
        (["--no-prune"], False, None),
    ):
        out = tmp_path / f"out{len(extra)}{prune}"
        assert main([*base, *extra, "--report", str(out)]) == 0
        prov = json.loads((out / "metrics.json").read_text())["provenance"]
        assert (prov["warm_start"], prov["prune"]) == (warm, prune)
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--prune", "-1"])
    assert exit_info.value.code == 2 and "--prune" in capsys.readouterr().err


def test_align_reports_mismatched_ids(tmp_path: Path, capsys) -> None:
    pair = synthetic_pair(n_categories=2, per_category=4)
    pair.human.write_csv(tmp_path / "a.csv")
    pair.model.head(7).write_csv(tmp_path / "b.csv")
    argv = ["align", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--no-progress"]
    assert main(argv) == 2
    assert "only in source" in capsys.readouterr().err
    with pytest.raises(ValueError, match="only in source"):
        main([*argv, "--debug"])


def test_demo_runs_the_full_study(tmp_path: Path, capsys) -> None:
    assert (
        main(["demo", "--out", str(tmp_path / "demo"), "--permutations", "99", "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "item matching top1      100.0 %" in out
    assert "category matching top1  100.0 %" in out
    assert (tmp_path / "demo" / "report.html").is_file()
