"""Draw docs/img/reweighting_weights.png: the weight estimates on the 1-D toy covariate shift.

Run from the repository root (needs matplotlib, the ``plot`` extra)::

    python docs/make_reweighting_plot.py

Top panel: the source and target densities of ``make_gaussian_covariate_shift(d=1)``. Bottom:
the true importance ``p_t/p_s`` and the weight functions of ``ULSIF``, ``KLIEP``,
``DiscriminativeWeighting`` (quadratic logistic regression, so that it can represent the
quadratic log-ratio) and ``RuLSIF`` (α = 0.5, with its true relative ratio dashed), on a grid;
the transductive ``KMM`` and ``NearestNeighborWeighting`` weights at the source rows (dots).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import PolynomialFeatures, StandardScaler  # noqa: E402

from domadapt import (  # noqa: E402
    KLIEP,
    KMM,
    ULSIF,
    DiscriminativeWeighting,
    NearestNeighborWeighting,
    RuLSIF,
)
from domadapt.datasets import make_gaussian_covariate_shift  # noqa: E402

OUT = Path(__file__).resolve().parent / "img" / "reweighting_weights.png"


def main() -> None:
    """Fit every weighting adapter on the toy shift and save the figure."""
    data = make_gaussian_covariate_shift(500, 1, random_state=0)
    Xs, ys, Xt = data.X_source, data.y_source, data.X_target
    grid = np.linspace(-3.0, 3.0, 400)[:, None]
    true = data.density_ratio(grid)
    alpha = 0.5

    classifier = make_pipeline(PolynomialFeatures(2), StandardScaler(), LogisticRegression())
    curves = {
        "ULSIF": ULSIF(random_state=0),
        "KLIEP": KLIEP(random_state=0),
        "DiscriminativeWeighting": DiscriminativeWeighting(classifier=classifier, random_state=0),
        f"RuLSIF (α = {alpha})": RuLSIF(alpha=alpha, random_state=0),
    }
    points = {"KMM": KMM(), "NearestNeighborWeighting": NearestNeighborWeighting()}

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 2]})
    top.plot(grid[:, 0], norm.pdf(grid[:, 0], 0.0, data.source_std), label="source p_s")
    top.plot(grid[:, 0], norm.pdf(grid[:, 0], data.target_mean[0], data.target_std),
             label="target p_t")
    top.hist(Xs[:, 0], bins=40, density=True, alpha=0.25, color="C0")
    top.hist(Xt[:, 0], bins=40, density=True, alpha=0.25, color="C1")
    top.set_ylabel("density")
    top.legend(frameon=False)

    bottom.plot(grid[:, 0], true, color="black", lw=2.5, label="true p_t / p_s")
    for i, (name, adapter) in enumerate(curves.items()):
        adapter.fit(Xs, ys, Xt)
        width = f", σ = {adapter.sigma_:.2g}" if hasattr(adapter, "sigma_") else ""
        bottom.plot(grid[:, 0], adapter.compute_weights(grid), color=f"C{i + 2}",
                    label=name + width)
    bottom.plot(grid[:, 0], true / (alpha * true + 1 - alpha), color="C5", ls="--",
                label=f"true r_α, α = {alpha}")
    for i, (name, adapter) in enumerate(points.items()):
        adapter.fit(Xs, ys, Xt)
        bottom.scatter(Xs[:, 0], adapter.sample_weight_, s=5, alpha=0.35, color=f"C{i + 6}",
                       label=f"{name} (source rows)")
    bottom.set_ylim(0, 1.6 * true.max())
    bottom.set_xlabel("x")
    bottom.set_ylabel("weight")
    bottom.legend(frameon=False, fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
