"""The report folder, checked against the result it was written from: the numbers printed, the
figures (each decoded), the tables' order and columns, provenance, and one self-contained file."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from emoalign.alignment import Alignment, align, synthetic_pair
from emoalign.alignment.matching import wilson_interval
from emoalign.report.figures import DPI

optuna.logging.set_verbosity(optuna.logging.WARNING)
FIGURES = ("rdms", "plan", "epsilon", "matching", "embedding", "rsa")
PERMUTATIONS = 99


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Alignment]:
    pair = synthetic_pair(n_categories=4, per_category=8, seed=5)
    result = align(
        pair.human, pair.model, labels=pair.labels, n_trials=5, n_inits=2,
        eps_range=(1e-3, 1e-2),
    )  # fmt: skip
    result.baseline(2)
    out = tmp_path_factory.mktemp("report")
    page = result.report(out, names=("human", "model"), permutations=PERMUTATIONS)
    return page, result


def tagged(text: str, metric: str) -> str:
    """The text of the element tagged ``data-metric=metric``."""
    found = re.findall(rf'data-metric="{re.escape(metric)}">([^<]*)<', text)
    assert len(found) >= 1, metric
    return html.unescape(found[0])


def test_key_numbers_are_the_results(report) -> None:
    page, result = report
    text = page.read_text()
    assert tagged(text, "epsilon") == f"{result.epsilon:.3g}"
    assert tagged(text, "gw_dist") == f"{result.gw_dist:.4g}"
    assert tagged(text, "best_trial") == str(result.best_trial)
    assert tagged(text, "n_videos") == "32"
    assert tagged(text, "rsa_spearman.r") == f"{result.rsa('spearman', PERMUTATIONS).r:.3f}"
    for k in (1, 3, 5):
        assert tagged(text, f"item.top{k}") == f"{result.matching_rate(k):.1f}"
        assert tagged(text, f"category.top{k}") == f"{result.category_matching_rate(k):.1f}"
        low, high = wilson_interval(result.matching_rate(k), result.n)
        assert f"[{low:.1f}, {high:.1f}]" in text
    # p at its floor 1/(99 + 1) is written as a bound, never as "0.01".
    assert result.rsa("spearman", PERMUTATIONS).p_value == pytest.approx(0.01)
    assert "≤ 0.01 (99 permutations)" in text
    assert "2 shuffles" in text  # the baseline says how many shuffles it averages


def test_metrics_json_matches_the_result(report) -> None:
    page, result = report
    metrics = json.loads((page.parent / "metrics.json").read_text())
    assert metrics["epsilon"] == result.epsilon and metrics["gw_dist"] == result.gw_dist
    assert metrics["item"]["top1"] == pytest.approx(result.matching_rate(1))
    assert metrics["category_chance"]["top1"] == pytest.approx(result.category_chance(1))
    assert metrics["item_ci95"]["top1"] == pytest.approx(
        list(wilson_interval(result.matching_rate(1), 32))
    )
    assert metrics["rsa_spearman"]["permutations"] == PERMUTATIONS
    assert len(metrics["trials"]) == 5 and len(metrics["per_category"]) == 4
    assert metrics["baseline_shuffles"] == 2 and len(metrics["baseline"]) == 2
    baseline = result.baseline(2)
    assert metrics["baseline_mean"]["item"]["top1"] == pytest.approx(baseline["item_top1"].mean())
    assert metrics["embedding"]["gap"] == pytest.approx(result.aligned_embedding(2).gap)
    assert not [p for p in page.parent.iterdir() if p.name.startswith(".")]  # no temporary files


def test_every_figure_decodes_at_its_size(report) -> None:
    page, _ = report
    folder = page.parent
    metrics = json.loads((folder / "metrics.json").read_text())
    text = page.read_text()
    embedded = re.findall(
        r'<img alt="([^"]+)" width=(\d+) height=(\d+) src="data:image/png;base64,([^"]+)"', text
    )
    assert len(embedded) == len(FIGURES)
    for name, (alt, width, height, data) in zip(FIGURES, embedded, strict=True):
        size = (metrics["figures"][name]["width"], metrics["figures"][name]["height"])
        with Image.open(folder / f"{name}.png") as image:
            image.load()
            assert image.size == size
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            image.load()  # decodes every pixel, not just the header
            assert image.size == size
        # Shown at 96 CSS px per figure inch, so every figure's text has the same size.
        assert (int(width), int(height)) == tuple(round(v * 96 / DPI) for v in size)
        assert len(alt) > 40
        svg = ET.parse(folder / f"{name}.svg").getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
        assert float(svg.get("width").removesuffix("pt")) == pytest.approx(
            size[0] * 72 / DPI, abs=1
        )
    links = re.findall(r'download="figure(\d)-(\w+)\.svg" href="data:image/svg\+xml;base64,', text)
    assert links == [(str(i + 1), name) for i, name in enumerate(FIGURES)]
    captions = re.findall(r"<b>Figure (\d)\.</b>", text)
    assert captions == [str(i + 1) for i in range(len(FIGURES))]


def test_page_is_one_responsive_printable_file(report) -> None:
    page, _ = report
    text = page.read_text()
    assert '<meta name=viewport content="width=device-width, initial-scale=1">' in text
    assert ".wrap{overflow-x:auto" in text and "@media print" in text
    assert "break-after:avoid" in text and "break-inside:avoid" in text
    assert "http://" not in text.replace("http://www.w3.org", "")  # SVG namespaces only
    assert "https://" not in text
    assert text.count("<div class=wrap><table") == text.count("<table")


def test_trials_table_sorted_best_marked_noise_dropped(report) -> None:
    page, result = report
    text = page.read_text()
    table = text[text.index("<h2>Trials</h2>") :]
    table = table[: table.index("</table>")]
    headers = re.findall(r"<th>([^<]+)</th>", table)
    assert "worker" not in headers and "retry of trial" not in headers and "state" not in headers
    assert headers[:3] == ["trial", "ε", "GW distance"]
    rows = re.findall(r"<tr( class=best)?><td>(\d+)( ★)?</td><td>[^<]+</td><td>([^<]+)</td>", table)
    assert [int(r[1]) for r in rows] == (
        result.trials.filter(result.trials["state"] == "complete")
        .sort("gw_dist")["trial"]
        .to_list()
    )
    assert (
        rows[0][0] == " class=best" and rows[0][2] == " ★" and int(rows[0][1]) == result.best_trial
    )
    assert all(r[0] == "" and r[2] == "" for r in rows[1:])
    gws = [float(r[3]) for r in rows]
    assert gws == sorted(gws)
    assert re.search(r"\d+\.\d+\.\d+:\d+|:\d{3,}<", table) is None  # no host:PID


def test_methods_paragraph_follows_the_study(report) -> None:
    page, result = report
    text = page.read_text()
    methods = text[text.index("<h2>Methods</h2>") : text.index("<h2>Results</h2>")]
    for needle in (
        "32 videos in 4 categories",
        "euclidean distance",
        f"{PERMUTATIONS} permutations",
        "5 trials in [0.001, 0.01]",
        "tree-structured Parzen estimator",
        "2 initial plans",
        f"ε = {result.epsilon:.3g} in trial {result.best_trial}",
        "2 shuffles, averaged",
        "float64",
    ):
        assert needle in methods, needle
    for author in ("Peyré", "Sasaki", "Kriegeskorte", "Mantel", "Asanuma"):
        assert author in methods
        assert re.search(rf'<li id="ref-\w+">{author}', text)


def test_provenance_in_header_and_json(report) -> None:
    page, result = report
    text = page.read_text()
    header = text[text.index("<header>") : text.index("</header>")]
    prov = result.provenance
    assert prov["interface"] == "python" and prov["command"].startswith("emoalign.align(")
    assert "labels=<numpy.ndarray 32" in prov["command"] and "n_trials=5" in prov["command"]
    assert prov["seed"] == 0 and prov["eps_range"] == [1e-3, 1e-2] and prov["sampler"] == "tpe"
    assert prov["trials"] == {"requested": 5, "complete": 4, "failed": 0, "pruned": 1, "retries": 0}
    assert prov["solver"]["precision"] == "float64"
    assert prov["storage"] == {"kind": "memory", "location": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["finished"])
    for value in (prov["versions"]["emoalign"], prov["versions"]["numpy"], prov["started"]):
        assert value in header
    assert html.escape(prov["command"]) in header
    metrics = json.loads((page.parent / "metrics.json").read_text())
    assert metrics["provenance"]["command"] == prov["command"]


def test_embedding_is_faithful_when_matching_is_high() -> None:
    pair = synthetic_pair(n_categories=6, per_category=12, seed=0)
    result = align(
        pair.human, pair.model, labels=pair.labels, n_trials=6, n_inits=2, eps_range=(1e-3, 1e-2)
    )
    assert result.matching_rate(1) == 100.0
    good = result.aligned_embedding(2)
    # The old picture (2-D MDS of each side, then a 2-D Procrustes) measured about 0.33 here.
    assert good.gap < 0.15
    assert good.source.shape == good.target.shape == (72, 2)
    assert 0 < good.explained[1] <= good.explained[0] < 1
    # Through a plan that pairs every video with a random other one the picture must show it.
    rng = np.random.default_rng(0)
    wrong = np.eye(72)[rng.permutation(72)] / 72
    from emoalign.alignment.embedding import aligned_embedding

    assert aligned_embedding(result.C1, result.C2, wrong).gap > 4 * good.gap


def test_big_svgs_are_linked_not_embedded() -> None:
    from emoalign.report import gallery as page
    from emoalign.report.figures import Rendered

    def figure(svg_bytes: int) -> page.Figure:
        image = Rendered(b"png", b"<svg/>".ljust(svg_bytes), (300, 150))
        return page.Figure("rdms", "RDMs", "caption", "alt text", image)

    small = page.figure_html(1, figure(page.MAX_EMBEDDED_SVG))
    big = page.figure_html(1, figure(page.MAX_EMBEDDED_SVG + 1))
    assert 'download="figure1-rdms.svg" href="data:image/svg+xml;base64,' in small
    assert 'href="rdms.svg"' in big and "data:image/svg+xml" not in big
    assert "width=192 height=96" in big  # 96 CSS px per figure inch at 150 dpi


def test_rdm_inputs_without_labels(tmp_path: Path) -> None:
    import emoalign

    pair = synthetic_pair(n_categories=3, per_category=6, seed=1)
    D = np.asarray(emoalign.rdm(pair.human.drop("video_id").to_numpy()))
    result = align(D, D[::-1, ::-1].copy(), n_trials=2, n_inits=1, eps_range=(1e-3, 1e-2))
    result.baseline(1)
    text = result.report(tmp_path, permutations=19).read_text()
    assert "Per category" not in text and "category top-1" not in text
    assert "given directly as an RDM" in text
    assert "the videos of the target RDM were permuted (one shuffle)" in text
    assert tagged(text, "item.top1") == f"{result.matching_rate(1):.1f}"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["provenance"]["metrics"] == {"source": None, "target": None}
    for name in FIGURES:
        with Image.open(tmp_path / f"{name}.png") as image:
            image.load()
            assert image.size == (
                metrics["figures"][name]["width"],
                metrics["figures"][name]["height"],
            )
