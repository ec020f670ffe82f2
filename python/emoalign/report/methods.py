"""The report's methods paragraph and references, written from what the study actually did.

Every number in the text comes from the ``Alignment`` (its provenance, settings and results), so
that the paragraph can be pasted into a paper's methods or supplement as it stands.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

from emoalign.report import numbers

if TYPE_CHECKING:
    from emoalign.alignment.result import Alignment

# (key, in-text citation, full reference). Plain text: the page links to nothing outside itself.
REFERENCES: tuple[tuple[str, str, str], ...] = (
    (
        "peyre2016",
        "Peyré, Cuturi & Solomon, 2016",
        "Peyré, G., Cuturi, M. & Solomon, J. (2016). Gromov-Wasserstein averaging of kernel and "
        "distance matrices. Proceedings of the 33rd International Conference on Machine Learning "
        "(ICML), PMLR 48, 2664–2672.",
    ),
    (
        "sasaki2023",
        "Sasaki et al., 2023",
        "Sasaki, M., Takeda, K., Abe, K. & Oizumi, M. (2023). Toolbox for Gromov-Wasserstein "
        "optimal transport: application to unsupervised alignment in neuroscience (GWTune). "
        "bioRxiv, doi:10.1101/2023.09.15.558038.",
    ),
    (
        "kriegeskorte2008",
        "Kriegeskorte, Mur & Bandettini, 2008",
        "Kriegeskorte, N., Mur, M. & Bandettini, P. (2008). Representational similarity "
        "analysis – connecting the branches of systems neuroscience. Frontiers in Systems "
        "Neuroscience 2, 4. doi:10.3389/neuro.06.004.2008.",
    ),
    (
        "mantel1967",
        "Mantel, 1967",
        "Mantel, N. (1967). The detection of disease clustering and a generalized regression "
        "approach. Cancer Research 27(2), 209–220.",
    ),
    (
        "asanuma2025",
        "Asanuma et al., 2025",
        "Asanuma, H., Koide-Majima, N., Nakamura, K., Horii, T., Nishimoto, S. & Oizumi, M. "
        "(2025). Correspondence of high dimensional emotion structures elicited from video clips "
        "between humans and multimodal LLMs. Scientific Reports 15, 32175. "
        "doi:10.1038/s41598-025-14961-6.",
    ),
    (
        "akiba2019",
        "Akiba et al., 2019",
        "Akiba, T., Sano, S., Yanase, T., Ohta, T. & Koyama, M. (2019). Optuna: a next-generation "
        "hyperparameter optimization framework. Proceedings of the 25th ACM SIGKDD Conference on "
        "Knowledge Discovery and Data Mining, 2623–2631.",
    ),
    (
        "scetbon2022",
        "Scetbon, Peyré & Cuturi, 2022",
        "Scetbon, M., Peyré, G. & Cuturi, M. (2022). Linear-time Gromov Wasserstein distances "
        "using low rank couplings and costs. Proceedings of the 39th International Conference on "
        "Machine Learning (ICML), PMLR 162, 19347–19365.",
    ),
    (
        "wilson1927",
        "Wilson, 1927",
        "Wilson, E. B. (1927). Probable inference, the law of succession, and statistical "
        "inference. Journal of the American Statistical Association 22(158), 209–212.",
    ),
)
_CITE = {key: text for key, text, _ in REFERENCES}

SAMPLER_NAMES = {
    "tpe": "the tree-structured Parzen estimator (TPE) sampler of Optuna",
    "random": "seeded log-uniform random draws",
    "grid": "a log-spaced grid",
}


def cite(*keys: str) -> str:
    """An in-text citation linking to the reference list, e.g. '(Mantel, 1967)'."""
    inner = "; ".join(f'<a href="#ref-{k}">{html.escape(_CITE[k])}</a>' for k in keys)
    return f"({inner})"


def metric_phrase(metric: str | None) -> str:
    """How a side's RDM was made, to follow "was" (e.g. "the euclidean distance between …")."""
    if metric is None:
        return "given directly as an RDM"
    return f"the {metric} distance between rating vectors"


def paragraph(
    a: Alignment, names: tuple[str, str], permutations: int, shuffles: int, ks: tuple[int, ...]
) -> str:
    """The methods paragraph (HTML) for this study."""
    e = html.escape
    p = a.prepared
    spec = a.spec
    lo, hi = spec.eps_range
    pairs = a.n * (a.n - 1) // 2
    kinds = sorted(set(spec.kinds))
    same_metric = p.source_metric == p.target_metric
    if same_metric:
        rdm = e(metric_phrase(p.source_metric))
    else:
        rdm = (
            f"{e(metric_phrase(p.source_metric))} for the {e(names[0])} side and "
            f"{e(metric_phrase(p.target_metric))} for the {e(names[1])} side"
        )
    categories = ""
    if a.labels is not None:
        categories = f" in {len(np.unique(a.labels))} categories"
    tops = ", ".join(f"top-{k}" for k in ks)
    text = [
        f"We compared the {e(names[0])} and {e(names[1])} emotion structures over the same "
        f"{a.n} videos{categories}, following {cite('asanuma2025')[1:-1]}. Each side's "
        f"representational dissimilarity matrix (RDM) was {rdm}, scaled to a maximum of 1.",
        f"The two RDMs were compared by representational similarity analysis "
        f"{cite('kriegeskorte2008')}: Pearson and Spearman correlations over the {pairs:,} video "
        f"pairs, each tested one-sided by a Mantel test {cite('mantel1967')} with "
        f"{permutations:,} permutations of the videos.",
        f"They were then aligned without using video identities by entropic Gromov-Wasserstein "
        f"optimal transport {cite('peyre2016')} with uniform weights and the square loss, solved "
        f"by projected gradient with Sinkhorn projections in "
        + (
            "float32 arithmetic for the search, the best trial's ε then solved again in float64 "
            "from its plan"
            if spec.options.precision == "float32"
            else "float64 arithmetic"
        )
        + f" (at most {spec.options.max_iter} iterations, stopping when the plan's relative "
        f"change fell below {spec.options.tol:g}).",
        f"The solver held the RDMs as {e(p.cost_form)} matrices"
        + (
            f": exact factors C = ABᵀ of the same RDMs {cite('scetbon2022')}, which give the same "
            "plan at O(n²k) instead of O(n³) operations per iteration."
            if "factored" in p.cost_form
            else "."
        ),
        f"As in GWTune {cite('sasaki2023')}, the entropic regularisation ε was searched over "
        f"{spec.n_trials} trials in [{lo:g}, {hi:g}] (log scale) with "
        f"{SAMPLER_NAMES[spec.sampler]} {cite('akiba2019')} (seed {spec.seed}); each trial was "
        f"solved from {len(spec.kinds)} initial plan{'s' if len(spec.kinds) != 1 else ''} "
        f"({e(', '.join(kinds))})"
        + (
            ", plus a warm start from the plan of the finished trial nearest in ε"
            if spec.warm_start
            else ""
        )
        + (
            f"; a start was stopped once its GW distance had settled where it could not improve "
            f"on the best found by {spec.prune.improvement:g} (relative)"
            if spec.prune is not None
            else ""
        )
        + f", and the plan with the lowest GW distance (the objective "
        f"without its entropy term) was kept: ε = {numbers.epsilon(a.epsilon)} in trial "
        f"{a.best_trial}, GW distance {numbers.distance(a.gw_dist)}"
        + ("" if a.converged else ", stopped at the iteration limit before converging")
        + ".",
    ]
    if a.refined_epsilons:
        text.append(
            f"The best plan was then refined at the smaller ε "
            f"{', '.join(numbers.epsilon(x) for x in a.refined_epsilons)}."
        )
    level = "the video itself (item level)"
    if a.labels is not None:
        level += " or a video of the same category (category level)"
    text.append(
        f"A video counted as matched at top-k ({tops}) when the k largest entries of its row of "
        f"the plan included {level}. Chance levels are exact for k distinct videos drawn at "
        f"random; intervals are 95 % Wilson score intervals {cite('wilson1927')}."
    )
    if shuffles:
        if p.target_is_rdm:
            how = f"the videos of the {e(names[1])} RDM were permuted"
        else:
            how = (
                f"each emotion column of the {e(names[1])} ratings was permuted across videos "
                f"independently"
            )
        what = "one shuffle" if shuffles == 1 else f"{shuffles} shuffles, averaged"
        text.append(
            f"As a baseline, {how} ({what}) and the result was aligned at the same ε from the "
            f"same initial plans."
        )
    return "<p>" + " ".join(text) + "</p>"


def reference_list() -> str:
    items = "".join(f'<li id="ref-{k}">{html.escape(full)}</li>' for k, _, full in REFERENCES)
    return f"<ol class=refs>{items}</ol>"
