"""User errors on every sub-command: one line naming the argument and the fix, exit code 2, and
the traceback only with ``--debug``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emoalign.alignment import synthetic_pair
from emoalign.cli import main


@pytest.fixture
def files(tmp_path: Path) -> Path:
    pair = synthetic_pair(n_categories=2, per_category=3, seed=1)
    pair.human.write_csv(tmp_path / "human.csv")
    pair.model.write_csv(tmp_path / "model.csv")
    pair.human.head(2).write_csv(tmp_path / "two.csv")
    pair.human.with_columns(note=pair.human["video_id"]).write_csv(tmp_path / "text.csv")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    (tmp_path / "dims.csv").write_text("name,valence\na,x\nb,2\n", encoding="utf-8")
    (tmp_path / "gt.csv").write_text("name,openset\na,['happy']\n", encoding="utf-8")
    (tmp_path / "bad_list.csv").write_text("name,openset\na,[happy\n", encoding="utf-8")
    return tmp_path


# (argv with {d} for the folder, the error's prefix, text the message must contain)
CASES = [
    (
        ["compare", "{d}/missing.csv", "{d}/model.csv", "--no-gw"],
        "emoalign compare",
        "HUMAN {d}/missing.csv: no such file",
    ),
    (
        ["compare", "{d}/human.csv", "{d}/broken.parquet", "--no-gw"],
        "emoalign compare",
        "MODEL {d}/broken.parquet: not a readable parquet table",
    ),
    (
        ["align", "{d}/missing.csv", "{d}/model.csv"],
        "emoalign align",
        "SOURCE {d}/missing.csv: no such file; give a CSV/Parquet file",
    ),
    (
        ["align", "{d}/human.csv", "{d}/missing.csv"],
        "emoalign align",
        "TARGET {d}/missing.csv: no such file",
    ),
    (
        ["align", "{d}/two.csv", "{d}/two.csv"],
        "emoalign align",
        "source has 2 video(s); an alignment needs at least 3 on each side",
    ),
    (
        ["align", "{d}/text.csv", "{d}/model.csv"],
        "emoalign align",
        "source has non-numeric columns ['note']; keep only the id and the ratings",
    ),
    (
        ["align", "{d}/broken.parquet", "{d}/model.csv"],
        "emoalign align",
        "SOURCE {d}/broken.parquet: not a readable parquet table",
    ),
    (
        ["align", "{d}/human.csv", "{d}/model.csv", "--labels", "{d}/nolabels.csv"],
        "emoalign align",
        "--labels {d}/nolabels.csv: no such file; give cowen-keltner[@PATH] or a CSV/Parquet",
    ),
    (
        ["align", "{d}/human.csv", "{d}/model.csv", "--eps-min", "0.1", "--eps-max", "0.01"],
        "emoalign align",
        "--eps-min 0.1 is above --eps-max 0.01; swap them",
    ),
    (
        ["align", "{d}/human.csv", "{d}/model.csv", "--id-column", "nope"],
        "emoalign align",
        "source has no id column 'nope'",
    ),
    (
        ["align", "cowen-keltner:categories", "{d}/model.csv"],
        "emoalign align",
        "SOURCE cowen-keltner:categories: give the Cowen & Keltner CSV as "
        "cowen-keltner:categories@PATH or with --data PATH",
    ),
    (
        ["align", "cowen-keltner:categories@{d}/nope", "{d}/model.csv"],
        "emoalign align",
        "SOURCE cowen-keltner:categories@{d}/nope: Cowen & Keltner CSV not found at {d}/nope",
    ),
    (
        ["align", "{d}/human.csv", "{d}/model.csv", "--labels", "cowen-keltner@{d}/nope"],
        "emoalign align",
        "--labels cowen-keltner@{d}/nope: Cowen & Keltner CSV not found",
    ),
    (
        ["demo", "--out", "{d}/demo", "--categories", "1", "--per-category", "2"],
        "emoalign demo",
        "human has 2 video(s); an alignment needs at least 3",
    ),
    (
        ["query", "{d}/missing.mp4", "--provider", "openai", "--model", "m", "--out", "o.parquet"],
        "emoalign query",
        "videos: '{d}/missing.mp4' is neither a file nor a directory",
    ),
    (
        ["query", "{d}", "--provider", "openai", "--model", "m", "--out", "o.csv"],
        "emoalign query",
        "--out must be a .parquet file, got 'o.csv'",
    ),
    (
        [
            "query",
            "{d}",
            "--provider",
            "openai",
            "--model",
            "m",
            "--out",
            "o.parquet",
            "--template",
            "{d}/nope.txt",
        ],
        "emoalign query",
        "--template {d}/nope.txt: no such file; give a text file",
    ),
    (
        ["score", "openset", "--gt", "{d}/nope.csv", "--pred", "{d}/gt.csv"],
        "emoalign score openset",
        "--gt: no such file '{d}/nope.csv'",
    ),
    (
        ["score", "openset", "--gt", "{d}/gt.csv", "--pred", "{d}/bad_list.csv"],
        "emoalign score openset",
        "cannot parse '[happy' as a list of strings",
    ),
    (
        ["score", "classify", "--gt", "{d}/dims.csv", "--pred", "{d}/dims.csv"],
        "emoalign score classify",
        "--gt: '{d}/dims.csv' has no column(s) ['discrete']",
    ),
    (
        ["score", "dimensions", "--gt", "{d}/dims.csv", "--pred", "{d}/dims.csv"],
        "emoalign score dimensions",
        "--gt: '{d}/dims.csv' column 'valence' has missing or non-numeric values",
    ),
]


def _fill(argv: list[str], folder: Path) -> list[str]:
    return [a.replace("{d}", str(folder)) for a in argv]


@pytest.mark.parametrize(("argv", "prefix", "message"), CASES, ids=lambda v: str(v)[:40])
def test_user_error_is_one_line_with_exit_2(
    argv: list[str],
    prefix: str,
    message: str,
    files: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # so query reaches its own checks
    assert main(_fill(argv, files)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"{prefix}: error: ")
    assert message.replace("{d}", str(files)) in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(files: Path, where: str) -> None:
    argv = ["align", f"{files}/missing.csv", f"{files}/model.csv"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(FileNotFoundError, match=r"SOURCE .*missing\.csv: no such file"):
        main(argv)


def test_debug_reaches_nested_commands(files: Path) -> None:
    argv = ["score", "dimensions", "--gt", f"{files}/dims.csv", "--pred", f"{files}/dims.csv"]
    with pytest.raises(ValueError, match="non-numeric"):
        main([*argv, "--debug"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["align", "a.csv", "b.csv", "--trials", "0"], "argument --trials: expected a positive"),
        (["align", "a.csv", "b.csv", "--eps-min", "-1"], "argument --eps-min: expected a positive"),
        (["align", "a.csv", "b.csv", "--permutations", "-5"], "argument --permutations: expected"),
        (["demo", "--inits", "x"], "argument --inits: expected a positive integer, got 'x'"),
    ],
)
def test_bad_numbers_are_argparse_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["align", "h.csv", "m.csv", "--report", "{d}/gt.csv"],
            "argument --report: {d}/gt.csv is a file; give a folder",
        ),
        (
            ["align", "h.csv", "m.csv", "--plans", "{d}/gt.csv"],
            "argument --plans: {d}/gt.csv is a file",
        ),
        (["demo", "--out", "{d}/gt.csv"], "argument --out: {d}/gt.csv is a file"),
        (
            ["score", "classify", "--gt", "g", "--pred", "p", "--json", "{d}"],
            "argument --json: {d} is a folder; give a file path",
        ),
        (
            ["score", "classify", "--gt", "g", "--pred", "p", "--plot", "{d}"],
            "argument --plot: {d} is a folder",
        ),
        (
            ["query", "v.mp4", "--provider", "openai", "--model", "m", "--out", "{d}"],
            "argument --out: {d} is a folder",
        ),
    ],
)
def test_outputs_of_the_wrong_kind_are_refused(
    argv: list[str], message: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(_fill(argv, files))
    assert exit_info.value.code == 2
    assert message.replace("{d}", str(files)) in capsys.readouterr().err


def test_a_missing_database_driver_is_named(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # pg8000 is a PostgreSQL driver SQLAlchemy knows; None in sys.modules makes it uninstalled.
    monkeypatch.setitem(sys.modules, "pg8000", None)
    url = "postgresql+pg8000://me:hunter2@127.0.0.1:9/db"
    argv = ["align", f"{files}/human.csv", f"{files}/model.csv", "--storage", url]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "emoalign align: error: --storage postgresql+pg8000://me:***@127.0.0.1:9/db: its database "
        "driver 'pg8000' is not installed; pip install pg8000 (for postgresql+psycopg: pip "
        "install 'emoalign[postgres]')\n"
    )


def test_a_storage_that_is_not_a_database(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["align", f"{files}/human.csv", f"{files}/model.csv", "--storage", f"{files}/gt.csv"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"emoalign align: error: --storage {files}/gt.csv: the study database cannot be used "
        "(file is not a database); check the URL and that the server is running, or give a new "
        "SQLite file path\n"
    )


def test_unreachable_storage_names_it_without_the_password(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 (discard) on loopback refuses connections at once.
    url = "postgresql+psycopg://me:hunter2@127.0.0.1:9/db"
    argv = ["align", f"{files}/human.csv", f"{files}/model.csv", "--storage", url]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emoalign align: error: --storage postgresql+psycopg://me:***@127.0.0.1")
    assert "the study database cannot be used" in err and "hunter2" not in err
    assert err.count("\n") == 1


def test_console_command_exits_2_without_traceback(files: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emoalign", "align", f"{files}/two.csv", f"{files}/two.csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("emoalign align: error: source has 2 video(s)")
    assert "Traceback" not in done.stderr


def test_bad_cowen_keltner_block_names_the_side(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(shared_data / "cowen_keltner_2017")
    argv = ["align", "cowen-keltner:categories", "cowen-keltner:dimension", "--data", data]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "emoalign align: error: TARGET cowen-keltner:dimension: unknown block 'dimension'; "
        "choose categories, dimensions or free_response\n"
    )
