"""Cache replay of a two-stage, four-modality study of 500 windows (issue 11: under 5 s).

250 videos of 2 s, cut into 1 s windows, each with audio, a transcript and an NFBL cue file:
per video 6 descriptions (the cues come from the file), 2 window fusions, 1 video fusion and 1
answer. The paid run is not timed; the replay must read everything from the cache, decoding no
video.

Run: python -m pytest benches/bench_multimodal.py --benchmark-only -s
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emoalign.query import QueryOptions, Sampling, Usage, query
from emoalign.query.testing import write_test_video

VIDEOS = 250


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emoalign.query.testing"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().split()[1]
    finally:
        proc.kill()
        proc.wait()


def run(videos: Path, url: str, cache: Path) -> Usage:
    usage = Usage()
    query(
        videos,
        provider="openai",
        model="m",
        base_url=url,
        task="openset",
        pipeline="two-stage",
        modalities="video,audio,text,nfbl",
        sampling=Sampling(frames=2, window_seconds=1.0),
        options=QueryOptions(progress=False, concurrency=16),
        cache=cache,
        usage=usage,
    )
    return usage


def test_bench_replay_two_stage_500_windows(benchmark, server_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "videos"
    for i in range(VIDEOS):
        video = write_test_video(root / f"v{i:04d}.mp4", seconds=2.0, seed=i, audio=True)
        video.with_suffix(".srt").write_text(
            f"1\n00:00:00,000 --> 00:00:01,800\nThis is clip {i}.\n", encoding="utf-8"
        )
        (root / f"v{i:04d}.nfbl.csv").write_text(f"0.1,1.5,nods {i} times\n", encoding="utf-8")
    cache = tmp_path / "c.sqlite"
    paid = run(root, server_url, cache)
    # The test tones repeat every 64 seeds: identical audio descriptions are paid once.
    assert paid.paid_replies == VIDEOS * 10 - 2 * (VIDEOS - 64) and paid.errors == 0
    usage = benchmark.pedantic(run, args=(root, server_url, cache), rounds=3, iterations=1)
    assert usage.paid_replies == 0 and usage.cached_replies == VIDEOS * 10
    seconds = benchmark.stats.stats.max
    benchmark.extra_info["replay_seconds_max"] = round(seconds, 2)
    print(f"\nreplay of {2 * VIDEOS} windows, {VIDEOS * 10} cached calls: {seconds:.2f} s")
    assert seconds < 5.0, f"replay took {seconds:.2f} s, target < 5 s"
