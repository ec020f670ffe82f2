"""The long-form table and ``to_wide``."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from emoalign.query.output import CONTRACT_COLUMNS, SCHEMA, Rows, failures, to_wide, write_parquet


def ratings_frame() -> pl.DataFrame:
    rows = Rows("m", "ratings")
    rows.add_ok("v2", 0, 0, "r1", [("Joy", 2.0), ("Fear", 4.0)])
    rows.add_ok("v1", 0, 0, "r2", [("Joy", 1.0), ("Fear", 3.0)])
    rows.add_ok("v1", 0, 1, "r3", [("Joy", 3.0), ("Fear", 9.0)])
    rows.add_failure("v2", 0, 1, "invalid", "bad", raw="{", reply_id="r4")
    rows.add_failure("v3", 0, 0, "video_error", "cannot decode")
    return rows.frame()


def test_schema_starts_with_the_contract_columns() -> None:
    df = ratings_frame()
    assert tuple(df.columns[:7]) == CONTRACT_COLUMNS
    assert df.schema == pl.Schema(SCHEMA)
    assert df["value"].dtype == pl.Float64 and df["repeat"].dtype == pl.Int64
    assert df.filter(pl.col("video_id") == "v1")["repeat"].to_list() == [0, 0, 1, 1]
    fails = failures(df)
    assert fails["status"].to_list() == ["invalid", "video_error"]
    assert fails["item"].null_count() == 2 and fails["value"].null_count() == 2
    assert fails.filter(pl.col("status") == "invalid")["raw"].item() == "{"


def test_to_wide_means_over_repeats_and_skips_failures() -> None:
    wide = to_wide(ratings_frame())
    assert wide.columns == ["video_id", "Joy", "Fear"]
    assert wide.rows() == [("v1", 2.0, 6.0), ("v2", 2.0, 4.0)]
    assert to_wide(ratings_frame(), agg="max").rows() == [("v1", 3.0, 9.0), ("v2", 2.0, 4.0)]


def test_to_wide_openset_is_share_of_units() -> None:
    rows = Rows("m", "openset")
    rows.add_ok("v1", 0, 0, "a", [("happy", 1.0), ("calm", 1.0)])
    rows.add_ok("v1", 0, 1, "b", [("happy", 1.0)])
    rows.add_ok("v2", 0, 0, "c", [("sad", 1.0)])
    wide = to_wide(rows.frame())
    assert wide.columns == ["video_id", "happy", "calm", "sad"]
    assert wide.rows() == [("v1", 1.0, 0.5, 0.0), ("v2", 0.0, 0.0, 1.0)]
    with pytest.raises(ValueError, match="agg='mean'"):
        to_wide(rows.frame(), agg="median")


def test_to_wide_without_status_column_and_errors() -> None:
    df = ratings_frame().select(CONTRACT_COLUMNS).drop_nulls("item")
    assert to_wide(df).rows() == [("v1", 2.0, 6.0), ("v2", 2.0, 4.0)]
    with pytest.raises(ValueError, match="agg must be one of"):
        to_wide(df, agg="sum")
    with pytest.raises(ValueError, match="is not in df"):
        to_wide(df, task="openset")
    with pytest.raises(TypeError, match="polars DataFrame"):
        to_wide(df.to_dicts())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lacks the long-form columns"):
        to_wide(df.drop("item"))
    mixed = pl.concat([df, df.with_columns(pl.lit("dimensions").alias("task"))])
    with pytest.raises(ValueError, match="choose one with task="):
        to_wide(mixed)
    assert to_wide(mixed, task="dimensions").height == 2


def test_to_wide_of_all_failures_is_empty() -> None:
    rows = Rows("m", "ratings")
    rows.add_failure("v", 0, 0, "error", "HTTP 500")
    wide = to_wide(rows.frame())
    assert wide.columns == ["video_id"] and wide.height == 0


def test_write_parquet_round_trip_is_atomic(tmp_path: Path) -> None:
    df = ratings_frame()
    out = write_parquet(df, tmp_path / "sub" / "r.parquet")
    assert pl.read_parquet(out).equals(df)
    assert [p.name for p in out.parent.iterdir()] == ["r.parquet"]


def test_a_frame_without_units_has_the_schema() -> None:
    df = Rows("m", "ratings").frame()
    assert df.height == 0 and df.schema == pl.Schema(SCHEMA)
