"""Media for the de-identification and audio tests: a moving real face, vowels, real speech."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from scipy.signal import lfilter

RATE = 16_000
# The astronaut's face in skimage.data.astronaut() (512 x 512), as the union of what Haar and
# CenterFace find there: x, y, width, height.
FACE = (177, 58, 93, 119)
CLIP_SIZE = (320, 240)


def clip_origin(i: int) -> tuple[int, int]:
    """Top-left corner (x, y) in the astronaut image of frame ``i``'s crop: the face drifts."""
    return 100 + 2 * i, 20 + i


def face_box(i: int) -> tuple[int, int, int, int]:
    """The known face box in frame ``i`` of :func:`astronaut_clip`."""
    ox, oy = clip_origin(i)
    return FACE[0] - ox, FACE[1] - oy, FACE[2], FACE[3]


def astronaut_clip(path: Path, *, frames: int = 12, fps: int = 10, audio: bool = True) -> Path:
    """H.264 clip of the astronaut's face, shifted a little each frame, with a 220 Hz tone."""
    from skimage.data import astronaut

    img = astronaut()
    width, height = CLIP_SIZE
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=RATE, layout="mono") if audio else None
        for i in range(frames):
            x, y = clip_origin(i)
            crop = np.ascontiguousarray(img[y : y + height, x : x + width])
            frame = av.VideoFrame.from_ndarray(crop, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            t = np.arange(round(RATE * frames / fps)) / RATE
            tone = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
            block = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
            block.sample_rate, block.pts, block.time_base = RATE, 0, Fraction(1, RATE)
            for packet in sound.encode(block):
                out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def vowel(
    formants: tuple[float, ...] = (700.0, 1220.0, 2600.0),
    *,
    f0: float = 125.0,
    seconds: float = 1.0,
) -> np.ndarray:
    """A glottal pulse train at ``f0`` through two-pole resonators at ``formants`` (80-120 Hz)."""
    n = round(RATE * seconds)
    pulses = np.zeros(n)
    pulses[:: round(RATE / f0)] = 1.0
    a = np.array([1.0])
    for f, bandwidth in zip(formants, (80.0, 90.0, 120.0), strict=False):
        r = np.exp(-np.pi * bandwidth / RATE)
        a = np.convolve(a, [1.0, -2 * r * np.cos(2 * np.pi * f / RATE), r * r])
    return lfilter([1.0], a, pulses)


def spoken(path: Path, text: str = "I can't believe we won the final today, I'm so happy.") -> Path:
    """``text`` spoken by espeak-ng to a WAV (installed by scripts/test.sh)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (scripts/test.sh installs it)")
    subprocess.run([exe, "-w", str(path), text], check=True, capture_output=True)
    return path


def mux_audio(path: Path, samples: np.ndarray, rate: int, *, seconds: float) -> Path:
    """A video of ``seconds`` of grey frames carrying ``samples`` (int16 mono) as AAC."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("aac", rate=rate, layout="mono")
        for i in range(round(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        block = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        block.sample_rate, block.pts, block.time_base = rate, 0, Fraction(1, rate)
        for packet in sound.encode(block):
            out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return path
