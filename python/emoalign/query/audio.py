"""Audio tracks as 16 kHz mono 16-bit PCM, cut per window and packed as WAV bytes.

16 kHz mono is what speech models (Whisper, Qwen-Audio, SALMONN, Gemini's audio tokens) work at
internally, so sending more costs bandwidth and tokens for nothing. The whole track is decoded
once per video and cut by sample index, so windows tile the track without gaps or overlaps.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 16_000
AUDIO_MIME = "audio/wav"


class NoAudio(Exception):
    """The video has no audio stream; reported for the modalities that need one."""


def decode_audio(path: Path) -> np.ndarray:
    """The first audio stream of ``path`` as int16 samples at 16 kHz mono.

    Sample 0 is the start of the video stream (or of the file when there is none): an audio
    stream that starts later is padded with silence, one that starts earlier is trimmed, so that
    sample ``round(t * 16000)`` is heard at video time ``t``.

    Raises
    ------
    NoAudio
        The file has no audio stream.
    av.FFmpegError, OSError
        The file cannot be read.
    """
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise NoAudio(f"{path.name}: no audio stream")
        stream = container.streams.audio[0]
        video = container.streams.video[0] if container.streams.video else None
        origin = 0.0
        if video is not None and video.start_time is not None and video.time_base is not None:
            origin = float(video.start_time * video.time_base)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        for frame in container.decode(stream):
            if first_time is None and frame.time is not None:
                first_time = frame.time
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    samples = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
    shift = round(((first_time or 0.0) - origin) * AUDIO_RATE)
    if shift > 0:
        samples = np.concatenate([np.zeros(shift, np.int16), samples])
    elif shift < 0:
        samples = samples[-shift:]
    return samples


def cut(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    """The samples of ``[start, end)`` seconds (shorter at the end of the track)."""
    return samples[round(start * AUDIO_RATE) : round(end * AUDIO_RATE)]


def wav_bytes(samples: np.ndarray, rate: int = AUDIO_RATE) -> bytes:
    """A RIFF WAV file (16-bit PCM, mono) holding ``samples``."""
    pcm = np.ascontiguousarray(samples, dtype="<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples (int16, mono) and rate of WAV bytes written by :func:`wav_bytes`."""
    with wave.open(io.BytesIO(data), "rb") as src:
        if src.getnchannels() != 1 or src.getsampwidth() != 2:
            raise ValueError("expected a 16-bit mono WAV")
        return np.frombuffer(src.readframes(src.getnframes()), dtype="<i2"), src.getframerate()
