"""The alignment report of an n = 20,000 study: time and peak RSS (pytest-benchmark; opt-in).

    EMOALIGN_BENCH_LARGE=1 python -m pytest benches/bench_report_scale.py --benchmark-only -s

The study is faked, since solving it takes minutes (``bench_scale.py`` times that): a small real
``align`` gives the trials table and search settings, then its inputs are swapped for n videos
(``EMOALIGN_BENCH_N``, default 20,000) of 34-d clustered ratings in 34 categories, held only as
factored correlation RDMs (the dense ``C1``/``C2`` are set to None, so any densifying path
fails), and a float32 plan (1.6 GB) with 70 % of each row's mass on a same-category partner and
the rest on 1 % of the row at random. The report (six figures, 1000 Mantel permutations, the
matching rates and per-category table) runs in a fresh subprocess so that ``ru_maxrss`` is its
own; the RSS before the report (plan and factors) is printed beside the peak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

GIB = 1 << 30

REPORT = """
import dataclasses, json, resource, sys, tempfile, time
import numpy as np, optuna, emoalign
from emoalign.alignment import align, synthetic_pair

optuna.logging.set_verbosity(optuna.logging.WARNING)
n = int(sys.argv[1])
rng = np.random.default_rng(0)
labels = rng.integers(0, 34, n)
centres = rng.random((34, 34))
human = centres[labels] + 0.15 * rng.standard_normal((n, 34))
model = human + 0.05 * rng.standard_normal((n, 34))
f1 = emoalign.rdm_factors(human, "correlation").scaled().astype(np.float32)
f2 = emoalign.rdm_factors(model, "correlation").scaled().astype(np.float32)

# A row's partner: a random video of its own category; filled in bands of rows, so that the
# plan is the only n x n array this process ever holds.
plan = np.zeros((n, n), dtype=np.float32)
members = [np.flatnonzero(labels == c) for c in range(34)]
partner = np.array([rng.choice(members[c]) for c in labels])
for i in range(0, n, 256):
    band = plan[i : i + 256]
    spread = rng.random(band.shape) < 0.01
    band[spread] = 0.3 / n / max(1, spread.sum() / len(band))
    band[np.arange(len(band)), partner[i : i + 256]] += 0.7 / n

small = synthetic_pair(n_categories=4, per_category=8, seed=5)
seed = align(small.human, small.model, labels=small.labels, n_trials=3, n_inits=1)
prepared = dataclasses.replace(
    seed.prepared, ids=[f"v{i}" for i in range(n)], source=human, target=model,
    source_metric="correlation", target_metric="correlation", C1=None, C2=None,
    labels=labels.astype(str), costs=(f1, f2),
)
result = dataclasses.replace(seed, prepared=prepared, plan=plan, _rsa={})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    result.report(out, names=("human", "model"), permutations=1000)
    metrics = json.load(open(f"{out}/metrics.json"))
seconds = time.perf_counter() - t
print(json.dumps({
    "n": n, "seconds": seconds, "rss_before_bytes": before,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "pooling": metrics["pooling"], "embedding_videos": metrics["embedding"]["videos"],
    "rsa_videos": metrics["rsa_videos"], "figures": metrics["figures"],
}))
"""


@pytest.mark.skipif(not os.environ.get("EMOALIGN_BENCH_LARGE"), reason="EMOALIGN_BENCH_LARGE=1")
def test_large_report(benchmark: Any) -> None:
    n = int(os.environ.get("EMOALIGN_BENCH_N", "20000"))
    cmd = [sys.executable, "-c", textwrap.dedent(REPORT), str(n)]

    def run() -> dict[str, Any]:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    stats = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(stats)
    print(
        f"\nreport at n={stats['n']}: {stats['seconds']:.1f} s, peak RSS "
        f"{stats['peak_rss_bytes'] / GIB:.2f} GiB (plan and factors before the report: "
        f"{stats['rss_before_bytes'] / GIB:.2f} GiB); pooled {stats['pooling']}, embedding of "
        f"{stats['embedding_videos']} videos, RSA on {stats['rsa_videos']}"
    )
    # What the report adds is bounded by its subsamples (the RSA's 3000 × 3000 and the
    # embedding's 2000 × 2000 blocks), not by n: below one float32 n × n array (1.6 GB at
    # n = 20,000), which any second copy of the plan or a dense RDM would exceed alone.
    assert stats["peak_rss_bytes"] - stats["rss_before_bytes"] < n * n * 4
