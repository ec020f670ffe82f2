"""McAdams voice anonymisation on synthetic vowels with known formants, and on real speech."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from deid_media import RATE, mux_audio, spoken, vowel
from emoalign.deid import alpha_for, mcadams
from emoalign.deid.voice import _lpc, anonymise_int16
from emoalign.query.audio import decode_audio, read_wav, wav_bytes

FORMANTS = (700.0, 1220.0, 2600.0)


def formants(x: np.ndarray, rate: int = RATE, order: int = 20) -> list[float]:
    """Resonances of an order-20 LPC fit of the whole (windowed) signal, sharp ones only."""
    core = x[rate // 8 : -rate // 8]
    a = _lpc(core * np.hanning(len(core)), order)
    assert a is not None
    poles = np.roots(a)
    poles = poles[poles.imag > 0]
    freqs = np.angle(poles) * rate / (2 * np.pi)
    bandwidths = -np.log(np.abs(poles)) * rate / np.pi
    return sorted(float(f) for f, b in zip(freqs, bandwidths, strict=True) if b < 400 and f > 90)


def f0(x: np.ndarray, rate: int = RATE) -> float:
    """Pitch by the autocorrelation peak between 60 and 400 Hz."""
    core = x[rate // 8 : -rate // 8]
    r = np.correlate(core, core, "full")[len(core) - 1 :]
    lo, hi = rate // 400, rate // 60
    return rate / (lo + int(np.argmax(r[lo:hi])))


def predicted(freq: float, alpha: float) -> float:
    theta = 2 * np.pi * freq / RATE
    return theta**alpha * RATE / (2 * np.pi)


def test_alpha_one_reconstructs() -> None:
    x = vowel(FORMANTS)
    y = mcadams(x, RATE, 1.0)
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert snr >= 40.0


def test_alpha_moves_formants_as_predicted() -> None:
    x = vowel(FORMANTS)
    y = mcadams(x, RATE, 0.8)
    before, after = formants(x), formants(y)
    assert before[:2] == pytest.approx(FORMANTS[:2], rel=0.03)
    for freq, moved in zip(FORMANTS[:2], after[:2], strict=True):
        assert moved == pytest.approx(predicted(freq, 0.8), rel=0.05)
        assert moved > freq * 1.1  # they really moved (up, for alpha < 1)
    assert len(y) == len(x)
    assert not np.isnan(y).any()
    assert f0(y) == pytest.approx(f0(x), rel=0.02)
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-9)
    assert np.array_equal(y, mcadams(x, RATE, 0.8))


def test_alpha_is_seeded_per_speaker() -> None:
    a = alpha_for("speaker-1")
    assert 0.5 <= a <= 0.9
    assert alpha_for("speaker-1") == a
    assert alpha_for("speaker-2") != a
    assert alpha_for("speaker-1", seed="study-2") != a
    draws = [alpha_for(f"s{i}") for i in range(200)]
    assert min(draws) < 0.55 and max(draws) > 0.85


def test_silence_and_bad_input() -> None:
    assert np.array_equal(mcadams(np.zeros(800), RATE, 0.8), np.zeros(800))
    assert mcadams(np.zeros(0), RATE, 0.8).shape == (0,)
    with pytest.raises(ValueError, match="mono"):
        mcadams(np.zeros((2, 100)), RATE, 0.8)
    with pytest.raises(ValueError, match="NaN"):
        mcadams(np.array([0.0, np.nan]), RATE, 0.8)
    with pytest.raises(ValueError, match="alpha"):
        mcadams(np.zeros(10), RATE, 0.0)
    with pytest.raises(ValueError, match="rate"):
        mcadams(np.zeros(10), 100, 0.8)


def test_real_speech_keeps_length_and_loudness_and_moves_formants(tmp_path: Path) -> None:
    wav = spoken(tmp_path / "speech.wav")
    with wave.open(str(wav)) as src:
        rate = src.getframerate()
        raw = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    speech = resample_poly(raw.astype(np.float64), RATE, rate).round().astype(np.int16)
    # Through the audio path: muxed into a video as AAC, decoded back at 16 kHz mono.
    video = mux_audio(tmp_path / "speech.mp4", speech, RATE, seconds=len(speech) / RATE)
    decoded = decode_audio(video)
    assert abs(len(decoded) - len(speech)) <= 2048
    anon = anonymise_int16(decoded, RATE, 0.75)
    assert len(anon) == len(decoded)
    rms = np.sqrt(np.mean(decoded.astype(float) ** 2))
    assert np.sqrt(np.mean(anon.astype(float) ** 2)) == pytest.approx(rms, rel=0.01)
    back, rate_back = read_wav(wav_bytes(anon))
    assert rate_back == RATE and np.array_equal(back, anon)

    # Spectral peaks of voiced frames move up: compare the average LPC formant F1 and F2.
    def peaks(x: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(x) - 480, 480):
            frame = x[start : start + 480].astype(float)
            if np.sqrt(np.mean(frame**2)) < 0.3 * rms:
                continue
            a = _lpc(frame * np.hanning(480), 16)
            poles = np.roots(a)
            poles = poles[(poles.imag > 0) & (np.abs(poles) > 0.85)]
            f = np.sort(np.angle(poles) * RATE / (2 * np.pi))
            f = f[f > 200]
            if len(f) >= 2:
                out.append(f[:2])
        return np.array(out)

    before, after = peaks(decoded), peaks(anon)
    assert len(before) > 20 and len(after) > 20
    assert after[:, 0].mean() > 1.1 * before[:, 0].mean()
    assert after[:, 1].mean() > 1.05 * before[:, 1].mean()
