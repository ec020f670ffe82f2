"""Emotion-recognition scoring: open-vocabulary (MER2024 synonym groups, MER2025/2026 emotion
wheels), closed-set classification and dimensional metrics, and label-file loaders."""

from __future__ import annotations

from emoalign.metrics._listparse import ListSyntax, parse_list_string
from emoalign.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    per_class_scores,
    plot_confusion_matrix,
    uar,
    war,
    weighted_f1,
)
from emoalign.metrics.dimensional import (
    acc2,
    acc7,
    ccc,
    dimensional_scores,
    f1_2,
    mae,
    mer2023_score,
    mse,
    pearson,
)
from emoalign.metrics.loaders import (
    IdPairing,
    load_categories,
    load_openset_csv,
    load_synonym_groups,
    load_values,
    pair_ids,
)
from emoalign.metrics.openset import OpenSetScores, openset_scores
from emoalign.metrics.wheel import EmotionWheel, load_wheel, wheel_scores

__all__ = [
    "EmotionWheel",
    "IdPairing",
    "ListSyntax",
    "OpenSetScores",
    "acc2",
    "acc7",
    "accuracy",
    "ccc",
    "classification_report",
    "confusion_matrix",
    "dimensional_scores",
    "f1_2",
    "load_categories",
    "load_openset_csv",
    "load_synonym_groups",
    "load_values",
    "load_wheel",
    "macro_f1",
    "mae",
    "mer2023_score",
    "mse",
    "openset_scores",
    "pair_ids",
    "parse_list_string",
    "pearson",
    "per_class_scores",
    "plot_confusion_matrix",
    "uar",
    "war",
    "weighted_f1",
    "wheel_scores",
]
