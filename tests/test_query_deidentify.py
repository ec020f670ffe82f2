"""The privacy guarantee of ``--deidentify``: nothing sent holds a findable face or the voice."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deid_media import astronaut_clip
from emoalign.deid import Deidentify, centerface_available, make_detector
from emoalign.deid.settings import DEID_VERSION
from emoalign.query import Prompts, QueryOptions, Sampling, query, read_provenance
from emoalign.query.audio import cut, decode_audio, read_wav
from emoalign.query.testing import FakeLLMServer, Recorded

FAST = QueryOptions(progress=False, backoff_initial=0.001, backoff_max=0.005, timeout=30.0)
DETECTORS = ["haar", *(["centerface"] if centerface_available() else [])]


def sent_media(requests: list[Recorded]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every image (as RGB) and every audio clip (as int16 samples) in the recorded bodies."""
    images, clips = [], []
    for rec in requests:
        for message in rec.body["messages"]:
            if not isinstance(message["content"], list):
                continue
            for part in message["content"]:
                if part["type"] == "image_url":
                    data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                    images.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                elif part["type"] == "input_audio":
                    samples, rate = read_wav(base64.b64decode(part["input_audio"]["data"]))
                    assert rate == 16000
                    clips.append(samples)
    return images, clips


def run(clip: Path, server: FakeLLMServer, cache: Path, deid: Deidentify | None) -> None:
    df = query(
        clip,
        provider="openai",
        model="m",
        base_url=server.openai_url,
        task="openset",
        pipeline="two-stage",
        modalities="video,audio",
        sampling=Sampling(frames=4, window_seconds=0.6),
        deidentify=deid,
        options=FAST,
        cache=cache,
    )
    assert (df["status"] == "ok").all()


@pytest.mark.parametrize("detector", DETECTORS)
def test_no_face_and_no_original_voice_is_sent(tmp_path: Path, detector: str) -> None:
    clip = astronaut_clip(tmp_path / "interview.mp4")
    original = decode_audio(clip)
    find = make_detector(detector)
    server = FakeLLMServer()
    cache = tmp_path / "c.sqlite"
    with server.running():
        # Without de-identification the faces are sent (so the check below can fail) ...
        run(clip, server, cache, None)
        plain_images, plain_clips = sent_media(server.requests)
        assert len(plain_images) == 8 and all(find(img) for img in plain_images)
        assert len(plain_clips) == 2
        assert np.array_equal(plain_clips[0], cut(original, 0.0, 0.6))
        # ... and with it, on the same cache, none is: the settings key the plans and replies.
        server.requests.clear()
        run(clip, server, cache, Deidentify(detector=detector))
    images, clips = sent_media(server.requests)
    assert len(images) == 8 and len(clips) == 2
    assert [bool(find(img)) for img in images] == [False] * 8
    for sent, (start, end) in zip(clips, [(0.0, 0.6), (0.6, 1.2)], strict=True):
        plain = cut(original, start, end)
        assert len(sent) == len(plain)
        assert not np.array_equal(sent, plain)
        # Not a near copy either: the difference is of the order of the signal itself.
        diff = np.sqrt(np.mean((sent.astype(float) - plain) ** 2))
        assert diff > 0.2 * np.sqrt(np.mean(plain.astype(float) ** 2))


def test_the_study_command_runs_end_to_end(tmp_path: Path) -> None:
    from emoalign.cli import main

    videos = tmp_path / "videos"
    videos.mkdir()
    clip = astronaut_clip(videos / "interview.mp4")
    clip.with_suffix(".srt").write_text(
        "1\n00:00:00,100 --> 00:00:01,000\nWe fought hard today.\n", encoding="utf-8"
    )
    server = FakeLLMServer()
    out = tmp_path / "out.parquet"
    with server.running():
        argv = ["query", str(videos), "--provider", "openai", "--base-url", server.openai_url]
        argv += ["--model", "M", "--task", "openset", "--pipeline", "two-stage"]
        argv += ["--modalities", "video,audio,text", "--deidentify", "--window-seconds", "60"]
        argv += ["--out", str(out), "--cache", str(tmp_path / "c.sqlite"), "--no-progress"]
        assert main([*argv, "--descriptions", str(tmp_path / "d.parquet")]) == 0
        first = len(server.requests)
        assert first == 3 + 1 + 1  # three descriptions, one fusion, one answer
        assert main(argv) == 0
        assert len(server.requests) == first  # the rerun is served by the cache
    import polars as pl

    df = pl.read_parquet(out)
    assert (df["status"] == "ok").all() and df["video_id"].unique().to_list() == ["interview"]
    images, clips = sent_media(server.requests)
    find = make_detector("auto")
    assert len(images) == 8 and not any(find(img) for img in images) and len(clips) == 1
    assert pl.read_parquet(tmp_path / "d.parquet").height == 4

    # The table says what was de-identified, and how the answers were reached.
    record = read_provenance(out)
    assert record is not None
    assert record["deidentification"] == {
        "version": DEID_VERSION, "faces": True, "detector": Deidentify().resolved_detector,
        "blur": "gaussian", "carry": 5, "detect_side": 480, "voice": True, "alpha": None,
        "alpha_range": [0.5, 0.9], "seed_sha256": None,
    }  # fmt: skip
    stage = {"provider": "openai", "base_url": server.openai_url, "model": "M", "temperature": 0.0}
    assert record["pipeline"] == {
        "name": "two-stage",
        "modalities": ["video", "audio", "text"],
        "models": {"transcribe": None, "describe": stage, "fuse": stage},
        "templates": dataclasses.asdict(Prompts()),
    }
    assert "deidentify" not in record["sampling"] and record["sampling"]["audio"] is True
    # The instruction digest is that of the final, text-only question (asked last).
    final = server.requests[first - 1].body["messages"][-1]["content"][-1]["text"]
    assert record["prompts"]["instruction_frames"] == 0
    assert record["prompts"]["instruction_sha256"] == hashlib.sha256(final.encode()).hexdigest()
