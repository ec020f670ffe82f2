"""Label-file loaders and list-string parsing: formats and the errors users see."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from emoalign.metrics import (
    load_categories,
    load_openset_csv,
    load_synonym_groups,
    load_values,
    pair_ids,
    parse_list_string,
)


def test_parse_list_string_python_and_mer2024_syntax() -> None:
    text = """["don't believe", 'doubt']"""
    assert parse_list_string(text, where="x") == ["don't believe", "doubt"]
    assert parse_list_string(text, where="x", syntax="mer2024") == ["don", "t believe", "doubt"]
    assert parse_list_string("['轻松', '愉快']", where="x") == ["轻松", "愉快"]
    assert parse_list_string("[]", where="x") == []
    assert parse_list_string("  ", where="x") == []
    assert parse_list_string(None, where="x") == []


@pytest.mark.parametrize("bad", ["['happy', 'sad'", "happy, sad", "[1, 2]", "{'a': 1}"])
def test_parse_list_string_rejects_malformed_cells(bad: str) -> None:
    with pytest.raises(ValueError, match=r"f\.csv, row 7"):
        parse_list_string(bad, where="f.csv, row 7")


def test_load_openset_csv_reads_the_real_files(shared_data: Path) -> None:
    labels = load_openset_csv(shared_data / "ov_merd_mer2024" / "predictions.csv")
    assert len(labels) == 332
    assert labels["sample_00000000"] == ["confused", "helpless"]
    assert sum(1 for v in labels.values() if not v) == 5
    assert labels["sample_00001774"] == ["don't believe", "doubt"]


def test_load_openset_csv_names_file_and_row_of_a_bad_cell(tmp_path: Path) -> None:
    path = tmp_path / "pred.csv"
    path.write_text("name,openset\na,\"['x']\"\nb,\"['x', \"\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pred\.csv, row 3 \(id 'b'\)"):
        load_openset_csv(path)


def test_duplicated_ids_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("name,openset\na,['x']\nb,['y']\na,['z']\nb,[]\nc,[]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"duplicated ids in column 'name': 'a', 'b'"):
        load_openset_csv(path)


def test_missing_columns_and_unknown_formats(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("id,label\na,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no column\(s\) \['name', 'openset'\].*'id', 'label'"):
        load_openset_csv(path)
    assert load_categories(path, id_column="id", label_column="label") == {"a": "x"}
    xlsx = tmp_path / "gt.xlsx"
    xlsx.write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"neither \.csv"):
        load_categories(xlsx, id_column="id", label_column="label")
    with pytest.raises(ValueError, match="no such file"):
        load_categories(tmp_path / "none.csv", id_column="id", label_column="label")


def test_parquet_with_list_column_and_ids_keep_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    pl.DataFrame({"name": ["001", "002"], "openset": [["happy"], []]}).write_parquet(path)
    assert load_openset_csv(path) == {"001": ["happy"], "002": []}
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("name,valence\n001,1.5\n002,-2\n", encoding="utf-8")
    assert load_values(csv_path, id_column="name", value_column="valence") == {
        "001": 1.5,
        "002": -2.0,
    }


def test_load_values_rejects_non_numeric(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("name,valence\na,1\nb,high\nc,\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\(row, value\) \[\(3, 'high'\), \(4, None\)\]"):
        load_values(path, id_column="name", value_column="valence")


def test_load_categories_rejects_empty_labels(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("name,discrete\na,happy\nb,\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty labels in column 'discrete', rows \[3\]"):
        load_categories(path, id_column="name", label_column="discrete")


def test_synonym_groups_from_json_and_mertools_npy_folder(
    tmp_path: Path, shared_data: Path
) -> None:
    groups = load_synonym_groups(shared_data / "ov_merd_mer2024" / "synonym_groups.json")
    assert len(groups) == 332
    assert groups["sample_00000007"] == [["joyful", "satisfied", "happy", "excited"]]
    folder = tmp_path / "openset-synonym"
    folder.mkdir()
    np.save(folder / "s1.npy", np.array("[['joyful', 'happy'], ['worried']]"))
    np.save(folder / "s2.npy", np.array("[['calm']]"))
    assert load_synonym_groups(folder) == {
        "s1": [["joyful", "happy"], ["worried"]],
        "s2": [["calm"]],
    }
    np.save(folder / "s3.npy", np.array("[['calm'"))
    with pytest.raises(ValueError, match=r"s3\.npy: cannot parse"):
        load_synonym_groups(folder)
    bad = tmp_path / "bad.json"
    bad.write_text('{"s1": "joyful"}', encoding="utf-8")
    with pytest.raises(TypeError, match="sample 's1' should map to a list of word lists"):
        load_synonym_groups(bad)


def test_align_reports_one_sided_ids() -> None:
    pairs = pair_ids({"b": 1, "a": 2, "c": 3}, {"c": 0, "a": 0, "d": 0}, strict=False)
    assert pairs.ids == ["a", "c"]
    assert pairs.only_ground_truth == ["b"] and pairs.only_predictions == ["d"]
    assert pairs.summary()["n_only_predictions"] == 1
    many = {f"id{i:02d}": 0 for i in range(15)}
    with pytest.raises(ValueError, match=r"15 id\(s\) have no prediction: .*\(15 in all\)"):
        pair_ids(many, {}, strict=True)
