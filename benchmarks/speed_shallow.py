"""Speed and target accuracy of domadapt's shallow feature adapters against skada and POT.

Every comparison runs the same task on the same arrays with the same hyper-parameters and the
same downstream classifier (1-nearest-neighbour, brute force, on the adapted source; it then
predicts the target). One timed run is ``fit`` plus ``predict`` of the whole target.

Isolation and fairness
----------------------
* The data (a 10-class Gaussian mixture; the target is a fresh draw rotated out of the class
  subspace and rescaled per feature) is generated once per (n, d) from ``--seed``, saved as
  ``.npy`` in a temporary folder and loaded by every worker.
* Each library runs in its own long-lived worker process (this file with ``--worker LIB``); skada
  is imported only in its worker because ``import skada`` switches on scikit-learn's metadata
  routing for the whole process.
* Before timing, each side runs once on a 200-row slice (warm-up); the timed runs of the two
  sides then alternate, the order flipping every repeat; the table shows medians.
* A side is repeated ``--repeats`` times or until its runs add up to ``--repeat-budget`` seconds
  (at least once); a run that passes ``--timeout`` is killed and reported as a timeout.
* Each run records the 1-minute load average at its start and end and the CPU time that *other*
  processes used while it ran (system busy time minus the worker's own); a row is flagged
  ``contended`` when, in any of its timed runs lasting at least 0.2 s, other processes used more
  than 0.25 of a core on average.

Run from the repository root with the benchmark venv (``pip install -e ".[bench]"``)::

    .venv-bench/bin/python benchmarks/speed_shallow.py --out benchmarks/speed_shallow.md
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

N_CLASSES = 10
WARMUP_ROWS = 200
CONTENDED_CORES = 0.25
MIN_FLAG_SECONDS = 0.2
TARGET_N, TARGET_D, TARGET_SPEEDUP = 4000, 2048, 2.0

# ---------------------------------------------------------------------------------------- data


def make_rotated_mixture(
    n: int, d: int, seed: int, *, latent: int = 16, angle_deg: float = 70.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 10-class Gaussian mixture and a rotated, rescaled copy of it as the target.

    The class means and an anisotropic class spread live in a ``latent``-dimensional subspace
    ``U`` of R^d, plus isotropic noise (std 0.4) in all d features. Source and target are
    independent draws of ``n`` rows each (balanced classes, shuffled). The target is then
    rotated by ``angle_deg`` from ``U`` towards an orthogonal subspace ``V`` (each direction
    ``u_i`` turns towards ``v_i``) and every feature is multiplied by a log-normal factor
    (sigma 0.3). Finally each domain is divided by one scalar so that its mean per-feature
    variance is 1 (the setting of the CORAL paper; it also makes the CORAL regularisers of
    domadapt and skada comparable, see :func:`comparisons`).

    Returns
    -------
    Xs, ys, Xt, yt : float64 features (n, d) and int64 labels (n,) of source and target
    """
    if d < 2 * latent:
        raise ValueError(f"d must be at least {2 * latent}, got {d}")
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, 2 * latent)))
    U, V = basis[:, :latent], basis[:, latent:]
    means = 1.5 * rng.standard_normal((N_CLASSES, latent))
    means -= means.mean(axis=0)
    spread = np.sqrt(rng.uniform(0.2, 1.0, latent))

    def draw() -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(n) % N_CLASSES)
        z = means[y] + spread * rng.standard_normal((n, latent))
        return z @ U.T + 0.4 * rng.standard_normal((n, d)), y.astype(np.int64)

    Xs, ys = draw()
    Xt, yt = draw()
    cos, sin = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    pu, pv = Xt @ U, Xt @ V
    Xt = Xt + (cos - 1) * (pu @ U.T + pv @ V.T) + sin * (pu @ V.T - pv @ U.T)
    Xt = Xt * np.exp(0.3 * rng.standard_normal(d))
    return _unit_variance(Xs), ys, _unit_variance(Xt), yt


def _unit_variance(X: np.ndarray) -> np.ndarray:
    return X / np.sqrt(X.var(axis=0).mean())


def save_task(folder: Path, n: int, d: int, seed: int) -> Path:
    """Generate one task and save its four arrays as ``<prefix>_{Xs,ys,Xt,yt}.npy``."""
    prefix = folder / f"n{n}_d{d}"
    for name, array in zip(("Xs", "ys", "Xt", "yt"), make_rotated_mixture(n, d, seed)):
        np.save(f"{prefix}_{name}.npy", array)
    return prefix


def load_task(
    prefix: str, rows: int | None = None, dtype: str = "float64"
) -> tuple[np.ndarray, ...]:
    """Load the arrays saved by :func:`save_task` (features cast to ``dtype``).

    Optionally only the first ``rows`` of each.
    """
    Xs, ys, Xt, yt = (np.load(f"{prefix}_{name}.npy") for name in ("Xs", "ys", "Xt", "yt"))
    arrays = (Xs.astype(dtype), ys, Xt.astype(dtype), yt)
    return arrays if rows is None else tuple(a[:rows] for a in arrays)


def make_classifier() -> Any:
    """The downstream classifier of every side: brute-force 1-nearest-neighbour."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=1, algorithm="brute")


# ------------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Side:
    """One library's estimator in a comparison.

    ``cost_scaled`` names keyword arguments that the worker multiplies, before timing, by the
    median squared-Euclidean source-target cost: the way to pose skada's class-regularised OT
    on a median-normalised cost, which skada does not forward to POT.
    """

    library: str
    cls: str
    kwargs: dict[str, Any]
    cost_scaled: tuple[str, ...] = ()

    def call(self) -> str:
        """The constructor call, as run (classifier and device omitted)."""
        module = {"domadapt": "domadapt", "skada": "skada", "POT": "ot.da"}[self.library]
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        scaled = f" with {', '.join(self.cost_scaled)} × median cost" if self.cost_scaled else ""
        return f"`{module}.{self.cls}({args})`{scaled}"


@dataclass(frozen=True)
class Comparison:
    """Our adapter, its counterparts (possibly none) and how their settings were matched."""

    key: str
    title: str
    ours: Side
    theirs: tuple[Side, ...]
    note: str


def comparisons(d: int) -> dict[str, Comparison]:
    """All comparisons at feature dimension ``d``, by ``--methods`` key."""
    gamma = 1.0 / d  # skada's TCA kernel is sklearn's rbf with its default gamma = 1/d
    tca = {"n_components": 32, "kernel": "rbf", "gamma": gamma, "mu": 10.0}
    pot_emd = {"metric": "sqeuclidean", "norm": "median", "max_iter": 10_000_000}
    sinkhorn = {"reg_e": 0.1, "norm": "median", "max_iter": 1000, "tol": 1e-9}
    lpl1 = {"reg_e": 0.1, "reg_cl": 0.1, "tol": 1e-9}
    return {
        "coral": Comparison(
            "coral", "CORAL",
            Side("domadapt", "CORAL", {"reg": 1.0, "center": True}),
            (Side("skada", "CORALAdapter", {"reg": 0.5}),),
            "domadapt adds reg·I to each covariance; skada shrinks it, (1-s)·C + s·tr(C)/d·I. "
            "With tr(C)/d = 1 in both domains (the data are scaled so), s = reg/(1+reg) = 0.5 "
            "gives a matrix proportional to C + I and the same map. skada centres each domain; "
            "center=True does the same up to a common translation ((x − μ_s)A + μ_t; the "
            "default, center=False, maps the raw source as the paper does and scored 0.5645 "
            "against 0.5660 at n = 4000, d = 2048). skada uses the 1/n covariance, ours 1/(n-1).",
        ),
        "sa": Comparison(
            "sa", "Subspace Alignment",
            Side("domadapt", "SubspaceAlignment", {"n_components": 32, "random_state": 0}),
            (Side("skada", "SubspaceAlignmentAdapter", {"n_components": 32, "random_state": 0}),),
            "32 principal components per domain, centred data, M = P_sᵀP_t on both sides. skada "
            "takes them from sklearn's PCA, whose solver here is a randomized SVD (seeded); ours "
            "uses its default solver='auto': randomized subspace iteration with the same "
            "oversampling and iteration counts when min(n, d) > 1024 (d = 2048 rows), else a "
            "solve to a residual bound (Krylov or dense eigh).",
        ),
        "tca": Comparison(
            "tca", "TCA",
            Side("domadapt", "TCA", tca),
            (Side("skada", "TransferComponentAnalysisAdapter",
                  {"n_components": 32, "kernel": "rbf", "mu": 0.1}),),
            f"RBF kernel exp(-gamma·||x-y||²) with gamma = 1/d = {gamma:.3g} (skada passes "
            "`kernel` to sklearn's `pairwise_kernels`, whose default gamma is 1/d), 32 "
            "components, L = eeᵀ with e = 1/n_s, -1/n_t on both sides. Ours solves the paper's "
            "KHK w = λ(KLK + mu·I) w; skada solves (I + mu·KLK)⁻¹KHK, the same problem with "
            "mu ↦ 1/mu, so skada mu = 0.1 is ours mu = 10. skada takes `np.linalg.eigh` of "
            "that non-symmetric matrix (which reads its lower triangle only), so its "
            "components are not the exact TCA solution.",
        ),
        "jda": Comparison(
            "jda", "JDA",
            Side("domadapt", "JDA", {**tca, "n_iter": 10}),
            (),
            "The TCA row's settings plus 10 pseudo-label rounds (cosine 1-NN, the default). No "
            "counterpart: skada 0.6 has no JDA (its TransferJointMatchingAdapter is TJM, Long "
            "et al. 2014: an L2,1 instance-selection term instead of JDA's class-conditional "
            "MMD on pseudo-labels) and POT has none.",
        ),
        "ot-emd": Comparison(
            "ot-emd", "OT mapping, exact (EMD)",
            Side("domadapt", "OTMapping", {"method": "emd", "norm": "median"}),
            (Side("skada", "OTMappingAdapter", pot_emd), Side("POT", "EMDTransport", pot_emd)),
            "Squared-Euclidean cost divided by its median, exact plan, barycentric map of the "
            "source. POT's network simplex gets 10⁷ pivots (its default 10⁵ stops before "
            "optimality at n = 4000); ours solves to optimality by column generation.",
        ),
        "ot-sinkhorn": Comparison(
            "ot-sinkhorn", "OT mapping, entropic (Sinkhorn)",
            Side("domadapt", "OTMapping", {"method": "sinkhorn", **sinkhorn}),
            (Side("skada", "EntropicOTMappingAdapter", sinkhorn),
             Side("POT", "SinkhornTransport", sinkhorn)),
            "Median-normalised squared-Euclidean cost, reg_e = 0.1, at most 1000 Sinkhorn "
            "iterations, tolerance 1e-9 on the target marginal (ours: L1 norm, checked every "
            "iteration; POT: L2 norm, checked every 10 iterations, so ours is the stricter).",
        ),
        "ot-lpl1": Comparison(
            "ot-lpl1", "OT mapping, class-regularised (Sinkhorn + Lp-L1)",
            Side("domadapt", "OTMapping", {"method": "lpl1", "norm": "median", **lpl1,
                                           "max_outer_iter": 10, "max_iter": 200}),
            (Side("skada", "ClassRegularizerOTMappingAdapter",
                  {"norm": "lpl1", **lpl1, "max_iter": 10, "max_inner_iter": 200},
                  cost_scaled=("reg_e", "reg_cl")),
             Side("POT", "SinkhornLpl1Transport",
                  {"norm": "median", **lpl1, "max_iter": 10, "max_inner_iter": 200})),
            "Median-normalised cost, reg_e = reg_cl = 0.1, p = 1/2, 10 outer steps of at most "
            "200 Sinkhorn iterations, tolerance 1e-9 (ours stops the outer loop early once "
            "the plan moves less than tol and warm-starts each inner Sinkhorn; POT runs all 10 "
            "from scratch). skada's `norm` selects the regulariser and no cost normalisation "
            "reaches POT, so skada gets reg_e and reg_cl multiplied by the median cost "
            "(computed before its timer starts): the same problem, since scaling cost, reg_e "
            "and reg_cl together leaves the plan unchanged.",
        ),
    }


# ------------------------------------------------------------------------------------ worker


def _build_and_run(
    side: dict[str, Any], task: tuple[np.ndarray, ...], device: str, report: bool
) -> Callable[[], tuple[np.ndarray, dict[str, float]]]:
    """Return a closure that fits ``side`` on ``task`` and predicts the target.

    ``device`` and ``report`` (domadapt's discrepancy report in ``fit``) apply to domadapt only.
    Everything that is not the library's own work (imports, array loading, the median cost for
    ``cost_scaled`` arguments) happens here, before the closure is timed. The closure returns
    the target predictions and a breakdown: ``fit_seconds`` (adaptation and classifier fit) and,
    for domadapt, ``adapt_seconds`` and ``estimator_fit_seconds`` from ``report_`` (the rest of
    its ``fit`` is input checks and the discrepancy report).
    """
    Xs, ys, Xt, _ = task
    kwargs = dict(side["kwargs"])
    library = side["library"]
    if side["cost_scaled"]:
        import ot

        median = float(np.median(ot.dist(Xs, Xt, metric="sqeuclidean")))
        kwargs.update({k: kwargs[k] * median for k in side["cost_scaled"]})

    if library == "domadapt":
        import domadapt
        import domadapt.feature

        domadapt.set_config(report_discrepancy=report)
        adapter = getattr(domadapt.feature, side["cls"])(
            **kwargs, estimator=make_classifier(), device=device
        )

        def run() -> tuple[np.ndarray, dict[str, float]]:
            start = time.perf_counter()
            adapter.fit(Xs, ys, Xt)
            detail = {"fit_seconds": time.perf_counter() - start,
                      "adapt_seconds": adapter.report_["fit_time_s"],
                      "estimator_fit_seconds": adapter.report_["estimator_fit_time_s"]}
            return adapter.predict(Xt), detail

    elif library == "skada":
        import skada

        X = np.concatenate([Xs, Xt])
        y = np.concatenate([ys, np.full(len(Xt), -1)])
        domain = np.concatenate([np.ones(len(Xs), dtype=int), np.full(len(Xt), -2)])
        target_domain = np.full(len(Xt), -2)

        pipe = skada.make_da_pipeline(getattr(skada, side["cls"])(**kwargs), make_classifier())

        def run() -> tuple[np.ndarray, dict[str, float]]:
            start = time.perf_counter()
            pipe.fit(X, y, sample_domain=domain)
            detail = {"fit_seconds": time.perf_counter() - start}
            return pipe.predict(Xt, sample_domain=target_domain), detail

    elif library == "POT":
        import ot.da

        def run() -> tuple[np.ndarray, dict[str, float]]:
            start = time.perf_counter()
            transport = getattr(ot.da, side["cls"])(**kwargs).fit(Xs=Xs, ys=ys, Xt=Xt)
            clf = make_classifier().fit(transport.transform(Xs=Xs), ys)
            detail = {"fit_seconds": time.perf_counter() - start}
            return clf.predict(Xt), detail

    else:
        raise ValueError(f"unknown library {library!r}")
    return run


def _busy_seconds() -> float:
    import psutil

    t = psutil.cpu_times()._asdict()
    idle = ("idle", "iowait", "guest", "guest_nice")  # guest time is already counted in user
    return sum(v for k, v in t.items() if k not in idle)


def _measure(request: dict[str, Any]) -> dict[str, Any]:
    """Carry out one request of the main process: build, time one run, report."""
    import gc
    import warnings

    task = load_task(request["prefix"], request["rows"], request["dtype"])
    run = _build_and_run(request["side"], task, request["device"], request["report"])
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_start = os.getloadavg()[0]
        busy0, cpu0, t0 = _busy_seconds(), time.process_time(), time.perf_counter()
        pred, detail = run()
        seconds = time.perf_counter() - t0
        busy1, cpu1 = _busy_seconds(), time.process_time()
        load_end = os.getloadavg()[0]
    own = cpu1 - cpu0
    return {
        "seconds": seconds,
        **detail,
        "accuracy": float(np.mean(np.asarray(pred) == task[3])),
        "own_cpu_seconds": own,
        "other_cores": max(0.0, (busy1 - busy0) - own) / seconds,
        "load_start": load_start,
        "load_end": load_end,
        "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught}),
    }


_LIBRARY_MODULES = {"domadapt": "domadapt.feature", "skada": "skada", "POT": "ot.da"}


def worker_main(library: str) -> None:
    """Serve JSON requests on stdin, one per line; answer each with one JSON line on stdout."""
    out = sys.stdout
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    importlib.import_module(_LIBRARY_MODULES[library])  # import time stays out of the timeouts
    out.write(json.dumps({"ready": library}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = _measure(request)
        except Exception as exc:  # reported in the table, the worker stays usable
            answer = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


# ------------------------------------------------------------------------------ main process


class Worker:
    """A long-lived worker process for one library, restarted after a timeout."""

    def __init__(self, library: str, log: Path, env: dict[str, str]):
        self.library = library
        self.log = log
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[str] | None = None

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

    def _read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.library} worker died; see {self.log}")
        return json.loads(line)

    def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one request; return its answer, or None after killing a worker that timed out.

        A worker that dies (killed for memory, say) is reported as an error and restarted by
        the next request.
        """
        if self.proc is None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(payload) + "\n")
            self.proc.stdin.flush()
            answer = self._read(timeout)
        except (BrokenPipeError, RuntimeError) as exc:
            self.stop()
            return {"error": f"worker died ({exc})"}
        if answer is None:
            self.stop()
        return answer

    def stop(self) -> None:
        """Kill the worker's process group (its BLAS threads included)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None


@dataclass
class SideResult:
    """All timed runs of one side of one comparison at one (n, d)."""

    side: Side
    runs: list[dict[str, Any]] = field(default_factory=list)
    timeout: float | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(r["seconds"] for r in self.runs) if self.runs else None

    @property
    def accuracy(self) -> float | None:
        return statistics.median(r["accuracy"] for r in self.runs) if self.runs else None

    @property
    def overhead(self) -> float | None:
        """Median seconds of domadapt's ``fit`` outside adaptation and classifier fit.

        That is input checks, conversions and the discrepancy report; None for other libraries.
        """
        parts = [r["fit_seconds"] - r["adapt_seconds"] - r["estimator_fit_seconds"]
                 for r in self.runs if "adapt_seconds" in r]
        return statistics.median(parts) if parts else None

    @property
    def contended(self) -> bool:
        return any(
            r["other_cores"] > CONTENDED_CORES and r["seconds"] >= MIN_FLAG_SECONDS
            for r in self.runs
        )

    def time_text(self) -> str:
        if self.error:
            return f"error: {self.error[:80]}"
        if self.timeout is not None and not self.runs:
            return f"timeout > {self.timeout:g} s"
        return _seconds(self.median)


@dataclass
class Row:
    """One comparison at one (n, d): our result and each counterpart's."""

    comparison: Comparison
    n: int
    d: int
    ours: SideResult
    theirs: list[SideResult]


def _seconds(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.3f}" if s < 1 else f"{s:.2f}" if s < 100 else f"{s:.0f}"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def run_comparison(
    comparison: Comparison,
    prefix: Path,
    n: int,
    d: int,
    workers: dict[str, Worker],
    args: argparse.Namespace,
) -> Row:
    """Warm up every side, then time them interleaved; return the row."""
    results = [SideResult(s) for s in (comparison.ours, *comparison.theirs)]

    def ask(result: SideResult, rows: int | None) -> dict[str, Any] | None:
        payload = {"side": asdict(result.side), "prefix": str(prefix), "rows": rows,
                   "device": args.device, "report": not args.no_report, "dtype": args.dtype}
        answer = workers[result.side.library].request(payload, args.timeout)
        if answer is None:
            result.timeout = args.timeout
        elif "error" in answer:
            result.error = answer["error"]
        return answer

    for result in results:
        ask(result, min(n, WARMUP_ROWS))
    for repeat in range(args.repeats):
        order = results if repeat % 2 == 0 else results[::-1]
        for result in order:
            spent = sum(r["seconds"] for r in result.runs)
            if result.error or result.timeout is not None or (
                result.runs and spent >= args.repeat_budget
            ):
                continue
            answer = ask(result, None)
            if answer is not None and "error" not in answer:
                result.runs.append(answer)
                _log(f"  {result.side.library:8s} {comparison.key:12s} n={n} d={d} "
                     f"{answer['seconds']:.3f}s acc={answer['accuracy']:.3f} "
                     f"other={answer['other_cores']:.2f} load={answer['load_start']:.2f}")
            else:
                _log(f"  {result.side.library:8s} {comparison.key:12s} n={n} d={d} "
                     f"{result.time_text()}")
    return Row(comparison, n, d, results[0], results[1:])


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def source_only_accuracy(prefix: Path) -> float:
    """Target accuracy of the classifier trained on the raw source (no adaptation)."""
    Xs, ys, Xt, yt = load_task(str(prefix))
    return float(np.mean(make_classifier().fit(Xs, ys).predict(Xt) == yt))


# ---------------------------------------------------------------------------------- the table


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _env_text(env: list[tuple[str, str]]) -> str:
    if not env:
        return "inherited (torch and BLAS threads: the libraries' defaults, every core)"
    return ", ".join(f"`{k}={v}`" for k, v in env)


def _acc(a: float | None) -> str:
    return "—" if a is None else f"{a:.3f}"


def _ratio(ours: SideResult, theirs: SideResult) -> str:
    if ours.median is None:
        return "—"
    if theirs.timeout is not None and not theirs.runs:
        return f"> {theirs.timeout / ours.median:.1f}×"
    if theirs.median is None:
        return "—"
    return f"{theirs.median / ours.median:.2f}×"


def _load(results: Iterable[SideResult]) -> str:
    runs = [r for res in results for r in res.runs]
    if not runs:
        return "—"
    return f"{min(r['load_start'] for r in runs):.1f}–{max(r['load_end'] for r in runs):.1f}"


def _other(results: Iterable[SideResult]) -> str:
    runs = [r for res in results for r in res.runs if r["seconds"] >= MIN_FLAG_SECONDS]
    return "—" if not runs else f"{max(r['other_cores'] for r in runs):.2f}"


def _accuracy_cells(ours: SideResult, theirs: SideResult | None) -> list[str]:
    return [_acc(ours.accuracy), "—" if theirs is None else _acc(theirs.accuracy)]


def table_rows(
    rows: list[Row],
    quality: tuple[list[str], Callable[[SideResult, SideResult | None], list[str]]] = (
        ["acc ours", "acc theirs"], _accuracy_cells),
) -> list[str]:
    """Markdown lines of the main table, one line per (comparison, counterpart, n, d).

    ``quality``: the headers of the columns that judge the results (default: target accuracy of
    each side) and the function giving their cells for ``(ours, theirs or None)``.
    """
    headers, cells = quality
    lines = [
        "| method | n | d | counterpart | ours (s) | of which checks + report (s) | theirs (s) | "
        f"theirs/ours | {' | '.join(headers)} | runs ours/theirs | load 1-min | "
        "other CPU (cores) | note |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | " + "---: | " * len(headers)
        + ":---: | :---: | ---: | --- |",
    ]
    for row in rows:
        pairs = [(row.ours, t) for t in row.theirs] or [(row.ours, None)]
        for ours, theirs in pairs:
            both = [ours] if theirs is None else [ours, theirs]
            notes = ["contended"] if any(r.contended for r in both) else []
            notes += sorted({w.split(":")[0] for r in both for run in r.runs
                             for w in run["warnings"]})
            if theirs is None:
                name, t_time, ratio, t_runs = "none", "—", "—", "—"
            else:
                name = f"{theirs.side.library} {theirs.side.cls}"
                t_time, ratio, t_runs = theirs.time_text(), _ratio(ours, theirs), str(len(theirs.runs))
            lines.append(
                f"| {row.comparison.title} | {row.n} | {row.d} | {name} | {ours.time_text()} | "
                f"{_seconds(ours.overhead)} | {t_time} | {ratio} | {' | '.join(cells(ours, theirs))} | "
                f"{len(ours.runs)}/{t_runs} | {_load(both)} | {_other(both)} | {', '.join(notes)} |"
            )
    return lines


def target_lines(rows: list[Row]) -> list[str]:
    """The verdict on the targets at n = 4000, d = 2048, one line per counterpart."""
    lines = []
    for row in rows:
        if (row.n, row.d) != (TARGET_N, TARGET_D):
            continue
        title = row.comparison.title
        if not row.theirs:
            lines.append(f"- {title}: no counterpart, no target to meet.")
        for theirs in row.theirs:
            who = f"{title} vs {theirs.side.library} {theirs.side.cls}"
            if row.ours.median is None:
                lines.append(f"- {who}: **not measured** (ours: {row.ours.time_text()}).")
                continue
            if theirs.median is not None:
                speedup = theirs.median / row.ours.median
            elif theirs.timeout is not None:
                speedup = theirs.timeout / row.ours.median
            else:
                lines.append(f"- {who}: **not measured** (theirs: {theirs.time_text()}).")
                continue
            speed = "met" if speedup >= TARGET_SPEEDUP else "**missed**"
            bound = "≥ " if theirs.median is None else ""
            speed += f" (theirs/ours {bound}{speedup:.2f}×"
            if row.ours.overhead:
                lean = speedup * row.ours.median / (row.ours.median - row.ours.overhead)
                speed += f"; {bound}{lean:.2f}× without our input checks and report"
            speed += ")"
            if row.ours.contended or theirs.contended:
                speed += " (contended)"
            if theirs.accuracy is None:
                acc = "not compared (no finished run of theirs)"
            else:
                acc = "met" if row.ours.accuracy >= theirs.accuracy else "**missed**"
                acc += f" ({row.ours.accuracy:.4f} vs {theirs.accuracy:.4f})"
            lines.append(f"- {who}: speed {speed}; accuracy {acc}.")
    return lines or [f"- n = {TARGET_N}, d = {TARGET_D} was not part of this run."]


def render(
    rows: list[Row], baselines: dict[tuple[int, int], float], args: argparse.Namespace,
    command: str,
) -> str:
    """The whole Markdown document: machine, settings, table, targets, notes."""
    methods = {row.comparison.key: row.comparison for row in rows}
    out = [
        "# Shallow adapters: domadapt vs skada and POT (speed and target accuracy)",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {_cpu_model()}, "
        f"{os.cpu_count()} logical cores, {platform.system()} "
        f"(shared: other processes may run; see the load and other-CPU columns). "
        f"Python {platform.python_version()}, torch {_version('torch')}, "
        f"POT {_version('pot')}, skada {_version('skada')}, scikit-learn "
        f"{_version('scikit-learn')}, numpy {_version('numpy')}. Worker environment: "
        f"{_env_text(args.env)}. domadapt device: `{args.device}`; "
        f"discrepancy report in `fit`: {'off' if args.no_report else 'on (the default)'}.",
        "",
        f"Command: `{command}`",
        "",
        "## Task and protocol",
        "",
        f"- Data: 10-class Gaussian mixture, seed {args.seed}; the target is an independent "
        "draw rotated by 70° out of the 16-dimensional class subspace and rescaled per feature "
        f"(log-normal, sigma 0.3); each domain scaled to mean per-feature variance 1; generated "
        f"in float64 and given to every library as {args.dtype}; n rows per domain. Identical "
        "arrays for every library.",
        "- One timed run = `fit` on labelled source + unlabelled target, then `predict` on the "
        "whole target, with the same classifier on every side: `KNeighborsClassifier("
        "n_neighbors=1, algorithm='brute')` fitted on the adapted source. Accuracy is on the "
        "target labels.",
        f"- Each library in its own worker process; a warm-up run on {WARMUP_ROWS} rows per "
        "side; then the sides alternate (order flipped every repeat); medians shown. "
        f"Up to {args.repeats} repeats per side, fewer when a side's runs add up to "
        f"{args.repeat_budget:g} s; per-run timeout {args.timeout:g} s.",
        f"- `load 1-min`: lowest load average at the start and highest at the end of the "
        f"row's runs (our own runs raise it, up to about 2). `other CPU`: the most CPU that "
        f"other processes used during one of the row's runs (≥ {MIN_FLAG_SECONDS} s), in "
        f"cores; `contended` when above {CONTENDED_CORES}. Contended timings are slower than "
        "the machine can do and their ratios are unreliable.",
        "- `theirs/ours` > 1 means domadapt is faster.",
        "",
        "## Settings (the same problem on both sides)",
        "",
    ]
    for comp in methods.values():
        sides = "; ".join(s.call() for s in (comp.ours, *comp.theirs))
        out.append(f"- **{comp.title}**: {sides}. {comp.note}")
    out += ["", "## Results", ""]
    out += table_rows(rows)
    out += ["", "No adaptation (the same 1-NN trained on the raw source), target accuracy: "
            + "; ".join(f"n = {n}, d = {d}: {acc:.3f}" for (n, d), acc in baselines.items())
            + ".", "", f"## Targets at n = {TARGET_N}, d = {TARGET_D}", "",
            f"Each adapter at least as accurate as its counterpart and at least "
            f"{TARGET_SPEEDUP:g}× faster.", ""]
    out += target_lines(rows)
    warned = sorted({w for row in rows for r in (row.ours, *row.theirs) for run in r.runs
                     for w in run["warnings"]})
    if warned:
        out += ["", "## Warnings raised during timed runs", ""] + [f"- {w}" for w in warned]
    return "\n".join(out) + "\n"


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not (sep and name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 1000],
                        help="rows per domain (run in this order; the table is sorted)")
    parser.add_argument("--dims", type=int, nargs="+", default=[2048, 64], help="features")
    parser.add_argument("--methods", nargs="+", default=list(comparisons(64)),
                        choices=list(comparisons(64)), help="comparisons to run (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side")
    parser.add_argument("--repeat-budget", type=float, default=60.0,
                        help="stop repeating a side once its runs add up to this many seconds")
    parser.add_argument("--timeout", type=float, default=400.0,
                        help="seconds per run (loading and set-up included)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--env", nargs="+", default=[], type=_env_pair, metavar="NAME=VALUE",
                        help="environment of every worker, e.g. OMP_NUM_THREADS=1 "
                             "OMP_WAIT_POLICY=passive (default: inherited)")
    parser.add_argument("--device", default="cpu", help="domadapt's device parameter")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                        help="dtype of the features every library gets (float32: that of "
                             "deep features such as ResNet-50's 2048-d pool)")
    parser.add_argument("--no-report", action="store_true",
                        help="switch off domadapt's discrepancy report in fit")
    parser.add_argument("--out", type=Path, help="write the Markdown here too")
    parser.add_argument("--json", type=Path, help="write every run's raw record here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with ``--worker``, serve as one library's worker)."""
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return
    # a SIGTERM (timeout, kill) unwinds through the `finally` below, which kills the workers
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "python benchmarks/speed_shallow.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    rows: list[Row] = []
    baselines: dict[tuple[int, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="speed_shallow_") as tmp:
        folder = Path(tmp)
        workers = {lib: Worker(lib, folder / f"worker-{lib}.log", dict(args.env))
                   for lib in ("domadapt", "skada", "POT")}
        try:
            for n in args.sizes:
                for d in args.dims:
                    prefix = save_task(folder, n, d, args.seed)
                    baselines[(n, d)] = source_only_accuracy(prefix)
                    _log(f"n={n} d={d}: source-only accuracy {baselines[(n, d)]:.3f}")
                    for key in args.methods:
                        rows.append(run_comparison(comparisons(d)[key], prefix, n, d,
                                                   workers, args))
        finally:
            for worker in workers.values():
                worker.stop()
            logs = {w.library: w.log.read_text()[-2000:] for w in workers.values()
                    if w.log.exists() and w.log.stat().st_size}
    order = {key: i for i, key in enumerate(args.methods)}
    rows.sort(key=lambda r: (order[r.comparison.key], r.n, r.d))
    baselines = dict(sorted(baselines.items()))
    if args.json:
        args.json.write_text(json.dumps(
            [{"method": r.comparison.key, "n": r.n, "d": r.d,
              "sides": [{"side": asdict(s.side), "runs": s.runs, "timeout": s.timeout,
                         "error": s.error} for s in (r.ours, *r.theirs)]} for r in rows],
            indent=1))
    for library, text in logs.items():
        _log(f"--- tail of the {library} worker's stderr ---\n{text}")
    document = render(rows, baselines, args, command)
    print(document)
    if args.out:
        args.out.write_text(document)


if __name__ == "__main__":
    main()
