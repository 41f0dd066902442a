"""Draw the figures of docs/plots.md into docs/img/ (needs matplotlib, the ``plot`` extra).

Run from the repository root::

    python docs/make_plots.py

It fits CORAL (reg=1, logistic regression on top) and the no-adaptation baseline on the built-in
digits task O→R and writes

- ``docs/img/embedding_digits_O-R_CORAL.png``: PCA of source and target before and after CORAL,
  coloured by domain and by class (300 rows per domain, small enough to commit);
- ``docs/img/per_class_digits_O-R_CORAL.png``: per-class target accuracy, no adaptation beside
  CORAL.

The same figures, at full size, come from
``domadapt plot --dataset digits --task "O->R" --method CORAL --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

from sklearn.linear_model import LogisticRegression

from domadapt import CORAL
from domadapt.bench.methods import SourceOnly
from domadapt.datasets import load_task
from domadapt.plot import plot_embedding, plot_per_class_accuracy

IMG = Path(__file__).resolve().parent / "img"


def main() -> None:
    """Fit the two models on digits O→R and save both figures."""
    IMG.mkdir(exist_ok=True)
    task = load_task("digits", "O→R")
    Xs, ys, Xt, yt = task.arrays()
    coral = CORAL(reg=1.0, estimator=LogisticRegression(max_iter=1000)).fit(Xs, ys, Xt)
    source_only = SourceOnly(estimator=LogisticRegression(max_iter=1000)).fit(Xs, ys, Xt)
    plot_embedding(
        coral, Xs, ys, Xt, yt, class_names=task.class_names, max_points=300, random_state=0,
        title="CORAL on digits O→R", dpi=60, out=IMG / "embedding_digits_O-R_CORAL.png",
    )
    plot_per_class_accuracy(
        yt, {"no adaptation": source_only.predict(Xt), "CORAL": coral.predict(Xt)}, task.class_names,
        IMG / "per_class_digits_O-R_CORAL.png", title="per-class target accuracy, digits O→R", dpi=70,
    )
    for path in sorted(IMG.glob("*digits_O-R_CORAL.png")):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
