"""Human against several models: video-level agreement, RSA with inference over videos (bootstrap
CIs, pairwise differences with Holm correction, a noise ceiling) and multi-model studies."""

from __future__ import annotations

from emoalign.comparison.agreement import Agreement, agreement
from emoalign.comparison.inference import NoiseCeiling, RSAComparison, compare_rsa, noise_ceiling
from emoalign.comparison.study import Comparison, compare

__all__ = [
    "Agreement",
    "Comparison",
    "NoiseCeiling",
    "RSAComparison",
    "agreement",
    "compare",
    "compare_rsa",
    "noise_ceiling",
]
