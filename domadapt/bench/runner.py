"""Run methods × tasks × seeds and keep one JSON record per finished run.

Protocol (the one of the published Office-Caltech-10 tables, e.g. Long et al. 2013): each adapter
is fitted transductively on the labelled source and *all* of the unlabelled target, and evaluated
on that same target. Target labels are used for the final scoring only — unless a method asks
for ``oracle-target`` selection, which chooses among its grid with them and is recorded (and
flagged in tables) as doing so. Each record says how its hyper-parameters were chosen
(``selection``): ``fixed``/``none`` for the registry's settings, ``source-val``, an unsupervised
scorer of :mod:`domadapt.evaluation`, or ``oracle-target``.

Records are appended to ``<out>/records.jsonl``, one line per finished run, each written with a
single ``write`` + ``flush`` + ``fsync`` of the complete line. A later run with the same ``out``
skips the (dataset, task, method, seed, classifier) combinations already recorded, so an
interrupted benchmark resumes where it stopped; an unterminated last line (a run killed while
writing) is discarded.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import operator
import os
import platform
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import ParameterGrid
from sklearn.neighbors import KNeighborsClassifier
from tqdm.auto import tqdm

from .. import __version__, config_context
from .._array import resolve_device
from ..datasets import DomainTask, canonical_task, list_tasks, load_task
from ..evaluation import SCORERS, classification_metrics, select_by_score
from .methods import MethodSpec, UnknownMethodError, get_method

PROTOCOL = (
    "transductive: fit on the labelled source and all of the unlabelled target, "
    "evaluate on the same target"
)
#: The ``evaluation_split`` of every record: the whole target, the samples the adapter saw unlabelled.
EVALUATION_SPLIT = "target-all"
#: Selections of a method without a grid.
FIXED_SELECTIONS: tuple[str, ...] = ("fixed", "none", "last-epoch")
#: Selection name → scorer of :data:`domadapt.evaluation.SCORERS` where the names differ.
SELECTION_SCORERS: dict[str, str] = {"source-val": "source_val"}
#: Folds of the source over which :func:`domadapt.evaluation.select_by_score` averages a score.
SELECTION_FOLDS = 3
#: Classifier name → what it is (see :func:`make_classifier`).
CLASSIFIERS: dict[str, str] = {
    "1nn": "1-nearest neighbour (Euclidean)",
    "logreg": "logistic regression (C=1, lbfgs, max_iter=3000)",
    "head": "the adapter's own predictor (a network's classification head); no classifier attached",
}
#: The fields that identify a run; a record with the same values is not run again.
RUN_KEY: tuple[str, ...] = ("dataset", "task", "method", "seed", "classifier")
RECORDS_FILE = "records.jsonl"
#: Distributions whose versions every record carries (``python`` is added).
VERSIONED: dict[str, str] = {
    "domadapt": "domadapt", "torch": "torch", "numpy": "numpy", "scipy": "scipy",
    "scikit-learn": "scikit-learn", "POT": "pot",
}

Record = dict[str, Any]


class BenchmarkError(ValueError):
    """A benchmark asked for something that does not exist (method, task, classifier, seeds)."""


def make_classifier(name: str, random_state: int) -> Any:
    """The classifier attached to every adapter.

    Parameters
    ----------
    name : {"1nn", "logreg", "head"}
        ``"1nn"``: 1-nearest neighbour, the classifier of the published Office-Caltech-10 tables
        (Long et al. 2013). ``"logreg"``: ``LogisticRegression(C=1, max_iter=3000)``.
        ``"head"``: none; the adapter predicts with its own model (a network's head).
    random_state : int
        Seed of the classifier where it has one.

    Returns
    -------
    sklearn classifier (unfitted), or None for ``"head"``
    """
    if name == "head":
        return None
    if name == "1nn":
        return KNeighborsClassifier(n_neighbors=1)
    if name == "logreg":
        return LogisticRegression(max_iter=3000, random_state=random_state)
    raise BenchmarkError(f"unknown classifier {name!r}; use one of {', '.join(CLASSIFIERS)}")


def run_key(record: Record) -> tuple[Any, ...]:
    """The (dataset, task, method, seed, classifier) identity of a run record."""
    return tuple(record[k] for k in RUN_KEY)


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """Read a ``records.jsonl`` file, skipping what is not a complete record.

    An unterminated last line (a write cut short) is ignored silently; any other line that is not
    a JSON object with the :data:`RUN_KEY` fields is ignored with a warning.

    Parameters
    ----------
    path : str or path-like
        The file; a missing file reads as no records.

    Returns
    -------
    list of dict
        The records, in file order.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: after the last newline
        try:
            record = json.loads(line)
            run_key(record)
        except (ValueError, KeyError, TypeError):
            warnings.warn(f"{path}:{number}: not a complete run record, ignored", stacklevel=2)
            continue
        records.append(record)
    return records


class RecordWriter:
    """Append run records to a JSONL file, one complete line per write.

    Opening the writer first cuts off an unterminated last line, so that the next record starts
    on a line of its own.

    Parameters
    ----------
    path : str or path-like
        The ``records.jsonl`` file (created with its folder if missing).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_unterminated_tail(self.path)
        self._file = open(self.path, "ab")

    def write(self, record: Record) -> None:
        """Append ``record`` as one line, flushed and fsynced before returning."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        self._file.write(line.encode("utf-8"))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_unterminated_tail(path: Path) -> None:
    if not path.exists():
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


def resolve_tasks(dataset: str, tasks: Iterable[str] | None) -> list[str]:
    """Canonical task names of ``dataset`` (its standard tasks for ``None``).

    ``"A->W"``, ``"A→W"``, ``"a->w"`` and ``"amazon->webcam"`` are the same task; any two
    distinct domains of the data set form one (:func:`domadapt.datasets.canonical_task`).
    Repeated tasks are kept once.

    Raises
    ------
    BenchmarkError
        For an unknown data set, domain or malformed name, or an empty list of tasks.
    """
    try:
        known = list(list_tasks(dataset))
    except (KeyError, ValueError) as exc:
        raise BenchmarkError(str(exc).strip("'\"")) from None
    if tasks is None:
        return known
    resolved = []
    for name in tasks:
        try:
            canonical = canonical_task(dataset, name)
        except ValueError as exc:
            raise BenchmarkError(
                f"unknown task {name!r} for data set {dataset!r}: {exc}; the standard tasks are "
                f"{', '.join(known)}"
            ) from None
        if canonical not in resolved:
            resolved.append(canonical)
    if not resolved:
        raise BenchmarkError(f"no task given; the standard tasks of {dataset!r} are {', '.join(known)}")
    return resolved


def run_benchmark(
    methods: Sequence[str | MethodSpec],
    tasks: Sequence[str] | None,
    seeds: Sequence[int],
    *,
    dataset: str,
    data_root: str | os.PathLike[str] | None = None,
    classifier: str = "1nn",
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    device: str = "auto",
    file_pattern: str | None = None,
) -> list[Record]:
    """Run every method on every task with every seed.

    Parameters
    ----------
    methods : sequence of str or MethodSpec
        Registered method names (:func:`domadapt.bench.available_methods`) or specs, e.g. the
        derived ones of a benchmark config (:func:`domadapt.bench.config.method_specs`).
    tasks : sequence of str or None
        Task names of ``dataset`` (``"A→W"`` or ``"A->W"``); ``None`` for all of them.
    seeds : sequence of int
        Seeds; each is the adapter's and the classifier's ``random_state`` and seeds the source
        split of ``source-val`` selection (the data of a task are the same for every seed).
    dataset : str
        Data set name for :func:`domadapt.datasets.load_task`.
    data_root : str or path-like, optional
        Data folder (``None``: ``$DOMADAPT_DATA``; unused by the built-in digits set).
    classifier : {"1nn", "logreg"}, default="1nn"
        Classifier attached to every adapter (see :func:`make_classifier`).
    out : str or path-like, optional
        Folder of ``records.jsonl``: finished runs are appended there, and runs already there
        are not run again. ``None`` keeps records in memory only.
    progress : bool, default=True
        Show a progress bar over the runs.
    device : str, default="auto"
        ``device`` of every adapter.
    file_pattern : str, optional
        Office-31 only: the feature files' names, ``"{domain}"`` by default (see
        :func:`~domadapt.datasets.load_office31_features`), e.g. ``"feats_{domain}"`` for the
        files of ``domadapt extract-features --out feats.npz``.

    Returns
    -------
    list of dict
        One record per (task, method, seed), in that nesting order, read back from ``out`` for
        runs that were already done. See :func:`run_one` for the fields; the records this
        function writes also carry ``data_digest``, the task's
        :meth:`~domadapt.datasets.DomainTask.digest` (records of earlier versions have none:
        they are reused with a warning, unchecked).

    Raises
    ------
    BenchmarkError
        Before anything runs: for an unknown method, task, data set, classifier or selection,
        bad seeds, the ``"head"`` classifier with a method that has no head, an unreadable data
        file, or an ``out`` whose records ran a method of the same name with other settings or
        a task on other data (its records' ``data_digest`` differs from the data loaded now;
        every task with recorded runs is loaded to check, so a rerun with nothing left to do
        still needs the data).
    FileNotFoundError
        When the data set's files are missing.
    """
    specs = _resolve_methods(methods)
    task_names = resolve_tasks(dataset, tasks)
    seed_list = _check_seeds(seeds)
    make_classifier(classifier, seed_list[0])  # an unknown name fails here, before any run
    for spec in specs:
        check_selection_classifier(spec, spec.classifier or classifier)
        if (spec.classifier or classifier) == "head" and not spec.has_own_predictor():
            raise BenchmarkError(
                f"method {spec.name!r} has no classification head of its own; the 'head' "
                f"classifier is for the deep methods: use one of "
                f"{', '.join(c for c in CLASSIFIERS if c != 'head')}"
            )
    digests = {spec.name: spec.digest() for spec in specs}
    if file_pattern is not None and dataset != "office31":
        raise BenchmarkError(f"file_pattern is for the office31 feature files, not {dataset!r}")
    options = {} if file_pattern is None else {"file_pattern": file_pattern}
    try:
        resolve_device(device)
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise BenchmarkError(f"out={str(out)!r} is a file; the benchmark writes a folder there")

    path = None if out is None else Path(out) / RECORDS_FILE
    done: dict[tuple[Any, ...], Record] = {}
    for record in read_records(path) if path is not None else []:
        done.setdefault(run_key(record), record)

    grid = [(t, spec, seed) for t in task_names for spec in specs for seed in seed_list]
    keys = [(dataset, t, spec.name, seed, spec.classifier or classifier) for t, spec, seed in grid]
    for k in keys:
        recorded = done.get(k, {}).get("setting_digest")
        if recorded is not None and recorded != digests[k[2]]:
            raise BenchmarkError(
                f"{path} already holds runs of method {k[2]!r} with other settings "
                f"(digest {recorded}, now {digests[k[2]]}); give the changed method another name "
                "or use another output folder"
            )
    pending = [run for run, k in zip(grid, keys) if k not in done]
    # the data of every task with recorded runs must be the data the records came from (another
    # data folder or preprocessing under the same output folder is an error, not a silent reuse)
    recorded_digests: dict[str, set[str]] = {}
    unchecked: set[str] = set()
    for k in keys:
        if k in done and done[k].get("data_digest") is not None:
            recorded_digests.setdefault(k[1], set()).add(done[k]["data_digest"])
        elif k in done:
            unchecked.add(k[1])
    if unchecked:
        warnings.warn(
            f"{path}: runs of {', '.join(sorted(unchecked))} were recorded by an earlier domadapt, "
            "without a data digest: they are reused unchecked (they may come from other data)",
            stacklevel=2,
        )
    loaded, data = None, None
    for t in task_names:
        if t in recorded_digests:
            loaded, data = t, load_bench_task(dataset, t, data_root, **options)
            if recorded_digests[t] != {data.digest()}:
                raise BenchmarkError(
                    f"{path} holds runs of task {t} on other data (data digest "
                    f"{', '.join(sorted(recorded_digests[t]))}, now {data.digest()}): the data "
                    "folder or its files changed; use another output folder"
                )
    if not pending:
        return [done[k] for k in keys]
    # load the first pending task before creating anything, so that missing data fails cleanly
    if loaded != pending[0][0]:
        loaded, data = pending[0][0], load_bench_task(dataset, pending[0][0], data_root, **options)
    digest = data.digest()
    writer = None if path is None else RecordWriter(path)
    results: list[Record] = []
    try:
        with tqdm(total=len(grid), initial=len(grid) - len(pending), disable=not progress, unit="run") as bar:
            for (t, spec, seed), k in zip(grid, keys):
                if k in done:
                    results.append(done[k])
                    continue
                if t != loaded:
                    bar.set_postfix_str(f"loading {t}")
                    loaded, data = t, load_bench_task(dataset, t, data_root, **options)
                    digest = data.digest()
                bar.set_postfix_str(f"{t} {spec.name} seed={seed}")
                record = run_one(spec, data, seed, classifier=classifier, device=device)
                record["dataset"] = dataset  # the name the run is keyed by
                record["data_digest"] = digest
                if writer is not None:
                    writer.write(record)
                results.append(record)
                bar.update(1)
    finally:
        if writer is not None:
            writer.close()
    return results


def load_bench_task(
    dataset: str, task: str, data_root: str | os.PathLike[str] | None, **options: Any
) -> DomainTask:
    """:func:`~domadapt.datasets.load_task`, with an unreadable file as a :class:`BenchmarkError`."""
    try:
        return load_task(dataset, task, data_root=data_root, **options)
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise BenchmarkError(f"cannot load task {task} of {dataset!r}: {exc}") from None


def run_one(
    spec: MethodSpec, task: DomainTask, seed: int, *, classifier: str = "1nn", device: str = "auto"
) -> Record:
    """Fit one method on one task with one seed (choosing its hyper-parameters) and score it.

    The adapter sees the source features and labels and the target features; the target labels
    are used to score its predictions, and — only under ``oracle-target`` selection — to choose
    among the grid.

    Selection (``spec.selection``) when ``spec.grid`` is not empty; every grid point is fitted
    with the run's seed, ties go to the first point in :class:`~sklearn.model_selection.ParameterGrid`
    order, and the chosen point is then fitted on the whole source and target and scored:

    - ``"source-val"`` or the name of another scorer of :data:`domadapt.evaluation.SCORERS`
      (``"iwv"``, ``"dev"``, ``"snd"``, ``"entropy"``, ``"rv"``):
      :func:`domadapt.evaluation.select_by_score` fits each point on :data:`SELECTION_FOLDS`
      seeded training folds (source minus a held-out fold, plus the target) and averages the
      scorer's value — no target label is used (``"source-val"`` is its ``"source_val"``
      scorer: minus the error rate on the held-out source rows, so higher is better as for
      every scorer). ``"entropy"`` and ``"snd"`` read the classifier's probabilities and are
      refused with ``"1nn"``, whose probabilities are 0 or 1 (every grid point would tie and
      the grid order would choose).
    - ``"oracle-target"``: each point is fitted on the whole source and scored by its target
      accuracy — target labels choose the model, so the record is flagged
      (``uses_target_labels``) and tables mark it. It is never a default: a method config
      must name it.

    Parameters
    ----------
    spec : MethodSpec
    task : DomainTask
    seed : int
    classifier : {"1nn", "logreg"}, default="1nn"
    device : str, default="auto"

    Returns
    -------
    dict
        The run record: ``dataset`` (``task.dataset``), ``task``, ``method``, ``seed``,
        ``classifier``; the metrics of :func:`domadapt.evaluation.classification_metrics` on the
        whole target as fractions in [0, 1] — ``accuracy``, ``macro_f1``, ``macro_precision``,
        ``macro_recall``, ``auc_ovr`` (``None`` when the classifier has no ``predict_proba``
        or the AUC is undefined); the protocol — ``protocol``, ``evaluation_split``,
        ``selection``, ``uses_target_labels``, ``params`` (the adapter's hyper-parameters as
        used), ``setting`` and ``setting_digest`` (:meth:`MethodSpec.digest`), and for a grid
        ``grid``, ``selected_params``, ``selection_scores`` (one per grid point, in grid
        order; ``None`` for NaN) and ``selection_method`` (how the scores were computed); ``discrepancy_before`` / ``discrepancy_after`` (``{"mmd2", "coral"}`` from the
        adapter's ``report_``); ``fit_time_s`` (the final adaptation), ``run_time_s`` (wall
        time of selection, fit and prediction); ``n_source``, ``n_target``; the machine —
        ``device`` (and ``device_name`` on CUDA), ``platform``, ``cpu_count``,
        ``torch_threads``; ``versions`` (python, domadapt, torch, numpy, scipy, scikit-learn,
        POT); ``finished_at`` (UTC, ISO 8601).

    Raises
    ------
    BenchmarkError
        When ``spec.selection`` does not fit ``spec.grid``.
    """
    classifier = spec.classifier or classifier
    make_classifier(classifier, seed)  # an unknown name fails before any work
    check_selection_classifier(spec, classifier)
    Xs, ys, Xt, yt = task.arrays()
    start = time.perf_counter()
    chosen, detail = _choose(spec, Xs, ys, Xt, yt, seed, classifier, device)
    adapter = spec.build(make_classifier(classifier, seed), random_state=seed, device=device, params=chosen)
    with config_context(report_discrepancy=True):
        adapter.fit(Xs, ys, Xt)
    pred = adapter.predict(Xt)
    proba, classes = _probabilities(adapter, Xt)
    run_time = time.perf_counter() - start
    metrics = classification_metrics(yt, pred, proba, classes=classes)
    report = adapter.report_
    record: Record = {
        "dataset": task.dataset,
        "task": task.name,
        "method": spec.name,
        "seed": int(seed),
        "classifier": classifier,
        **{name: _finite_or_none(value) for name, value in metrics.items()},
        "protocol": PROTOCOL,
        "evaluation_split": EVALUATION_SPLIT,
        "selection": spec.selection,
        "uses_target_labels": spec.selection == "oracle-target",
        "params": _json_params(adapter.get_params(deep=False)),
        "setting": spec.setting,
        "setting_digest": spec.digest(),
        **detail,
        "discrepancy_before": report["discrepancy_before"],
        "discrepancy_after": report["discrepancy_after"],
        "fit_time_s": float(report["fit_time_s"]),
        "run_time_s": run_time,
        "n_source": int(report["n_source"]),
        "n_target": int(report["n_target"]),
        "device": str(report["device"]),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions(),
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if str(report["device"]).startswith("cuda"):
        record["device_name"] = torch.cuda.get_device_name(torch.device(str(report["device"])))
    return record


def _probabilities(adapter: Any, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Class probabilities of ``X`` and their column labels, or ``(None, None)`` when the
    classifier has no ``predict_proba`` or does not say its classes."""
    model = getattr(adapter, "estimator_", None)
    model = adapter if model is None else model
    classes = getattr(model, "classes_", None)
    if not hasattr(model, "predict_proba") or classes is None:
        return None, None
    return np.asarray(adapter.predict_proba(X)), np.asarray(classes)


def _choose(
    spec: MethodSpec,
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    seed: int,
    classifier: str,
    device: str,
) -> tuple[dict[str, Any], Record]:
    """The grid point ``spec.selection`` prefers, and the record fields that describe the choice."""
    check_selection(spec)
    if not spec.grid:
        return {}, {}
    grid = {k: list(v) for k, v in spec.grid.items()}
    base = spec.build(make_classifier(classifier, seed), random_state=seed, device=device)
    with config_context(report_discrepancy=False):
        if spec.selection == "oracle-target":
            candidates = list(ParameterGrid(grid))
            scores = [
                float(accuracy_score(yt, clone(base).set_params(**p).fit(Xs, ys, Xt).predict(Xt)))
                for p in candidates
            ]
            how = "target accuracy of each grid point fitted on the whole source (uses target labels)"
        else:
            scorer = SELECTION_SCORERS.get(spec.selection, spec.selection)
            result = select_by_score(
                base, scorer, Xs, ys, Xt, param_grid=grid, cv=SELECTION_FOLDS, refit=False, random_state=seed
            )
            candidates = [row["params"] for row in result.table]
            scores = [row["mean_score"] for row in result.table]
            how = (
                f"mean {scorer!r} score of domadapt.evaluation over {SELECTION_FOLDS} seeded folds of the "
                "source (DomainAwareSplit), no target labels"
            )
    finite = [s if math.isfinite(s) else -math.inf for s in scores]
    if all(s == -math.inf for s in finite):
        raise BenchmarkError(f"method {spec.name!r}: every grid point scored NaN under {spec.selection!r}")
    best = int(np.argmax(finite))  # the first of equal scores
    detail = {
        "grid": grid,
        "selected_params": _json_params(candidates[best]),
        "selection_scores": [_finite_or_none(s) for s in scores],
        "selection_method": how,
    }
    return candidates[best], detail


def check_selection(spec: MethodSpec) -> None:
    """Check that ``spec.selection`` fits ``spec.grid`` (see :class:`MethodSpec`).

    Raises
    ------
    BenchmarkError
        Naming the method and the selections that are valid for it.
    """
    if not spec.grid:
        if spec.selection not in FIXED_SELECTIONS:
            raise BenchmarkError(
                f"method {spec.name!r}: selection {spec.selection!r} needs a grid of candidate "
                f"values; without one use {', '.join(FIXED_SELECTIONS)}"
            )
        return
    for name, values in spec.grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise BenchmarkError(f"method {spec.name!r}: grid {name!r} must be a non-empty list of values")
    valid = grid_selections()
    if spec.selection not in valid:
        raise BenchmarkError(
            f"method {spec.name!r}: unknown selection {spec.selection!r} for a grid; use one of "
            f"{', '.join(valid)}"
        )


#: selections that score the classifier's probabilities (1-NN has only 0 and 1)
PROBABILITY_SELECTIONS: tuple[str, ...] = ("entropy", "snd")


def check_selection_classifier(spec: MethodSpec, classifier: str) -> None:
    """Refuse a probability-based selection with the 1-NN classifier.

    Raises
    ------
    BenchmarkError
        When ``spec`` has a grid chosen by ``entropy`` or ``snd`` and ``classifier`` is
        ``"1nn"``: its one-hot probabilities make every candidate score the same.
    """
    if spec.grid and spec.selection in PROBABILITY_SELECTIONS and classifier == "1nn":
        raise BenchmarkError(
            f"method {spec.name!r}: selection {spec.selection!r} scores predicted probabilities, "
            "which 1-NN gives as 0 or 1 (every grid point would tie); use --classifier logreg "
            "or another selection"
        )


def grid_selections() -> tuple[str, ...]:
    """Selections a method with a grid may use: ``source-val``, the other scorers of
    :data:`domadapt.evaluation.SCORERS` by name, and ``oracle-target``."""
    scorers = [name for name in SCORERS if name not in SELECTION_SCORERS.values()]
    return (*SELECTION_SCORERS, *scorers, "oracle-target")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results (:data:`VERSIONED`)."""
    out = {"python": platform.python_version(), "domadapt": __version__}
    for label, dist in VERSIONED.items():
        if label in out:
            continue
        try:
            out[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[label] = "absent"
    return out


def _finite_or_none(value: float) -> float | None:
    """``None`` for NaN (JSON has no NaN), the float otherwise."""
    return None if value is None or math.isnan(value) else float(value)


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON values; other objects (estimator, device) as their ``str``."""
    plain = (str, int, float, bool, type(None))
    return {
        name: v.item() if isinstance(v, np.generic) else v if isinstance(v, plain) else str(v)
        for name, v in params.items()
    }


def _resolve_methods(methods: Sequence[str | MethodSpec]) -> list[MethodSpec]:
    if isinstance(methods, str) or not methods:
        raise BenchmarkError("methods must be a non-empty list of method names or specs")
    specs = []
    for method in methods:
        if isinstance(method, MethodSpec):
            try:
                method.adapter_class()
            except UnknownMethodError as exc:
                raise BenchmarkError(str(exc)) from None
            specs.append(method)
            continue
        try:
            specs.append(get_method(method))
        except UnknownMethodError as exc:
            raise BenchmarkError(str(exc)) from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise BenchmarkError(f"methods repeat a name: {names}")
    for spec in specs:
        check_selection(spec)
        _check_param_names(spec)
    return specs


def _check_param_names(spec: MethodSpec) -> None:
    """Refuse, before anything runs, a parameter or grid name the adapter does not take."""
    parameters = inspect.signature(spec.adapter_class()).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    for name in [*spec.params, *spec.grid]:
        if name not in parameters:
            raise BenchmarkError(
                f"method {spec.name!r}: {spec.adapter_class().__name__} has no parameter {name!r}; "
                f"it takes {', '.join(parameters)}"
            )


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    try:
        values = [operator.index(s) for s in seeds]
    except TypeError:
        values = []
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise BenchmarkError(f"seeds must be distinct non-negative integers, got {list(seeds)}")
    return values


__all__ = [
    "BenchmarkError",
    "CLASSIFIERS",
    "EVALUATION_SPLIT",
    "FIXED_SELECTIONS",
    "SELECTION_FOLDS",
    "SELECTION_SCORERS",
    "PROTOCOL",
    "RECORDS_FILE",
    "RUN_KEY",
    "RecordWriter",
    "check_selection",
    "check_selection_classifier",
    "make_classifier",
    "read_records",
    "resolve_tasks",
    "run_benchmark",
    "run_one",
    "grid_selections",
    "versions",
]
