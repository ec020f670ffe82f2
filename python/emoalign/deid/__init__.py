"""De-identification before any model sees a video: blurred faces and an anonymised voice.

``deidentify_video`` writes a de-identified MP4 (H.264 video, AAC audio); ``blur_faces`` and
``mcadams`` are the two building blocks, also used on the frames and audio that ``query`` sends
when asked to de-identify (``Sampling(deidentify=Deidentify())``).
"""

from __future__ import annotations

from emoalign.deid.faces import (
    BlurResult,
    CenterFaceDetector,
    HaarDetector,
    blur_faces,
    centerface_available,
    make_detector,
)
from emoalign.deid.settings import Deidentify
from emoalign.deid.video import VideoSummary, deidentify_video
from emoalign.deid.voice import alpha_for, mcadams

__all__ = [
    "BlurResult",
    "CenterFaceDetector",
    "Deidentify",
    "HaarDetector",
    "VideoSummary",
    "alpha_for",
    "blur_faces",
    "centerface_available",
    "deidentify_video",
    "make_detector",
    "mcadams",
]
