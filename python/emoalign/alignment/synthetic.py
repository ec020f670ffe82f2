"""A deterministic synthetic human/model pair with known categories and correspondence.

Each video's "human" ratings are its category's prototype plus video-specific variation; the
"model" ratings are the same videos seen through a mild random linear distortion plus a little
noise, and are listed in a shuffled order under the same ids. So categories are separable on
both sides, the within-category geometry that identifies each video survives on the model side,
and the true correspondence (video i ↔ video i) is known, which is what the demo and the tests
check an unsupervised alignment against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray


@dataclass(frozen=True)
class SyntheticPair:
    """A synthetic human/model rating pair (see ``synthetic_pair``)."""

    human: pl.DataFrame
    """``video_id`` + one column per emotion, in id order."""
    model: pl.DataFrame
    """The same videos and columns, rows in a shuffled order."""
    labels: NDArray[np.str_]
    """Each video's category, in ``human``'s row order."""
    categories: list[str]
    """The category names."""


def synthetic_pair(
    n_categories: int = 6,
    per_category: int = 12,
    n_emotions: int = 34,
    seed: int = 0,
    video_spread: float = 0.06,
    distortion: float = 0.2,
    model_noise: float = 0.005,
) -> SyntheticPair:
    r"""A deterministic human/model rating pair with known categories and correspondence.

    Human ratings are a category prototype (Dirichlet(0.3) over the emotions) plus
    video-specific Gaussian variation; model ratings are the same videos through a random
    linear distortion $I + \delta A / \sqrt{k}$ ($A$ standard normal) plus noise, listed in a
    shuffled order under the same ids.

    Parameters
    ----------
    n_categories : int, default 6
        Categories.
    per_category : int, default 12
        Videos per category.
    n_emotions : int, default 34
        Rating columns (k).
    seed : int, default 0
        Everything is drawn from this seed.
    video_spread : float, default 0.06
        Standard deviation of each video's variation around its prototype.
    distortion : float, default 0.2
        Strength $\delta$ of the model's linear distortion.
    model_noise : float, default 0.005
        Standard deviation of the model's additive noise.

    Returns
    -------
    SyntheticPair
        ``human`` and ``model`` DataFrames (``video_id`` + ``emotion_00`` ...), ``labels`` and
        ``categories``.

    Examples
    --------
    >>> from emoalign.alignment import synthetic_pair
    >>> pair = synthetic_pair(n_categories=4, per_category=8, seed=3)
    >>> pair.human.shape, pair.model.shape, pair.categories[:2]
    ((32, 35), (32, 35), ['category_0', 'category_1'])
    """
    rng = np.random.default_rng(seed)
    emotions = [f"emotion_{i:02d}" for i in range(n_emotions)]
    categories = [f"category_{c}" for c in range(n_categories)]
    prototypes = rng.dirichlet(np.full(n_emotions, 0.3), size=n_categories)
    which = np.repeat(np.arange(n_categories), per_category)
    n = which.size
    human = prototypes[which] + rng.normal(0.0, video_spread, size=(n, n_emotions))
    mixing = np.eye(n_emotions) + distortion * rng.normal(size=(n_emotions, n_emotions)) / np.sqrt(
        n_emotions
    )
    model = human @ mixing + rng.normal(0.0, model_noise, size=human.shape)
    ids = [f"v{i:04d}" for i in range(n)]
    order = rng.permutation(n)

    def frame(values: NDArray[np.float64], rows: NDArray[np.intp]) -> pl.DataFrame:
        data = {"video_id": [ids[i] for i in rows]}
        data.update({name: values[rows, j] for j, name in enumerate(emotions)})
        return pl.DataFrame(data)

    return SyntheticPair(
        human=frame(human, np.arange(n)),
        model=frame(model, order),
        labels=np.asarray(categories)[which],
        categories=categories,
    )


@dataclass(frozen=True)
class SyntheticStudy:
    human: pl.DataFrame
    """``video_id`` + one column per emotion, in id order."""
    models: dict[str, pl.DataFrame]
    """Model name → ratings of the same videos and emotions, rows shuffled."""
    labels: NDArray[np.str_]
    categories: list[str]


def synthetic_study(
    n_categories: int = 6,
    per_category: int = 12,
    n_emotions: int = 34,
    seed: int = 0,
    video_spread: float = 0.06,
    close: tuple[float, float] = (0.2, 0.005),
    far: tuple[float, float] = (0.3, 0.04),
) -> SyntheticStudy:
    """Synthetic humans and two models: ``close`` and ``far`` give each model's (distortion,
    noise). The close model is :func:`synthetic_pair`'s; the far one sees the same humans
    through a stronger distortion with noise two thirds of the videos' own spread, drawn
    independently, so it keeps the categories but loses part of each video's identity (as
    models do in Asanuma et al. 2025: strong category-level, weaker item-level matching)."""
    pair = synthetic_pair(
        n_categories,
        per_category,
        n_emotions,
        seed,
        video_spread,
        distortion=close[0],
        model_noise=close[1],
    )
    human = pair.human.drop("video_id").to_numpy()
    rng = np.random.default_rng([seed, 1])
    mixing = np.eye(n_emotions) + far[0] * rng.normal(size=(n_emotions, n_emotions)) / np.sqrt(
        n_emotions
    )
    values = human @ mixing + rng.normal(0.0, far[1], size=human.shape)
    order = rng.permutation(human.shape[0])
    far_frame = pl.DataFrame(values[order], schema=pair.human.columns[1:], orient="row")
    far_frame = far_frame.insert_column(0, pair.human["video_id"].gather(order))
    return SyntheticStudy(
        human=pair.human,
        models={"close": pair.model, "far": far_frame},
        labels=pair.labels,
        categories=pair.categories,
    )
