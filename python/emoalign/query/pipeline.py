"""The two-stage pipeline: prompts, free-text requests, and the table of intermediate texts.

Stage 1 describes the emotional clues of one window in one modality; stage 2 fuses a window's
descriptions into one account and, for videos with several windows, the windows' accounts (with
their times) into one account of the video; stage 3 asks the task of that account (see
:meth:`emoalign.query.tasks.Task.account_request`). Stage 1 and 2 replies are free text (no JSON
schema: audio models often lack structured output). The default prompts were written for this
project in the style of MER-OV (AffectGPT): ask for clues, then a reasoned emotional state,
ignoring who the person is.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl

from emoalign.query.output import write_parquet
from emoalign.query.request import Audio, Image, Part, Request, Text, Turn
from emoalign.query.tasks import InvalidReply
from emoalign.query.video import Window

_EXPERT = "You are an expert in the psychology of emotion."
_NO_IDENTITY = "Do not try to recognise anyone; who the person is does not matter."


@dataclass(frozen=True, slots=True)
class Prompts:
    """Templates of the two-stage pipeline; replace any of them (``str.format`` syntax).

    ``fuse_window`` must contain ``{clues}``, ``fuse_video`` ``{accounts}``; the describe
    templates take no placeholders (the media or text they are about come first).
    """

    describe_video: str = (
        f"{_EXPERT} The images above are frames of a video, in order. Describe the clues to "
        "the emotional state of the main person: facial expressions, gaze, posture, gestures "
        "and body movements, the setting, and how they change over time. Then state, with your "
        f"reasons, the emotional state these clues suggest. {_NO_IDENTITY}"
    )
    describe_audio: str = (
        f"{_EXPERT} Listen to the audio above. Describe the acoustic clues to the speaker's "
        "emotional state: tone of voice, pitch and its movement, loudness, speaking rate, "
        "pauses, laughter, sighs or crying, and background sounds. Then state, with your "
        f"reasons, the emotional state these clues suggest. {_NO_IDENTITY}"
    )
    describe_text: str = (
        f"{_EXPERT} Above is what is said in a video. Describe the clues to the speaker's "
        "emotional state in the words alone: what they say, how they phrase it, and what it "
        "implies. Then state, with your reasons, the emotional state these clues suggest."
    )
    describe_nfbl: str = (
        f"{_EXPERT} The images above are frames of a video, in order. Describe only the "
        "non-facial body language of the main person: self-manipulation (touching the face, "
        "hair or body), object manipulation, self-protective postures (crossed arms, hunched "
        "shoulders), posture shifts, gestures and fidgeting. Then state, with your reasons, the "
        f"emotional state these cues suggest. Ignore the face. {_NO_IDENTITY}"
    )
    fuse_window: str = (
        f"{_EXPERT} Separate observers each described one source of clues to the emotional "
        "state of a person in a part of a video. Some clues may be missing, weak, wrong or in "
        "conflict. Decide which of them reveal the emotional state and why, and integrate them "
        "into one account of the person's emotional state in this part of the video. End with "
        "a short summary of that state.\n\n{clues}"
    )
    fuse_video: str = (
        f"{_EXPERT} Below are accounts of the emotional state of a person in consecutive "
        "parts of one video, with their times. Integrate them into one account of the "
        "person's overall emotional state across the whole video, noting how it changes and "
        "what dominates. End with a short summary of the overall state.\n\n{accounts}"
    )

    def __post_init__(self) -> None:
        required = {"fuse_window": {"clues"}, "fuse_video": {"accounts"}}
        for f in fields(self):
            template = getattr(self, f.name)
            if not isinstance(template, str) or not template.strip():
                raise ValueError(f"prompts: {f.name} must be a non-empty template string")
            try:
                used = {n for _, n, _, _ in string.Formatter().parse(template) if n is not None}
            except ValueError as exc:
                raise ValueError(f"prompts: {f.name} is not a valid template ({exc})") from None
            allowed = required.get(f.name, set())
            if used != allowed:
                need = ", ".join("{" + n + "}" for n in sorted(allowed)) or "no placeholders"
                raise ValueError(
                    f"prompts: {f.name} must use {need}, got {sorted(used)} "
                    "(double literal braces: {{ }})"
                )

    @classmethod
    def from_mapping(cls, data: object) -> Prompts:
        """Prompts from a mapping of field name to template (e.g. a JSON file's object)."""
        if not isinstance(data, dict):
            raise ValueError("prompts: expected a JSON object mapping prompt names to templates")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"prompts: unknown names {unknown}; known: {sorted(known)}")
        return cls(**data)


_MODALITY_TITLES = {
    "video": "Visual clues (from the frames)",
    "audio": "Acoustic clues (from the audio)",
    "text": "Clues in the words (from the transcript)",
    "nfbl": "Non-facial body language",
}


def parse_text(text: str) -> str:
    """Validate a free-text reply: anything but an empty one."""
    stripped = text.strip()
    if not stripped:
        raise InvalidReply("the reply is empty")
    return stripped


def _where(window: Window, n_windows: int) -> str:
    if n_windows == 1:
        return "The video"
    span = f"{window.start:.1f}-{window.end:.1f} s"
    return f"Part {window.index + 1} of {n_windows} of the video ({span})"


def _free(parts: list[Part], temperature: float, max_tokens: int) -> Request:
    return Request(
        turns=(Turn("user", tuple(parts)),),
        schema=None,
        schema_name="free_text",
        temperature=temperature,
        max_tokens=max_tokens,
    )


def describe_request(
    modality: str,
    window: Window,
    n_windows: int,
    prompts: Prompts,
    *,
    transcript: str | None = None,
    temperature: float,
    max_tokens: int,
) -> Request:
    """Stage 1: the clues of one modality in one window (frames, audio clip or transcript)."""
    parts: list[Part] = [Text(f"{_where(window, n_windows)}.")]
    if modality in ("video", "nfbl"):
        for frame in window.frames:
            parts += [Text(f"t = {frame.time:.2f} s"), Image(frame.digest)]
        template = prompts.describe_video if modality == "video" else prompts.describe_nfbl
    elif modality == "audio":
        if window.audio is None:
            raise ValueError("describe_request: the window has no audio clip")
        parts.append(Audio(window.audio.digest))
        template = prompts.describe_audio
    elif modality == "text":
        parts.append(Text(f"Transcript:\n{transcript}"))
        template = prompts.describe_text
    else:
        raise ValueError(f"describe_request: unknown modality {modality!r}")
    parts.append(Text(template))
    return _free(parts, temperature, max_tokens)


def fuse_window_request(
    descriptions: dict[str, str],
    window: Window,
    n_windows: int,
    prompts: Prompts,
    *,
    temperature: float,
    max_tokens: int,
) -> Request:
    """Stage 2: one window's descriptions (by modality) fused into one account."""
    clues = "\n\n".join(f"{_MODALITY_TITLES[m]}:\n{text}" for m, text in descriptions.items())
    head = Text(f"{_where(window, n_windows)}.")
    return _free([head, Text(prompts.fuse_window.format(clues=clues))], temperature, max_tokens)


def fuse_video_request(
    accounts: list[tuple[Window, str]], prompts: Prompts, *, temperature: float, max_tokens: int
) -> Request:
    """Stage 2 for long videos: the windows' accounts, with their times, fused into one."""
    text = "\n\n".join(f"[{w.start:.1f}-{w.end:.1f} s]\n{account}" for w, account in accounts)
    return _free([Text(prompts.fuse_video.format(accounts=text))], temperature, max_tokens)


DESCRIPTION_SCHEMA: dict[str, pl.DataType] = {
    "video_id": pl.String(),
    "stage": pl.String(),  # describe | fuse_window | fuse_video
    "window": pl.Int64(),  # null for the video-level account
    "start": pl.Float64(),
    "end": pl.Float64(),
    "modality": pl.String(),  # for describe; null for fusion
    "model": pl.String(),
    "status": pl.String(),  # ok | invalid | error | sidecar
    "text": pl.String(),
    "error": pl.String(),
}


class Descriptions:
    """The intermediate texts of a two-stage run, for ``--descriptions FILE.parquet``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(
        self,
        video_id: str,
        stage: str,
        window: Window | None,
        modality: str | None,
        model: str | None,
        status: str,
        text: str | None,
        error: str | None = None,
        span: tuple[float, float] | None = None,
    ) -> None:
        start, end = (window.start, window.end) if window is not None else (span or (None, None))
        self.rows.append(
            {
                "video_id": video_id,
                "stage": stage,
                "window": window.index if window is not None else None,
                "start": start,
                "end": end,
                "modality": modality,
                "model": model,
                "status": status,
                "text": text,
                "error": error,
            }
        )

    def frame(self) -> pl.DataFrame:
        order = {"describe": 0, "fuse_window": 1, "fuse_video": 2}
        df = pl.DataFrame(self.rows, schema=DESCRIPTION_SCHEMA)
        return (
            df.with_columns(pl.col("stage").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
            .sort(["video_id", "_o", "window", "modality"], nulls_last=True, maintain_order=True)
            .drop("_o")
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        if Path(path).suffix.lower() != ".parquet":
            raise ValueError(f"descriptions must be a .parquet path, got {str(path)!r}")
        return write_parquet(self.frame(), path)
