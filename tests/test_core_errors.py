"""Every bad input raises ValueError/TypeError/MemoryError naming the argument; never a panic."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emoalign

C = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
D = np.array([[0.0, 1.0], [1.0, 0.0]])
X = np.arange(12.0).reshape(4, 3) ** 1.5


def gw(**kw: Any) -> Any:
    args = {"C1": C, "C2": D, "epsilon": 0.1, **kw}
    return emoalign.entropic_gw(**args)


BAD_CALLS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("pdist NaN", lambda: emoalign.pdist(np.array([[0.0, np.nan], [1, 2]])), ValueError, "X"),
    ("pdist inf", lambda: emoalign.pdist(np.array([[0.0, np.inf], [1, 2]])), ValueError, "X"),
    ("pdist 1-D", lambda: emoalign.pdist(np.ones(3)), ValueError, "X"),
    ("pdist 3-D", lambda: emoalign.pdist(np.ones((2, 2, 2))), ValueError, "X"),
    ("pdist empty", lambda: emoalign.pdist(np.ones((0, 3))), ValueError, "X"),
    ("pdist no cols", lambda: emoalign.pdist(np.ones((3, 0))), ValueError, "X"),
    ("pdist complex", lambda: emoalign.pdist(np.ones((3, 2), complex)), TypeError, "X"),
    ("pdist object", lambda: emoalign.pdist(np.array([[1, "a"]], object)), TypeError, "X"),
    ("pdist strings", lambda: emoalign.pdist(np.array([["a", "b"]])), TypeError, "X"),
    ("pdist float16", lambda: emoalign.pdist(np.ones((3, 2), np.float16)), TypeError, "X"),
    ("pdist metric", lambda: emoalign.pdist(X, "nope"), ValueError, "metric"),
    ("rdm NaN", lambda: emoalign.rdm(np.array([[np.nan], [1.0]])), ValueError, "X"),
    ("cdist cols", lambda: emoalign.cdist(X, np.ones((2, 4))), ValueError, "XB"),
    ("cdist NaN B", lambda: emoalign.cdist(X, np.full((2, 3), np.nan)), ValueError, "XB"),
    ("cdist empty A", lambda: emoalign.cdist(np.ones((0, 3)), X), ValueError, "XA"),
    ("cdist complex B", lambda: emoalign.cdist(X, X.astype(complex)), TypeError, "XB"),
    (
        "cosine zero row",
        lambda: emoalign.pdist(np.array([[0.0, 0], [1, 2]]), "cosine"),
        ValueError,
        "row",
    ),
    (
        "spearman const",
        lambda: emoalign.pdist(np.array([[1.0, 2], [3, 3]]), "spearman"),
        ValueError,
        "rows 1",
    ),
    ("gw NaN", lambda: gw(C1=np.where(C > 1.9, np.nan, C)), ValueError, "C1"),
    ("gw inf C2", lambda: gw(C2=np.array([[0.0, np.inf], [np.inf, 0]])), ValueError, "C2"),
    ("gw non-square", lambda: gw(C1=np.ones((3, 2))), ValueError, "C1"),
    ("gw 1-D", lambda: gw(C2=np.ones(3)), ValueError, "C2"),
    ("gw empty", lambda: gw(C1=np.ones((0, 0))), ValueError, "C1"),
    ("gw complex", lambda: gw(C1=C.astype(complex)), TypeError, "C1"),
    ("gw strings", lambda: gw(C2=np.array([["a", "b"], ["c", "d"]])), TypeError, "C2"),
    ("gw asym", lambda: gw(C1=C + np.triu(C), symmetric=True), ValueError, "C1"),
    ("gw eps 0", lambda: gw(epsilon=0.0), ValueError, "epsilon"),
    ("gw eps neg", lambda: gw(epsilon=-1.0), ValueError, "epsilon"),
    ("gw eps nan", lambda: gw(epsilon=float("nan")), ValueError, "epsilon"),
    ("gw eps inf", lambda: gw(epsilon=float("inf")), ValueError, "epsilon"),
    ("gw p length", lambda: gw(p=np.ones(2) / 2), ValueError, "p"),
    ("gw q length", lambda: gw(q=np.ones(3) / 3), ValueError, "q"),
    ("gw p negative", lambda: gw(p=np.array([1.2, -0.2, 0.0])), ValueError, "p"),
    ("gw q sum", lambda: gw(q=np.array([0.5, 0.6])), ValueError, "q"),
    ("gw p NaN", lambda: gw(p=np.array([np.nan, 0.5, 0.5])), ValueError, "p"),
    ("gw p 2-D", lambda: gw(p=np.ones((3, 1)) / 3), ValueError, "p"),
    ("gw G0 shape", lambda: gw(G0=np.ones((2, 3)) / 6), ValueError, "G0"),
    ("gw G0 negative", lambda: gw(G0=-np.ones((3, 2))), ValueError, "G0"),
    ("gw G0 NaN", lambda: gw(G0=np.full((3, 2), np.nan)), ValueError, "G0"),
    ("gw potentials", lambda: gw(potentials=(np.zeros(2), np.zeros(2))), ValueError, "potentials"),
    ("gw loss", lambda: gw(loss_fun="l1"), ValueError, "loss_fun"),
    ("gw solver", lambda: gw(solver="BFGS"), ValueError, "solver"),
    ("gw kl negative", lambda: gw(C1=C - 1, loss_fun="kl_loss"), ValueError, "C1"),
    ("gw max_iter", lambda: gw(max_iter=0), ValueError, "max_iter"),
    ("gwloss T shape", lambda: emoalign.gw_value(C, D, np.ones((2, 3))), ValueError, "T"),
    ("gwloss T neg", lambda: emoalign.gw_value(C, D, -np.ones((3, 2))), ValueError, "T"),
    ("gwloss NaN", lambda: emoalign.gw_value(C, D, np.full((3, 2), np.nan)), ValueError, "T"),
    ("rsa lengths", lambda: emoalign.rsa(np.ones(3), np.arange(6.0)), ValueError, "D2"),
    ("rsa not pairs", lambda: emoalign.rsa(np.arange(4.0), np.arange(4.0)), ValueError, "pair"),
    ("rsa NaN", lambda: emoalign.rsa(np.array([1.0, np.nan, 2]), np.arange(3.0)), ValueError, "D1"),
    ("rsa non-square", lambda: emoalign.rsa(np.ones((3, 2)), C), ValueError, "D1"),
    ("rsa constant", lambda: emoalign.rsa(np.ones(3), np.arange(3.0)), ValueError, "D1"),
    ("rsa method", lambda: emoalign.rsa(C, C, method="cosine"), ValueError, "method"),
    ("rsa perms", lambda: emoalign.rsa(C, C, permutations=-1), ValueError, "permutations"),
    ("rsa perms type", lambda: emoalign.rsa(C, C, permutations=1.5), TypeError, "permutations"),
    ("rsa complex", lambda: emoalign.rsa(C.astype(complex), C), TypeError, "D1"),
    ("threads 0", lambda: emoalign.set_num_threads(0), ValueError, "thread"),
]


@pytest.mark.parametrize(
    ("call", "exc", "name"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_raises_naming_the_argument(
    call: Callable[[], Any], exc: type[Exception], name: str
) -> None:
    with pytest.raises(exc) as err:
        call()
    assert type(err.value) is exc, f"{type(err.value).__name__}: {err.value}"
    assert name in str(err.value)


def test_mixed_precision_gw_is_promoted() -> None:
    res = emoalign.entropic_gw(C.astype(np.float32), D, epsilon=0.1)
    assert res.plan.dtype == np.float64


ANY_ARRAY = st.one_of(
    st.builds(
        lambda shape, fill, dtype: np.full(shape, fill).astype(dtype),
        st.tuples(st.integers(0, 4), st.integers(0, 4)),
        st.sampled_from([0.0, 1.0, -1.0, np.nan, np.inf, 1e308]),
        st.sampled_from([np.float64, np.float32, np.int8, np.bool_, np.complex64, object]),
    ),
    st.just(np.ones(3)),
    st.just(np.ones((2, 2, 2))),
    st.just("text"),
    st.just(None),
    st.just([[1, 2], [3]]),
)


@settings(deadline=None, max_examples=150)
@given(
    a=ANY_ARRAY, b=ANY_ARRAY, which=st.integers(0, 5), eps=st.sampled_from([0.1, 0.0, 1e-300, -1.0])
)
def test_garbage_never_panics(a: Any, b: Any, which: int, eps: float) -> None:
    """Any combination of odd inputs ends in a result or a clean Python error: pyo3's
    PanicException derives from BaseException, so it would escape the except clause below."""
    calls: list[Callable[[], Any]] = [
        lambda: emoalign.pdist(a, "correlation"),
        lambda: emoalign.cdist(a, b, "cosine"),
        lambda: emoalign.rdm(a, "spearman"),
        lambda: emoalign.entropic_gw(a, b, epsilon=eps, max_iter=5, warn=False),
        lambda: emoalign.gw_value(a, a, b),
        lambda: emoalign.rsa(a, b, permutations=3, seed=1),
    ]
    with contextlib.suppress(ValueError, TypeError, MemoryError):
        calls[which]()


IMPOSSIBLE = """
import time, numpy as np, emoalign
X = np.broadcast_to(np.zeros(1, dtype=np.float32), (200000, 200000))
t = time.perf_counter()
try:
    {call}
except MemoryError as e:
    print("MemoryError", round(time.perf_counter() - t, 3), e)
"""


@pytest.mark.parametrize(
    "call",
    [
        "emoalign.pdist(X)",
        "emoalign.rdm(X, 'cosine')",
        "emoalign.entropic_gw(X, X[:3, :3], epsilon=0.1)",
        "emoalign.cdist(X, X)",
    ],
)
def test_impossible_size_is_refused_before_allocating(call: str) -> None:
    """A 200000 x 200000 float32 broadcast view (a few bytes of data) asks for 80-160 GB. Run in a
    child limited to 4 GB of address space, so a wrong implementation cannot take the machine
    down; the budget check must fire first and quickly (an allocation attempt of the limit's size
    would also give MemoryError, but its message says 'could not allocate', not 'needs')."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        + textwrap.dedent(IMPOSSIBLE).format(call=call)
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.startswith("MemoryError"), out.stdout + out.stderr
    elapsed = float(out.stdout.split()[1])
    assert elapsed < 1.0
    assert "needs" in out.stdout and "GiB" in out.stdout, out.stdout
