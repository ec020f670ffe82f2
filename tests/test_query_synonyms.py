"""MER2024-style synonym grouping through the providers and the cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emoalign.metrics import openset_scores
from emoalign.query import QueryOptions, SynonymGroupingError, Usage, group_synonyms
from emoalign.query.synonyms import merged_words, parse_groups, read_openset_csv
from emoalign.query.tasks import InvalidReply
from emoalign.query.testing import FakeLLMServer, Say

FAST = QueryOptions(progress=False, backoff_initial=0.001, backoff_max=0.002)
ODD_SAMPLE = "sample_00001774"  # MERTools' regex split "don't believe" into "don" + "t believe"


def prompt_words(protocol: str, body: dict[str, Any]) -> list[str]:
    if protocol == "openai":
        text = body["messages"][0]["content"][0]["text"]
    else:
        text = body["contents"][0]["parts"][0]["text"]
    return json.loads(text.rsplit("Words: ", 1)[1])


def partition(groups: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(g) for g in groups}


@pytest.fixture
def ov_merd(shared_data: Path) -> Path:
    return shared_data / "ov_merd_mer2024"


def published_answers(ov_merd: Path) -> tuple[dict, dict, dict, dict]:
    """Ground truth, predictions, and a "model" that answers each prompt with published groups.

    A prompt is the ordered word list, so samples with the same list get the same (cached)
    answer: the published groups of the first such sample, which is what ``expected`` holds.
    """
    reference = json.loads((ov_merd / "synonym_groups.json").read_text(encoding="utf-8"))
    gt = read_openset_csv(ov_merd / "ground_truth.csv", argument="gt")
    pred = read_openset_csv(ov_merd / "predictions.csv", argument="pred")
    answers: dict[tuple[str, ...], list[list[str]]] = {}
    expected = {}
    for name in gt:
        words = tuple(merged_words(gt[name], pred[name]))
        expected[name] = answers.setdefault(words, reference[name])
    return gt, pred, answers, expected


def answer_from(answers: dict[tuple[str, ...], list[list[str]]]) -> Any:
    def respond(protocol: str, body: dict[str, Any]) -> str:
        return json.dumps({"groups": answers[tuple(prompt_words(protocol, body))]})

    return respond


def test_reproduces_the_published_groups_and_replays_from_cache(
    ov_merd: Path, tmp_path: Path
) -> None:
    gt, pred, answers, expected = published_answers(ov_merd)
    reference = json.loads((ov_merd / "synonym_groups.json").read_text(encoding="utf-8"))
    server = FakeLLMServer(answer_from(answers))
    usage = Usage()
    with server.running():
        kwargs = dict(
            ground_truth=ov_merd / "ground_truth.csv",
            predictions=ov_merd / "predictions.csv",
            provider="openai",
            model="gpt-3.5-turbo-16k-0613",
            base_url=server.openai_url,
            cache=tmp_path / "c.sqlite",
            options=FAST,
            # The published answer for ODD_SAMPLE names words that were never asked about.
            on_failure="singletons",
        )
        groups = group_synonyms(**kwargs, usage=usage)
        sent = len(server.requests)
        again = group_synonyms(**kwargs)
        assert len(server.requests) == sent  # reproduced from the cache at no cost
    assert again == groups
    assert list(groups) == list(read_openset_csv(ov_merd / "ground_truth.csv", argument="gt"))
    assert len(groups) == 332
    # Scores depend on the partition only (which word leads a group does not matter).
    for name, ref in expected.items():
        if name != ODD_SAMPLE:
            assert partition(groups[name]) == partition(ref), name
    assert sum(expected[k] != reference[k] for k in gt) <= 3  # few prompts repeat
    odd_words = merged_words(gt[ODD_SAMPLE], pred[ODD_SAMPLE])
    assert groups[ODD_SAMPLE] == [[w] for w in odd_words] and "don't believe" in odd_words
    # One request per distinct prompt of two or more words, plus two re-asks for ODD_SAMPLE.
    assert sent == usage.paid_replies == sum(len(w) > 1 for w in answers) + 2
    assert usage.invalid == 1
    temperatures = {r.body["temperature"] for r in server.requests}
    assert temperatures == {0.0}  # as MER2024 asks GPT


def test_groups_feed_openset_scores(ov_merd: Path, tmp_path: Path) -> None:
    _, _, answers, _ = published_answers(ov_merd)
    reference = json.loads((ov_merd / "synonym_groups.json").read_text(encoding="utf-8"))
    server = FakeLLMServer(answer_from(answers))
    with server.running():
        groups = group_synonyms(
            ground_truth=ov_merd / "ground_truth.csv",
            predictions=ov_merd / "predictions.csv",
            provider="gemini",
            model="gemini-2.0-flash",
            base_url=server.gemini_url,
            cache=tmp_path / "c.sqlite",
            options=FAST,
            on_failure="singletons",
        )
    gt, pred = ov_merd / "ground_truth.csv", ov_merd / "predictions.csv"
    ours = openset_scores(gt, pred, synonyms=groups)
    published = openset_scores(gt, pred, synonyms=reference)
    plain = openset_scores(gt, pred)
    assert ours["n"] == published["n"] == 332
    # Same partitions except ODD_SAMPLE and a few repeated prompts: a few samples' worth apart.
    assert abs(ours["mean"] - published["mean"]) <= 4 / 332
    assert ours["mean"] > plain["mean"]


def test_prompt_merges_lowercased_words_and_skips_trivial_samples(tmp_path: Path) -> None:
    server = FakeLLMServer(answer_from({("joyful", "happy", "sad"): [["joyful", "happy"]]}))
    with server.running():
        groups = group_synonyms(
            {"a": ["Joyful", " happy", "Sad"], "b": ["calm"], "c": [], "d": ["Calm", "calm "]},
            provider="openai",
            model="m",
            base_url=server.openai_url,
            cache=False,
            options=FAST,
        )
    assert groups == {
        "a": [["joyful", "happy"], ["sad"]],
        "b": [["calm"]],
        "c": [],
        "d": [["calm"]],
    }
    (rec,) = server.requests  # only sample "a" needed the model
    assert prompt_words("openai", rec.body) == ["joyful", "happy", "sad"]
    schema = rec.body["response_format"]["json_schema"]
    assert schema["name"] == "synonym_groups" and schema["strict"] is True
    assert schema["schema"]["properties"]["groups"]["items"] == {
        "type": "array",
        "items": {"type": "string"},
    }


def test_gt_and_pred_merge_in_mer2024_order() -> None:
    assert merged_words(["Happy", "worried"], ["happy", "Anxious "]) == [
        "happy",
        "worried",
        "anxious",
    ]


def test_parse_groups_validation() -> None:
    words = ["happy", "joyful", "sad"]
    assert parse_groups('{"groups": [["Joyful", "happy"]]}', words) == [
        ["joyful", "happy"],
        ["sad"],
    ]
    assert parse_groups('[["sad"], ["happy", "joyful"]]', words) == [["sad"], ["happy", "joyful"]]
    for text, message in [
        ('{"groups": [["glad"]]}', "not one of the given words"),
        ('{"groups": [["happy"], ["happy", "sad"]]}', "more than one place"),
        ('{"groups": ["happy"]}', "expected"),
        ('{"groups": [[1]]}', "must be a string"),
    ]:
        with pytest.raises(InvalidReply, match=message):
            parse_groups(text, words)


@pytest.fixture
def stubborn_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer()
    with server.running():
        server.push(*[Say("happy and joyful mean the same")] * 3)
        yield server


def test_failure_raises_with_partial_groups(stubborn_server: FakeLLMServer) -> None:
    options = QueryOptions(progress=False, reasks=2, concurrency=1)
    with pytest.raises(SynonymGroupingError, match="1 sample") as info:
        group_synonyms(
            {"a": ["happy", "joyful"], "b": ["x"]},
            provider="openai",
            model="m",
            base_url=stubborn_server.openai_url,
            cache=False,
            options=options,
        )
    assert info.value.groups == {"b": [["x"]]}
    assert "not valid JSON" in info.value.failed["a"]


def test_failure_can_fall_back_to_singletons(stubborn_server: FakeLLMServer) -> None:
    options = QueryOptions(progress=False, reasks=2)
    groups = group_synonyms(
        {"a": ["happy", "joyful"]},
        provider="openai",
        model="m",
        base_url=stubborn_server.openai_url,
        cache=False,
        options=options,
        on_failure="singletons",
    )
    assert groups == {"a": [["happy"], ["joyful"]]}


def test_bad_inputs(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/v1"
    with pytest.raises(ValueError, match="either samples or ground_truth"):
        group_synonyms(
            {"a": ["x"]}, ground_truth={"a": ["x"]}, provider="openai", model="m", base_url=url
        )
    with pytest.raises(ValueError, match="both ground_truth and predictions"):
        group_synonyms(ground_truth={"a": ["x"]}, provider="openai", model="m", base_url=url)
    with pytest.raises(TypeError, match="is a string"):
        group_synonyms({"a": "happy"}, provider="openai", model="m", base_url=url)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,openset\ns1,\"['happy', \"\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: cannot parse openset"):
        read_openset_csv(bad, argument="ground_truth")
    dup = tmp_path / "dup.csv"
    dup.write_text("name,openset\ns1,['a']\ns1,['b']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="appears twice"):
        read_openset_csv(dup, argument="ground_truth")
