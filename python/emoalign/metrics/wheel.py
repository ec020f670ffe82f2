"""MER2025/MER2026 emotion-wheel scoring of open-vocabulary labels.

Reference: MERTools ``MER2026/MER2026_Track2/my_affectgpt/evaluation/wheel.py``
(``func_backward_case3``, ``calculate_openset_overlap_rate`` and ``wheel_metric_calculation``) with
``emotion_wheel/wheel_mapping.npz``, whose ``format_mapping``, ``raw_mapping`` and
``wheel_map_whole`` are this module's ``surface_to_base``, ``base_to_wheel_words`` and ``wheels``.

A word is lowercased and stripped, sent to its base forms, the base forms to wheel words, and the
alphabetically first wheel word that the wheel maps at the chosen level gives the word's
cluster; words that map nowhere are dropped. Per wheel, set precision and recall are averaged over
the samples whose mapped ground truth is not empty, F comes from those averages, and precision,
recall and F are each averaged over the five wheels (MERTools averages ``[F, P, R]`` the same way).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from emoalign.metrics._listparse import ListSyntax
from emoalign.metrics.loaders import PathArg, pair_ids
from emoalign.metrics.openset import (
    OpenSetLabels,
    coerce_openset_labels,
    f_score,
    normalise_words,
    set_precision_recall,
)

LEVELS: tuple[str, str] = ("level1", "level2")


@dataclass(frozen=True)
class EmotionWheel:
    """The word normalisation and wheel mapping of ``emotion_wheel.json`` (see ``load_wheel``).

    Attributes
    ----------
    surface_to_base : mapping of str to list of str
        Surface word -> its base forms.
    base_to_wheel_words : mapping of str to list of str
        Base form -> the wheel words it stands for.
    wheels : mapping
        Wheel name -> level (``level1``, ``level2``) -> wheel word -> cluster.
    """

    surface_to_base: Mapping[str, list[str]]
    base_to_wheel_words: Mapping[str, list[str]]
    # wheel name -> level -> wheel word -> cluster
    wheels: Mapping[str, Mapping[str, Mapping[str, str]]]
    _cache: dict[tuple[str, str, str], str | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    def cluster(self, word: str, wheel: str, level: str) -> str | None:
        """The cluster of an already normalised ``word`` on ``wheel`` at ``level``, or None."""
        key = (word, wheel, level)
        if key not in self._cache:
            self._cache[key] = self._lookup(word, self.wheels[wheel][level])
        return self._cache[key]

    def _lookup(self, word: str, wheel_map: Mapping[str, str]) -> str | None:
        candidates = [
            ww
            for base in self.surface_to_base.get(word, ())
            for ww in self.base_to_wheel_words[base]
        ]
        # Python's string order, as MERTools' sorted(): it makes the choice unique.
        for ww in sorted(candidates):
            if ww in wheel_map:
                return wheel_map[ww]
        return None


def load_wheel(path: PathArg, *, sha256: str | None = None) -> EmotionWheel:
    """Load and validate an emotion-wheel file (MER2025/MER2026 ``emotion_wheel.json``).

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file, with keys ``surface_to_base`` (word -> base forms),
        ``base_to_wheel_words`` (base form -> wheel words) and ``wheels`` (wheel name ->
        ``level1``/``level2`` maps of word -> cluster).
    sha256 : str, optional
        Expected hex digest of the file, checked before parsing, to pin the exact wheel a
        score was computed with.

    Returns
    -------
    EmotionWheel

    Raises
    ------
    ValueError
        If the file is missing, its digest differs from ``sha256``, it is not JSON, or its
        structure is not the one above (the message names the offending key).
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(
            f"wheel: no such file {str(p)!r}; pass the path of emotion_wheel.json "
            "(e.g. ../shared/data/emotion_wheel/emotion_wheel.json)"
        )
    raw = p.read_bytes()
    if sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256.lower():
            raise ValueError(f"wheel: {str(p)!r} has sha256 {digest}, expected {sha256}")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"wheel: {str(p)!r} is not valid JSON ({exc})") from None
    return wheel_from_dict(data, where=str(p))


def wheel_from_dict(data: Any, *, where: str = "wheel") -> EmotionWheel:
    """Build an ``EmotionWheel`` from decoded JSON, checking its structure.

    Parameters
    ----------
    data : mapping
        The decoded content of an ``emotion_wheel.json`` (see ``load_wheel``).
    where : str, default "wheel"
        Where the data came from, for error messages.

    Returns
    -------
    EmotionWheel

    Raises
    ------
    ValueError
        If a key is missing or maps to the wrong kind of value.
    """
    keys = ("surface_to_base", "base_to_wheel_words", "wheels")
    if not isinstance(data, Mapping) or any(k not in data for k in keys):
        raise ValueError(f"{where}: expected a JSON object with keys {keys}")
    for k in keys[:2]:
        if not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in data[k].values()
        ):
            raise ValueError(f"{where}: {k} must map each word to a list of words")
    missing = sorted(
        {b for bases in data["surface_to_base"].values() for b in bases}
        - set(data["base_to_wheel_words"])
    )
    if missing:
        raise ValueError(f"{where}: base words missing from base_to_wheel_words: {missing[:10]}")
    wheels = data["wheels"]
    if not isinstance(wheels, Mapping) or not wheels:
        raise ValueError(f"{where}: wheels must map wheel names to levels")
    for name, levels in wheels.items():
        if not isinstance(levels, Mapping) or any(lv not in levels for lv in LEVELS):
            raise ValueError(f"{where}: wheels[{name!r}] must have keys {LEVELS}")
        for lv in LEVELS:
            if not all(isinstance(c, str) for c in levels[lv].values()):
                raise ValueError(f"{where}: wheels[{name!r}][{lv!r}] must map words to clusters")
    return EmotionWheel(data["surface_to_base"], data["base_to_wheel_words"], wheels)


def _score_one(
    wheel: EmotionWheel,
    name: str,
    level: str,
    ids: list[str],
    gt: Mapping[str, list[str]],
    pred: Mapping[str, list[str]],
) -> dict[str, float | int]:
    precisions: list[float] = []
    recalls: list[float] = []
    for sample in ids:
        g = {c for w in gt[sample] if (c := wheel.cluster(w, name, level)) is not None}
        if not g:
            continue
        p = {c for w in pred[sample] if (c := wheel.cluster(w, name, level)) is not None}
        precision, recall = set_precision_recall(g, p)
        precisions.append(precision)
        recalls.append(recall)
    # MERTools scores a wheel with no usable sample as 0 rather than failing.
    n = len(precisions)
    mean_p = math.fsum(precisions) / n if n else 0.0
    mean_r = math.fsum(recalls) / n if n else 0.0
    return {"precision": mean_p, "recall": mean_r, "f1": f_score(mean_p, mean_r), "n": n}


def wheel_scores(
    ground_truth: OpenSetLabels,
    predictions: OpenSetLabels,
    *,
    wheel: EmotionWheel | PathArg,
    strict: bool = False,
    list_syntax: ListSyntax = "python",
) -> dict[str, Any]:
    """Emotion-wheel precision, recall and F of open-vocabulary predictions (MER2025/MER2026).

    Each word is normalised (lowercased, stripped), mapped to its base forms and from them to
    the words of each wheel, then to that wheel's cluster at ``level1`` (coarse) or ``level2``
    (fine). Per wheel and level, set precision and recall over the clusters are computed per
    sample as in ``openset_scores`` and averaged; the reported figures average the wheels.

    Parameters
    ----------
    ground_truth, predictions : mapping or path
        As for ``openset_scores``: a CSV/Parquet file with columns ``name`` and ``openset``,
        or a mapping of sample id to a list of words.
    wheel : EmotionWheel or path
        An ``EmotionWheel`` from ``load_wheel``, or the path of ``emotion_wheel.json``.
    strict : bool, default False
        Raise if the two sides cover different samples (see ``openset_scores``).
    list_syntax : {"python", "mer2024"}, default "python"
        How list strings are parsed (see ``openset_scores``).

    Returns
    -------
    dict
        ``{"level1": {"precision", "recall", "f1"}, "level2": {...}, "per_wheel": {wheel:
        {level: {"precision", "recall", "f1", "n"}}}}`` plus the counts and ids of samples
        present on one side only. MER2025/MER2026 rank by ``level1["f1"]``. ``n`` is per wheel:
        samples whose ground truth maps nowhere on a wheel are skipped for that wheel only, and
        a wheel with no usable sample scores 0 (as MERTools).

    Raises
    ------
    TypeError
        If ``wheel`` is neither an ``EmotionWheel`` nor a path, or labels have the wrong shape.
    ValueError
        If a file is missing or malformed, or ``strict`` is set and the ids differ.

    References
    ----------
    Lian, Z. et al. (2025). AffectGPT: a new dataset, model, and benchmark for emotion
    understanding with multimodal large language models. *ICML 2025* (the emotion wheels of
    MER2025). MERTools, MER2025/MER2026 ``main-ov`` scoring.
    """
    if not isinstance(wheel, EmotionWheel):
        if not isinstance(wheel, str | PathLike):
            raise TypeError(
                f"wheel: expected an EmotionWheel or a path to emotion_wheel.json, got "
                f"{type(wheel).__name__}"
            )
        wheel = load_wheel(wheel)
    gt = coerce_openset_labels(ground_truth, argument="ground_truth", list_syntax=list_syntax)
    pred = coerce_openset_labels(predictions, argument="predictions", list_syntax=list_syntax)
    pairs = pair_ids(gt, pred, strict=strict)
    gt_norm = {s: normalise_words(gt[s]) for s in pairs.ids}
    pred_norm = {s: normalise_words(pred[s]) for s in pairs.ids}

    per_wheel = {
        name: {lv: _score_one(wheel, name, lv, pairs.ids, gt_norm, pred_norm) for lv in LEVELS}
        for name in sorted(wheel.wheels)
    }
    result: dict[str, Any] = {}
    for lv in LEVELS:
        result[lv] = {
            metric: math.fsum(per_wheel[w][lv][metric] for w in per_wheel) / len(per_wheel)
            for metric in ("precision", "recall", "f1")
        }
    result["per_wheel"] = per_wheel
    result.update(pairs.summary())
    return result
