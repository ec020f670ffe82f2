"""The provenance a query table carries in its Parquet metadata."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from emoalign.deid import Deidentify
from emoalign.deid.settings import DEID_VERSION
from emoalign.query import QueryOptions, Sampling, make_task, query, read_provenance
from emoalign.query.provenance import deidentification_record
from emoalign.query.request import canonical_schema
from emoalign.query.testing import FakeLLMServer, write_test_video


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer()
    with srv.running():
        yield srv


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_query_table_records_how_it_was_made(server: FakeLLMServer, tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(2):
        write_test_video(folder / f"v{i}.mp4", seconds=0.5, seed=i)
    template = "Rate each of {items} from {lo} to {hi} over {n_frames} frames. JSON only."
    options = QueryOptions(progress=False, max_tokens=300, repeats=2)
    sampling = Sampling(frames=2, max_side=64)
    out, cache = tmp_path / "out.parquet", tmp_path / "cache.sqlite"
    kwargs = dict(
        provider="openai", model="gpt-4o-mini", base_url=server.openai_url, task="ratings",
        emotions=["Joy", "Fear"], template=template, sampling=sampling, options=options,
        cache=cache, out=out,
    )  # fmt: skip
    before = time.time()
    df = query(folder, **kwargs)  # type: ignore[arg-type]
    after = time.time()
    record = read_provenance(out)
    assert record is not None
    assert pl.read_parquet(out).equals(df)  # the metadata leaves the table as it was

    task = make_task("ratings", items=["Joy", "Fear"], template=template)
    assert (record["provider"], record["model"], record["task"]) == (
        "openai",
        "gpt-4o-mini",
        "ratings",
    )
    assert record["base_url"] == server.openai_url
    assert record["prompts"] == {
        "template": template,
        "template_sha256": sha(template),
        "instruction_frames": 2,
        "instruction_sha256": sha(task.instruction(2)),
        "schema_sha256": sha(canonical_schema(task.schema())),
    }
    # The rendered instruction is what the server saw.
    sent = server.requests[0].body["messages"][0]["content"][-1]["text"]
    assert sha(sent) == record["prompts"]["instruction_sha256"]
    assert record["sampling"] == {
        "frames": 2, "max_side": 64, "jpeg_quality": 85, "window_seconds": None, "audio": False
    }  # fmt: skip
    assert record["generation"] == {
        "temperature": 0.0, "max_tokens": 300, "max_tokens_cap": 2400, "thinking_budget": None,
        "repeats": 2, "reasks": 2,
    }  # fmt: skip
    assert record["deidentification"] is None
    assert record["pipeline"] == {
        "name": "one-stage", "modalities": None, "models": {"transcribe": None}, "templates": None
    }  # fmt: skip
    first = datetime.fromisoformat(record["replies"]["first"]).timestamp()
    last = datetime.fromisoformat(record["replies"]["last"]).timestamp()
    assert int(before) <= first <= last <= after + 1
    assert (record["replies"]["paid"], record["replies"]["cached"]) == (4, 0)

    # A replay from the cache is dated by the replies it used, not by the replay.
    time.sleep(1.1)
    query(folder, **{**kwargs, "out": tmp_path / "again.parquet"})  # type: ignore[arg-type]
    again = read_provenance(tmp_path / "again.parquet")
    assert again is not None
    assert again["replies"] == {**record["replies"], "paid": 0, "cached": 4}
    assert again["written"] >= record["written"]


def test_a_plain_parquet_file_has_no_provenance(tmp_path: Path) -> None:
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "x.parquet")
    assert read_provenance(tmp_path / "x.parquet") is None
    with pytest.raises(FileNotFoundError):
        read_provenance(tmp_path / "missing.parquet")


def test_deidentification_is_recorded_with_a_digest_of_the_seed() -> None:
    record = deidentification_record(Deidentify(detector="haar", seed="s3cret", carry=2))
    assert record is not None
    assert record["seed_sha256"] == sha("s3cret")
    assert "s3cret" not in json.dumps(record)  # the seed gives every speaker's alpha
    assert (record["detector"], record["carry"], record["version"]) == ("haar", 2, DEID_VERSION)
    voice_only = deidentification_record(Deidentify(faces=False))
    assert voice_only is not None and voice_only["detector"] is None
    assert deidentification_record(None) is None
