"""Cache keys: stable across versions, shared work across the samples of one prompt."""

from __future__ import annotations

import json

import pytest

from emoalign.query.request import Image, Request, Text, Turn, cache_key

IDENTITY = "openai|http://x/v1|m"
SCHEMA = {
    "type": "object",
    "properties": {"Joy": {"type": "number", "minimum": 0, "maximum": 1e-05}},
}


def prompt(repeat: int = 0) -> Request:
    parts = (Text("Émotion — “joy” 😀"), Image("ab" * 32), Text("rate 0.5"))
    return Request((Turn("user", parts),), SCHEMA, "emotion_ratings", 0.7, 99, repeat=repeat)


# Computed by the code that wrote the first caches: a changed key would silently re-pay for
# every reply those caches hold.
PINNED = {
    0: "a6da256a905875d51d0c3e880c76ba067a7ca4e7df562f884d841821ca37c6f9",
    3: "a35e64146013a837fb2468ba7325001431c2697b078d2acf11399314e94e7901",
    12: "2e7578405444b3a32286ea8ff7f68064b44ca1c3f30ff1c613ecf29e9fdb998d",
}


@pytest.mark.parametrize("repeat", sorted(PINNED))
def test_cache_keys_are_those_earlier_versions_wrote(repeat: int) -> None:
    assert cache_key(IDENTITY, prompt(repeat)) == PINNED[repeat]
    assert cache_key(IDENTITY, prompt().for_repeat(repeat)) == PINNED[repeat]


def test_fingerprint_is_the_canonical_json_of_the_whole_request() -> None:
    request = prompt(5).with_correction('{"Joy": 2}', "out of range")
    turns = [
        [
            t.role,
            [["t", p.text] if isinstance(p, Text) else ["i", p.digest, p.mime] for p in t.parts],
        ]
        for t in request.turns
    ]
    doc = [turns, "emotion_ratings", 0.7, 99, 5]
    schema = json.dumps(SCHEMA, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "|" + schema
    assert request.fingerprint() == expected
    assert request.for_repeat(5).fingerprint() == expected


def test_samples_share_the_content_and_differ_in_the_key() -> None:
    base = prompt()
    samples = [base.for_repeat(r) for r in range(4)]
    assert all(s.content() is base.content() for s in samples)  # computed once
    assert len({cache_key(IDENTITY, s) for s in samples}) == 4
    corrected = samples[1].with_correction("{}", "missing values")
    assert corrected.content() != base.content() and corrected.repeat == 1
