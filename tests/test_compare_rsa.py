"""``emoalign.compare_rsa``: the bootstrap over videos against rsatoolbox, ranking models,
pairwise tests with Holm correction, CI coverage, the noise ceiling and bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import rsatoolbox

import emoalign
from emoalign.comparison.stats import holm


def noisy_models(n: int, noise: tuple[float, ...], seed: int = 0, items: int = 12):
    """A human rating matrix with category structure and models = human + independent noise."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(6, items))
    human = prototypes[rng.integers(0, 6, n)] + rng.normal(0, 0.8, (n, items))
    models = {f"noise_{s}_{k}": human + rng.normal(0, s, human.shape) for k, s in enumerate(noise)}
    return human, models


def rsatoolbox_rdms(condensed: list[np.ndarray]) -> rsatoolbox.rdm.RDMs:
    return rsatoolbox.rdm.RDMs(np.stack(condensed))


@pytest.mark.parametrize(
    ("method", "n", "n_samples", "ties"),
    # n = 700 has 244,650 pairs: several of the kernel's 65,536-rank blocks.
    [
        ("spearman", 25, 40, True),
        ("pearson", 25, 40, True),
        ("spearman", 700, 3, True),
        ("spearman", 700, 3, False),
        ("pearson", 700, 3, False),
    ],
)
def test_same_samples_give_rsatoolbox_values_exactly(
    method: str, n: int, n_samples: int, ties: bool
) -> None:
    human, models = noisy_models(n, (0.5, 1.5), seed=1, items=3)
    # Integer ratings make tied dissimilarities, which the ranking must handle as rsatoolbox does.
    if ties:
        human = np.round(human)
        models = {k: np.round(v) for k, v in models.items()}
    x = emoalign.pdist(human, "euclidean")
    ys = [emoalign.pdist(m, "euclidean") for m in models.values()]
    rng = np.random.default_rng(5)
    samples = rng.integers(0, n, size=(n_samples, n))
    res = emoalign.compare_rsa(
        human,
        models,
        method=method,
        samples=samples,
        permutations=0,
    )
    ref, cands = rsatoolbox_rdms([x]), rsatoolbox_rdms(ys)
    expected = np.array(
        [
            rsatoolbox.rdm.compare(
                ref.subsample_pattern("index", s),
                cands.subsample_pattern("index", s),
                {"spearman": "spearman", "pearson": "corr"}[method],
            )[0]
            for s in samples
        ]
    )
    np.testing.assert_allclose(res.boot, expected, rtol=0, atol=1e-10)


def test_bootstrap_distribution_agrees_with_rsatoolbox_within_monte_carlo_error() -> None:
    human, models = noisy_models(80, (1.0,), seed=2)
    x = emoalign.pdist(human, "euclidean")
    y = emoalign.pdist(models["noise_1.0_0"], "euclidean")
    ours = emoalign.compare_rsa(human, models, n_boot=2000, seed=0, permutations=0).boot[:, 0]
    np.random.seed(0)  # rsatoolbox draws from numpy's global generator
    ref, cand = rsatoolbox_rdms([x]), rsatoolbox_rdms([y])
    theirs = []
    for _ in range(400):
        sample, idx = rsatoolbox.inference.bootstrap_sample_pattern(ref)
        theirs.append(
            rsatoolbox.rdm.compare(sample, cand.subsample_pattern("index", idx), "spearman")[0, 0]
        )
    theirs = np.array(theirs)
    se_mean = np.sqrt(ours.var() / ours.size + theirs.var() / theirs.size)
    assert abs(ours.mean() - theirs.mean()) < 4 * se_mean
    # The standard deviation of a sample sd is about sd / sqrt(2 n).
    se_sd = np.sqrt(ours.std() ** 2 / (2 * ours.size) + theirs.std() ** 2 / (2 * theirs.size))
    assert abs(ours.std() - theirs.std()) < 4 * se_sd


def test_close_model_ranks_first_and_the_difference_is_significant() -> None:
    human, models = noisy_models(300, (0.5, 2.0), seed=3)
    res = emoalign.compare_rsa(human, models, n_boot=1000, seed=0, permutations=99)
    close, far = "noise_0.5_0", "noise_2.0_1"
    assert res.r(close) > res.r(far)
    pair = res.pairwise.row(0, named=True)
    assert (pair["a"], pair["b"]) == (close, far)
    assert pair["ci_low"] > 0 and pair["p_holm"] < 0.01
    table = {r["candidate"]: r for r in res.table.iter_rows(named=True)}
    for row in table.values():
        assert row["ci_low"] < row["r"] < row["ci_high"]
        assert row["mantel_p"] == pytest.approx(1 / 100)
        assert row["n_boot"] == 1000


def test_equal_noise_gives_no_significant_difference() -> None:
    human, models = noisy_models(300, (1.0, 1.0), seed=4)
    res = emoalign.compare_rsa(human, models, n_boot=1000, seed=0, permutations=0)
    pair = res.pairwise.row(0, named=True)
    assert pair["ci_low"] < 0 < pair["ci_high"]
    assert pair["p"] > 0.05


def test_a_seed_reproduces_every_number() -> None:
    human, models = noisy_models(40, (0.5, 1.0, 2.0), seed=5)
    a = emoalign.compare_rsa(human, models, n_boot=200, seed=7, permutations=50)
    b = emoalign.compare_rsa(human, models, n_boot=200, seed=7, permutations=50)
    np.testing.assert_array_equal(a.boot, b.boot)
    assert a.table.equals(b.table) and a.pairwise.equals(b.pairwise)
    c = emoalign.compare_rsa(human, models, n_boot=200, seed=8, permutations=50)
    assert not np.array_equal(a.boot, c.boot)
    assert a.pairwise.height == 3


def test_holm_matches_the_step_down_definition() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # Sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.2; monotone: 0.09.
    np.testing.assert_allclose(holm(p), [0.04, 0.09, 0.09, 0.2])


@pytest.mark.slow
def test_ci_coverage_by_simulation() -> None:
    """Nominal 90% intervals cover the population RSA in 85–95% of 200 small-n repetitions."""
    rng = np.random.default_rng(11)
    items, population = 10, 3000
    prototypes = rng.normal(size=(5, items))
    human = prototypes[rng.integers(0, 5, population)] + rng.normal(0, 1.0, (population, items))
    model = human + rng.normal(0, 1.2, human.shape)
    truth = emoalign.rsa(
        emoalign.pdist(human, "euclidean"), emoalign.pdist(model, "euclidean"), "spearman"
    ).r
    covered = 0
    for rep in range(200):
        idx = rng.choice(population, size=40, replace=False)
        res = emoalign.compare_rsa(
            human[idx], {"m": model[idx]}, n_boot=500, seed=rep, ci=0.9, permutations=0
        )
        row = res.table.row(0, named=True)
        covered += row["ci_low"] <= truth <= row["ci_high"]
    assert 170 <= covered <= 190, covered


def test_noise_ceiling_from_rater_level_data() -> None:
    rng = np.random.default_rng(6)
    true = rng.normal(size=(60, 8))
    raters = true[:, None, :] + rng.normal(0, 1.0, (60, 10, 8))
    raters[0, 3, 2] = np.nan  # a missing rating is ignored by its half's mean
    human = np.nanmean(raters, axis=1)
    models = {"m": true + rng.normal(0, 0.5, true.shape)}
    res = emoalign.compare_rsa(human, models, n_boot=50, raters=raters, n_splits=20)
    nc = res.noise_ceiling
    assert nc is not None and nc.n_raters == 10 and nc.n_splits == 20
    assert nc.ceiling == pytest.approx(2 * nc.split_half / (1 + nc.split_half), abs=0.02)
    assert nc.split_half < nc.ceiling < 1 and nc.ci_low <= nc.ceiling <= nc.ci_high
    noisier = raters + rng.normal(0, 2.0, raters.shape)
    low = emoalign.comparison.noise_ceiling(noisier, n_splits=20).ceiling
    assert low < nc.ceiling
    assert "split-half" in res.ceiling_note
    plain = emoalign.compare_rsa(human, models, n_boot=50)
    assert plain.noise_ceiling is None and "no noise ceiling" in plain.ceiling_note


def test_frames_are_matched_by_id_and_rdms_are_accepted() -> None:
    human, models = noisy_models(30, (0.5,), seed=7)
    ids = [f"v{i:02d}" for i in range(30)]
    h = pl.DataFrame({"video_id": ids, **{f"e{j}": human[:, j] for j in range(12)}})
    m = pl.DataFrame(
        {"video_id": ids, **{f"e{j}": models["noise_0.5_0"][:, j] for j in range(12)}}
    ).reverse()
    by_frame = emoalign.compare_rsa(h, {"m": m}, n_boot=100, permutations=0)
    by_rdm = emoalign.compare_rsa(
        emoalign.rdm(human),
        {"m": emoalign.rdm(models["noise_0.5_0"])},
        n_boot=100,
        permutations=0,
    )
    np.testing.assert_allclose(by_frame.boot, by_rdm.boot, rtol=1e-12)
    assert by_frame.ids == ids


def test_single_model_and_bad_input() -> None:
    human, models = noisy_models(20, (0.5, 1.0), seed=8)
    one = emoalign.compare_rsa(human, {"m": models["noise_0.5_0"]}, n_boot=50, permutations=0)
    assert one.table.height == 1 and one.pairwise.height == 0
    with pytest.raises(TypeError, match="mapping of name"):
        emoalign.compare_rsa(human, models["noise_0.5_0"])
    with pytest.raises(ValueError, match="at least one model"):
        emoalign.compare_rsa(human, {})
    with pytest.raises(ValueError, match="'spearman', 'pearson'"):
        emoalign.compare_rsa(human, models, method="kendall")
    bad = models["noise_0.5_0"].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        emoalign.compare_rsa(human, {"m": bad})
    with pytest.raises(ValueError, match="same videos"):
        emoalign.compare_rsa(human, {"m": models["noise_0.5_0"][:10]})
    with pytest.raises(ValueError, match="out of range"):
        emoalign.compare_rsa(human, models, samples=np.full((3, 20), 20))
