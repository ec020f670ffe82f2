"""Uniform frame sampling with PyAV, JPEG encoding with Pillow, and transcript sidecars.

A video becomes a ``VideoPlan``: one or more time windows, each with N frames taken at the
centres of N equal slices of the window and, when asked, the window's audio as a 16 kHz mono WAV.
Frames and clips carry the SHA-256 of their bytes; the digests (not the pixels or samples) enter
the cache key, and a plan without media can be stored so that a replay from the cache never
decodes a video again. With ``Sampling.deidentify`` faces are blurred and the voice anonymised
before anything is encoded, so the digests (and the bytes sent) are those of the de-identified
media only.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
from PIL import Image

from emoalign.deid.settings import Deidentify
from emoalign.query.audio import AUDIO_RATE, NoAudio, cut, decode_audio, wav_bytes

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg"})

# Seeking costs a keyframe lookup and a partial GOP decode; below this gap decoding straight
# through is cheaper.
_SEEK_GAP_S = 4.0
# swscale's default is one thread per core for every conversion: for the few small frames of one
# video, starting those threads costs ~10x the conversion itself, and videos are already decoded
# in parallel. One thread gives the same pixels.
_SCALE_THREADS = 1
# Bumped whenever sampling or encoding changes, so stored plans from older code are not reused.
_PLAN_VERSION = 1


class VideoError(Exception):
    """A video that cannot be opened or decoded; reported for that video, the run goes on."""


@dataclass(frozen=True, slots=True)
class Sampling:
    """How frames are taken from a video.

    ``window_seconds`` splits videos longer than that into consecutive windows (each sampled with
    ``frames`` frames) so that long videos are judged piecewise and aggregated later. ``audio``
    also extracts each window's audio; ``deidentify`` blurs faces and anonymises the voice of
    everything extracted (see :mod:`emoalign.deid`).
    """

    frames: int = 8
    max_side: int = 512
    jpeg_quality: int = 85
    window_seconds: float | None = None
    audio: bool = False
    deidentify: Deidentify | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.frames, int) or not 1 <= self.frames <= 256:
            raise ValueError(f"frames must be an integer in 1..256, got {self.frames!r}")
        if not isinstance(self.max_side, int) or self.max_side < 16:
            raise ValueError(f"max_side must be an integer >= 16 pixels, got {self.max_side!r}")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError(f"jpeg_quality must be in 1..95, got {self.jpeg_quality!r}")
        if self.window_seconds is not None and not self.window_seconds > 0:
            raise ValueError(
                f"window_seconds must be positive or None, got {self.window_seconds!r}"
            )
        if self.deidentify is not None and not isinstance(self.deidentify, Deidentify):
            raise TypeError(
                "deidentify must be an emoalign.deid.Deidentify or None, not "
                f"{type(self.deidentify).__name__}"
            )


@dataclass(frozen=True, slots=True)
class Frame:
    time: float  # seconds from the start of the video
    digest: str  # sha256 hex of the JPEG bytes
    jpeg: bytes | None = None  # absent in plans restored from the cache


@dataclass(frozen=True, slots=True)
class Clip:
    digest: str  # sha256 hex of the WAV bytes
    wav: bytes | None = None  # absent in plans restored from the cache


@dataclass(frozen=True, slots=True)
class Window:
    index: int
    start: float
    end: float
    frames: tuple[Frame, ...]
    audio: Clip | None = None  # None when audio was not asked for or the video has none

    def digests(self) -> list[str]:
        """Digests of every medium this window can send."""
        found = [f.digest for f in self.frames]
        return [*found, self.audio.digest] if self.audio is not None else found


@dataclass(frozen=True, slots=True)
class VideoPlan:
    duration: float
    windows: tuple[Window, ...]
    # Audio was asked for, but the video has no audio stream.
    no_audio: bool = False

    def images(self) -> dict[str, bytes]:
        """The bytes of every frame and audio clip held, by digest."""
        media = {f.digest: f.jpeg for w in self.windows for f in w.frames if f.jpeg is not None}
        for w in self.windows:
            if w.audio is not None and w.audio.wav is not None:
                media[w.audio.digest] = w.audio.wav
        return media

    def to_json(self) -> str:
        windows = [
            [w.start, w.end, [[f.time, f.digest] for f in w.frames]]
            + ([w.audio.digest] if w.audio is not None else [])
            for w in self.windows
        ]
        doc: dict[str, object] = {"duration": self.duration, "windows": windows}
        if self.no_audio:
            doc["no_audio"] = True
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> VideoPlan:
        data = json.loads(text)
        windows = tuple(
            Window(
                i,
                start,
                end,
                tuple(Frame(t, d) for t, d in frames),
                Clip(audio[0]) if audio else None,
            )
            for i, (start, end, frames, *audio) in enumerate(data["windows"])
        )
        return cls(data["duration"], windows, bool(data.get("no_audio", False)))


def plan_key(path: Path, sampling: Sampling) -> str:
    """Identify a video file and sampling without reading the file (path, size, mtime)."""
    st = path.stat()
    ident = [_PLAN_VERSION, str(path.resolve()), st.st_size, st.st_mtime_ns]
    ident += [sampling.frames, sampling.max_side, sampling.jpeg_quality, sampling.window_seconds]
    # Appended only when used, so plans stored before audio and de-identification still hit.
    if sampling.audio or sampling.deidentify is not None:
        deid = sampling.deidentify.key() if sampling.deidentify is not None else None
        ident += [sampling.audio, deid]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()


def window_bounds(duration: float, window_seconds: float | None) -> list[tuple[float, float]]:
    if window_seconds is None or duration <= window_seconds:
        return [(0.0, duration)]
    n = math.ceil(duration / window_seconds)
    return [(k * window_seconds, min((k + 1) * window_seconds, duration)) for k in range(n)]


def sample_video(path: Path, sampling: Sampling, *, speaker: str | None = None) -> VideoPlan:
    """Decode ``path`` into a plan with JPEG (and WAV) bytes; raise ``VideoError`` if unreadable.

    ``speaker`` seeds the voice anonymisation (default: the file's stem).
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path.name}: no video stream")
            stream = container.streams.video[0]
            duration = _duration(container, stream)
            bounds = window_bounds(duration, sampling.window_seconds)
            targets = [
                start + (i + 0.5) * (end - start) / sampling.frames
                for start, end in bounds
                for i in range(sampling.frames)
            ]
            grabbed = _grab(container, stream, targets)
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path.name}: cannot decode ({exc})") from None
    deid = sampling.deidentify
    if deid is not None and deid.faces:
        frames = [_encode_blurred(img, t, sampling, deid) for t, img in grabbed]
    else:
        frames = [_encode(img, t, sampling) for t, img in grabbed]
    clips: list[Clip | None] = [None] * len(bounds)
    no_audio = False
    if sampling.audio:
        try:
            clips = list(_clips(path, bounds, deid, speaker or path.stem))
        except NoAudio:
            no_audio = True
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(f"{path.name}: cannot decode the audio ({exc})") from None
    n = sampling.frames
    windows = tuple(
        Window(k, start, end, tuple(frames[k * n : (k + 1) * n]), clips[k])
        for k, (start, end) in enumerate(bounds)
    )
    return VideoPlan(duration, windows, no_audio)


def _encode_blurred(img: Image.Image, time: float, sampling: Sampling, deid: Deidentify) -> Frame:
    """The frame with every face blurred at full resolution, then encoded, then checked.

    The check runs on the JPEG as the model will decode it: lossy coding can turn a blurred
    patch back into something a detector calls a face. Such a frame is sent blurred whole, so
    no frame sent holds a face the detector can find.
    """
    from emoalign.deid.faces import blur_faces, obscure
    from emoalign.deid.video import frame_detector

    detector = frame_detector(deid)
    rgb = np.array(img.convert("RGB"))  # a writable copy
    blur_faces(rgb, detector, method=deid.blur)  # type: ignore[arg-type]
    frame = _encode(Image.fromarray(rgb), time, sampling)
    assert frame.jpeg is not None
    if detector(np.asarray(Image.open(io.BytesIO(frame.jpeg)).convert("RGB"))):
        obscure(rgb, (0, 0, rgb.shape[1], rgb.shape[0]), deid.blur)  # type: ignore[arg-type]
        frame = _encode(Image.fromarray(rgb), time, sampling)
    return frame


def _clips(
    path: Path, bounds: list[tuple[float, float]], deid: Deidentify | None, speaker: str
) -> list[Clip]:
    samples = decode_audio(path)
    if deid is not None and deid.voice:
        from emoalign.deid.voice import anonymise_int16

        # The whole track at once: one pseudo-voice per speaker, no seams at window edges.
        samples = anonymise_int16(samples, AUDIO_RATE, deid.alpha_of(speaker))
    out = []
    for start, end in bounds:
        data = wav_bytes(cut(samples, start, end))
        out.append(Clip(hashlib.sha256(data).hexdigest(), data))
    return out


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    # Some streams (raw elementary streams, broken headers) carry no duration: count by decoding.
    last = 0.0
    for frame in container.decode(stream):
        if frame.time is not None:
            last = frame.time
    container.seek(0)
    if last <= 0:
        raise VideoError("no timestamps in the video stream")
    return last


def _grab(
    container: av.container.InputContainer, stream: av.VideoStream, targets: list[float]
) -> list[tuple[float, Image.Image]]:
    """For each target time (ascending), the decoded frame nearest to it."""
    offset = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    out: list[tuple[float, Image.Image]] = []
    frames = container.decode(stream)
    prev = None  # last decoded frame, as (relative time, av frame)
    for target in targets:
        position = prev[0] if prev else 0.0
        if target - position > _SEEK_GAP_S:
            container.seek(int((target + offset) / stream.time_base), stream=stream)
            frames = container.decode(stream)
            prev = None
        if prev is not None and prev[0] >= target:
            out.append((prev[0], prev[1].to_image(threads=_SCALE_THREADS)))
            continue
        chosen = None
        for frame in frames:
            if frame.time is None:
                continue
            current = (frame.time - offset, frame)
            if current[0] >= target:
                closer_prev = prev is not None and target - prev[0] < current[0] - target
                chosen = prev if closer_prev else current
                prev = current
                break
            prev = current
        if chosen is None:  # ran past the last frame: the video ends before the target
            chosen = prev
        if chosen is None:
            raise VideoError("no decodable frames")
        out.append((chosen[0], chosen[1].to_image(threads=_SCALE_THREADS)))
    return out


def _encode(img: Image.Image, time: float, sampling: Sampling) -> Frame:
    if img.mode != "RGB":  # frames arrive as RGB; converting one anyway copies it (~35 µs)
        img = img.convert("RGB")
    if max(img.size) > sampling.max_side:
        img.thumbnail((sampling.max_side, sampling.max_side), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=sampling.jpeg_quality)
    data = buf.getvalue()
    return Frame(round(time, 3), hashlib.sha256(data).hexdigest(), data)


def strip_pixels(plan: VideoPlan) -> VideoPlan:
    windows = tuple(
        replace(w, frames=tuple(replace(f, jpeg=None) for f in w.frames)) for w in plan.windows
    )
    return replace(plan, windows=windows)


# SRT cue times (hours always, comma or dot) and WebVTT ones (hours optional, dot).
_CUE_TIME = re.compile(
    r"(?:(\d+):)?(\d\d):(\d\d)[,.](\d{1,3})\s*-->\s*(?:(\d+):)?(\d\d):(\d\d)[,.](\d{1,3})"
)
_TIMED_SUFFIXES = (".srt", ".vtt")
# WebVTT voice and styling tags (<v Speaker>, <i>, <00:00:01.000>) inside cue text.
_VTT_TAG = re.compile(r"<[^>]*>")


def find_transcript(path: Path) -> Path | None:
    """The sidecar next to the video: ``NAME.srt`` or ``NAME.vtt`` (timed) before ``NAME.txt``."""
    for suffix in (*_TIMED_SUFFIXES, ".txt"):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def _seconds(hours: str | None, minutes: str, secs: str, fraction: str) -> float:
    return (
        int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(fraction) / 10 ** len(fraction)
    )


def transcript_text(sidecar: Path, start: float, end: float) -> str:
    """Text of the sidecar; for subtitles (SRT, WebVTT) only cues overlapping ``[start, end]``."""
    text = sidecar.read_text(encoding="utf-8-sig", errors="replace")
    if sidecar.suffix.lower() not in _TIMED_SUFFIXES:
        return text.strip()
    vtt = sidecar.suffix.lower() == ".vtt"
    lines = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        match = _CUE_TIME.search(block)
        if match is None:  # SRT numbering alone, or WebVTT's header, NOTE and STYLE blocks
            continue
        g = match.groups()
        t0, t1 = _seconds(*g[:4]), _seconds(*g[4:])
        if t1 < start or t0 > end:
            continue
        cue = block[match.end() :]
        if vtt:
            # Cue settings ("align:start") follow the times on their line; the text is below.
            rest = cue.split("\n", 1)
            cue = _VTT_TAG.sub("", rest[1]) if len(rest) > 1 else ""
        body = " ".join(ln.strip() for ln in cue.splitlines() if ln.strip())
        if body:
            lines.append(f"[{t0:.1f}-{t1:.1f} s] {body}")
    return "\n".join(lines)


def list_videos(inputs: list[str | os.PathLike[str]]) -> dict[str, Path]:
    """Map video id (file stem) to path, expanding directories (recursively, sorted)."""
    found: dict[str, Path] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            paths = [path]
        else:
            raise ValueError(f"videos: {str(path)!r} is neither a file nor a directory")
        for p in paths:
            if p.stem in found and found[p.stem] != p:
                raise ValueError(
                    f"videos: two files share the id {p.stem!r} ({found[p.stem]} and {p}); "
                    "pass a mapping of unique ids to paths instead"
                )
            found[p.stem] = p
    if not found:
        raise ValueError(f"videos: no video files found in {[str(i) for i in inputs]}")
    return found
