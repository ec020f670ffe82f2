"""The Rust core against the references it replaces, measured in the same run.

    python -m pytest benches/bench_core.py --benchmark-only -s

Each benchmark times emoalign with pytest-benchmark, times the reference (POT or scipy) on the
same input, prints the ratio and asserts the issue's target. Speed is asserted here, never in
the test suite, because these machines are noisy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import ot
import pytest
from scipy.spatial.distance import pdist as scipy_pdist
from scipy.stats import spearmanr

import emoalign


def rdm_pair(n: int, dtype: type = np.float64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean RDMs of random 34-dimensional points over their maximum (the issue's case)."""
    rng = np.random.default_rng(seed)

    def one() -> np.ndarray:
        c = emoalign.rdm(rng.random((n, 34)))
        return (c / c.max()).astype(dtype)

    return one(), one()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def report(benchmark: Any, name: str, ours: float, ref: float, target: float) -> None:
    ratio = ref / ours
    benchmark.extra_info.update({"reference_s": ref, "emoalign_s": ours, "ratio": ratio})
    print(
        f"\n{name}: reference {ref:.4f} s, emoalign {ours:.4f} s, ratio {ratio:.2f}x "
        f"(target {target}x)"
    )
    assert ratio >= target, f"{name}: {ratio:.2f}x is below the {target}x target"


@pytest.mark.parametrize(
    ("n", "dtype", "target", "iters"),
    [
        (500, np.float64, 1.8, 10),
        (1000, np.float64, 1.8, 10),
        (2185, np.float64, 1.8, 5),
        (500, np.float32, 3.5, 10),
        (1000, np.float32, 3.5, 10),
        (2185, np.float32, 3.5, 5),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_gw_time_per_outer_iteration(
    benchmark: Any, n: int, dtype: type, target: float, iters: int
) -> None:
    """Fixed iteration counts on both sides (tol=0), so the ratio is per outer iteration."""
    c1, c2 = rdm_pair(n, dtype)

    def ours() -> emoalign.GWResult:
        return emoalign.entropic_gw(c1, c2, epsilon=0.01, max_iter=iters, tol=0.0, warn=False)

    result = benchmark.pedantic(ours, rounds=1, iterations=1)
    per_ours = benchmark.stats.stats.min / result.n_iter
    ref, _ = timed(
        lambda: ot.gromov.entropic_gromov_wasserstein(c1, c2, epsilon=0.01, max_iter=iters, tol=0.0)
    )
    report(
        benchmark,
        f"entropic GW n={n} {np.dtype(dtype).name} per iteration",
        per_ours,
        ref / iters,
        target,
    )


def test_gw_small_epsilon_whole_solve(benchmark: Any) -> None:
    c1, c2 = rdm_pair(500)

    def ours() -> emoalign.GWResult:
        return emoalign.entropic_gw(c1, c2, epsilon=1e-3, tol=1e-9, relative_tol=False)

    result = benchmark.pedantic(ours, rounds=1, iterations=1)
    assert result.converged and result.marginal_error <= 1e-8
    assert np.isfinite(result.plan).all()
    ref, _ = timed(lambda: ot.gromov.entropic_gromov_wasserstein(c1, c2, epsilon=1e-3, tol=1e-9))
    report(
        benchmark, "entropic GW n=500 eps=1e-3 whole solve", benchmark.stats.stats.min, ref, 20.0
    )


@pytest.mark.parametrize("epsilon", [1e-3, 3e-3, 1e-2])
def test_gw_acceleration_gain(benchmark: Any, epsilon: float) -> None:
    """What guarded Anderson acceleration (entropic_gw's default) gains over the plain iteration
    the POT drop-ins run, at the same fixed point: the reference here is emoalign's own plain
    path, on the same 500-point RDMs and tolerance as the whole-solve row."""
    c1, c2 = rdm_pair(500)
    kw = {"epsilon": epsilon, "tol": 1e-9, "relative_tol": False}

    def fast() -> emoalign.GWResult:
        return emoalign.entropic_gw(c1, c2, accelerate=True, **kw)

    accelerated = benchmark.pedantic(fast, rounds=1, iterations=1)
    ref, plain = timed(lambda: emoalign.entropic_gw(c1, c2, accelerate=False, **kw))
    assert accelerated.converged and plain.converged
    gap = np.abs(accelerated.plan - plain.plan).max() / plain.plan.max()
    assert gap <= 1e-6, f"acceleration changed the fixed point (plans {gap:.1e} apart)"
    benchmark.extra_info.update({"iterations": [accelerated.n_iter, plain.n_iter]})
    print(f"\neps={epsilon:g}: {accelerated.n_iter} iterations accelerated, {plain.n_iter} plain")
    report(
        benchmark,
        f"acceleration at eps={epsilon:g} (reference: plain iteration)",
        benchmark.stats.stats.min,
        ref,
        1.0,
    )


def test_pdist_correlation(benchmark: Any) -> None:
    x = np.random.default_rng(0).random((10_000, 512))
    benchmark.pedantic(lambda: emoalign.pdist(x, "correlation"), rounds=1, iterations=1)
    ref, _ = timed(lambda: scipy_pdist(x, "correlation"))
    report(benchmark, "pdist correlation 10000x512", benchmark.stats.stats.min, ref, 5.0)


def test_pdist_f32_peak_memory(benchmark: Any) -> None:
    """Peak resident memory of a fresh process computing pdist of 20000 x 34 float32 points.
    The output alone is 20000·19999/2 float32 = 763 MiB; the rest must stay small."""
    script = textwrap.dedent("""
        import resource, numpy as np, emoalign
        x = np.random.default_rng(0).random((20_000, 34)).astype(np.float32)
        d = emoalign.pdist(x)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    """)

    def run() -> int:
        out = subprocess.run(
            [sys.executable, "-c", script],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        return int(out.stdout.strip())

    peak = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["peak_bytes"] = peak
    print(f"\npdist 20000x34 float32: peak RSS {peak / 2**30:.3f} GiB (target 1 GB)")
    assert peak <= 1e9


def test_rsa_spearman(benchmark: Any) -> None:
    c1, c2 = rdm_pair(2185)
    benchmark.pedantic(lambda: emoalign.rsa(c1, c2), rounds=3, iterations=1)
    iu = np.triu_indices(2185, k=1)
    x, y = c1[iu], c2[iu]
    ref, _ = timed(lambda: spearmanr(x, y))
    report(benchmark, "rsa spearman n=2185", benchmark.stats.stats.min, ref, 10.0)
