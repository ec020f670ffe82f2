"""Dimensional (valence/arousal) and sentiment-intensity metrics.

- CCC follows MERTools ``calculate_ccc`` (``MER2024/toolkit/utils/functions.py``): Lin's
  concordance 2·cov/(var_t + var_p + (mean_t − mean_p)²) with population (ddof=0) moments.
- MSE/MAE are plain means; MER2023's combined score is ``emo_fscore − 0.25·val_mse``
  (MERTools ``overall_metric`` in ``MER2023/main-release.py`` and ``toolkit/utils/metric.py``).
- Acc-2, F1-2 and Acc-7 follow the CMU-MOSI/MOSEI convention used by MulT, MISA, Self-MM and
  MMSA (``eval_mosei_senti``): "has0" compares ``>= 0`` against ``< 0`` over all samples;
  "non0" drops samples whose true label is 0 and compares ``> 0`` against ``<= 0`` (the MERTools
  ``cmudata.py`` rule). Acc-7 rounds scores clipped to [-3, 3] with numpy's round-half-to-even.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from emoalign.metrics.classification import accuracy, weighted_f1


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for argument, values in (("y_true", y_true), ("y_pred", y_pred)):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{argument}: expected a sequence of numbers") from None
        if arr.ndim != 1:
            raise ValueError(f"{argument}: expected a 1-D sequence, got shape {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(
                f"{argument}: non-finite values at positions {bad[:10].tolist()}; "
                "drop or impute them first"
            )
        out.append(arr)
    t, p = out
    if t.size != p.size:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    if t.size == 0:
        raise ValueError("y_true is empty: nothing to score")
    return t, p


def mse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Mean squared error, $\frac{1}{n} \sum_i (t_i - p_i)^2$.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Mean absolute error, $\frac{1}{n} \sum_i |t_i - p_i|$.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def pearson(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Pearson's correlation coefficient.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.

    Returns
    -------
    float
        In [-1, 1]; NaN when either side is constant (the correlation is undefined).

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.
    """
    t, p = _pair(y_true, y_pred)
    dt, dp = t - t.mean(), p - p.mean()
    denom = np.sqrt(np.dot(dt, dt) * np.dot(dp, dp))
    return float(np.dot(dt, dp) / denom) if denom > 0 else float("nan")


def ccc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Lin's concordance correlation coefficient (CCC), as MERTools computes it.

    $$\rho_c = \frac{2\,\sigma_{tp}}{\sigma_t^2 + \sigma_p^2 + (\mu_t - \mu_p)^2}$$

    with population (ddof = 0) moments. It is written with the covariance $\sigma_{tp}$ rather
    than MERTools' $r\,\sigma_t\sigma_p$ (the same quantity), so a constant side gives 0
    instead of NaN; only two identical constants (0/0) give NaN.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.

    Returns
    -------
    float
        In [-1, 1]: 1 only for identical values, unlike Pearson's r it penalises shifts and
        rescaling.

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.

    References
    ----------
    Lin, L. I.-K. (1989). A concordance correlation coefficient to evaluate reproducibility.
    *Biometrics* 45(1), 255–268. MERTools ``calculate_ccc`` (MER2024 toolkit).
    """
    t, p = _pair(y_true, y_pred)
    cov = np.mean((t - t.mean()) * (p - p.mean()))
    denom = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def _binary(
    y_true: ArrayLike, y_pred: ArrayLike, exclude_zero: bool
) -> tuple[np.ndarray, np.ndarray]:
    t, p = _pair(y_true, y_pred)
    if exclude_zero:
        keep = t != 0
        if not keep.any():
            raise ValueError("every true label is 0, so the non0 binary metrics are undefined")
        return t[keep] > 0, p[keep] > 0
    return t >= 0, p >= 0


def acc2(y_true: ArrayLike, y_pred: ArrayLike, *, exclude_zero: bool) -> float:
    """Binary sentiment accuracy (Acc-2) on the CMU-MOSI scale.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.
    exclude_zero : bool
        True for "non0": drop samples whose true value is 0 and compare ``> 0`` against
        ``<= 0``. False for "has0": compare ``>= 0`` against ``< 0`` over all samples.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.
        Also if every true value is 0 with ``exclude_zero=True`` (the metric is undefined).

    References
    ----------
    Zadeh, A. et al. (2016). MOSI: multimodal corpus of sentiment intensity and subjectivity
    analysis in online opinion videos. *IEEE Intelligent Systems* 31(6). The split follows
    ``eval_mosei_senti`` of MulT/MMSA.
    """
    t, p = _binary(y_true, y_pred, exclude_zero)
    return accuracy(t, p)


def f1_2(y_true: ArrayLike, y_pred: ArrayLike, *, exclude_zero: bool) -> float:
    """Weighted F1 (F1-2) of the binary sentiment split that ``acc2`` uses.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.
    exclude_zero : bool
        "non0" (True) or "has0" (False), as in ``acc2``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.
        Also if every true value is 0 with ``exclude_zero=True``.

    References
    ----------
    Zadeh, A. et al. (2016). MOSI: multimodal corpus of sentiment intensity and subjectivity
    analysis in online opinion videos. *IEEE Intelligent Systems* 31(6). The split follows
    ``eval_mosei_senti`` of MulT/MMSA.
    """
    t, p = _binary(y_true, y_pred, exclude_zero)
    return weighted_f1(t, p)


def acc7(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Seven-class accuracy (Acc-7) on the [-3, 3] sentiment scale.

    Both sides are clipped to [-3, 3] and rounded to integers (numpy's round half to even),
    then compared.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.

    References
    ----------
    Zadeh, A. et al. (2016). MOSI: multimodal corpus of sentiment intensity and subjectivity
    analysis in online opinion videos. *IEEE Intelligent Systems* 31(6). The split follows
    ``eval_mosei_senti`` of MulT/MMSA.
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.round(np.clip(t, -3, 3)) == np.round(np.clip(p, -3, 3))))


def mer2023_score(waf: float, valence_mse: float) -> float:
    """MER2023's combined score: WAF of the discrete emotions − 0.25 × MSE of valence.

    Parameters
    ----------
    waf : float
        Weighted F1 of the discrete emotions (``weighted_f1``).
    valence_mse : float
        Mean squared error of valence (``mse``).

    Returns
    -------
    float

    References
    ----------
    Lian, Z. et al. (2023). MER 2023: multi-label learning, modality robustness, and
    semi-supervised learning. *ACM Multimedia*. (MERTools ``MER2023/main-release.py``.)
    """
    return waf - 0.25 * valence_mse


def dimensional_scores(
    y_true: ArrayLike, y_pred: ArrayLike, *, sentiment: bool = False
) -> dict[str, float | int]:
    """Every dimensional metric at once.

    Parameters
    ----------
    y_true : array_like of float, shape (n,)
        Ground-truth values.
    y_pred : array_like of float, shape (n,)
        Predictions, aligned with ``y_true``.
    sentiment : bool, default False
        Also compute the CMU-MOSI sentiment metrics, which assume the [-3, 3] scale with 0 as
        neutral: ``acc2_has0``, ``f1_has0``, ``acc2_non0``, ``f1_non0`` (NaN when every true
        value is 0) and ``acc7``.

    Returns
    -------
    dict of str to float or int
        ``ccc``, ``pearson``, ``mae``, ``mse`` and ``n``, plus the sentiment metrics.

    Raises
    ------
    TypeError
        If an argument is not a sequence of numbers.
    ValueError
        If an argument is not 1-D, holds NaN or infinity, the lengths differ, or it is empty.
    """
    t, p = _pair(y_true, y_pred)
    out: dict[str, float | int] = {
        "ccc": ccc(t, p),
        "pearson": pearson(t, p),
        "mae": mae(t, p),
        "mse": mse(t, p),
        "n": int(t.size),
    }
    if sentiment:
        out |= {
            "acc2_has0": acc2(t, p, exclude_zero=False),
            "f1_has0": f1_2(t, p, exclude_zero=False),
            # Undefined (NaN, like a constant side's Pearson) when every true label is 0.
            "acc2_non0": acc2(t, p, exclude_zero=True) if t.any() else float("nan"),
            "f1_non0": f1_2(t, p, exclude_zero=True) if t.any() else float("nan"),
            "acc7": acc7(t, p),
        }
    return out
