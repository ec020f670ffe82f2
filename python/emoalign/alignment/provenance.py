"""What a study needs to be reproduced: versions, date, the exact call, seeds and settings.

Recorded by ``align()`` into ``Alignment.provenance``, written to ``metrics.json`` and shown in
the report's header and "Reproduce" block. Credentials never enter it: a password in a database
URL (in the storage setting or anywhere in a command line) is replaced by ``***``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import platform
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from optuna.storages import BaseStorage

import emoalign
from emoalign._urls import redact
from emoalign.alignment.search import SearchSpec
from emoalign.gw import entropic_gw

# Libraries whose versions decide a study's numbers (or, for matplotlib, its figures).
LIBRARIES = ("numpy", "polars", "optuna", "matplotlib", "sqlalchemy")


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second (``2026-12-01T14:35:00Z``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_describe() -> str | None:
    """``git describe --tags --always --dirty`` of the checkout emoalign runs from, else None.

    Only when the package really lives in the emoalign repository (``<top>/python/emoalign``):
    an installed copy inside some other repository must not report that repository's state.
    """
    package = Path(emoalign.__file__).resolve().parent
    try:
        top = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        if Path(top).resolve() / "python" / "emoalign" != package:
            return None
        return subprocess.run(
            ["git", "-C", top, "describe", "--tags", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    """emoalign's version (and git describe), Python's, and the key libraries'."""
    out: dict[str, str | None] = {
        "emoalign": emoalign.__version__,
        "git": git_describe(),
        "python": platform.python_version(),
    }
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["platform"] = platform.platform(terse=True)
    return out


def storage_kind(storage: str | os.PathLike[str] | BaseStorage | None) -> str:
    """'memory', 'sqlite', a URL's scheme (e.g. 'postgresql+psycopg') or a storage class name."""
    if storage is None:
        return "memory"
    if isinstance(storage, BaseStorage):
        return type(storage).__name__
    text = os.fspath(storage)
    return text.split("://", 1)[0] if "://" in text else "sqlite"


def storage_label(storage: str | os.PathLike[str] | BaseStorage | None) -> str | None:
    """Where the study lives, safe to publish (the URL's password redacted); None in memory."""
    if storage is None:
        return None
    if isinstance(storage, BaseStorage):
        return type(storage).__name__
    return redact(os.fspath(storage))


def command_line(argv: Sequence[str]) -> str:
    """The ``emoalign`` command as typed (arguments after the program name), redacted."""
    return redact(shlex.join(["emoalign", *argv]))


def record_cli(result: Any, argv: Sequence[str]) -> None:
    """Marks an ``Alignment`` as run by the ``emoalign`` command ``argv`` (its provenance)."""
    result.provenance.update(command=command_line(argv), interface="cli")


def _describe(value: Any) -> str:
    # Data are described, not printed: a call that embeds 2,000 rows reproduces nothing.
    if isinstance(value, pl.DataFrame):
        return f"<polars.DataFrame {value.height}×{value.width}>"
    if isinstance(value, np.ndarray):
        return f"<numpy.ndarray {'×'.join(map(str, value.shape))} {value.dtype}>"
    if isinstance(value, (list, tuple, dict)) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)}>"
    if isinstance(value, BaseStorage):
        return f"<{type(value).__name__}>"
    if isinstance(value, (str, os.PathLike)):
        return repr(redact(os.fspath(value)))
    return repr(value)


def python_call(source: Any, target: Any, options: Mapping[str, Any]) -> str:
    """``emoalign.align(...)`` with the arguments given (data described by type and shape)."""
    args = [_describe(source), _describe(target)]
    args += [f"{key}={_describe(value)}" for key, value in options.items()]
    return f"emoalign.align({', '.join(args)})"


def _gw_default(name: str) -> Any:
    return inspect.signature(entropic_gw).parameters[name].default


def solver(spec: SearchSpec) -> dict[str, Any]:
    """The solver as the study ran it: method, loss, precision and stopping rules."""
    options = spec.options
    float32 = options.precision == "float32"
    return {
        "method": "entropic Gromov-Wasserstein, projected gradient with Sinkhorn projections",
        "loss": _gw_default("loss_fun"),
        "precision": ("float32 trials, the best plan refined in float64" if float32 else "float64"),
        "accelerate": _gw_default("accelerate"),
        "max_iter": options.max_iter,
        "tol": options.tol,
        "inner_max_iter": options.inner_max_iter,
        "inner_tol": options.inner_tol,
        "threads": emoalign.get_num_threads(),
    }


def collect(
    *,
    call: str,
    spec: SearchSpec,
    metrics: tuple[str | None, str | None],
    storage: str | os.PathLike[str] | BaseStorage | None,
    trials: pl.DataFrame,
    started: str,
) -> dict[str, Any]:
    """The provenance record of one finished study (JSON-ready)."""
    states = trials["state"].value_counts()
    count = dict(zip(states["state"].to_list(), states["count"].to_list(), strict=True))
    return {
        "command": call,
        "interface": "python",
        "started": started,
        "finished": utc_now(),
        "versions": versions(),
        "seed": spec.seed,
        "eps_range": list(spec.eps_range),
        "sampler": spec.sampler,
        "metrics": {"source": metrics[0], "target": metrics[1]},
        "inits": list(spec.kinds),
        "warm_start": spec.warm_start,
        "prune": None if spec.prune is None else spec.prune.improvement,
        "solver": solver(spec),
        "trials": {
            "requested": spec.n_trials,
            "complete": int(count.get("complete", 0)),
            "failed": int(count.get("fail", 0)),
            "pruned": int(count.get("pruned", 0)),
            "retries": int(trials["retry_of"].is_not_null().sum()),
        },
        "storage": {"kind": storage_kind(storage), "location": storage_label(storage)},
    }
