"""Task templates, their JSON schemas, and local validation of replies.

Four tasks: ``ratings`` (K named emotions on a scale), ``dimensions`` (affective dimensions,
1 to 9), ``openset`` (a free list of emotion words, as in MER-OV) and ``classify`` (one label from
a closed set). Templates are ``str.format`` strings that users may replace; the schema is always
built from the items, and every reply is validated here whatever the provider promised.
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from emoalign.query.emotions import CK34, CK_DIMENSIONS, load_items
from emoalign.query.request import Audio, Image, Part, Request, Text, Turn
from emoalign.query.video import Window

TASK_NAMES = ("ratings", "dimensions", "openset", "classify")

_FRAMES_INTRO = (
    "The images are {n_frames} frames sampled uniformly from a video, in order; "
    "each is preceded by its time in seconds."
)

_AUDIO_INTRO = "The audio of this part of the video follows (16 kHz mono WAV)."
_NFBL_INTRO = "Non-facial body language seen in the video:\n{cues}"
# Stage 3 of the two-stage pipeline: the task is asked of a fused account instead of media.
_ACCOUNT_INTRO = (
    "The following account of the emotional clues in a video was written by an expert "
    "observer who saw and heard it. Answer from this account.\n\n{account}"
)

DEFAULT_TEMPLATES: dict[str, str] = {
    "ratings": (
        "For each emotion listed below, rate how strongly this video evokes it in a typical "
        "viewer, from {lo} (not at all) to {hi} (extremely). Reply with a JSON object that maps "
        "every emotion, spelled exactly as listed, to a number.\n\nEmotions:\n{items}"
    ),
    "dimensions": (
        "Rate the feelings this video evokes in a typical viewer on each affective dimension "
        "listed below, from {lo} (lowest) to {hi} (highest). Reply with a JSON object that maps "
        "every dimension, spelled exactly as listed, to a number.\n\nDimensions:\n{items}"
    ),
    "openset": (
        "List the emotions perceived in this video: those expressed by the people in it and "
        "those the scene conveys. Use single words or short phrases, as many as apply. Reply "
        'with a JSON object of the form {{"emotions": ["word", ...]}}.'
    ),
    "classify": (
        "Choose the one label below that best describes the emotion of this video. Reply with "
        'a JSON object of the form {{"label": "<one of the labels>"}}.\n\nLabels:\n{items}'
    ),
}

_SCHEMA_NAMES = {
    "ratings": "emotion_ratings",
    "dimensions": "dimension_ratings",
    "openset": "openset_emotions",
    "classify": "emotion_label",
}
_DEFAULT_SCALES = {"ratings": (0.0, 10.0), "dimensions": (1.0, 9.0)}
_PLACEHOLDERS = {"items", "lo", "hi", "n_frames"}


class InvalidReply(ValueError):
    """A reply that does not satisfy the task's schema; the reason is shown to the model."""


def parse_json_reply(text: str) -> Any:
    """Parse a reply as JSON, tolerating a Markdown code fence around it (local models add one)."""
    stripped = text.strip()
    fenced = re.fullmatch(r"```[a-zA-Z]*\s*(.*?)\s*```", stripped, flags=re.DOTALL)
    if fenced:
        stripped = fenced.group(1)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InvalidReply(
            f"the reply is not valid JSON ({exc.msg} at position {exc.pos})"
        ) from None


@dataclass(frozen=True)
class Task:
    """A question asked about every video window, and how its answer is checked.

    ``items`` are the emotions or dimensions to rate, or the labels to choose from; ``openset``
    has none. ``scale`` bounds the ratings.
    """

    name: str
    items: tuple[str, ...] = ()
    scale: tuple[float, float] | None = None
    template: str | None = None

    def __post_init__(self) -> None:
        if self.name not in TASK_NAMES:
            raise ValueError(f"task must be one of {', '.join(TASK_NAMES)}, got {self.name!r}")
        if self.name == "openset" and self.items:
            raise ValueError("task 'openset' takes no items; drop the emotions argument")
        if self.name != "openset" and not self.items:
            raise ValueError(f"task {self.name!r} needs at least one item")
        if self.name in _DEFAULT_SCALES:
            if self.scale is None:
                object.__setattr__(self, "scale", _DEFAULT_SCALES[self.name])
            lo, hi = self.scale  # type: ignore[misc]
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(
                    f"scale must be two finite numbers (lo, hi) with lo < hi, got {self.scale!r}"
                )
        elif self.scale is not None:
            raise ValueError(f"task {self.name!r} has no rating scale; drop the scale argument")
        if self.template is not None:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None}
            unknown = fields - _PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"template uses unknown placeholders {sorted(unknown)}; the known ones are "
                    f"{sorted(_PLACEHOLDERS)} (double literal braces: {{{{ }}}})"
                )

    @property
    def instruction_template(self) -> str:
        return self.template if self.template is not None else DEFAULT_TEMPLATES[self.name]

    def schema(self) -> dict[str, Any]:
        """JSON Schema (the subset both providers' structured-output modes accept).

        Built once per task and shared by its requests; treat it as read-only.
        """
        return self._schema

    @cached_property
    def _schema(self) -> dict[str, Any]:
        if self.name in ("ratings", "dimensions"):
            lo, hi = self.scale  # type: ignore[misc]
            number = {"type": "number", "minimum": lo, "maximum": hi}
            return {
                "type": "object",
                "properties": {item: dict(number) for item in self.items},
                "required": list(self.items),
                "additionalProperties": False,
            }
        if self.name == "openset":
            return {
                "type": "object",
                "properties": {"emotions": {"type": "array", "items": {"type": "string"}}},
                "required": ["emotions"],
                "additionalProperties": False,
            }
        return {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": list(self.items)}},
            "required": ["label"],
            "additionalProperties": False,
        }

    @cached_property
    def _item_set(self) -> frozenset[str]:
        return frozenset(self.items)

    @cached_property
    def _canonical(self) -> dict[str, str]:
        """Item names by their case-folded form, to accept 'joy' for 'Joy'."""
        return {item.casefold(): item for item in self.items}

    def instruction(self, n_frames: int) -> str:
        cached = self._instructions.get(n_frames)
        if cached is None:
            lo, hi = self.scale if self.scale is not None else (None, None)
            cached = self.instruction_template.format(
                items="\n".join(f"- {item}" for item in self.items),
                lo=_fmt(lo),
                hi=_fmt(hi),
                n_frames=n_frames,
            )
            self._instructions[n_frames] = cached
        return cached

    @cached_property
    def _instructions(self) -> dict[int, str]:
        """Rendered instructions by frame count (the same text for every video)."""
        return {}

    def request(
        self,
        window: Window,
        *,
        n_windows: int,
        transcript: str | None,
        temperature: float,
        max_tokens: int,
        repeat: int,
        frames: bool = True,
        audio: Audio | None = None,
        nfbl: str | None = None,
    ) -> Request:
        """The one-stage request about ``window``: its frames (unless ``frames`` is False), its
        ``audio`` clip, ``transcript`` and ``nfbl`` cues when given, then the instruction.

        With the defaults the parts are exactly those of frames-and-transcript requests from
        before audio existed, so their cache keys are unchanged.
        """
        parts: list[Part] = []
        if frames:
            parts.append(Text(_FRAMES_INTRO.format(n_frames=len(window.frames))))
        if n_windows > 1:
            parts.append(
                Text(
                    f"This is part {window.index + 1} of {n_windows} of the video, from "
                    f"{window.start:.1f} s to {window.end:.1f} s."
                )
            )
        for frame in window.frames if frames else ():
            parts.append(Text(f"t = {frame.time:.2f} s"))
            parts.append(Image(frame.digest))
        if audio is not None:
            parts += [Text(_AUDIO_INTRO), audio]
        if transcript:
            parts.append(Text(f"Transcript of the speech in the video:\n{transcript}"))
        if nfbl:
            parts.append(Text(_NFBL_INTRO.format(cues=nfbl)))
        parts.append(Text(self.instruction(len(window.frames) if frames else 0)))
        return self._request(parts, temperature, max_tokens, repeat)

    def account_request(
        self, account: str, *, temperature: float, max_tokens: int, repeat: int
    ) -> Request:
        """Stage 3 of the two-stage pipeline: the task asked of a fused, text-only account."""
        parts: list[Part] = [
            Text(_ACCOUNT_INTRO.format(account=account)),
            Text(self.instruction(0)),
        ]
        return self._request(parts, temperature, max_tokens, repeat)

    def _request(
        self, parts: list[Part], temperature: float, max_tokens: int, repeat: int
    ) -> Request:
        return Request(
            turns=(Turn("user", tuple(parts)),),
            schema=self.schema(),
            schema_name=_SCHEMA_NAMES[self.name],
            temperature=temperature,
            max_tokens=max_tokens,
            repeat=repeat,
        )

    def parse(self, text: str) -> list[tuple[str, float]]:
        """Validate a reply; return (item, value) pairs in the long-form convention."""
        try:
            # orjson reads a reply ~4x faster than the stdlib, to the same strings and (after
            # float()) the same numbers, so a reply it reads and validates is accepted as is.
            return self._validate(orjson.loads(text))
        except (orjson.JSONDecodeError, InvalidReply):
            pass
        # Everything else is read by the stdlib, which also takes code fences, NaN and integers
        # beyond 64 bits: the reason shown to the model, and so the re-ask's cache key, stay
        # exactly what they always were.
        return self._validate(parse_json_reply(text))

    def _validate(self, data: Any) -> list[tuple[str, float]]:
        if self.name in ("ratings", "dimensions"):
            return self._parse_ratings(data)
        if self.name == "openset":
            return self._parse_openset(data)
        return self._parse_label(data)

    def _parse_ratings(self, data: Any) -> list[tuple[str, float]]:
        if not isinstance(data, dict):
            raise InvalidReply("expected a JSON object mapping each name to a number")
        lo, hi = self.scale  # type: ignore[misc]
        if data.keys() == self._item_set:
            # The usual reply: exactly the listed names. One pass, no name normalising.
            # (NaN fails both comparisons; the bounds are finite, so infinities fail too.)
            values = [data[item] for item in self.items]
            if all(type(v) in (int, float) and lo <= v <= hi for v in values):
                return list(zip(self.items, map(float, values), strict=True))
        canonical = self._canonical
        values: dict[str, float] = {}
        unknown = []
        for key, value in data.items():
            item = canonical.get(str(key).strip().casefold())
            if item is None:
                unknown.append(str(key))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidReply(f"the value for {item!r} must be a number, got {value!r}")
            if not (math.isfinite(value) and lo <= value <= hi):
                raise InvalidReply(
                    f"the value for {item!r} must be in [{_fmt(lo)}, {_fmt(hi)}], got {value!r}"
                )
            values[item] = float(value)
        if unknown:
            raise InvalidReply(f"unknown names {unknown}; use exactly the listed names")
        missing = [item for item in self.items if item not in values]
        if missing:
            raise InvalidReply(f"missing values for {missing}")
        return [(item, values[item]) for item in self.items]

    def _parse_openset(self, data: Any) -> list[tuple[str, float]]:
        words = data.get("emotions") if isinstance(data, dict) else None
        if not isinstance(words, list):
            raise InvalidReply('expected a JSON object {"emotions": [list of words]}')
        out: list[str] = []
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise InvalidReply(f"every emotion must be a non-empty string, got {word!r}")
            norm = " ".join(word.split()).lower()
            if norm not in out:
                out.append(norm)
        if not out:
            raise InvalidReply("the list of emotions is empty; name at least one")
        return [(word, 1.0) for word in out]

    def _parse_label(self, data: Any) -> list[tuple[str, float]]:
        label = data.get("label") if isinstance(data, dict) else None
        if not isinstance(label, str):
            raise InvalidReply('expected a JSON object {"label": "<one of the labels>"}')
        item = self._canonical.get(label.strip().casefold())
        if item is None:
            raise InvalidReply(f"{label!r} is not one of the labels {list(self.items)}")
        return [(item, 1.0)]


def make_task(
    name: str,
    *,
    items: str | Path | list[str] | tuple[str, ...] | None = None,
    scale: tuple[float, float] | None = None,
    template: str | None = None,
) -> Task:
    """Build a task; ``items`` default to C&K's 34 categories (its 14 dimensions for that task)."""
    if name not in TASK_NAMES:
        raise ValueError(f"task must be one of {', '.join(TASK_NAMES)}, got {name!r}")
    if name == "openset":
        if items is not None:
            raise ValueError("task 'openset' takes no emotions list; drop the emotions argument")
        resolved: tuple[str, ...] = ()
    elif items is None:
        resolved = CK_DIMENSIONS if name == "dimensions" else CK34
    else:
        resolved = load_items(items)
    return Task(name, resolved, scale, template)


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)
