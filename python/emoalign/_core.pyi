"""Type stubs for the Rust extension ``emoalign._core``.

Arrays are float32 or float64 numpy arrays (the Python wrappers convert other input); outputs
keep the input's dtype. Every function releases the GIL while it computes.
"""

from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

_Float = NDArray[np.float32] | NDArray[np.float64]
# A cost: a dense square matrix, or factors (A, B) of shape (n, k) with C = A @ B.T.
_Cost = _Float | tuple[_Float, _Float]

class _GWRaw(TypedDict):
    plan: _Float
    gw_dist: float
    n_iter: int
    n_inner_iter: int
    marginal_error: float
    relative_change: float
    converged: bool
    history: list[float]
    f: NDArray[np.float64]
    g: NDArray[np.float64]
    peak_bytes: int

class _RSARaw(TypedDict):
    r: float
    p_value: float | None
    n_pairs: int
    null: NDArray[np.float64]

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def pdist(X: _Float, metric: str = "euclidean") -> _Float: ...
def cdist(XA: _Float, XB: _Float, metric: str = "euclidean") -> _Float: ...
def rdm(X: _Float, metric: str = "euclidean") -> _Float: ...
def entropic_gw(
    C1: _Cost,
    C2: _Cost,
    p: NDArray[np.float64] | None = None,
    q: NDArray[np.float64] | None = None,
    loss_fun: str = "square_loss",
    epsilon: float = 0.1,
    symmetric: bool | None = None,
    G0: _Float | None = None,
    potentials: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
    solver: str = "PGD",
    inner_max_iter: int = 1000,
    inner_tol: float = 1e-9,
    relative_tol: bool = True,
    accelerate: bool = False,
    callback: Callable[..., Any] | None = None,
    callback_value: bool = False,
    max_memory: int | None = None,
) -> _GWRaw: ...
def gw_value(C1: _Cost, C2: _Cost, T: _Float, loss_fun: str = "square_loss") -> float: ...
def gw_gradient(C1: _Cost, C2: _Cost, T: _Float, loss_fun: str = "square_loss") -> _Float: ...
def upper_triangle(D: NDArray[np.float64], name: str) -> NDArray[np.float64]: ...
def rsa_condensed(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    method: str = "spearman",
    permutations: int = 0,
    seed: int | None = None,
) -> _RSARaw: ...

_F64 = NDArray[np.float64]

class _LowRankRaw(TypedDict):
    Q: _F64
    R: _F64
    g: _F64
    gw_dist: float
    converged: bool
    n_iter: int
    n_inner_iter: int
    history: list[float]
    capped: int
    worst_capped: float
    constant: float

def lowrank_gw_solve(
    A1: _F64,
    B1: _F64,
    A2: _F64,
    B2: _F64,
    p: _F64,
    q: _F64,
    Q0: _F64,
    R0: _F64,
    g0: _F64,
    gamma: float,
    max_iter: int,
    tol: float,
    inner_max_iter: int,
    inner_tol: float,
    min_g: float,
    callback: Callable[[int, float, float, int], Any] | None = None,
) -> _LowRankRaw: ...

class NumericalError(FloatingPointError):
    """A computation broke down numerically on valid input; bad input raises ValueError."""

def rsa_bootstrap(
    x: NDArray[np.float64],
    ys: NDArray[np.float64],
    method: str = "spearman",
    n_boot: int = 1000,
    seed: int = 0,
    samples: NDArray[np.int64] | None = None,
) -> NDArray[np.float64]: ...
