"""MER2024 open-vocabulary scoring: set precision and recall after LLM synonym grouping.

Reference: MERTools ``MER2024/main-ov.py`` (``calculate_openset_overlap_rate_mer2024``). Per sample
the ground-truth words G and predicted words P are mapped through that sample's synonym groups,
then precision = |G∩P|/|P| and recall = |G∩P|/|G| (0 and 0 for an empty prediction); both are
averaged over samples and MER2024 reports their mean.

Differences from MERTools, all following the emoalign issue text:

- words are stripped as well as lowercased (MERTools MER2024 only lowercases; its MER2025/2026
  code strips too), and so are the words inside synonym groups;
- a sample whose ground truth is empty is skipped instead of dividing by zero;
- list cells are parsed as Python literals by default. MERTools splits them on quote characters,
  which cuts ``"don't believe"`` into ``don`` / ``t believe``; ``list_syntax="mer2024"`` restores
  that behaviour and with it the published OV-MERD figures (0.5818 / 0.4978 / 0.5398);
- ids present on one side only are reported (or, with ``strict``, rejected) rather than raising
  ``KeyError`` or being ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from typing import TypedDict

from emoalign.metrics._listparse import LIST_SYNTAXES, ListSyntax, parse_list_string
from emoalign.metrics.loaders import (
    PathArg,
    check_synonym_groups,
    load_openset_csv,
    load_synonym_groups,
    pair_ids,
)

OpenSetLabels = Mapping[str, Sequence[str] | str] | PathArg
SynonymGroups = Mapping[str, Sequence[Sequence[str]]]


class OpenSetScores(TypedDict):
    precision: float
    recall: float
    mean: float
    f1: float
    n: int
    n_skipped_empty_ground_truth: int
    n_only_ground_truth: int
    n_only_predictions: int
    only_ground_truth: list[str]
    only_predictions: list[str]
    without_synonyms: list[str]


def normalise_words(words: Iterable[str]) -> list[str]:
    """Lowercase and strip each word, dropping words that are empty afterwards."""
    out = []
    for w in words:
        norm = w.strip().lower()
        if norm:
            out.append(norm)
    return out


def set_precision_recall(ground_truth: set[str], prediction: set[str]) -> tuple[float, float]:
    """|G∩P|/|P| and |G∩P|/|G|; an empty prediction scores (0, 0).

    ``ground_truth`` must not be empty: callers skip such samples.
    """
    if not prediction:
        return 0.0, 0.0
    hits = len(ground_truth & prediction)
    return hits / len(prediction), hits / len(ground_truth)


def f_score(precision: float, recall: float) -> float:
    """Harmonic mean of an (averaged) precision and recall, 0 when both are 0, as in MERTools."""
    total = precision + recall
    return 0.0 if total == 0 else 2 * precision * recall / total


def coerce_openset_labels(
    labels: OpenSetLabels, *, argument: str, list_syntax: ListSyntax
) -> dict[str, list[str]]:
    """Accept a CSV/Parquet path or a mapping of sample -> words (or list string)."""
    if list_syntax not in LIST_SYNTAXES:
        raise ValueError(f"list_syntax must be one of {LIST_SYNTAXES}, got {list_syntax!r}")
    if isinstance(labels, str | PathLike):
        return load_openset_csv(labels, list_syntax=list_syntax)
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"{argument}: expected a path to a CSV/Parquet file or a mapping of sample -> list "
            f"of words, got {type(labels).__name__}"
        )
    out: dict[str, list[str]] = {}
    for name, words in labels.items():
        if isinstance(words, str):
            out[str(name)] = parse_list_string(
                words, where=f"{argument}[{name!r}]", syntax=list_syntax
            )
        elif isinstance(words, Sequence | set | frozenset) and all(
            isinstance(w, str) for w in words
        ):
            out[str(name)] = list(words)
        else:
            raise TypeError(
                f"{argument}[{name!r}]: expected a list of words like ['happy', 'relaxed'], "
                f"got {words!r}"
            )
    return out


def _synonym_map(groups: Sequence[Sequence[str]]) -> dict[str, str]:
    """Word -> its group's first word. A word in several groups takes the last one, because
    MERTools builds the same dict by overwriting in group order."""
    mapping: dict[str, str] = {}
    for group in groups:
        words = normalise_words(group)
        for w in words:
            mapping[w] = words[0]
    return mapping


def openset_scores(
    ground_truth: OpenSetLabels,
    predictions: OpenSetLabels,
    *,
    synonyms: SynonymGroups | PathArg | None = None,
    strict: bool = False,
    list_syntax: ListSyntax = "python",
) -> OpenSetScores:
    r"""MER2024 open-vocabulary scoring: set precision and recall after synonym grouping.

    For each sample with ground-truth words $G$ and predicted words $P$ (lowercased, stripped,
    each mapped to the first word of its synonym group for that sample):

    $$\mathrm{precision} = \frac{|G \cap P|}{|P|}, \qquad
      \mathrm{recall} = \frac{|G \cap P|}{|G|},$$

    0 and 0 for an empty prediction. Both are averaged over the samples, and MER2024's score
    is their mean. Samples with an empty ground truth are skipped (MERTools would divide by
    zero).

    Parameters
    ----------
    ground_truth, predictions : mapping or path
        A path to a CSV/Parquet file with columns ``name`` and ``openset`` (e.g.
        ``"['happy', 'relaxed']"``), or a mapping of sample id to a list of words (or to such a
        list string).
    synonyms : mapping or path, optional
        Per-sample synonym groups ``{sample: [[word, synonym, ...], ...]}`` (each word maps to
        its group's first word), as ``emoalign.query.group_synonyms`` returns them, or a path
        to a JSON file or MERTools ``.npy`` folder of them (see ``load_synonym_groups``).
        ``None`` compares words as written. Scored samples without groups are listed in
        ``without_synonyms``.
    strict : bool, default False
        Raise if the two sides cover different samples, instead of scoring the shared ones and
        listing the others in ``only_ground_truth`` / ``only_predictions``.
    list_syntax : {"python", "mer2024"}, default "python"
        How list strings are parsed: as Python literals, or split on quote characters as
        MERTools does (which cuts ``"don't believe"`` in two, and reproduces the published
        OV-MERD figures).

    Returns
    -------
    OpenSetScores
        ``precision`` and ``recall`` (averaged over samples), ``mean`` (their mean: MER2024's
        score), ``f1`` (F of the averaged precision and recall), ``n`` (samples scored), and
        the counts and ids of samples skipped for an empty ground truth or a missing
        counterpart.

    Raises
    ------
    TypeError
        If labels or groups have the wrong shape (the message shows the expected one).
    ValueError
        If a file is missing or malformed (the message names the file and row),
        ``list_syntax`` is unknown, ``strict`` is set and the ids differ, or no sample is left
        to score.

    References
    ----------
    Lian, Z. et al. (2024). MER 2024: semi-supervised learning, noise robustness, and
    open-vocabulary multimodal emotion recognition. *MRAC '24 (ACM Multimedia workshop)*.
    MERTools ``MER2024/main-ov.py``.

    Lian, Z. et al. (2024). AffectGPT: dataset and framework for explainable multimodal
    emotion recognition (OV-MERD). arXiv:2407.07653.

    Examples
    --------
    >>> from emoalign.metrics import openset_scores
    >>> s = openset_scores({"a": ["happy", "calm"]}, {"a": ["joyful"]},
    ...                    synonyms={"a": [["happy", "joyful"], ["calm"]]})
    >>> s["precision"], s["recall"], s["mean"]
    (1.0, 0.5, 0.75)
    """
    gt = coerce_openset_labels(ground_truth, argument="ground_truth", list_syntax=list_syntax)
    pred = coerce_openset_labels(predictions, argument="predictions", list_syntax=list_syntax)
    if synonyms is None:
        groups: dict[str, list[list[str]]] | None = None
    elif isinstance(synonyms, str | PathLike):
        groups = load_synonym_groups(synonyms, list_syntax=list_syntax)
    else:
        groups = check_synonym_groups(synonyms)
    pairs = pair_ids(gt, pred, strict=strict)

    precisions: list[float] = []
    recalls: list[float] = []
    skipped = 0
    without_synonyms: list[str] = []
    for name in pairs.ids:
        mapping: dict[str, str] = {}
        if groups is not None:
            if name in groups:
                mapping = _synonym_map(groups[name])
            else:
                without_synonyms.append(name)
        g = {mapping.get(w, w) for w in normalise_words(gt[name])}
        if not g:
            skipped += 1
            continue
        p = {mapping.get(w, w) for w in normalise_words(pred[name])}
        precision, recall = set_precision_recall(g, p)
        precisions.append(precision)
        recalls.append(recall)

    if not precisions:
        raise ValueError(
            f"no sample to score: {len(pairs.ids)} shared id(s), {skipped} with an empty ground "
            f"truth; {len(pairs.only_ground_truth)} id(s) only in ground_truth, "
            f"{len(pairs.only_predictions)} only in predictions"
        )
    # fsum is exactly rounded, so the means cannot depend on the order of the samples.
    mean_p = math.fsum(precisions) / len(precisions)
    mean_r = math.fsum(recalls) / len(recalls)
    return OpenSetScores(
        precision=mean_p,
        recall=mean_r,
        mean=(mean_p + mean_r) / 2,
        f1=f_score(mean_p, mean_r),
        n=len(precisions),
        n_skipped_empty_ground_truth=skipped,
        n_only_ground_truth=len(pairs.only_ground_truth),
        n_only_predictions=len(pairs.only_predictions),
        only_ground_truth=pairs.only_ground_truth,
        only_predictions=pairs.only_predictions,
        without_synonyms=without_synonyms,
    )
