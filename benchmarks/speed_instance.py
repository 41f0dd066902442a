"""Speed and weight quality of domadapt's importance-weighting adapters against skada's.

Every comparison estimates source weights for the same Gaussian covariate shift (whose true
density ratio is known in closed form) with the same hyper-parameters on both sides. One timed
run is everything that produces the source weights: domadapt's ``fit`` (no estimator attached;
input checks and the before/after discrepancy report included unless ``--no-report``) and
skada's ``fit_transform`` (which fits and returns the weights). Quality is the Spearman rank
correlation of each side's weights with the true ratio, and for KMM the value of the KMM
quadratic program at each side's weights, evaluated here by one formula.

Isolation and fairness are those of ``speed_shallow.py``, whose worker protocol, repetition
loop and contention measures this script reuses: each library in its own long-lived worker
process, a warm-up run on 200 rows, the sides' timed runs alternating, medians, the 1-minute
load average and the CPU time of other processes recorded per run (``contended`` rows).

Run from the repository root with the benchmark venv (``pip install -e ".[bench]"``)::

    .venv-bench/bin/python benchmarks/speed_instance.py --out benchmarks/speed_instance.md

``--device cuda --sizes 20000`` measures domadapt on a GPU (skada stays on the CPU).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed_shallow as shallow  # noqa: E402  (the shared worker protocol and measures)
from speed_shallow import Comparison, Row, Side, SideResult  # noqa: E402

TARGET_N, TARGET_D = 4000, 256
KMM_SPEEDUP = 3.0
N_CENTERS = 100
#: KLIEP width grid, as factors of the median-heuristic width √(median ‖x − x'‖²)
KLIEP_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)

# ---------------------------------------------------------------------------------------- data


def save_task(folder: Path, n: int, d: int, seed: int, mean_shift: float,
              target_std: float) -> Path:
    """Draw the covariate shift; save ``Xs``, ``ys``, ``Xt`` and the true ratio at ``Xs``."""
    from domadapt.datasets import make_gaussian_covariate_shift

    data = make_gaussian_covariate_shift(n, d, mean_shift=mean_shift, source_std=1.0,
                                         target_std=target_std, random_state=seed)
    prefix = folder / f"n{n}_d{d}"
    arrays = (data.X_source, data.y_source, data.X_target, data.source_weights)
    for name, array in zip(("Xs", "ys", "Xt", "ratio"), arrays):
        np.save(f"{prefix}_{name}.npy", array)
    return prefix


def load_task(prefix: str, rows: int | None = None) -> tuple[np.ndarray, ...]:
    """The four arrays of :func:`save_task`, optionally only the first ``rows`` of each."""
    arrays = tuple(np.load(f"{prefix}_{name}.npy") for name in ("Xs", "ys", "Xt", "ratio"))
    return arrays if rows is None else tuple(a[:rows] for a in arrays)


def median_sq(prefix: str) -> float:
    """domadapt's median heuristic (median squared distance, 1000 pooled rows, seed 0)."""
    import torch

    from domadapt.kernels import median_sq_distance

    Xs, _, Xt, _ = load_task(prefix)
    return float(median_sq_distance(torch.from_numpy(Xs), torch.from_numpy(Xt)))


# ------------------------------------------------------------------------------- comparisons


def comparisons(m2: float) -> dict[str, Comparison]:
    """All comparisons, given the median squared distance ``m2`` of the task."""
    gamma = 1.0 / (2.0 * m2)  # KMM's default kernel exp(-‖x−y‖² / (2 m2)), passed explicitly
    sigmas = [round(f * m2**0.5, 6) for f in KLIEP_FACTORS]
    gammas = [1.0 / (2.0 * s * s) for s in sigmas]
    logistic = "LogisticRegression()"
    return {
        "kmm": Comparison(
            "kmm", "KMM",
            Side("domadapt", "KMM", {"gamma": gamma, "B": 1000.0, "tol": 1e-6}),
            (Side("skada", "KMMReweightAdapter",
                  {"kernel": "rbf", "gamma": gamma, "B": 1000.0, "tol": 1e-6,
                   "max_iter": 1000, "solver": "frank-wolfe"}),),
            "Gaussian kernel exp(-gamma·‖x−y‖²) with gamma = 1/(2·median ‖x−y‖²) on both sides, "
            "B = 1000, eps = (√n_s − 1)/√n_s (both defaults), the same QP "
            "½wᵀKw − κᵀw with κ_i = (n_s/n_t)Σ_j k(x_i, x'_j). tol means different things: "
            "ours stops when the Frank–Wolfe duality gap is ≤ tol·|objective| (a certificate); "
            "skada's Frank–Wolfe (its default solver, 1000 iterations at most) stops on a "
            "small change. The objective column evaluates both weight vectors by one formula.",
        ),
        "kliep": Comparison(
            "kliep", "KLIEP",
            Side("domadapt", "KLIEP",
                 {"sigmas": sigmas, "cv": 5, "n_centers": N_CENTERS, "random_state": 0}),
            (Side("skada", "KLIEPReweightAdapter",
                  {"gamma": gammas, "cv": 5, "n_centers": N_CENTERS, "tol": 1e-6,
                   "max_iter": 1000, "random_state": 0}),),
            f"Gaussian widths σ = {KLIEP_FACTORS} × √(median ‖x−y‖²) on both sides (skada's "
            "gamma = 1/(2σ²)), 5-fold likelihood cross-validation on the target, "
            f"{N_CENTERS} target rows as centres (each side draws its own, seeded: skada with "
            "replacement). skada's gradient step is machine epsilon (`EPS * A.T @ ...`), so "
            "its α barely moves from uniform before its stopping rule fires: its iterations "
            "are cheap and its weights are close to a normalised kernel density of the centres.",
        ),
        "discriminative": Comparison(
            "discriminative", "DiscriminativeWeighting (in-sample, uncalibrated)",
            Side("domadapt", "DiscriminativeWeighting",
                 {"classifier": logistic, "calibration": None, "cv": None, "normalize": True}),
            (Side("skada", "DiscriminatorReweightAdapter", {"domain_classifier": logistic}),),
            "The same single logistic regression (sklearn defaults, C = 1) trained on all rows, "
            "in-sample probabilities, weights normalised to mean 1: skada's only mode. "
            "skada's weights are P(source|x)/P(target|x) (it labels the target 1 and divides "
            "(1 − p) by p), the inverse of the importance, hence its negative correlation with "
            "the true ratio. Ours is (n_s/n_t)·P(target|x)/P(source|x).",
        ),
        "discriminative-default": Comparison(
            "discriminative-default", "DiscriminativeWeighting (defaults)",
            Side("domadapt", "DiscriminativeWeighting", {"random_state": 0}),
            (Side("skada", "DiscriminatorReweightAdapter", {"domain_classifier": logistic}),),
            "Not like-for-like: our defaults cross-fit 5 folds and calibrate each fold's "
            "logistic regression (max_iter=1000) with Platt scaling on 5 inner folds, 25 "
            "logistic fits in all against skada's one; the row shows what the safeguards cost.",
        ),
        "nn": Comparison(
            "nn", "NearestNeighborWeighting",
            Side("domadapt", "NearestNeighborWeighting", {}),
            (Side("skada", "NearestNeighborReweightAdapter",
                  {"n_neighbors": 1, "laplace_smoothing": True}),),
            "Count of target rows whose nearest source row (Euclidean) is x_i, plus 1 (Laplace "
            "smoothing) on both sides; ours then divides by the mean (same ranks, the weight "
            "correlation between the sides is 1 up to ties).",
        ),
        "ulsif": Comparison(
            "ulsif", "ULSIF", Side("domadapt", "ULSIF", {"random_state": 0}), (),
            "Default grids (9 widths around the median heuristic × 9 ridges, leave-one-out), "
            f"{N_CENTERS} centres. No counterpart: skada 0.6 has no uLSIF/RuLSIF.",
        ),
        "rulsif": Comparison(
            "rulsif", "RuLSIF (α = 0.1)",
            Side("domadapt", "RuLSIF", {"alpha": 0.1, "random_state": 0}), (),
            "As ULSIF, relative ratio with α = 0.1 (its Spearman correlation with p_t/p_s equals "
            "that with r_α, an increasing function of it). No counterpart in skada 0.6.",
        ),
    }


# ------------------------------------------------------------------------------------ worker


def _objects(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn the classifier placeholders of the settings into estimators."""
    from sklearn.linear_model import LogisticRegression

    make = {"LogisticRegression()": LogisticRegression}
    return {k: make[v]() if isinstance(v, str) and v in make else v for k, v in kwargs.items()}


def _build_and_run(
    side: dict[str, Any], task: tuple[np.ndarray, ...], device: str, report: bool
) -> Callable[[], tuple[np.ndarray, dict[str, float]]]:
    """Return a closure that fits ``side`` on ``task`` and returns the source weights.

    Imports, array loading and the construction of the adapter stay outside the closure.
    """
    Xs, ys, Xt, _ = task
    kwargs = _objects(side["kwargs"])
    if side["library"] == "domadapt":
        import domadapt
        import domadapt.instance

        domadapt.set_config(report_discrepancy=report)
        adapter = getattr(domadapt.instance, side["cls"])(**kwargs, device=device)

        def run() -> tuple[np.ndarray, dict[str, float]]:
            start = time.perf_counter()
            adapter.fit(Xs, ys, Xt)
            detail = {"fit_seconds": time.perf_counter() - start,
                      "adapt_seconds": adapter.report_["fit_time_s"],
                      "estimator_fit_seconds": adapter.report_["estimator_fit_time_s"]}
            return np.asarray(adapter.sample_weight_), detail

    elif side["library"] == "skada":
        import skada

        X = np.concatenate([Xs, Xt])
        domain = np.concatenate([np.ones(len(Xs), dtype=int), np.full(len(Xt), -2)])
        adapter = getattr(skada, side["cls"])(**kwargs)

        def run() -> tuple[np.ndarray, dict[str, float]]:
            start = time.perf_counter()
            _, params = adapter.fit_transform(X, sample_domain=domain)
            detail = {"fit_seconds": time.perf_counter() - start}
            return np.asarray(params["sample_weight"])[: len(Xs)], detail

    else:
        raise ValueError(f"unknown library {side['library']!r}")
    return run


def _measure(request: dict[str, Any]) -> dict[str, Any]:
    """Carry out one request: build, time one run, report weights and their quality."""
    import gc
    import warnings

    from scipy.stats import spearmanr

    task = load_task(request["prefix"], request["rows"])
    run = _build_and_run(request["side"], task, request["device"], request["report"])
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_start = os.getloadavg()[0]
        busy0, cpu0, t0 = shallow._busy_seconds(), time.process_time(), time.perf_counter()
        weights, detail = run()
        seconds = time.perf_counter() - t0
        busy1, cpu1 = shallow._busy_seconds(), time.process_time()
        load_end = os.getloadavg()[0]
    own = cpu1 - cpu0
    rho = float(spearmanr(weights, task[3])[0])
    return {
        "seconds": seconds,
        **detail,
        # the shared repetition loop logs "accuracy": here the quality is this correlation
        "accuracy": rho,
        "spearman": rho,
        "weights": weights.tolist(),
        "own_cpu_seconds": own,
        "other_cores": max(0.0, (busy1 - busy0) - own) / seconds,
        "load_start": load_start,
        "load_end": load_end,
        "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught}),
    }


def worker_main(library: str) -> None:
    """Serve JSON requests on stdin, one per line; answer each with one JSON line on stdout."""
    out = sys.stdout
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    __import__({"domadapt": "domadapt.instance", "skada": "skada"}[library])
    out.write(json.dumps({"ready": library}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            answer = _measure(json.loads(line))
        except Exception as exc:  # reported in the table, the worker stays usable
            answer = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


class Worker(shallow.Worker):
    """``speed_shallow``'s long-lived worker, running this script's worker loop."""

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", self.library],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.open("a"),
            text=True,
            env=self.env,
            start_new_session=True,
        )
        if self._read(timeout=300.0) is None:
            raise RuntimeError(f"{self.library} worker did not start; see {self.log}")


# ------------------------------------------------------------------------------ KMM objective


def kmm_objective(prefix: str, gamma: float, w: np.ndarray) -> tuple[float, str]:
    """``½ wᵀKw − κᵀw`` of the KMM program at ``w``, and whether ``w`` is feasible.

    Feasible: ``0 <= w <= B`` and ``|Σw − n_s| <= n_s ε`` with ``B = 1000`` and the default
    ``ε = (√n_s − 1)/√n_s``, each up to 1e-9 relative.
    """
    from sklearn.metrics.pairwise import rbf_kernel

    Xs, _, Xt, _ = load_task(prefix)
    n_s, n_t = len(Xs), len(Xt)
    kappa = (n_s / n_t) * rbf_kernel(Xs, Xt, gamma=gamma).sum(axis=1)
    value = 0.5 * w @ rbf_kernel(Xs, gamma=gamma) @ w - kappa @ w
    eps = (np.sqrt(n_s) - 1) / np.sqrt(n_s)
    ok = (w.min() >= -1e-9 and w.max() <= 1000 * (1 + 1e-9)
          and abs(w.sum() - n_s) <= n_s * (eps + 1e-9))
    return float(value), "feasible" if ok else "**infeasible**"


# ---------------------------------------------------------------------------------- the table


def _corr(a: SideResult, b: SideResult) -> str:
    if not (a.runs and b.runs):
        return "—"
    wa, wb = np.asarray(a.runs[-1]["weights"]), np.asarray(b.runs[-1]["weights"])
    return f"{np.corrcoef(wa, wb)[0, 1]:.3f}"


def _rho(result: SideResult | None) -> str:
    return "—" if result is None or not result.runs else f"{result.accuracy:.3f}"


def _quality_cells(ours: SideResult, theirs: SideResult | None) -> list[str]:
    """Spearman of each side's weights with the true ratio, and the two sides' correlation."""
    return [_rho(ours), _rho(theirs), "—" if theirs is None else _corr(ours, theirs)]


QUALITY = (["Spearman ours", "Spearman theirs", "corr(ours, theirs)"], _quality_cells)


def kmm_lines(rows: list[Row], objectives: dict[tuple[int, int], dict[str, Any]]) -> list[str]:
    """The KMM objective table (the last timed run's weights of each side)."""
    lines = ["| n | d | objective ours | objective skada | ours − skada | ours | skada |",
             "| ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        obj = objectives.get((row.n, row.d))
        if row.comparison.key != "kmm" or obj is None:
            continue
        ours, theirs = obj.get("domadapt"), obj.get("skada")
        diff = "—" if ours is None or theirs is None else f"{ours[0] - theirs[0]:.6g}"

        def text(o: tuple[float, str] | None, part: int) -> str:
            if o is None:
                return "—"
            return f"{o[0]:.8g}" if part == 0 else o[1]

        lines.append(f"| {row.n} | {row.d} | {text(ours, 0)} | {text(theirs, 0)} | "
                     f"{diff} | {text(ours, 1)} | {text(theirs, 1)} |")
    return lines


def target_lines(rows: list[Row], objectives: dict[tuple[int, int], dict[str, Any]],
                 device: str) -> list[str]:
    """The verdict at n = 4000, d = 256 on the CPU."""
    lines = []
    for row in rows:
        if (row.n, row.d) != (TARGET_N, TARGET_D) or device != "cpu":
            continue
        if not row.theirs:
            lines.append(f"- {row.comparison.title}: no counterpart, no target to meet.")
        for theirs in row.theirs:
            who = f"{row.comparison.title} vs skada {theirs.side.cls}"
            if row.ours.median is None or theirs.median is None:
                lines.append(f"- {who}: **not measured** (ours {row.ours.time_text()}, theirs "
                             f"{theirs.time_text()}).")
                continue
            speedup = theirs.median / row.ours.median
            need = KMM_SPEEDUP if row.comparison.key == "kmm" else 1.0
            if row.comparison.key == "discriminative-default":
                verdict = f"theirs/ours {speedup:.2f}× (not like-for-like; no target)"
            else:
                verdict = ("met" if speedup >= need else "**missed**") + \
                    f" (target ≥ {need:g}×, theirs/ours {speedup:.2f}×)"
            if row.ours.overhead:
                lean = speedup * row.ours.median / (row.ours.median - row.ours.overhead)
                verdict += f"; {lean:.2f}× without our input checks and report"
            if row.ours.contended or theirs.contended:
                verdict += " (contended)"
            if row.comparison.key == "kmm":
                obj = objectives.get((row.n, row.d), {})
                if "domadapt" in obj and "skada" in obj:
                    ok = obj["domadapt"][0] <= obj["skada"][0]
                    verdict += ("; objective " + ("met" if ok else "**missed**")
                                + f" ({obj['domadapt'][0]:.8g} vs {obj['skada'][0]:.8g})")
            lines.append(f"- {who}: speed {verdict}.")
    return lines or [f"- n = {TARGET_N}, d = {TARGET_D} on the CPU was not part of this run."]


def render(rows: list[Row], objectives: dict[tuple[int, int], dict[str, Any]],
           args: argparse.Namespace, command: str) -> str:
    """The whole Markdown document."""
    methods = {row.comparison.key: row.comparison for row in rows}
    out = [
        "# Importance-weighting adapters: domadapt vs skada (speed and weight quality)",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {shallow._cpu_model()}, "
        f"{os.cpu_count()} logical cores, {platform.system()} (shared: other processes may "
        "run; see the load and other-CPU columns). "
        f"Python {platform.python_version()}, torch {shallow._version('torch')}, skada "
        f"{shallow._version('skada')}, scikit-learn {shallow._version('scikit-learn')}, numpy "
        f"{shallow._version('numpy')}. Worker environment: {shallow._env_text(args.env)}. "
        f"domadapt device: `{args.device}`; discrepancy report in `fit`: "
        f"{'off' if args.no_report else 'on (the default)'}.",
        "",
        f"Command: `{command}`",
        "",
        "## Task and protocol",
        "",
        f"- Data: `make_gaussian_covariate_shift(n, d, mean_shift={args.mean_shift}, "
        f"source_std=1, target_std={args.target_std}, random_state={args.seed})`: source "
        "N(0, I), target N(m, target_std² I) with ‖m‖ = mean_shift; n rows per domain; "
        "float64. Identical `.npy` arrays for both libraries. The true ratio p_t/p_s at the "
        "source rows is known in closed form.",
        "- One timed run = everything that yields the source weights: domadapt's `fit` (no "
        "estimator; input checks and the discrepancy report included, shown in the checks "
        "column) or skada's `fit_transform` on the pooled rows with `sample_domain`.",
        "- `Spearman`: rank correlation of a side's weights with the true ratio (median over "
        "runs). `corr(ours, theirs)`: Pearson correlation of the two sides' weights (last run).",
        f"- Each library in its own worker process; a warm-up run on {shallow.WARMUP_ROWS} rows "
        f"per side; then the sides alternate (order flipped every repeat); medians shown. Up to "
        f"{args.repeats} repeats per side, fewer when a side's runs add up to "
        f"{args.repeat_budget:g} s; per-run timeout {args.timeout:g} s.",
        "- `load 1-min`: lowest load average at the start and highest at the end of the row's "
        "runs (our own runs raise it). `other CPU`: the most CPU that other processes used "
        f"during one of the row's runs (≥ {shallow.MIN_FLAG_SECONDS} s), in cores; `contended` "
        f"when above {shallow.CONTENDED_CORES}. Contended timings are slower than the machine "
        "can do and their ratios are unreliable.",
        "- `theirs/ours` > 1 means domadapt is faster.",
        "",
        "## Settings (the same problem on both sides)",
        "",
    ]
    for comp in methods.values():
        sides = "; ".join(s.call() for s in (comp.ours, *comp.theirs))
        out.append(f"- **{comp.title}**: {sides}. {comp.note}")
    out += ["", "The widths and gammas above are those of the largest task of the run; each task "
            "gets its own from its median heuristic.", "", "## Results", ""]
    out += shallow.table_rows(rows, QUALITY)
    out += ["", "## KMM objective", "",
            "½wᵀKw − κᵀw at each side's weights (lower is better), evaluated by one formula "
            "(sklearn's `rbf_kernel`, float64) on the same data.", ""]
    out += kmm_lines(rows, objectives)
    out += ["", f"## Targets at n = {TARGET_N}, d = {TARGET_D}, CPU", "",
            f"KMM at least {KMM_SPEEDUP:g}× faster than skada with an objective at least as low; "
            "the other adapters no slower than their counterparts.", ""]
    out += target_lines(rows, objectives, args.device)
    if args.device == "cpu":
        out += ["", "## GPU", "",
                "Not measured: no CUDA device on the machine of this run. On one, "
                "`--device cuda --sizes 20000 --out benchmarks/speed_instance_cuda.md` measures "
                "domadapt on the GPU at n = 20,000 (skada stays on the CPU)."]
    warned = sorted({w for row in rows for r in (row.ours, *row.theirs) for run in r.runs
                     for w in run["warnings"]})
    if warned:
        out += ["", "## Warnings raised during timed runs", ""] + [f"- {w}" for w in warned]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    keys = list(comparisons(1.0))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[TARGET_N], help="rows per domain")
    parser.add_argument("--dims", type=int, nargs="+", default=[TARGET_D], help="features")
    parser.add_argument("--methods", nargs="+", default=keys, choices=keys,
                        help="comparisons to run (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side")
    parser.add_argument("--repeat-budget", type=float, default=120.0,
                        help="stop repeating a side once its runs add up to this many seconds")
    parser.add_argument("--timeout", type=float, default=400.0,
                        help="seconds per run (loading and set-up included)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--mean-shift", type=float, default=1.0, help="‖target mean‖")
    parser.add_argument("--target-std", type=float, default=0.95,
                        help="target standard deviation (source: 1)")
    parser.add_argument("--env", nargs="+", default=[], type=shallow._env_pair,
                        metavar="NAME=VALUE", help="environment of every worker")
    parser.add_argument("--device", default="cpu", help="domadapt's device parameter")
    parser.add_argument("--no-report", action="store_true",
                        help="switch off domadapt's discrepancy report in fit")
    parser.add_argument("--out", type=Path, help="write the Markdown here too")
    parser.add_argument("--json", type=Path, help="write every run's raw record here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.set_defaults(dtype="float64")  # the issue's setting; the shared payload carries it
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with ``--worker``, serve as one library's worker)."""
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "python benchmarks/speed_instance.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    rows: list[Row] = []
    objectives: dict[tuple[int, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="speed_instance_") as tmp:
        folder = Path(tmp)
        workers = {lib: Worker(lib, folder / f"worker-{lib}.log", dict(args.env))
                   for lib in ("domadapt", "skada")}
        try:
            for n in args.sizes:
                for d in args.dims:
                    prefix = save_task(folder, n, d, args.seed, args.mean_shift, args.target_std)
                    m2 = median_sq(str(prefix))
                    shallow._log(f"n={n} d={d}: median squared distance {m2:.4g}")
                    for key in args.methods:
                        comp = comparisons(m2)[key]
                        row = shallow.run_comparison(comp, prefix, n, d, workers, args)
                        rows.append(row)
                        if key == "kmm":
                            gamma = comp.ours.kwargs["gamma"]
                            objectives[(n, d)] = {
                                r.side.library: kmm_objective(str(prefix), gamma,
                                                              np.asarray(r.runs[-1]["weights"]))
                                for r in (row.ours, *row.theirs) if r.runs}
        finally:
            for worker in workers.values():
                worker.stop()
            logs = {w.library: w.log.read_text()[-2000:] for w in workers.values()
                    if w.log.exists() and w.log.stat().st_size}
    order = {key: i for i, key in enumerate(args.methods)}
    rows.sort(key=lambda r: (order[r.comparison.key], r.n, r.d))
    if args.json:
        args.json.write_text(json.dumps(
            [{"method": r.comparison.key, "n": r.n, "d": r.d, "device": args.device,
              "sides": [{"side": asdict(s.side), "timeout": s.timeout, "error": s.error,
                         "runs": [{k: v for k, v in run.items() if k != "weights"}
                                  for run in s.runs]}
                        for s in (r.ours, *r.theirs)]} for r in rows], indent=1))
    for library, text in logs.items():
        shallow._log(f"--- tail of the {library} worker's stderr ---\n{text}")
    document = render(rows, objectives, args, command)
    print(document)
    if args.out:
        args.out.write_text(document)


if __name__ == "__main__":
    main()
