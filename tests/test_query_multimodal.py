"""Audio parts, modalities and the two-stage pipeline, checked at the scripted local server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import threading
import wave
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from emoalign.query import Prompts, QueryOptions, Sampling, aquery, query
from emoalign.query.cache import Cache
from emoalign.query.request import Audio, Request, Text, Turn, cache_key
from emoalign.query.testing import FakeLLMServer, Recorded, default_responder, write_test_video

KEY = "sk-multimodal-test-0123456789abcdef"
FAST = QueryOptions(progress=False, backoff_initial=0.001, backoff_max=0.005, timeout=10.0)


@pytest.fixture
def server():
    srv = FakeLLMServer()
    with srv.running():
        yield srv


def parts(rec: Recorded) -> list[dict[str, Any]]:
    if rec.protocol == "openai":
        return rec.body["messages"][-1]["content"]
    return rec.body["contents"][-1]["parts"]


def texts(rec: Recorded) -> str:
    if rec.protocol == "openai":
        return "\n".join(p["text"] for p in parts(rec) if p.get("type") == "text")
    return "\n".join(p["text"] for p in parts(rec) if "text" in p)


def audio_payloads(rec: Recorded) -> list[bytes]:
    if rec.protocol == "openai":
        found = [p["input_audio"] for p in parts(rec) if p.get("type") == "input_audio"]
        assert all(a["format"] == "wav" for a in found)
        return [base64.b64decode(a["data"]) for a in found]
    inline = [p["inline_data"] for p in parts(rec) if "inline_data" in p]
    return [base64.b64decode(d["data"]) for d in inline if d["mime_type"] == "audio/wav"]


def stage(rec: Recorded) -> str:
    """Which call of the pipeline a recorded request is, from its prompt."""
    text = texts(rec)
    if "parts of one video" in text:
        return "fuse_video"
    if "Separate observers" in text:
        return "fuse_window"
    if "account of the emotional clues" in text:
        return "final"
    return "describe"


@pytest.mark.parametrize("protocol", ["openai", "gemini"])
def test_audio_parts_are_16k_mono_wav(server: FakeLLMServer, tmp_path: Path, protocol: str) -> None:
    video = write_test_video(tmp_path / "v.mp4", seconds=2.0, audio=True)
    url = server.openai_url if protocol == "openai" else server.gemini_url
    df = query(
        video,
        provider=protocol,
        model="m",
        base_url=url,
        task="openset",
        modalities="video,audio",
        sampling=Sampling(frames=2),
        options=FAST,
        cache=tmp_path / "c.sqlite",
    )
    assert (df["status"] == "ok").all()
    (rec,) = server.requests
    (wav,) = audio_payloads(rec)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() == 32000
    # Frames still go first, then the audio, then the instruction.
    kinds = [("image" if ("image_url" in p or "inline_data" in p) else "other") for p in parts(rec)]
    assert kinds.count("image") == (2 if protocol == "openai" else 3)  # gemini: audio is inline


def test_requests_without_audio_keep_their_cache_keys() -> None:
    request = Request(
        turns=(Turn("user", (Text("hello"),)),),
        schema={"type": "object"},
        schema_name="s",
        temperature=0.0,
        max_tokens=10,
    )
    # The key of this request before audio existed (computed on the previous commit).
    assert (
        cache_key("openai|http://x|m", request)
        == hashlib.sha256(
            b'openai|http://x|m\x00[[["user",[["t","hello"]]]],"s",0.0,10,0]|{"type":"object"}'
        ).hexdigest()
    )
    with_audio = Request(
        turns=(Turn("user", (Text("hello"), Audio("ab" * 32))),),
        schema={"type": "object"},
        schema_name="s",
        temperature=0.0,
        max_tokens=10,
    )
    assert '["a","' + "ab" * 32 + '","audio/wav"]' in with_audio.fingerprint()


def test_video_without_audio_is_reported_and_the_run_goes_on(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    write_test_video(tmp_path / "v" / "talk.mp4", seconds=1.0, audio=True)
    write_test_video(tmp_path / "v" / "mute.mp4", seconds=1.0, seed=3)
    df = query(
        tmp_path / "v",
        provider="openai",
        model="m",
        base_url=server.openai_url,
        task="openset",
        modalities=["audio"],
        options=FAST,
        cache=tmp_path / "c.sqlite",
    )
    by_video = {r["video_id"]: r for r in df.iter_rows(named=True)}
    assert by_video["talk"]["status"] == "ok"
    assert by_video["mute"]["status"] == "video_error"
    assert "no audio stream" in by_video["mute"]["error"]
    assert len(server.requests) == 1  # nothing was asked about the mute video


def test_gemini_inline_limit_fails_only_that_window(server: FakeLLMServer, tmp_path: Path) -> None:
    write_test_video(tmp_path / "v.mp4", seconds=4.0, audio=True)
    df = query(
        tmp_path / "v.mp4",
        provider="gemini",
        model="m",
        base_url=server.gemini_url,
        task="openset",
        modalities="audio",
        sampling=Sampling(window_seconds=1.0),
        # A 1 s window is 32 kB of WAV, 43 kB in base64; shorter windows fit.
        inline_limit_bytes=30_000,
        options=FAST,
        cache=False,
    )
    assert set(df["status"]) == {"error"}
    assert "inline limit" in df["error"][0] and "window_seconds" in df["error"][0]
    assert server.requests == []
    ok = query(
        tmp_path / "v.mp4",
        provider="gemini",
        model="m",
        base_url=server.gemini_url,
        task="openset",
        modalities="audio",
        sampling=Sampling(window_seconds=0.5),
        inline_limit_bytes=30_000,
        options=FAST,
        cache=False,
    )
    assert (ok["status"] == "ok").all() and ok["window"].n_unique() == 8


def two_stage(videos: Path, server: FakeLLMServer, tmp_path: Path, **kw: Any) -> pl.DataFrame:
    args: dict[str, Any] = {
        "provider": "openai",
        "model": "final-m",
        "base_url": server.openai_url,
        "task": "openset",
        "pipeline": "two-stage",
        "modalities": "video,audio,text",
        "describe_model": "describe-m",
        "fuse_model": "fuse-m",
        "sampling": Sampling(frames=2, window_seconds=1.0),
        "options": FAST,
        "cache": tmp_path / "c.sqlite",
        "descriptions": tmp_path / "desc.parquet",
    }
    args.update(kw)
    return query(videos, **args)


def make_study(root: Path) -> Path:
    for i, name in enumerate(("a", "b")):
        write_test_video(root / f"{name}.mp4", seconds=2.0, seed=i + 1, audio=True)
        (root / f"{name}.srt").write_text(
            f"1\n00:00:00,000 --> 00:00:00,800\nWe lost match {name}.\n\n"
            f"2\n00:00:01,100 --> 00:00:01,900\nI am gutted, says {name}.\n",
            encoding="utf-8",
        )
    return root


def test_two_stage_calls_prompts_resume_and_descriptions(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    videos = make_study(tmp_path / "v")
    df = two_stage(videos, server, tmp_path)
    assert (df["status"] == "ok").all() and set(df["window"]) == {0}
    by_stage: dict[str, list[Recorded]] = {}
    for rec in server.requests:
        by_stage.setdefault(stage(rec), []).append(rec)
    # 2 videos x 2 windows x 3 modalities; 2 x 2 window fusions; 2 video fusions; 2 answers.
    assert {k: len(v) for k, v in by_stage.items()} == {
        "describe": 12,
        "fuse_window": 4,
        "fuse_video": 2,
        "final": 2,
    }
    models = {s: {r.body["model"] for r in recs} for s, recs in by_stage.items()}
    assert models == {
        "describe": {"describe-m"},
        "fuse_window": {"fuse-m"},
        "fuse_video": {"fuse-m"},
        "final": {"final-m"},
    }
    # Stage 1 and 2 are free text; stage 3 asks for the task's schema.
    assert all(
        "response_format" not in r.body for s in ("describe", "fuse_window") for r in by_stage[s]
    )
    assert all("response_format" in r.body for r in by_stage["final"])
    # Each fusion prompt holds the stage-1 replies it fuses, the video fusion the window accounts.
    describe_replies = {default_responder("openai", r.body) for r in by_stage["describe"]}
    fused = "\n".join(texts(r) for r in by_stage["fuse_window"])
    assert all(reply in fused for reply in describe_replies)
    window_replies = {default_responder("openai", r.body) for r in by_stage["fuse_window"]}
    video_prompts = "\n".join(texts(r) for r in by_stage["fuse_video"])
    assert all(reply in video_prompts for reply in window_replies)
    assert "[0.0-1.0 s]" in video_prompts and "[1.0-2.0 s]" in video_prompts
    finals = "\n".join(texts(r) for r in by_stage["final"])
    assert all(default_responder("openai", r.body) in finals for r in by_stage["fuse_video"])

    desc = pl.read_parquet(tmp_path / "desc.parquet")
    counts = desc.group_by("stage").len().sort("stage")
    assert dict(counts.iter_rows()) == {"describe": 12, "fuse_video": 2, "fuse_window": 4}
    assert (desc["status"] == "ok").all()
    assert set(desc.filter(pl.col("stage") == "describe")["modality"]) == {"video", "audio", "text"}

    # A rerun is served by the cache: no request at all.
    before = len(server.requests)
    again = two_stage(videos, server, tmp_path)
    assert len(server.requests) == before
    assert again.drop("reply_id").equals(df.drop("reply_id"))


def test_run_killed_in_stage_two_reasks_nothing_from_stage_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill while a fusion is in flight loses no committed description.

    Windows are described and fused concurrently, so how many descriptions are committed when the
    first fusion is asked varies from run to run (at least the fused window's three). The
    guarantee checked is the one that holds every time: the rerun asks for exactly the
    descriptions the cache did not hold, each once.

    The two runs use different keys: requests the killed run sent before the kill may still be
    read by the server after it, and must not be counted as the rerun's.
    """
    videos = make_study(tmp_path / "v")
    monkeypatch.setenv("KILLED_KEY", "sk-killed-run")
    monkeypatch.setenv("RERUN_KEY", "sk-rerun")
    reached_fusion, release = threading.Event(), threading.Event()

    def responder(protocol: str, body: dict[str, Any]) -> str:
        if stage(Recorded(protocol, "", {}, body)) == "fuse_window":
            reached_fusion.set()
            # Hold the fusion (and with it the server) until the client has been killed, so no
            # reply can land between the kill and the count below.
            release.wait(timeout=30)
        return default_responder(protocol, body)

    srv = FakeLLMServer(responder)
    with srv.running():

        async def killed() -> None:
            run = asyncio.ensure_future(
                aquery(
                    videos,
                    provider="openai",
                    model="final-m",
                    base_url=srv.openai_url,
                    api_key_env="KILLED_KEY",
                    task="openset",
                    pipeline="two-stage",
                    modalities="video,audio,text",
                    sampling=Sampling(frames=2, window_seconds=1.0),
                    options=FAST,
                    cache=tmp_path / "c.sqlite",
                )
            )
            while not reached_fusion.is_set():
                await asyncio.sleep(0.01)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

        try:
            asyncio.run(killed())
        finally:
            release.set()
        with Cache(tmp_path / "c.sqlite") as cache:
            committed = cache.count_replies()  # descriptions only: the first fusion never returned
        df = two_stage(
            videos,
            srv,
            tmp_path,
            describe_model=None,
            fuse_model=None,
            model="final-m",
            api_key_env="RERUN_KEY",
        )
    rerun = [r for r in srv.requests if r.headers["Authorization"] == "Bearer sk-rerun"]
    rerun_describes = [r.body for r in rerun if stage(r) == "describe"]
    assert 3 <= committed <= 12
    assert len(rerun_describes) == 12 - committed
    assert all(rerun_describes.count(body) == 1 for body in rerun_describes)
    assert [stage(r) for r in rerun].count("final") == 2 and (df["status"] == "ok").all()


def test_prompts_are_templates(server: FakeLLMServer, tmp_path: Path) -> None:
    videos = make_study(tmp_path / "v")
    prompts = Prompts(fuse_window="FUSE THESE:\n{clues}", describe_text="WORDS ONLY")
    two_stage(videos / "a.mp4", server, tmp_path, modalities="text", prompts=prompts)
    asked = [texts(r) for r in server.requests]
    assert sum("WORDS ONLY" in t for t in asked) == 2
    assert sum(t.startswith("Part") and "FUSE THESE:" in t for t in asked) == 2
    with pytest.raises(ValueError, match=r"fuse_window must use \{clues\}"):
        Prompts(fuse_window="no placeholder")
    with pytest.raises(ValueError, match="unknown names"):
        Prompts.from_mapping({"fuse": "x"})


def test_nfbl_sidecar_and_bad_inputs(server: FakeLLMServer, tmp_path: Path) -> None:
    videos = make_study(tmp_path / "v")
    (videos / "a.nfbl.csv").write_text(
        "start,end,cue\n0.2,0.6,touches face\n1.2,1.5,crosses arms\n", encoding="utf-8"
    )
    (videos / "b.nfbl.csv").write_text("0.2,soon,touches face\n", encoding="utf-8")
    df = query(
        videos,
        provider="openai",
        model="m",
        base_url=server.openai_url,
        task="openset",
        modalities="text,nfbl",
        sampling=Sampling(frames=2),
        options=FAST,
        cache=tmp_path / "c.sqlite",
    )
    status = dict(zip(df["video_id"], df["status"], strict=True))
    assert status["a"] == "ok" and status["b"] == "video_error"
    error = df.filter(pl.col("video_id") == "b")["error"][0]
    assert "b.nfbl.csv, row 1" in error and "seconds" in error
    (rec,) = server.requests
    assert "[0.2-0.6 s] touches face" in texts(rec) and "[1.2-1.5 s] crosses arms" in texts(rec)
    assert not any("image_url" in p for p in parts(rec))  # text-only: no frames sent

    with pytest.raises(ValueError, match="unknown"):
        query(videos, provider="openai", model="m", base_url=server.openai_url, modalities="smell")
    with pytest.raises(ValueError, match=r"pipeline='two-stage' only"):
        query(
            videos,
            provider="openai",
            model="m",
            base_url=server.openai_url,
            descriptions=tmp_path / "d.parquet",
        )
    with pytest.raises(ValueError, match="pipeline must be one of"):
        query(videos, provider="openai", model="m", base_url=server.openai_url, pipeline="3")


def test_missing_transcript_is_reported(server: FakeLLMServer, tmp_path: Path) -> None:
    write_test_video(tmp_path / "v" / "x.mp4", seconds=1.0, audio=True)
    df = two_stage(tmp_path / "v", server, tmp_path, modalities="video,text", descriptions=None)
    assert df["status"].to_list() == ["video_error"]
    assert "no transcript sidecar" in df["error"][0]
    assert server.requests == []


def test_key_is_nowhere_on_disk(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_KEY", KEY)
    videos = make_study(tmp_path / "v")
    two_stage(videos, server, tmp_path, api_key_env="MM_KEY", out=tmp_path / "out.parquet")
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in server.requests)
    with Cache(tmp_path / "c.sqlite") as c:
        assert c.count_replies() == 20
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_transcription_endpoint_fills_missing_transcripts(
    server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_KEY", KEY)
    root = tmp_path / "v"
    write_test_video(root / "spoken.mp4", seconds=2.0, seed=1, audio=True)
    write_test_video(root / "subtitled.mp4", seconds=2.0, seed=2, audio=True)
    (root / "subtitled.txt").write_text("From the sidecar.", encoding="utf-8")
    write_test_video(root / "mute.mp4", seconds=2.0, seed=3)

    def run() -> pl.DataFrame:
        return query(
            root,
            provider="openai",
            model="m",
            base_url=server.openai_url,
            api_key_env="MM_KEY",
            task="openset",
            modalities="text",
            transcribe="whisper-1",
            sampling=Sampling(window_seconds=1.0),
            options=FAST,
            cache=tmp_path / "c.sqlite",
        )

    df = run()
    speech = [r for r in server.requests if r.protocol == "transcribe"]
    chats = [r for r in server.requests if r.protocol == "openai"]
    # Only the video without a sidecar is transcribed, one request per window.
    assert len(speech) == 2
    assert all(r.path == "/v1/audio/transcriptions" for r in speech)
    assert all(r.body["model"] == "whisper-1" and r.body["file"][:4] == b"RIFF" for r in speech)
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in speech)
    words = {f"words {hashlib.sha256(r.body['file']).hexdigest()[:12]}" for r in speech}
    asked = "\n".join(texts(r) for r in chats)
    assert all(w in asked for w in words) and "From the sidecar." in asked
    status = {(r["video_id"], r["window"]): r["status"] for r in df.iter_rows(named=True)}
    assert status[("mute", 0)] == "video_error"
    assert "no audio stream to transcribe" in df.filter(pl.col("video_id") == "mute")["error"][0]
    assert [status[("spoken", w)] for w in (0, 1)] == ["ok", "ok"]
    # Cached and resumed like every reply: a rerun asks nothing.
    n = len(server.requests)
    run()
    assert len(server.requests) == n
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()


def test_webvtt_sidecars_are_cut_per_window(tmp_path: Path) -> None:
    from emoalign.query.video import find_transcript, transcript_text

    video = write_test_video(tmp_path / "talk.mp4", seconds=1.0)
    vtt = video.with_suffix(".vtt")
    vtt.write_text(
        "WEBVTT\n\nNOTE a comment\n\n"
        "00:01.000 --> 00:04.500 align:start\n<v Ann>We <i>lost</i> today.\n\n"
        "intro\n00:00:05.250 --> 00:00:07.000\nNext time.\n",
        encoding="utf-8",
    )
    assert find_transcript(video) == vtt
    assert transcript_text(vtt, 0.0, 4.0) == "[1.0-4.5 s] We lost today."
    assert transcript_text(vtt, 5.0, 9.0) == "[5.2-7.0 s] Next time."
    assert transcript_text(vtt, 0.0, 10.0).count("\n") == 1


def test_gemini_two_stage_sends_free_text_then_schema(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    videos = make_study(tmp_path / "v")
    df = two_stage(
        videos / "a.mp4",
        server,
        tmp_path,
        provider="gemini",
        base_url=server.gemini_url,
        modalities="audio,text",
        descriptions=None,
    )
    assert (df["status"] == "ok").all()
    by_stage: dict[str, list[Recorded]] = {}
    for rec in server.requests:
        by_stage.setdefault(stage(rec), []).append(rec)
    assert {k: len(v) for k, v in by_stage.items()} == {
        "describe": 4,
        "fuse_window": 2,
        "fuse_video": 1,
        "final": 1,
    }
    for name in ("describe", "fuse_window", "fuse_video"):
        for rec in by_stage[name]:
            assert "responseSchema" not in rec.body["generationConfig"]
            assert "responseMimeType" not in rec.body["generationConfig"]
    (final,) = by_stage["final"]
    assert final.body["generationConfig"]["responseMimeType"] == "application/json"
    clips = [a for r in by_stage["describe"] for a in audio_payloads(r)]
    assert len(clips) == 2 and all(c[:4] == b"RIFF" for c in clips)
    assert all(
        r.path.endswith(
            ("describe-m:generateContent", "fuse-m:generateContent", "final-m:generateContent")
        )
        for r in server.requests
    )


def test_two_stage_defaults_to_the_frames(server: FakeLLMServer, tmp_path: Path) -> None:
    write_test_video(tmp_path / "v" / "plain.mp4", seconds=1.0)
    df = query(
        tmp_path / "v",
        provider="openai",
        model="m",
        base_url=server.openai_url,
        task="openset",
        pipeline="two-stage",
        sampling=Sampling(frames=2),
        options=FAST,
        cache=False,
    )
    assert df["status"].to_list() == ["ok"]
    assert [stage(r) for r in server.requests] == ["describe", "fuse_window", "final"]
    assert sum(p.get("type") == "image_url" for p in parts(server.requests[0])) == 2


def test_cli_prompts_and_transcribe(server: FakeLLMServer, tmp_path: Path) -> None:
    import json

    from emoalign.cli import main

    write_test_video(tmp_path / "v" / "talk.mp4", seconds=1.0, audio=True)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"describe_text": "ONLY THE WORDS, PLEASE"}), encoding="utf-8")
    out = tmp_path / "out.parquet"
    argv = ["query", str(tmp_path / "v"), "--provider", "openai", "--model", "m"]
    argv += ["--base-url", server.openai_url, "--task", "openset", "--no-progress"]
    argv += ["--pipeline", "two-stage", "--modalities", "text", "--transcribe", "whisper-1"]
    argv += ["--cache", str(tmp_path / "c.sqlite"), "--out", str(out)]
    assert main([*argv, "--prompts", str(prompts)]) == 0
    kinds = [r.protocol for r in server.requests]
    assert kinds == ["transcribe", "openai", "openai", "openai"]
    assert "ONLY THE WORDS, PLEASE" in texts(server.requests[1])
    assert "words " in texts(server.requests[1])  # the transcription is what is described
    prompts.write_text(json.dumps({"fuse_window": "no clues placeholder"}), encoding="utf-8")
    assert main([*argv, "--prompts", str(prompts)]) == 2
    assert main([*argv, "--prompts", str(tmp_path / "missing.json")]) == 2


def test_each_stage_model_gets_its_own_temperature(tmp_path: Path) -> None:
    # A reasoning model describing (it rejects any temperature) and a chat model fusing and
    # answering: "auto" is decided per model, not once for the main one.
    server = FakeLLMServer(fixed_temperature_models=("o4-mini",))
    with server.running():
        df = two_stage(
            make_study(tmp_path / "v"), server, tmp_path, model="gpt-4o-mini",
            describe_model="o4-mini", fuse_model=None, descriptions=None,
        )  # fmt: skip
    assert (df["status"] == "ok").all()
    sent = {
        (r.body["model"], stage(r), r.body.get("temperature", "omitted")) for r in server.requests
    }
    assert sent == {
        ("o4-mini", "describe", "omitted"),
        ("gpt-4o-mini", "fuse_window", 0.0),
        ("gpt-4o-mini", "fuse_video", 0.0),
        ("gpt-4o-mini", "final", 0.0),
    }


def test_transcription_leaves_out_an_omitted_temperature(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    write_test_video(tmp_path / "spoken.mp4", seconds=1.0, seed=1, audio=True)
    for temperature, field in ((None, None), (0.4, "0.4")):
        query(
            tmp_path / "spoken.mp4", provider="openai", model="m", base_url=server.openai_url,
            task="openset", modalities="text", transcribe="whisper-1", cache=False,
            options=QueryOptions(progress=False, temperature=temperature),
        )  # fmt: skip
        speech = [r for r in server.requests if r.protocol == "transcribe"]
        assert [r.body.get("temperature") for r in speech] == [field]
        server.requests.clear()
