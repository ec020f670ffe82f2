"""``emoalign.compare`` and ``emoalign compare``: every level for several models, one report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import emoalign
from emoalign.alignment import synthetic_study
from emoalign.cli import main


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n_categories=4, per_category=10, seed=0)


@pytest.fixture(scope="module")
def result(study):
    return emoalign.compare(
        study.human,
        study.models,
        labels=study.labels,
        n_boot=300,
        permutations=99,
        n_trials=4,
        n_inits=1,
        eps_range=(1e-3, 1e-2),
        seed=0,
    )


def test_the_close_model_ranks_first_at_every_level(result) -> None:
    levels = {r["model"]: r for r in result.levels().iter_rows(named=True)}
    close, far = levels["close"], levels["far"]
    assert close["video_pearson"] > far["video_pearson"]
    assert close["video_top1_in_top3"] >= far["video_top1_in_top3"]
    assert close["rsa_r"] > far["rsa_r"]
    assert close["item_top1"] > far["item_top1"]
    assert close["category_top1"] >= far["category_top1"]
    assert close["item_top1"] > close["item_top1_chance"]
    pair = result.rsa.pairwise.row(0, named=True)
    assert (pair["a"], pair["b"]) == ("close", "far") and pair["ci_low"] > 0


def test_model_rsa_covers_every_pair_of_sides(result) -> None:
    pairs = {(r["a"], r["b"]) for r in result.model_rsa.iter_rows(named=True)}
    assert pairs == {("human", "close"), ("human", "far"), ("close", "far")}
    human_close = result.model_rsa.filter((pl.col("a") == "human") & (pl.col("b") == "close")).row(
        0, named=True
    )
    assert human_close["r"] == pytest.approx(result.rsa.r("close"))


def test_report_shows_every_level(result, tmp_path: Path) -> None:
    page = result.report(tmp_path / "cmp", permutations=99)
    text = page.read_text()
    for heading in (
        "Every level",
        "RSA with inference",
        "Pairwise differences",
        "Video-level agreement",
        "GWOT matching per model",
        "no noise ceiling",
    ):
        assert heading in text
    for png in ("rsa_bars", "agreement_pearson", "model_rsa", "matching_close", "matching_far"):
        assert (tmp_path / "cmp" / f"{png}.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    assert metrics["models"] == ["close", "far"]
    assert metrics["rsa"]["table"][0]["candidate"] == "close"
    assert set(metrics["alignment"]) == {"close", "far"}


def test_models_rating_different_items_are_an_error_naming_them(study) -> None:
    other = study.models["far"].rename({"emotion_03": "emotion_x"})
    with pytest.raises(ValueError, match=r"far lacks 'emotion_03'; far has 'emotion_x'"):
        emoalign.compare(study.human, {"close": study.models["close"], "far": other}, gw=False)


def test_sequence_of_models_needs_matching_names(study) -> None:
    with pytest.raises(ValueError, match="2 models"):
        emoalign.compare(study.human, list(study.models.values()), names=["a"], gw=False)
    with pytest.raises(ValueError, match="at least one model"):
        emoalign.compare(study.human, {}, gw=False)


def test_cli_compare_writes_one_report(study, tmp_path: Path, capsys) -> None:
    study.human.write_csv(tmp_path / "human.csv")
    keep = study.human["video_id"].head(35)
    for name, frame in study.models.items():
        frame.filter(pl.col("video_id").is_in(keep.to_list())).write_parquet(
            tmp_path / f"{name}.parquet"
        )
    labels = pl.DataFrame({"video_id": study.human["video_id"], "label": study.labels})
    labels.write_csv(tmp_path / "labels.csv")
    code = main(
        [
            "compare",
            str(tmp_path / "human.csv"),
            str(tmp_path / "close.parquet"),
            str(tmp_path / "far.parquet"),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--trials",
            "2",
            "--inits",
            "1",
            "--eps-min",
            "1e-3",
            "--eps-max",
            "1e-2",
            "--boot",
            "200",
            "--permutations",
            "49",
            "--report",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "35 videos; 2 model(s)" in out and "close − far" in out
    assert (tmp_path / "out" / "report.html").is_file()
    assert (tmp_path / "out" / "study.db").is_file()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["unmatched"]["close"] == {"reference_only": 5, "model_only": 0}


def test_cli_compare_without_gw_on_a_single_model(study, tmp_path: Path, capsys) -> None:
    study.human.write_csv(tmp_path / "human.csv")
    study.models["close"].write_csv(tmp_path / "close.csv")
    assert (
        main(
            [
                "compare",
                str(tmp_path / "human.csv"),
                str(tmp_path / "close.csv"),
                "--no-gw",
                "--boot",
                "100",
                "--permutations",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "RSA spearman" in out and "GW item" not in out


def test_demo_compares_two_models(tmp_path: Path, capsys) -> None:
    args = [
        "demo",
        "--out",
        str(tmp_path / "demo"),
        "--permutations",
        "99",
        "--boot",
        "200",
        "--no-progress",
        "--trials",
        "6",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "close − far" in out
    assert (tmp_path / "demo" / "report.html").is_file()
    assert (tmp_path / "demo" / "close" / "report.html").is_file()
    assert (tmp_path / "demo" / "far" / "report.html").is_file()
    assert np.isfinite(float(out.split("time: ")[1].split(" s")[0]))
