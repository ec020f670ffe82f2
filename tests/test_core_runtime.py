"""Thread control and Ctrl-C during long kernels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import emoalign


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = emoalign.get_num_threads()
    yield
    emoalign.set_num_threads(before)


def test_set_num_threads_changes_get_num_threads(restore_threads: None) -> None:
    for n in (1, 3, 2):
        emoalign.set_num_threads(n)
        assert emoalign.get_num_threads() == n


def test_results_do_not_depend_on_thread_count(restore_threads: None) -> None:
    rng = np.random.default_rng(0)
    D1 = ssd.pdist(rng.standard_normal((40, 4)))
    D2 = ssd.pdist(rng.standard_normal((40, 4)))
    X = rng.standard_normal((300, 20))
    runs = []
    for n in (1, 2, 4):
        emoalign.set_num_threads(n)
        runs.append(
            (
                [
                    emoalign.rsa(D1, D2, method=m, permutations=64, seed=9)
                    for m in ("spearman", "kendall")
                ],
                emoalign.pdist(X, "euclidean"),
            )
        )
    for rsas, pd in runs[1:]:
        for a, b in zip(rsas, runs[0][0], strict=True):
            assert a.r == b.r and a.p_value == b.p_value
            np.testing.assert_array_equal(a.null, b.null)
        np.testing.assert_array_equal(pd, runs[0][1])  # pair-by-pair kernels: bitwise equal


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gw_is_bitwise_identical_across_thread_counts(restore_threads: None, dtype: type) -> None:
    """Every reduction in the solver is cut into fixed blocks whatever the thread count, and the
    GEMMs split only their output, so a seeded study reproduces bit for bit on any machine size.
    n = 300 puts the GEMMs and Sinkhorn passes over several blocks; ε = 5e-3 brings in the
    Newton polish and Anderson acceleration."""
    rng = np.random.default_rng(1)
    costs = []
    for _ in range(2):
        C = emoalign.rdm(rng.standard_normal((300, 6)))
        costs.append((C / C.max()).astype(dtype))
    runs = []
    for n in (1, 2, 3):
        emoalign.set_num_threads(n)
        runs.append(emoalign.entropic_gw(*costs, epsilon=5e-3, max_iter=80, warn=False))
    for other in runs[1:]:
        np.testing.assert_array_equal(other.plan, runs[0].plan)
        assert other.gw_dist == runs[0].gw_dist
        assert other.history == runs[0].history


def test_env_var_sets_the_initial_thread_count() -> None:
    env = {**os.environ, "EMOALIGN_NUM_THREADS": "3"}
    out = subprocess.run(
        [sys.executable, "-c", "import emoalign; print(emoalign.get_num_threads())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "3"


CHILD = """
import sys, time, numpy as np, emoalign
rng = np.random.default_rng(0)
C1 = emoalign.rdm(rng.standard_normal((700, 34))); C1 /= C1.max()
C2 = emoalign.rdm(rng.standard_normal((700, 34))); C2 /= C2.max()
print("start", flush=True)
t = time.perf_counter()
try:
    emoalign.entropic_gw(C1, C2, epsilon=1e-3, max_iter=100000, tol=0.0, warn=False)
    print("finished", time.perf_counter() - t, flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_interrupts_a_long_solve_promptly() -> None:
    """A solve that would run for minutes (tol=0, 1e5 iterations at n=700) gets SIGINT after
    1.5 s and must raise KeyboardInterrupt within 2 s."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "start"
        time.sleep(1.5)
        assert child.poll() is None, "the solve should still be running"
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        waited = time.perf_counter() - sent
    finally:
        if child.poll() is None:
            child.kill()
    assert "interrupted" in out, out + err
    assert waited < 2.0
