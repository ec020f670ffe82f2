"""De-identify whole video files: blurred faces (H.264) and an anonymised voice (AAC), as MP4.

Every frame is searched for faces; a frame's blur covers its own detections and those of the
``carry`` frames before and after it, so a face the detector misses for a few frames stays
hidden. The voice is decoded at 16 kHz mono, anonymised with the McAdams coefficient of its
speaker, and encoded as AAC. With ``voice`` off, an AAC track is copied untouched.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from emoalign.deid.faces import (
    BlurResult,
    Box,
    ScaledDetector,
    blur_faces,
    build_detector,
    make_detector,
)
from emoalign.deid.settings import Deidentify
from emoalign.deid.voice import anonymise_int16
from emoalign.query.audio import AUDIO_RATE, NoAudio, decode_audio


@dataclass(frozen=True, slots=True)
class VideoSummary:
    """What :func:`deidentify_video` did to one video."""

    video: str
    frames: int
    frames_with_faces: int  # frames where the detector found a face
    frames_blurred: int  # frames with any blurred box (own detections or carried)
    whole_frames_blurred: int  # frames blurred whole because faces survived the verify rounds
    detector: str | None
    audio: str  # "anonymised" | "copied" | "re-encoded" | "none"
    alpha: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def frame_detector(settings: Deidentify) -> ScaledDetector:
    """The face detector ``settings`` ask for, searching at ``settings.detect_side`` pixels.

    One per thread: OpenCV detectors must not be shared between threads.
    """
    if threading.current_thread() is threading.main_thread():
        inner = make_detector(settings.resolved_detector)
    else:
        cached = getattr(_local, "detectors", None)
        if cached is None:
            cached = _local.detectors = {}
        name = settings.resolved_detector
        if name not in cached:
            cached[name] = build_detector(name)
        inner = cached[name]
    return ScaledDetector(inner, settings.detect_side)


_local = threading.local()


def _search(settings: Deidentify, rgb: np.ndarray) -> list[Box]:
    return frame_detector(settings)(rgb)


def _blur(settings: Deidentify, rgb: np.ndarray, own: list[Box], near: list[Box]) -> BlurResult:
    return blur_faces(
        rgb,
        frame_detector(settings),
        method=settings.blur,
        found=own,
        carried=near,  # type: ignore[arg-type]
    )


def deidentify_video(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    settings: Deidentify | None = None,
    *,
    speaker: str | None = None,
) -> VideoSummary:
    """Write a de-identified copy of ``source`` to ``target`` (MP4: H.264 and AAC).

    Parameters
    ----------
    source, target
        Input video; output ``.mp4`` path (written atomically).
    settings
        What to do (default :class:`Deidentify`: faces and voice).
    speaker
        Speaker id that seeds the McAdams coefficient (default: the file's stem), so that one
        person keeps one pseudo-voice across their videos.
    """
    settings = settings or Deidentify()
    src, dst = Path(source), Path(target)
    if not src.is_file():
        raise FileNotFoundError(f"source: no such video {str(src)!r}")
    if dst.suffix.lower() != ".mp4":
        raise ValueError(f"target must be an .mp4 path, got {str(dst)!r}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".mp4", dir=dst.parent)
    os.close(fd)
    try:
        summary = _write(src, Path(tmp), settings, speaker or src.stem)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return summary


def _write(src: Path, dst: Path, settings: Deidentify, speaker: str) -> VideoSummary:
    alpha = settings.alpha_of(speaker) if settings.voice else None
    voice: np.ndarray | None = None
    if settings.voice:
        try:
            voice = anonymise_int16(decode_audio(src), AUDIO_RATE, alpha)  # type: ignore[arg-type]
        except NoAudio:
            alpha = None
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        if not inp.streams.video:
            raise ValueError(f"source: {src.name} has no video stream")
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate or Fraction(25))
        vout.width, vout.height, vout.pix_fmt = (
            vin.codec_context.width,
            vin.codec_context.height,
            "yuv420p",
        )
        vout.time_base = vin.time_base
        # crf 18 is visually lossless; "veryfast" encodes ~4x faster than the default "medium"
        # for a slightly larger file, which matters next to the face searches.
        vout.options = {"crf": "18", "preset": "veryfast"}
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout = None
        audio_mode = "none"
        if voice is not None:
            aout = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
            audio_mode = "anonymised"
        elif ain is not None and not settings.voice and ain.codec_context.name == "aac":
            aout = out.add_stream_from_template(ain)
            audio_mode = "copied"
        elif ain is not None and not settings.voice:
            aout = out.add_stream("aac", rate=ain.rate, layout=ain.layout.name)
            audio_mode = "re-encoded"
        counts = _video_frames(inp, vin, out, vout, settings)
        if audio_mode == "anonymised":
            _encode_audio(out, aout, voice)  # type: ignore[arg-type]
        elif audio_mode == "copied":
            inp.seek(0)
            for packet in inp.demux(ain):
                if packet.dts is None:
                    continue
                packet.stream = aout
                out.mux(packet)
        elif audio_mode == "re-encoded":
            inp.seek(0)
            for frame in inp.decode(ain):
                frame.pts = None
                for packet in aout.encode(frame):  # type: ignore[union-attr]
                    out.mux(packet)
            for packet in aout.encode(None):  # type: ignore[union-attr]
                out.mux(packet)
    return VideoSummary(
        video=src.name,
        frames=counts[0],
        frames_with_faces=counts[1],
        frames_blurred=counts[2],
        whole_frames_blurred=counts[3],
        detector=settings.resolved_detector if settings.faces else None,
        audio=audio_mode,
        alpha=alpha,
    )


def _video_frames(
    inp: av.container.InputContainer,
    vin: av.VideoStream,
    out: av.container.OutputContainer,
    vout: av.VideoStream,
    settings: Deidentify,
) -> tuple[int, int, int, int]:
    faces = settings.faces
    carry = settings.carry
    # OpenCV lets go of the GIL while it searches and blurs: frames are searched and blurred in
    # a pool, one thread per core, and written in order.
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    # Frames wait here until the `carry` frames after them have been searched.
    pending: deque[tuple[av.VideoFrame, np.ndarray, Future[list[Box]] | None]] = deque()
    before: deque[list[Box]] = deque(maxlen=carry)  # detections of frames already handed on
    blurring: deque[tuple[av.VideoFrame, np.ndarray, Future[BlurResult] | None]] = deque()
    counts = [0, 0, 0, 0]
    limit = 2 * (os.cpu_count() or 1)

    def write_one() -> None:
        frame, rgb, job = blurring.popleft()
        if job is not None:
            result = job.result()
            counts[1] += bool(result.faces)
            counts[2] += bool(result.boxes)
            counts[3] += result.whole_frame
        counts[0] += 1
        new = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        new.pts, new.time_base = frame.pts, frame.time_base
        for packet in vout.encode(new):
            out.mux(packet)

    def hand_on() -> None:
        frame, rgb, found = pending.popleft()
        job = None
        if found is not None:
            own = found.result()
            after = [b for p in list(pending)[:carry] if p[2] is not None for b in p[2].result()]
            near = [b for boxes in before for b in boxes] + after
            job = pool.submit(_blur, settings, rgb, own, near)
            before.append(own)
        blurring.append((frame, rgb, job))
        while len(blurring) > limit:
            write_one()

    try:
        for frame in inp.decode(vin):
            rgb = frame.to_ndarray(format="rgb24")
            found = pool.submit(_search, settings, rgb) if faces else None
            pending.append((frame, rgb, found))
            if len(pending) > carry:
                hand_on()
        while pending:
            hand_on()
        while blurring:
            write_one()
    finally:
        pool.shutdown(cancel_futures=True)
    for packet in vout.encode(None):
        out.mux(packet)
    return counts[0], counts[1], counts[2], counts[3]


def _encode_audio(
    out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray
) -> None:
    block = 1024 * 16
    for start in range(0, len(samples), block):
        chunk = np.ascontiguousarray(samples[start : start + block]).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
