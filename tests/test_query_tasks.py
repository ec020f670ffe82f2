"""Task templates, schemas and the local validation of replies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emoalign.query.emotions import CK34, CK_DIMENSIONS, load_items
from emoalign.query.request import Image, Text
from emoalign.query.tasks import InvalidReply, Task, make_task, parse_json_reply
from emoalign.query.video import Frame, Window

WINDOW = Window(0, 0.0, 2.0, (Frame(0.5, "d1"), Frame(1.5, "d2")))


def test_defaults_are_the_cowen_keltner_sets() -> None:
    assert make_task("ratings").items == CK34
    assert make_task("dimensions").items == CK_DIMENSIONS
    assert make_task("dimensions").scale == (1.0, 9.0)
    assert make_task("classify").items == CK34
    assert make_task("openset").items == ()
    assert len(CK34) == 34 and len(CK_DIMENSIONS) == 14


def test_ck_names_match_the_data_set_header(shared_data: Path) -> None:
    csv = shared_data / "cowen_keltner_2017" / "CowenKeltnerEmotionalVideos.csv"
    with csv.open(encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split(",")
    assert tuple(header[1:35]) == CK34
    assert tuple(header[35:49]) == CK_DIMENSIONS


def test_items_from_file_and_list(tmp_path: Path) -> None:
    f = tmp_path / "emos.txt"
    f.write_text("# my set\nJoy\n\n  Fear \n", encoding="utf-8")
    assert load_items(f) == ("Joy", "Fear")
    assert load_items(["Joy", "Awe"]) == ("Joy", "Awe")
    with pytest.raises(ValueError, match="twice"):
        load_items(["Joy", "joy"])
    with pytest.raises(ValueError, match="neither a named set"):
        load_items(tmp_path / "missing.txt")


def test_request_layout_has_timestamps_images_transcript_and_instruction() -> None:
    task = make_task("ratings", items=["Joy", "Fear"], scale=(1, 5))
    req = task.request(
        WINDOW, n_windows=3, transcript="hi", temperature=0.7, max_tokens=99, repeat=2
    )
    (turn,) = req.turns
    texts = [p.text for p in turn.parts if isinstance(p, Text)]
    assert [p.digest for p in turn.parts if isinstance(p, Image)] == ["d1", "d2"]
    assert "t = 0.50 s" in texts and "t = 1.50 s" in texts
    assert any("part 1 of 3" in t for t in texts)
    assert any(t.endswith("hi") and "Transcript" in t for t in texts)
    assert "from 1 (not at all) to 5 (extremely)" in texts[-1]
    assert "- Joy\n- Fear" in texts[-1]
    assert (req.temperature, req.max_tokens, req.repeat) == (0.7, 99, 2)
    assert req.schema == {
        "type": "object",
        "properties": {
            "Joy": {"type": "number", "minimum": 1, "maximum": 5},
            "Fear": {"type": "number", "minimum": 1, "maximum": 5},
        },
        "required": ["Joy", "Fear"],
        "additionalProperties": False,
    }


def test_fingerprint_changes_with_everything_that_decides_the_answer() -> None:
    task = make_task("ratings", items=["Joy"])
    base = task.request(
        WINDOW, n_windows=1, transcript=None, temperature=0.0, max_tokens=10, repeat=0
    )
    variants = [
        task.request(
            WINDOW, n_windows=1, transcript=None, temperature=0.0, max_tokens=10, repeat=1
        ),
        task.request(WINDOW, n_windows=1, transcript="x", temperature=0.0, max_tokens=10, repeat=0),
        task.request(
            WINDOW, n_windows=1, transcript=None, temperature=0.5, max_tokens=10, repeat=0
        ),
        make_task("ratings", items=["Fear"]).request(
            WINDOW, n_windows=1, transcript=None, temperature=0.0, max_tokens=10, repeat=0
        ),
        task.request(
            Window(0, 0, 2, (Frame(0.5, "d1"), Frame(1.5, "dX"))),
            n_windows=1,
            transcript=None,
            temperature=0.0,
            max_tokens=10,
            repeat=0,
        ),
    ]
    prints = {v.fingerprint() for v in variants}
    assert base.fingerprint() not in prints and len(prints) == len(variants)


def test_custom_template_and_bad_placeholders() -> None:
    task = make_task(
        "ratings", items=["Joy"], template="Rate {items} from {lo} to {hi} ({n_frames})"
    )
    assert task.instruction(4) == "Rate - Joy from 0 to 10 (4)"
    with pytest.raises(ValueError, match=r"unknown placeholders \['video'\]"):
        make_task("ratings", template="about {video}")


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("rate", {}, "task must be one of"),
        ("openset", {"items": ["Joy"]}, "takes no emotions"),
        ("ratings", {"scale": (5, 1)}, "lo < hi"),
        ("classify", {"scale": (0, 1)}, "no rating scale"),
    ],
)
def test_make_task_rejects_bad_arguments(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_task(name, **kwargs)


def test_ratings_validation() -> None:
    task = make_task("ratings", items=["Joy", "Empathic Pain"], scale=(0, 10))
    assert task.parse('{"joy": 3, " empathic pain ": 7.5}') == [
        ("Joy", 3.0),
        ("Empathic Pain", 7.5),
    ]
    assert task.parse('```json\n{"Joy": 0, "Empathic Pain": 10}\n```') == [
        ("Joy", 0.0),
        ("Empathic Pain", 10.0),
    ]
    bad = {
        '{"Joy": 3}': "missing values for \\['Empathic Pain'\\]",
        '{"Joy": 3, "Empathic Pain": 11}': "must be in \\[0, 10\\]",
        '{"Joy": "3", "Empathic Pain": 1}': "must be a number",
        '{"Joy": true, "Empathic Pain": 1}': "must be a number",
        '{"Joy": 1, "Empathic Pain": 1, "Awe": 2}': "unknown names",
        "[1, 2]": "expected a JSON object",
        '{"Joy": 1,': "not valid JSON",
    }
    for text, message in bad.items():
        with pytest.raises(InvalidReply, match=message):
            task.parse(text)


@given(st.lists(st.floats(min_value=1, max_value=9), min_size=14, max_size=14))
def test_any_in_range_dimension_reply_parses_to_itself(values: list[float]) -> None:
    task = make_task("dimensions")
    reply = json.dumps(dict(zip(CK_DIMENSIONS, values, strict=True)))
    assert task.parse(reply) == list(zip(CK_DIMENSIONS, values, strict=True))


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 1 <= v <= 9))
def test_out_of_range_dimension_is_rejected(bad: float) -> None:
    task = make_task("dimensions", items=["valence"])
    with pytest.raises(InvalidReply):
        task.parse(json.dumps({"valence": bad}))


def test_openset_and_classify_validation() -> None:
    openset = make_task("openset")
    assert openset.parse('{"emotions": ["Happy ", "happy", "self  deprecating"]}') == [
        ("happy", 1.0),
        ("self deprecating", 1.0),
    ]
    for text in ('{"emotions": []}', '{"emotions": [""]}', '{"emotions": "happy"}', '["x"]'):
        with pytest.raises(InvalidReply):
            openset.parse(text)
    classify = make_task("classify", items=["Joy", "Fear"])
    assert classify.parse('{"label": " fear"}') == [("Fear", 1.0)]
    with pytest.raises(InvalidReply, match="not one of the labels"):
        classify.parse('{"label": "Anger"}')
    assert classify.schema()["properties"]["label"]["enum"] == ["Joy", "Fear"]


def test_parse_json_reply_reports_position() -> None:
    with pytest.raises(InvalidReply, match="position"):
        parse_json_reply("{oops}")
    assert parse_json_reply('```\n{"a": 1}\n```') == {"a": 1}


def test_task_needs_items_unless_openset() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        Task("ratings")


def stdlib_parse(task: Task, text: str) -> list[tuple[str, float]] | str:
    """What parse() returned before its orjson fast path: the result, or the reason."""
    try:
        return task._validate(parse_json_reply(text))
    except InvalidReply as exc:
        return str(exc)


def fast_parse(task: Task, text: str) -> list[tuple[str, float]] | str:
    try:
        return task.parse(text)
    except InvalidReply as exc:
        return str(exc)


EDGE_REPLIES = [
    '{"Joy": 3, "Fear": 4}',
    '{"joy ": 3, "FEAR": 4.5}',
    '{"Joy": 3, "Joy": 4, "Fear": 1}',
    '{"Joy": 123456789012345678901, "Fear": 1}',
    '{"Joy": -9223372036854775809, "Fear": 1}',
    '{"Joy": NaN, "Fear": 1}',
    '{"Joy": 1e400, "Fear": 1}',
    '{"Joy": 1, "Fear": "\\ud800"}',
    '```json\n{"Joy": 1, "Fear": 2}\n```',
    ' \n{"Joy": 0.1e1, "Fear": 1E0}\t',
    '{"Joy": true, "Fear": 1}',
    '{"Joy": 1,',
    '{"emotions": ["Joy", "joy", 123456789012345678901]}',
    '{"label": "fear"}',
    '{"label": "\\u00e9"}',
    "[]",
]


@pytest.mark.parametrize("text", EDGE_REPLIES)
@pytest.mark.parametrize(
    "task",
    [
        make_task("ratings", items=["Joy", "Fear"], scale=(-1e30, 1e30)),
        make_task("ratings", items=["Joy", "Fear"]),
        make_task("openset"),
        make_task("classify", items=["Joy", "Fear"]),
    ],
    ids=["huge-scale", "ratings", "openset", "classify"],
)
def test_fast_parse_agrees_with_the_stdlib_path(task: Task, text: str) -> None:
    # Values and reasons alike: a reason is shown to the model, so it keys the re-ask's reply.
    assert fast_parse(task, text) == stdlib_parse(task, text)


@given(st.dictionaries(st.sampled_from(["Joy", "Fear", "joy", "Awe"]), st.floats() | st.integers()))
def test_fast_parse_agrees_with_the_stdlib_path_on_any_ratings(data: dict[str, float]) -> None:
    task = make_task("ratings", items=["Joy", "Fear"])
    text = json.dumps(data)
    assert fast_parse(task, text) == stdlib_parse(task, text)
