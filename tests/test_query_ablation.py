"""``--ablate``: the 14 configurations of MER-OV's table, scored by emoalign.metrics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from emoalign.cli import main
from emoalign.metrics import accuracy, uar, weighted_f1, wheel_scores
from emoalign.query import QueryOptions, Sampling, ablate, read_provenance
from emoalign.query.testing import FakeLLMServer, write_test_video

FAST = QueryOptions(progress=False, backoff_initial=0.001, backoff_max=0.005, timeout=10.0)
# What a scripted "model" perceives in each modality, and the clue it writes about it.
CLUES = {"VISUAL": "calm", "ACOUSTIC": "angry", "WORDS": "sad"}


def perceive(body: dict[str, Any]) -> list[str]:
    """The clue tags a request carries: from its media (stage 1, one-stage) or its text."""
    content = body["messages"][-1]["content"]
    text = "\n".join(p["text"] for p in content if p["type"] == "text")
    tags = [t for t in CLUES if t in text]
    if any(p["type"] == "image_url" for p in content) and "body language" not in text:
        tags.append("VISUAL")
    if any(p["type"] == "input_audio" for p in content):
        tags.append("ACOUSTIC")
    if "Transcript" in text:
        tags.append("WORDS")
    return [t for t in CLUES if t in tags]


def responder(protocol: str, body: dict[str, Any]) -> str:
    tags = perceive(body)
    fmt = body.get("response_format")
    if fmt is None:  # stage 1 or 2: free text naming the clues seen, and what it looked at
        seen = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
        return f"{' '.join(tags) or 'nothing'} (observation {seen})"
    schema = fmt["json_schema"]["schema"]
    if "emotions" in schema["properties"]:
        return json.dumps({"emotions": [CLUES[t] for t in tags]})
    labels = schema["properties"]["label"]["enum"]
    pick = CLUES["ACOUSTIC"] if "ACOUSTIC" in tags else CLUES[tags[0]]
    assert pick in labels
    return json.dumps({"label": pick})


@pytest.fixture
def study(tmp_path: Path) -> Path:
    root = tmp_path / "v"
    for i, name in enumerate(("a", "b", "c")):
        write_test_video(root / f"{name}.mp4", seconds=1.0, seed=i + 1, audio=True)
        (root / f"{name}.txt").write_text(f"Well, that is that ({name}).", encoding="utf-8")
    return root


def test_openset_ablation_has_all_14_rows_scored(
    study: Path, tmp_path: Path, shared_data: Path
) -> None:
    wheel = shared_data / "emotion_wheel" / "emotion_wheel.json"
    gt = tmp_path / "gt.csv"
    gt.write_text(
        "name,openset\na,\"['calm', 'sad']\"\nb,\"['calm', 'sad']\"\nc,\"['calm', 'sad']\"\n",
        encoding="utf-8",
    )
    server = FakeLLMServer(responder)
    with server.running():
        result = ablate(
            study,
            provider="openai",
            model="m",
            base_url=server.openai_url,
            task="openset",
            sampling=Sampling(frames=2),
            options=FAST,
            cache=tmp_path / "c.sqlite",
            ground_truth=gt,
            wheel=wheel,
            scores=tmp_path / "scores.csv",
        )
        sent = len(server.requests)
        # Shared calls are paid once: one-stage 7 subsets x 3 videos; two-stage 3 modalities
        # x 3 videos described, 7 x 3 fusions and 7 x 3 answers.
        assert sent == 21 + 9 + 21 + 21
    scores = result.scores
    assert scores is not None
    assert scores.equals(pl.read_csv(tmp_path / "scores.csv", schema=scores.schema))
    f1 = scores.filter(pl.col("metric") == "set_f1")
    assert f1.height == 14
    assert scores.filter(pl.col("metric") == "wheel_f1").height == 14
    assert set(zip(f1["pipeline"], f1["modalities"], strict=True)) == {
        (p, m) for p in ("one-stage", "two-stage") for m in ("V", "A", "T", "VA", "VT", "AT", "VAT")
    }
    # Ground truth {calm, sad}; V says calm, A angry, T sad.
    expected = {
        "V": (1.0, 0.5),
        "A": (0.0, 0.0),
        "T": (1.0, 0.5),
        "VA": (0.5, 0.5),
        "VT": (1.0, 1.0),
        "AT": (0.5, 0.5),
        "VAT": (2 / 3, 1.0),
    }
    said = {"V": ["calm"], "A": ["angry"], "T": ["sad"]}
    truth = {v: ["calm", "sad"] for v in "abc"}
    for row in scores.iter_rows(named=True):
        p, r = expected[row["modalities"]]
        words = [w for m in row["modalities"] for w in said[m]]
        want = {
            "set_precision": p,
            "set_recall": r,
            "set_f1": 0.0 if p + r == 0 else 2 * p * r / (p + r),
            "wheel_f1": wheel_scores(truth, {v: words for v in "abc"}, wheel=wheel)["level1"]["f1"],
        }[row["metric"]]
        assert row["value"] == pytest.approx(want), row
        assert row["n"] == 3 and row["failed"] == 0
    table = result.table
    assert table.columns[:2] == ["pipeline", "modalities"]
    assert table.select("pipeline", "modalities").unique().height == 14


def test_classify_ablation_scores_with_metrics(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import emoalign.query.study as study_module

    decoded: list[str] = []
    real = study_module.sample_video

    def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
        decoded.append(path.stem)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(study_module, "sample_video", counting)
    gt = tmp_path / "gt.csv"
    gt.write_text("name,label\na,calm\nb,sad\nc,angry\n", encoding="utf-8")
    server = FakeLLMServer(responder)
    with server.running():
        result = ablate(
            study,
            provider="openai",
            model="m",
            base_url=server.openai_url,
            task="classify",
            emotions=["calm", "sad", "angry"],
            subsets=["video", "audio,text"],
            sampling=Sampling(frames=2),
            options=FAST,
            cache=False,
            ground_truth=gt,
        )
    # Four configurations started together, without a cache: each video decoded once.
    assert sorted(decoded) == ["a", "b", "c"]
    assert result.scores is not None
    got = {
        (r["pipeline"], r["modalities"], r["metric"]): r["value"]
        for r in result.scores.iter_rows(named=True)
    }
    truth = ["calm", "sad", "angry"]
    for pipeline in ("one-stage", "two-stage"):
        for mods, label in (("V", "calm"), ("AT", "angry")):
            chosen = [label] * 3
            assert got[(pipeline, mods, "accuracy")] == accuracy(truth, chosen) == 1 / 3
            assert got[(pipeline, mods, "waf")] == pytest.approx(weighted_f1(truth, chosen))
            assert got[(pipeline, mods, "uar")] == pytest.approx(uar(truth, chosen))


def test_cli_ablate_and_bad_input(study: Path, tmp_path: Path) -> None:
    gt = tmp_path / "gt.csv"
    gt.write_text("name,openset\na,\"['calm']\"\n", encoding="utf-8")
    server = FakeLLMServer(responder)
    out = tmp_path / "out.parquet"
    with server.running():
        base = ["query", str(study), "--provider", "openai", "--model", "m", "--no-progress"]
        base += ["--base-url", server.openai_url, "--cache", str(tmp_path / "c.sqlite")]
        argv = [*base, "--task", "openset", "--frames", "2", "--ablate", "--gt", str(gt)]
        assert main([*argv, "--out", str(out)]) == 0
        scores = pl.read_csv(tmp_path / "out.scores.csv")
        assert scores.filter(pl.col("metric") == "set_f1").height == 14
        assert pl.read_parquet(out).select("pipeline", "modalities").unique().height == 14
        record = read_provenance(out)
        assert record is not None and record["task"] == "openset"
        assert record["pipeline"]["name"] == "ablation"
        assert record["pipeline"]["modalities"] == ["V", "A", "T", "VA", "VT", "AT", "VAT"]
        assert set(record["pipeline"]["models"]) == {"describe", "fuse", "transcribe"}
        assert main([*argv, "--modalities", "video", "--out", str(out)]) == 2
        assert (
            main([*base, "--task", "ratings", "--ablate", "--gt", str(gt), "--out", str(out)]) == 2
        )
