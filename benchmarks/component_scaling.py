"""TCA/JDA embedding scale: the pencil's normalisation against the unit variance of JDA's constraint.

Both adapters take the leading eigenvectors of ``Xᵀ H X a = λ (Xᵀ M X + μ I) a`` normalised so
that ``Aᵀ (Xᵀ M X + μ I) A = I`` (the embedding's covariance is then ``diag(λ)``). The JDA
paper writes the constraint ``Aᵀ Xᵀ H X A = I`` instead, i.e. every component scaled by
``λ_j^{-1/2}`` to unit variance. The two give the same subspace, but the 1-NN that follows sees
different distances. This script runs the registry's TCA and JDA (primal, k = 100, μ = 1,
unit-norm rows, 1-NN; JDA with T = 10) on the 12 Office-Caltech-10 SURF tasks both ways and
prints the per-task accuracies and the averages beside the published ones (Long et al. 2013).

Usage::

    python benchmarks/component_scaling.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import datetime
import platform

import torch

import domadapt.feature.tca as tca
from domadapt.bench.reference import find_references
from domadapt.bench.runner import run_benchmark

DATASET = "office_caltech10_surf"


def unit_variance(solve):
    """``transfer_components`` with every eigenvector rescaled to ``aᵀ Xᵀ H X a = 1``."""

    def solve_scaled(*args, **kwargs):
        w, V, U = solve(*args, **kwargs)  # Vᵀ S V = diag(w) for the variance term S
        return w, V / w.clamp_min(torch.finfo(w.dtype).tiny).sqrt(), U

    return solve_scaled


def accuracies(method: str, data_root: str) -> dict[str, float]:
    records = run_benchmark([method], None, [0], dataset=DATASET, data_root=data_root, progress=False)
    return {r["task"]: 100.0 * r["accuracy"] for r in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None, help="folder of the data (default: $DOMADAPT_DATA)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# {datetime.date.today()}, {platform.processor() or platform.machine()}, torch {torch.__version__}")
    original = tca.transfer_components
    for method in ("TCA", "JDA"):
        rows = {}
        for name, solve in (("pencil norm (domadapt)", original), ("unit variance", unit_variance(original))):
            tca.transfer_components = solve
            try:
                rows[name] = accuracies(method, args.data_root)
            finally:
                tca.transfer_components = original
        rows["published (Long et al. 2013)"] = dict(find_references(DATASET, method)[0].accuracy)
        tasks = list(rows["published (Long et al. 2013)"])
        print(f"\n{method}\n| scaling | " + " | ".join(tasks) + " | Avg |")
        print("| --- |" + " ---: |" * (len(tasks) + 1))
        for name, acc in rows.items():
            cells = [acc[t] for t in tasks]
            print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {sum(cells) / len(cells):.2f} |")


if __name__ == "__main__":
    main()
