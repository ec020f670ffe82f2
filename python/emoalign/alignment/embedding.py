"""Low-dimensional pictures of both structures in one frame.

Each RDM gets a classical MDS in ``aligned_dim`` dimensions (20 by default, enough to keep most
of the variance of rating-based RDMs); the target's embedding is rotated, scaled and shifted onto
the source's through the transport plan in that space; and both clouds are then projected onto
*one* shared PCA basis of the aligned points. Aligning two separate 2-D MDS planes instead
misleads: the planes hold different parts of each structure (the leading eigenvalues of an RDM
often nearly tie), so a video's two points sit far apart even under a perfect plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

ALIGNED_DIM = 20


@dataclass(frozen=True)
class MDS:
    """Classical MDS coordinates with their eigenvalues and the total they are a share of."""

    coords: NDArray[np.float64]
    eigenvalues: NDArray[np.float64]
    total: float
    """Sum of the double-centred Gram matrix's positive eigenvalues: the variance of the RDM's
    Euclidean part, all dimensions together. (Its trace would also subtract the negative
    eigenvalues of a non-Euclidean RDM, such as a correlation RDM, and a share of it could then
    exceed 100%: 143.9% was reported for one.)"""

    @property
    def kept(self) -> float:
        """Share of the total variance that the coordinates keep (1.0 for a zero matrix)."""
        return float(self.eigenvalues.sum() / self.total) if self.total > 0 else 1.0


def mds(D: NDArray[np.float64], dim: int, seed: int = 0) -> MDS:
    """Top-``dim`` classical MDS of a distance matrix, with the share of variance kept.

    The leading eigenvectors of the double-centred squared distances come from subspace
    iteration rather than a full eigendecomposition, which at n = 2185 costs seconds. Negative
    eigenvalues (a non-Euclidean RDM) are clipped to zero.
    """
    n = D.shape[0]
    if dim < 1 or dim >= n:
        raise ValueError(f"dim must be between 1 and {n - 1}, got {dim}")
    sq = D.astype(np.float64) ** 2
    row = sq.mean(axis=1)
    B = -0.5 * (sq - row[:, None] - row[None, :] + row.mean())
    k = min(n, dim + 8)
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))[0]
    for _ in range(30):
        basis = np.linalg.qr(B @ basis)[0]
    small = basis.T @ B @ basis
    values, vectors = np.linalg.eigh((small + small.T) / 2)
    order = np.argsort(values)[::-1][:dim]
    kept = np.clip(values[order], 0, None)
    coords = basis @ vectors[:, order] * np.sqrt(kept)
    # All eigenvalues for the total: O(n³), about a second at the 2,000 videos an embedding
    # is drawn from at most.
    total = float(np.clip(np.linalg.eigvalsh(B), 0, None).sum())
    return MDS(_fix_signs(coords), kept, total)


def classical_mds(D: NDArray[np.float64], dim: int, seed: int = 0) -> NDArray[np.float64]:
    """Top-``dim`` classical MDS coordinates of a distance matrix (see :func:`mds`)."""
    return mds(D, dim, seed).coords


def _fix_signs(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    # Each axis's largest-magnitude coordinate is made positive so results are reproducible.
    signs = np.sign(coords[np.abs(coords).argmax(axis=0), np.arange(coords.shape[1])])
    return coords * np.where(signs == 0, 1.0, signs)


def procrustes_through_plan(
    X: NDArray[np.float64], Y: NDArray[np.float64], plan: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Y moved by the rotation/reflection, scale and shift that minimise Σ P_ij ‖x_i − f(y_j)‖²."""
    p, q = plan.sum(axis=1), plan.sum(axis=0)
    xc = X - p @ X / p.sum()
    yc = Y - q @ Y / q.sum()
    u, s, vt = np.linalg.svd(xc.T @ plan @ yc)
    rotation = vt.T @ u.T
    spread = float(q @ (yc**2).sum(axis=1))
    scale = float(s.sum() / spread) if spread > 0 else 1.0
    return scale * yc @ rotation + p @ X / p.sum()


@dataclass(frozen=True)
class AlignedEmbedding:
    """Both structures in one low-dimensional frame; row i of each side is video i.

    ``explained[a]`` is the share of the aligned clouds' variance on shown axis ``a``;
    ``kept`` is the share of each RDM's variance kept by the ``aligned_dim``-dimensional MDS in
    which the alignment was made. ``videos`` are the plan rows the points belong to (all n, or
    the subsample a large study is drawn from; see ``Alignment.aligned_embedding``).
    """

    source: NDArray[np.float64]
    target: NDArray[np.float64]
    explained: NDArray[np.float64]
    aligned_dim: int
    kept: tuple[float, float]
    videos: NDArray[np.intp]

    @property
    def gap(self) -> float:
        """Faithfulness of the picture: mean distance between a video's two points over the
        spread (root-mean-square distance of all shown points from their centroid).

        0 when every video's points coincide; about 1.4 for two unrelated clouds of equal size.
        """
        points = np.vstack([self.source, self.target])
        spread = float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))
        pair = float(np.linalg.norm(self.source - self.target, axis=1).mean())
        return pair / spread if spread > 0 else 0.0


def aligned_embedding(
    C1: NDArray[np.float64],
    C2: NDArray[np.float64],
    plan: NDArray[np.float64],
    dim: int = 2,
    aligned_dim: int = ALIGNED_DIM,
) -> AlignedEmbedding:
    """Source and target in one ``dim``-dimensional frame (see the module docstring).

    Parameters
    ----------
    C1, C2 : ndarray, shape (n, n)
        The two RDMs, rows in the same video order.
    plan : ndarray, shape (n, n)
        The transport plan that the Procrustes step follows (weights P_ij).
    dim : int
        Dimensions shown (the shared PCA's leading axes).
    aligned_dim : int
        Dimensions of the MDS in which the Procrustes alignment is made, capped at n − 1.

    Returns
    -------
    AlignedEmbedding
    """
    n = C1.shape[0]
    if dim < 1 or dim >= n:
        raise ValueError(f"dim must be between 1 and {n - 1}, got {dim}")
    if aligned_dim < dim:
        raise ValueError(f"aligned_dim must be at least dim ({dim}), got {aligned_dim}")
    d = min(aligned_dim, n - 1)
    source, target = mds(C1, d), mds(C2, d)
    X = source.coords
    Y = procrustes_through_plan(X, target.coords, plan)
    points = np.vstack([X, Y])
    centre = points.mean(axis=0)
    _, s, vt = np.linalg.svd(points - centre, full_matrices=False)
    basis = vt[:dim].T
    total = float((s**2).sum())
    explained = (s[:dim] ** 2) / total if total > 0 else np.zeros(dim)
    shown = _fix_signs((points - centre) @ basis)
    return AlignedEmbedding(
        shown[:n], shown[n:], explained, d, (source.kept, target.kept), np.arange(n, dtype=np.intp)
    )
