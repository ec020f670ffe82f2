"""Closed-set emotion classification metrics, implemented in numpy.

Conventions follow scikit-learn (used only to test agreement) and the MER challenges: MER2023's
``emo_fscore`` is ``f1_score(average='weighted')`` (WAF) and its accuracy ``accuracy_score``
(MERTools ``MER2023/main-release.py``). UAR (unweighted average recall) is the mean per-class
recall over the classes that occur in the ground truth, i.e. sklearn's
``balanced_accuracy_score``; WAR (recall weighted by class support) equals accuracy.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Label = Hashable


def _as_labels(y: Sequence[Label] | np.ndarray, argument: str) -> list[Label]:
    if isinstance(y, str | bytes) or not isinstance(y, Sequence | np.ndarray):
        raise TypeError(f"{argument}: expected a sequence of class labels, got {type(y).__name__}")
    if isinstance(y, np.ndarray) and y.ndim != 1:
        raise ValueError(f"{argument}: expected a 1-D sequence of labels, got shape {y.shape}")
    return y.tolist() if isinstance(y, np.ndarray) else list(y)


def confusion_matrix(
    y_true: Sequence[Label] | np.ndarray,
    y_pred: Sequence[Label] | np.ndarray,
    *,
    labels: Sequence[Label] | None = None,
) -> tuple[np.ndarray, list[Label]]:
    """The confusion matrix: counts of samples of each true class predicted as each class.

    Parameters
    ----------
    y_true : sequence of hashable, shape (n,)
        True class of each sample (strings, ints, ...); a 1-D numpy array is accepted.
    y_pred : sequence of hashable, shape (n,)
        Predicted class of each sample, aligned with ``y_true``.
    labels : sequence of hashable, optional
        The classes, in the order of the matrix's rows and columns. Defaults to the sorted
        union of the classes seen on both sides. Classes outside an explicit list are an error,
        since silently dropping them would inflate scores.

    Returns
    -------
    matrix : numpy.ndarray of int, shape (k, k)
        ``matrix[i, j]`` counts samples of true class ``labels[i]`` predicted as ``labels[j]``.
    labels : list
        The k classes, in matrix order.

    Raises
    ------
    TypeError
        If an argument is not a sequence of labels, or labels of mixed types cannot be sorted
        (pass ``labels=``).
    ValueError
        If ``y_true`` is empty, the two differ in length, ``labels`` has duplicates, or a class
        in the data is missing from ``labels``.
    """
    t = _as_labels(y_true, "y_true")
    p = _as_labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    if not t:
        raise ValueError("y_true is empty: nothing to score")
    if labels is None:
        try:
            classes = sorted(set(t) | set(p))
        except TypeError:
            raise TypeError("labels of mixed types cannot be ordered; pass labels=") from None
    else:
        classes = list(labels)
        if len(set(classes)) != len(classes):
            raise ValueError(f"labels has duplicates: {classes}")
        unknown = sorted(map(repr, (set(t) | set(p)) - set(classes)))
        if unknown:
            raise ValueError(f"labels misses classes present in the data: {', '.join(unknown)}")
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    ti = np.fromiter((index[x] for x in t), dtype=np.intp, count=len(t))
    pi = np.fromiter((index[x] for x in p), dtype=np.intp, count=len(p))
    matrix = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k)
    return matrix, classes


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den with 0 where den is 0 (sklearn's zero_division=0 value)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def per_class_scores(matrix: ArrayLike) -> dict[str, np.ndarray]:
    r"""Precision, recall, F1 and support per class from a confusion matrix.

    With $TP_c = M_{cc}$, support $s_c = \sum_j M_{cj}$ and predicted count
    $\hat s_c = \sum_i M_{ic}$: precision $TP_c / \hat s_c$, recall $TP_c / s_c$ and
    $F1_c = 2\,TP_c / (s_c + \hat s_c)$, each 0 where its denominator is 0 (scikit-learn's
    ``zero_division=0``).

    Parameters
    ----------
    matrix : array_like of int, shape (k, k)
        Rows true classes, columns predicted ones, as from ``confusion_matrix``.

    Returns
    -------
    dict of str to numpy.ndarray
        ``precision``, ``recall``, ``f1`` and ``support``, each of shape (k,).
    """
    matrix = np.asarray(matrix)
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    # 2TP/(2TP+FP+FN) equals the harmonic mean of precision and recall when both are defined.
    f1 = _ratio(2 * tp, support + predicted)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def accuracy(y_true: Sequence[Label] | np.ndarray, y_pred: Sequence[Label] | np.ndarray) -> float:
    """Accuracy: the share of samples whose predicted class is the true class.

    MER2023 reports it for discrete emotions (scikit-learn's ``accuracy_score``).

    Parameters
    ----------
    y_true : sequence of hashable, shape (n,)
        True class of each sample (strings, ints, ...); a 1-D numpy array is accepted.
    y_pred : sequence of hashable, shape (n,)
        Predicted class of each sample, aligned with ``y_true``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an argument is not a sequence of labels, or labels of mixed types cannot be sorted.
    ValueError
        If ``y_true`` is empty, or the two differ in length.
    """
    matrix, _ = confusion_matrix(y_true, y_pred)
    return float(np.trace(matrix) / matrix.sum())


def weighted_f1(
    y_true: Sequence[Label] | np.ndarray, y_pred: Sequence[Label] | np.ndarray
) -> float:
    r"""WAF: per-class F1 weighted by true-class support (MER2023's ``emo_fscore``).

    $\mathrm{WAF} = \sum_c s_c F1_c / \sum_c s_c$, with $s_c$ the number of samples of true
    class c; scikit-learn's ``f1_score(average="weighted")``.

    Parameters
    ----------
    y_true : sequence of hashable, shape (n,)
        True class of each sample (strings, ints, ...); a 1-D numpy array is accepted.
    y_pred : sequence of hashable, shape (n,)
        Predicted class of each sample, aligned with ``y_true``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an argument is not a sequence of labels, or labels of mixed types cannot be sorted.
    ValueError
        If ``y_true`` is empty, or the two differ in length.

    References
    ----------
    Lian, Z. et al. (2023). MER 2023: multi-label learning, modality robustness, and
    semi-supervised learning. *ACM Multimedia*. (MERTools, ``MER2023/main-release.py``.)
    """
    scores = per_class_scores(confusion_matrix(y_true, y_pred)[0])
    return float(np.dot(scores["f1"], scores["support"]) / scores["support"].sum())


def macro_f1(y_true: Sequence[Label] | np.ndarray, y_pred: Sequence[Label] | np.ndarray) -> float:
    """Macro F1: the unweighted mean F1 over every class seen on either side.

    Parameters
    ----------
    y_true : sequence of hashable, shape (n,)
        True class of each sample (strings, ints, ...); a 1-D numpy array is accepted.
    y_pred : sequence of hashable, shape (n,)
        Predicted class of each sample, aligned with ``y_true``.

    Returns
    -------
    float
        In [0, 1]; a class only ever predicted counts with F1 0.

    Raises
    ------
    TypeError
        If an argument is not a sequence of labels, or labels of mixed types cannot be sorted.
    ValueError
        If ``y_true`` is empty, or the two differ in length.
    """
    return float(per_class_scores(confusion_matrix(y_true, y_pred)[0])["f1"].mean())


def uar(y_true: Sequence[Label] | np.ndarray, y_pred: Sequence[Label] | np.ndarray) -> float:
    """UAR: the unweighted mean recall over the classes present in ``y_true``.

    Scikit-learn's ``balanced_accuracy_score``; the usual headline metric of speech and
    multimodal emotion recognition on unbalanced classes.

    Parameters
    ----------
    y_true : sequence of hashable, shape (n,)
        True class of each sample (strings, ints, ...); a 1-D numpy array is accepted.
    y_pred : sequence of hashable, shape (n,)
        Predicted class of each sample, aligned with ``y_true``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an argument is not a sequence of labels, or labels of mixed types cannot be sorted.
    ValueError
        If ``y_true`` is empty, or the two differ in length.
    """
    scores = per_class_scores(confusion_matrix(y_true, y_pred)[0])
    present = scores["support"] > 0
    return float(scores["recall"][present].mean())


def war(y_true: Sequence[Label] | np.ndarray, y_pred: Sequence[Label] | np.ndarray) -> float:
    """WAR: per-class recall weighted by support, which equals accuracy.

    Parameters
    ----------
    y_true : sequence of hashable, shape (n,)
        True class of each sample (strings, ints, ...); a 1-D numpy array is accepted.
    y_pred : sequence of hashable, shape (n,)
        Predicted class of each sample, aligned with ``y_true``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an argument is not a sequence of labels, or labels of mixed types cannot be sorted.
    ValueError
        If ``y_true`` is empty, or the two differ in length.
    """
    return accuracy(y_true, y_pred)


def classification_report(
    y_true: Sequence[Label] | np.ndarray,
    y_pred: Sequence[Label] | np.ndarray,
    *,
    labels: Sequence[Label] | None = None,
) -> dict[str, Any]:
    """All closed-set metrics at once, from one confusion matrix.

    Parameters
    ----------
    y_true : sequence of hashable, shape (n,)
        True class of each sample (strings, ints, ...); a 1-D numpy array is accepted.
    y_pred : sequence of hashable, shape (n,)
        Predicted class of each sample, aligned with ``y_true``.
    labels : sequence of hashable, optional
        The classes (see ``confusion_matrix``). Classes in an explicit list that never occur
        count in ``macro_f1`` with F1 0 but not in UAR, whose recall would be undefined.

    Returns
    -------
    dict
        ``accuracy``, ``waf``, ``macro_f1``, ``uar``, ``war``, ``n``, ``labels``,
        ``confusion_matrix`` (rows true, columns predicted, as nested lists) and ``per_class``
        (label -> ``precision``, ``recall``, ``f1``, ``support``); JSON-serialisable.

    Raises
    ------
    TypeError, ValueError
        As ``confusion_matrix``.

    References
    ----------
    Lian, Z. et al. (2023). MER 2023: multi-label learning, modality robustness, and
    semi-supervised learning. *ACM Multimedia*. (MERTools, ``MER2023/main-release.py``.)
    """
    matrix, classes = confusion_matrix(y_true, y_pred, labels=labels)
    scores = per_class_scores(matrix)
    support = scores["support"]
    present = support > 0
    acc = float(np.trace(matrix) / matrix.sum())
    return {
        "accuracy": acc,
        "waf": float(np.dot(scores["f1"], support) / support.sum()),
        "macro_f1": float(scores["f1"].mean()),
        "uar": float(scores["recall"][present].mean()),
        "war": acc,
        "n": int(matrix.sum()),
        "labels": classes,
        "confusion_matrix": matrix.tolist(),
        "per_class": {
            str(c): {
                "precision": float(scores["precision"][i]),
                "recall": float(scores["recall"][i]),
                "f1": float(scores["f1"][i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
    }


def plot_confusion_matrix(
    matrix: ArrayLike,
    labels: Sequence[Label],
    *,
    normalize: bool = True,
    title: str | None = None,
    path: str | PathLike[str] | None = None,
) -> Figure:
    """Draw a confusion matrix (rows true, columns predicted), optionally saving it.

    The figure is drawn on the Agg canvas directly, which needs no display and leaves the
    caller's pyplot backend alone.

    Parameters
    ----------
    matrix : array_like of int, shape (k, k)
        Counts, rows true classes, columns predicted ones.
    labels : sequence of hashable
        The k class names, in matrix order.
    normalize : bool, default True
        Colour each row divided by its support, so that cells read as recall (colour bar
        "recall", 0 to 1); otherwise colour the counts. The counts are printed in the cells
        either way.
    title : str, optional
        Axes title.
    path : str or os.PathLike, optional
        Where to save the figure (150 dpi; the format follows the suffix).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``matrix`` is not k × k for the k ``labels``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix)
    k = len(labels)
    if counts.shape != (k, k):
        raise ValueError(f"matrix has shape {counts.shape}, expected ({k}, {k}) for {k} labels")
    rows = counts.sum(axis=1, keepdims=True).astype(np.float64)
    shown = (
        _ratio(counts.astype(np.float64), np.broadcast_to(rows, counts.shape))
        if normalize
        else counts
    )

    size = max(4.0, 0.6 * k + 2.0)
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="recall" if normalize else "count")
    ax.set_xticks(range(k), [str(c) for c in labels], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(c) for c in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    threshold = float(np.max(shown)) / 2 if np.max(shown) > 0 else 0.5
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(int(counts[i, j])),
                ha="center",
                va="center",
                color="white" if shown[i, j] > threshold else "black",
                fontsize=8,
            )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
