"""Voice anonymisation with the McAdams coefficient (VoicePrivacy Challenge baseline B2).

Each 20 ms frame (10 ms hop, square root of a periodic Hann window on analysis and on synthesis,
so that overlap-add sums to one) is modelled by linear prediction of order 20. The residual of
the frame through the LPC filter is re-synthesised through a filter whose complex poles keep
their radius but have their angle θ moved to sign(θ)·|θ|^α: formants shift (up, for α < 1) while
the excitation, hence pitch and timing, is untouched. α = 1 reconstructs the input.

The VPC code peak-normalises its output; here the input's RMS is restored instead, because
loudness carries emotion (the thing being measured).
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

ALPHA_RANGE = (0.5, 0.9)
LPC_ORDER = 20
FRAME_SECONDS = 0.020
HOP_SECONDS = 0.010
_WARP_BLOCK = 2048  # frames whose poles are found in one batched call


def alpha_for(
    speaker: str, seed: str = "", low: float = ALPHA_RANGE[0], high: float = ALPHA_RANGE[1]
) -> float:
    """A McAdams coefficient drawn uniformly from ``[low, high]``, fixed by speaker and seed.

    The same speaker id (or video id) always gets the same α, so all of one person's windows
    sound like the same pseudo-speaker; ``seed`` changes every draw at once.
    """
    if not 0 < low <= high <= 1.5:
        raise ValueError(f"the alpha range must satisfy 0 < low <= high <= 1.5, got {(low, high)}")
    digest = hashlib.sha256(f"{seed}\x00{speaker}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return float(rng.uniform(low, high))


def _lpc(frame: np.ndarray, order: int) -> np.ndarray | None:
    """LPC polynomial [1, a1, ..., ap] by the autocorrelation method (stable), None if silent."""
    n = len(frame)
    spectrum = np.fft.rfft(frame, 2 * n)
    r = np.fft.irfft(spectrum * np.conj(spectrum))[: order + 1]
    if r[0] <= 1e-12:
        return None
    r[0] *= 1.0 + 1e-9  # white-noise correction: keeps the Toeplitz system well conditioned
    a = solve_toeplitz(r[:order], -r[1 : order + 1])
    return np.concatenate(([1.0], a))


def _warp(polys: np.ndarray, alpha: float) -> np.ndarray:
    """LPC polynomials (one per row, leading 1) with their complex poles' angles warped.

    All frames at once: the roots are the eigenvalues of the stacked companion matrices, and the
    new polynomials are rebuilt by multiplying out (1 - p z^-1) for every frame together. Frame
    by frame, np.roots and np.poly took 60 % of the time.
    """
    n, width = polys.shape
    order = width - 1
    companion = np.zeros((n, order, order))
    companion[:, 0, :] = -polys[:, 1:]
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    poles = np.linalg.eigvals(companion)
    angles = np.angle(poles)
    warped = np.abs(angles) ** alpha * np.sign(angles)
    # Real poles (angle 0 or pi) keep their place: only complex pairs carry formants.
    is_complex = np.abs(poles.imag) > 1e-12
    poles = np.where(is_complex, np.abs(poles) * np.exp(1j * warped), poles)
    out = np.zeros((n, width), dtype=complex)
    out[:, 0] = 1.0
    for k in range(order):
        out[:, 1 : k + 2] -= poles[:, k : k + 1] * out[:, : k + 1]
    return out.real


def mcadams(
    samples: np.ndarray,
    rate: int,
    alpha: float,
    *,
    order: int = LPC_ORDER,
) -> np.ndarray:
    """Anonymise a mono signal; returns float64 samples of the same length and RMS.

    Parameters
    ----------
    samples
        Mono audio, float or integer (int16 is read as is; the output has the same scale).
    rate
        Sample rate in Hz (the VPC baseline works at 16 kHz).
    alpha
        McAdams coefficient; 1 leaves the voice as it is, the VPC range is [0.5, 0.9].
    order
        LPC order.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"samples must be one-dimensional (mono), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinity")
    if not (isinstance(rate, int) and rate >= 4000):
        raise ValueError(f"rate must be an integer >= 4000 Hz, got {rate!r}")
    if not 0 < alpha <= 1.5:
        raise ValueError(f"alpha must be in (0, 1.5], got {alpha!r}")
    if x.size == 0:
        return x.copy()
    win = round(rate * FRAME_SECONDS)
    hop = round(rate * HOP_SECONDS)
    hann = np.hanning(win + 1)[:-1]  # periodic: shifted copies at hop = win/2 sum to a constant
    w = np.sqrt(hann / (hann.sum() / hop))
    # Padding by one frame on both sides gives every input sample full overlap-add coverage.
    padded = np.concatenate([np.zeros(win), x, np.zeros(win)])
    out = np.zeros_like(padded)
    starts, frames, polys = [], [], []
    for start in range(0, len(padded) - win + 1, hop):
        frame = padded[start : start + win] * w
        a = _lpc(frame, order)
        if a is not None:  # silent frames add nothing
            starts.append(start)
            frames.append(frame)
            polys.append(a)
    # In blocks: the companion matrices of a 7-minute track would take 130 MB at once.
    warped = [
        row
        for block in range(0, len(polys), _WARP_BLOCK)
        for row in _warp(np.array(polys[block : block + _WARP_BLOCK]), alpha)
    ]
    for start, frame, a, b in zip(starts, frames, polys, warped, strict=True):
        residual = lfilter(a, [1.0], frame)
        out[start : start + win] += lfilter([1.0], b, residual) * w
    y = out[win : win + len(x)]
    rms_in = np.sqrt(np.mean(x**2))
    rms_out = np.sqrt(np.mean(y**2))
    if rms_out > 0:
        y *= rms_in / rms_out
    return y


def anonymise_int16(samples: np.ndarray, rate: int, alpha: float) -> np.ndarray:
    """:func:`mcadams` for 16-bit PCM: int16 in, int16 out (clipped to the 16-bit range)."""
    y = mcadams(samples, rate, alpha)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)
