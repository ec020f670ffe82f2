"""Unsupervised alignment of emotion structures: entropic GW with an ε search on Optuna,
matching-rate scoring, RSA, aligned embeddings and a shuffled baseline."""

from __future__ import annotations

from emoalign.alignment.api import align
from emoalign.alignment.lowrank_study import LowRankAlignment
from emoalign.alignment.matching import chance_rate, matching_rate, per_category
from emoalign.alignment.result import Alignment
from emoalign.alignment.synthetic import (
    SyntheticPair,
    SyntheticStudy,
    synthetic_pair,
    synthetic_study,
)

__all__ = [
    "Alignment",
    "LowRankAlignment",
    "SyntheticPair",
    "SyntheticStudy",
    "align",
    "chance_rate",
    "matching_rate",
    "per_category",
    "synthetic_pair",
    "synthetic_study",
]
