"""The modalities a query can use, and non-facial body language (NFBL) cue sidecars.

``video`` (frames), ``audio`` (the window's WAV), ``text`` (the transcript sidecar) and ``nfbl``
(body-language cues: a ``NAME.nfbl.csv`` / ``NAME.nfbl.tsv`` sidecar of ``start,end,cue`` rows in
seconds, or, in the two-stage pipeline, a description asked of the video model).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

MODALITIES = ("video", "audio", "text", "nfbl")
# The ablation grid of MER-OV / AffectGPT: every non-empty subset of video, audio and text.
ABLATION_SUBSETS: tuple[tuple[str, ...], ...] = (
    ("video",),
    ("audio",),
    ("text",),
    ("video", "audio"),
    ("video", "text"),
    ("audio", "text"),
    ("video", "audio", "text"),
)
_SHORT = {"video": "V", "audio": "A", "text": "T", "nfbl": "N"}


def parse_modalities(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"video,audio"`` or ``["video", "audio"]`` as a tuple in canonical order.

    Raises
    ------
    ValueError
        An unknown or repeated modality, or none at all.
    """
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in MODALITIES]
    if unknown:
        raise ValueError(
            f"modalities: unknown {unknown}; choose from {', '.join(MODALITIES)} "
            "(comma-separated, e.g. video,audio,text)"
        )
    if not names:
        raise ValueError("modalities: give at least one of " + ", ".join(MODALITIES))
    if len(set(names)) != len(names):
        raise ValueError(f"modalities: each modality once, got {names}")
    return tuple(m for m in MODALITIES if m in names)


def short_name(modalities: Sequence[str]) -> str:
    """``("video", "audio")`` -> ``"VA"``, the names the MER-OV tables use."""
    return "".join(_SHORT[m] for m in modalities)


def find_nfbl(path: Path) -> Path | None:
    """The NFBL sidecar next to the video (``NAME.nfbl.csv`` or ``NAME.nfbl.tsv``), if any."""
    for suffix in (".nfbl.csv", ".nfbl.tsv"):
        candidate = path.with_name(path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def nfbl_text(sidecar: Path, start: float, end: float) -> str:
    """The cues of ``sidecar`` overlapping ``[start, end]``, one ``[t0-t1 s] cue`` per line.

    Raises
    ------
    ValueError
        A row is not ``start,end,cue`` with numeric times (the message names file and row).
    OSError
        The file cannot be read.
    """
    try:
        text = sidecar.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"nfbl: {sidecar.name} is not UTF-8 text ({exc.reason})") from None
    delimiter = "\t" if sidecar.suffix.lower() == ".tsv" else ","
    lines = []
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if not row or not "".join(row).strip():
            continue
        if number == 1 and row[0].strip().lower() == "start":
            continue  # a header row
        if len(row) < 3:
            raise ValueError(
                f"nfbl: {sidecar.name}, row {number}: expected start,end,cue, got {row!r}"
            )
        try:
            t0, t1 = float(row[0]), float(row[1])
        except ValueError:
            raise ValueError(
                f"nfbl: {sidecar.name}, row {number}: start and end must be seconds, "
                f"got {row[0]!r} and {row[1]!r}"
            ) from None
        if t1 < t0:
            raise ValueError(f"nfbl: {sidecar.name}, row {number}: end {t1} is before start {t0}")
        cue = delimiter.join(row[2:]).strip()
        if cue and t1 >= start and t0 <= end:
            lines.append(f"[{t0:.1f}-{t1:.1f} s] {cue}")
    return "\n".join(lines)
