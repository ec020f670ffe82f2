"""Multi-model comparison: the RSA bootstrap against rsatoolbox's, and the full ``compare``.

    python -m pytest benches/bench_compare.py --benchmark-only -s
    EMOALIGN_BENCH_CK=1 python -m pytest benches/bench_compare.py -k full --benchmark-only -s

The data are the Cowen & Keltner (2017) category ratings (2185 videos × 34) and synthetic
"models" made from them with noise, so the RDMs have the real data's ties and structure.
rsatoolbox is timed on a few of its bootstrap samples in the same run (at n = 2185 one sample
takes seconds) and its per-sample time is scaled to 1000 samples.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import rsatoolbox

import emoalign
from emoalign.datasets import load_cowen_keltner

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cowen_keltner_2017"
N_BOOT = 1000
RSATOOLBOX_SAMPLES = 5


def ck_models(noise: tuple[float, ...] = (0.05, 0.1, 0.2), seed: int = 0):
    ck = load_cowen_keltner(SHARED)
    human = np.asarray(ck.categories.drop(ck.categories.columns[0]).to_numpy(), dtype=np.float64)
    rng = np.random.default_rng(seed)
    models = {f"noise_{s}": human + rng.normal(0, s, human.shape) for s in noise}
    return ck, human, models


def test_compare_rsa_bootstrap_vs_rsatoolbox(benchmark) -> None:
    _, human, models = ck_models()
    result = benchmark.pedantic(
        lambda: emoalign.compare_rsa(human, models, n_boot=N_BOOT, seed=0, permutations=0),
        rounds=1,
        iterations=1,
    )
    ours = benchmark.stats.stats.min
    x = emoalign.pdist(human, "euclidean")
    ref = rsatoolbox.rdm.RDMs(x[None, :])
    cands = rsatoolbox.rdm.RDMs(np.stack([emoalign.pdist(m, "euclidean") for m in models.values()]))
    np.random.seed(0)
    start = time.perf_counter()
    for _ in range(RSATOOLBOX_SAMPLES):
        sample, idx = rsatoolbox.inference.bootstrap_sample_pattern(ref)
        rsatoolbox.rdm.compare(sample, cands.subsample_pattern("index", idx), "spearman")
    per_sample = (time.perf_counter() - start) / RSATOOLBOX_SAMPLES
    theirs = per_sample * N_BOOT
    benchmark.extra_info.update({"rsatoolbox_s_scaled": theirs, "emoalign_s": ours})
    print(
        f"\ncompare_rsa n={human.shape[0]}, 3 candidates, {N_BOOT} bootstraps (spearman): "
        f"emoalign {ours:.2f} s; rsatoolbox {per_sample:.2f} s per sample "
        f"({RSATOOLBOX_SAMPLES} timed) = {theirs:.0f} s per {N_BOOT}; ratio {theirs / ours:.0f}x"
    )
    print(result.table)
    assert ours < 60, "1000 bootstraps at n = 2185 must take seconds, not minutes"


def test_compare_rsa_with_mantel(benchmark) -> None:
    """The same with 1000 Mantel permutations per candidate, as ``emoalign compare`` runs it."""
    _, human, models = ck_models()
    benchmark.pedantic(
        lambda: emoalign.compare_rsa(human, models, n_boot=N_BOOT, seed=0, permutations=1000),
        rounds=1,
        iterations=1,
    )
    print(f"\ncompare_rsa with 1000 Mantel permutations: {benchmark.stats.stats.min:.1f} s")


@pytest.mark.skipif(not os.environ.get("EMOALIGN_BENCH_CK"), reason="set EMOALIGN_BENCH_CK=1")
def test_full_compare_cowen_keltner(benchmark) -> None:
    """``emoalign.compare`` on the C&K categories against two synthetic models, every level.
    EMOALIGN_BENCH_CK_TRIALS sets the ε trials per model (50, as in bench_align's C&K study)."""
    trials = int(os.environ.get("EMOALIGN_BENCH_CK_TRIALS", "50"))
    ck, human, models = ck_models((0.05, 0.2))
    ids = ck.ids

    def frame(values: np.ndarray) -> pl.DataFrame:
        cols = ck.categories.columns[1:]
        return pl.DataFrame(values, schema=cols, orient="row").insert_column(
            0, pl.Series("video_id", ids)
        )

    def run() -> None:
        started = time.perf_counter()
        result = emoalign.compare(
            frame(human), {k: frame(v) for k, v in models.items()}, labels=ck.labels,
            n_trials=trials, n_inits=1, eps_range=(1e-3, 1e-2), seed=0,
        )  # fmt: skip
        wall = time.perf_counter() - started
        print(f"\nfull compare, C&K n={result.n}, 2 models, {trials} trials each: {wall:.0f} s")
        print(result.levels())

    benchmark.pedantic(run, rounds=1, iterations=1)
