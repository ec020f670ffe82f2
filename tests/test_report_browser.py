"""The demo's report in a real browser (Debian's Chromium driven by Playwright).

The page must load without console errors, every image must decode, it must not scroll sideways
at 800 px, and the key numbers it shows must be the ones in ``metrics.json``. Full-page
screenshots at 1280 and 800 px and a printed PDF are kept as artefacts (in
``$EMOALIGN_TEST_ARTEFACTS``, default: pytest's temporary folder) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from emoalign.cli import main

CHROMIUM = os.environ.get("EMOALIGN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = (1280, 800)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    argv = ["demo", "--out", str(out), "--per-category", "8", "--trials", "8"]
    assert main([*argv, "--permutations", "999", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("EMOALIGN_TEST_ARTEFACTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Any:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(scripts/test.sh does) or point EMOALIGN_CHROMIUM at one"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def lookup(metrics: dict[str, Any], path: str) -> Any:
    value: Any = metrics
    for part in path.split("."):
        value = value[part]
    return value


def shown_precision(text: str) -> float:
    """Half a unit in the last digit written: how far a rounded number may be from its value."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals * (1 + 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_report_in_chromium(demo: Path, artefacts: Path, browser: Any, width: int) -> None:
    """The close model's alignment report, the supplement a study publishes."""
    report = demo / "close"
    metrics = json.loads((report / "metrics.json").read_text())
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto((report / "report.html").as_uri(), wait_until="load")
    assert problems == []

    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight, e.alt])"
    )
    assert len(images) == len(metrics["figures"]) == 6
    for (complete, natural_width, natural_height, alt), figure in zip(
        images, sorted(metrics["figures"].values(), key=lambda f: f["number"]), strict=True
    ):
        assert complete and (natural_width, natural_height) == (figure["width"], figure["height"])
        assert len(alt) > 40  # says what the figure shows, not just its name

    # No sideways scrolling of the page itself: wide tables scroll inside their own box.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0

    shown = page.eval_on_selector_all(
        "[data-metric]", "els => els.map(e => [e.dataset.metric, e.textContent])"
    )
    paths = {path for path, _ in shown}
    assert {"epsilon", "gw_dist", "item.top1", "category.top1", "rsa_spearman.r"} <= paths
    assert {"embedding.gap", "n_videos", "best_trial", "provenance.command"} <= paths
    compared = 0
    for path, text in shown:
        expected = lookup(metrics, path)
        if isinstance(expected, str):
            assert text == expected, path
        else:
            number = re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", text.strip())
            assert number is not None, f"{path}: {text!r} is not a number"
            assert float(text) == pytest.approx(expected, abs=shown_precision(text)), path
        compared += 1
    assert compared == len(shown) >= 15

    assert metrics["provenance"]["command"].startswith("emoalign demo --out ")
    header = page.inner_text("header")
    for needle in ("Study", "ε search", "Solver", "Software", "Seed", "Run (UTC)", "float64"):
        assert needle in header
    # r ≈ 0.97: no permutation reaches it, so p sits at its floor 1/1000 and is written as one.
    assert "≤ 0.001 (999 permutations)" in page.inner_text("body")

    page.screenshot(path=str(artefacts / f"report-{width}.png"), full_page=True)
    if width == WIDTHS[0]:
        page.emulate_media(media="print")
        page.pdf(path=str(artefacts / "report.pdf"), format="A4", print_background=True)
    page.close()


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_comparison_page_in_chromium(demo: Path, artefacts: Path, browser: Any, width: int) -> None:
    """The demo's side-by-side page: no console errors, every figure decodes, both models named,
    and no sideways scrolling."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto((demo / "report.html").as_uri(), wait_until="load")
    assert problems == []
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
    )
    assert len(images) >= 5
    assert all(complete and w > 0 and h > 0 for complete, w, h in images)
    body = page.inner_text("body")
    assert "close" in body and "far" in body
    page.screenshot(path=str(artefacts / f"comparison-{width}.png"), full_page=True)
    page.close()
