"""emoalign: do multimodal LLMs perceive the emotions that videos evoke the way people do?

The numeric kernels (dissimilarity matrices, entropic Gromov-Wasserstein, RSA) live in the Rust
extension ``emoalign._core``; heavier layers (querying, alignment studies, scoring, reports) are
imported on first use so that ``import emoalign`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from emoalign._core import NumericalError, get_num_threads, set_num_threads
from emoalign.distance import cdist, pdist, rdm
from emoalign.factored import LowRankRDM, rdm_factors
from emoalign.gw import (
    ConvergenceWarning,
    GWResult,
    entropic_gromov_wasserstein,
    entropic_gromov_wasserstein2,
    entropic_gw,
    gw_gradient,
    gw_value,
    gwloss,
    init_matrix,
)
from emoalign.rsa import RSAResult, rsa

__version__ = "0.1.0"

# Public names served by submodules that are imported only when first touched.
_LAZY: dict[str, tuple[str, str | None]] = {
    "metrics": ("emoalign.metrics", None),
    "datasets": ("emoalign.datasets", None),
    "align": ("emoalign.alignment", "align"),
    "Alignment": ("emoalign.alignment", "Alignment"),
    "LowRankAlignment": ("emoalign.alignment", "LowRankAlignment"),
    "matching_rate": ("emoalign.alignment", "matching_rate"),
    # The package itself, which is callable as query(): see emoalign/query/__init__.py.
    "query": ("emoalign.query", None),
    "aquery": ("emoalign.query", "aquery"),
    "agreement": ("emoalign.comparison", "agreement"),
    "compare_rsa": ("emoalign.comparison", "compare_rsa"),
    "compare": ("emoalign.comparison", "compare"),
    "lowrank_gw": ("emoalign.lowrank", "lowrank_gw"),
    "lowrank_matching_rate": ("emoalign.lowrank", "lowrank_matching_rate"),
    "LowRankGWResult": ("emoalign.lowrank", "LowRankGWResult"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'emoalign' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ConvergenceWarning",
    "GWResult",
    "LowRankRDM",
    "NumericalError",
    "RSAResult",
    "__version__",
    "cdist",
    "entropic_gromov_wasserstein",
    "entropic_gromov_wasserstein2",
    "entropic_gw",
    "get_num_threads",
    "gw_gradient",
    "gw_value",
    "gwloss",
    "init_matrix",
    "pdist",
    "rdm",
    "rdm_factors",
    "rsa",
    "set_num_threads",
    *_LAZY,
]
