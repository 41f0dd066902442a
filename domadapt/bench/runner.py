"""Run methods × tasks × seeds and keep one JSON record per finished run.

Protocol (the one of the published Office-Caltech-10 tables, e.g. Long et al. 2013): each adapter
is fitted transductively on the labelled source and *all* of the unlabelled target, and evaluated
on that same target. Target labels are used for the final scoring only; hyper-parameters are the
fixed settings of :mod:`domadapt.bench.methods`, never chosen on target labels.

Records are appended to ``<out>/records.jsonl``, one line per finished run, each written with a
single ``write`` + ``flush`` + ``fsync`` of the complete line. A later run with the same ``out``
skips the (dataset, task, method, seed, classifier) combinations already recorded, so an
interrupted benchmark resumes where it stopped; an unterminated last line (a run killed while
writing) is discarded.
"""

from __future__ import annotations

import datetime as _dt
import json
import operator
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.neighbors import KNeighborsClassifier
from tqdm.auto import tqdm

from .. import __version__, config_context
from ..datasets import DomainTask, list_tasks, load_task, parse_task, task_name
from .methods import MethodSpec, UnknownMethodError, get_method

PROTOCOL = (
    "transductive: fit on all unlabelled target, evaluate on the same target; "
    "hyper-parameters fixed in advance (published settings where they exist), "
    "no target-label selection"
)
#: Classifier name → what it is (see :func:`make_classifier`).
CLASSIFIERS: dict[str, str] = {
    "1nn": "1-nearest neighbour (Euclidean)",
    "logreg": "logistic regression (C=1, lbfgs, max_iter=3000)",
}
#: The fields that identify a run; a record with the same values is not run again.
RUN_KEY: tuple[str, ...] = ("dataset", "task", "method", "seed", "classifier")
RECORDS_FILE = "records.jsonl"

Record = dict[str, Any]


class BenchmarkError(ValueError):
    """A benchmark asked for something that does not exist (method, task, classifier, seeds)."""


def make_classifier(name: str, random_state: int) -> Any:
    """The classifier attached to every adapter.

    Parameters
    ----------
    name : {"1nn", "logreg"}
        ``"1nn"``: 1-nearest neighbour, the classifier of the published Office-Caltech-10 tables
        (Long et al. 2013). ``"logreg"``: ``LogisticRegression(C=1, max_iter=3000)``.
    random_state : int
        Seed of the classifier where it has one.

    Returns
    -------
    sklearn classifier (unfitted)
    """
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
    """Canonical task names of ``dataset`` (all of them for ``None``).

    ``"A->W"`` and ``"A→W"`` are the same task.

    Raises
    ------
    BenchmarkError
        For an unknown data set or task, naming the valid ones.
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
            canonical = task_name(*parse_task(name))
        except ValueError as exc:
            raise BenchmarkError(str(exc)) from None
        if canonical not in known:
            raise BenchmarkError(
                f"unknown task {name!r} for data set {dataset!r}; available: {', '.join(known)}"
            )
        if canonical not in resolved:
            resolved.append(canonical)
    return resolved


def run_benchmark(
    methods: Sequence[str],
    tasks: Sequence[str] | None,
    seeds: Sequence[int],
    *,
    dataset: str,
    data_root: str | os.PathLike[str] | None = None,
    classifier: str = "1nn",
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    device: str = "auto",
) -> list[Record]:
    """Run every method on every task with every seed.

    Parameters
    ----------
    methods : sequence of str
        Registered method names (:func:`domadapt.bench.available_methods`).
    tasks : sequence of str or None
        Task names of ``dataset`` (``"A→W"`` or ``"A->W"``); ``None`` for all of them.
    seeds : sequence of int
        Seeds; each is the adapter's and the classifier's ``random_state`` (the data of a task
        are the same for every seed).
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

    Returns
    -------
    list of dict
        One record per (task, method, seed), in that nesting order, read back from ``out`` for
        runs that were already done. Fields: ``dataset``, ``task``, ``method``, ``seed``,
        ``classifier``, ``accuracy`` and ``macro_f1`` (fractions in [0, 1], on the whole
        target), ``discrepancy_before`` / ``discrepancy_after`` (``{"mmd2", "coral"}`` from the
        adapter's ``report_``), ``fit_time_s`` (adaptation), ``run_time_s`` (fit and predict),
        ``n_source``, ``n_target``, ``params`` (the adapter's hyper-parameters), ``device``,
        ``domadapt_version``, ``torch_version``, ``torch_threads``, ``platform``, ``cpu_count``,
        ``protocol`` and
        ``finished_at`` (UTC, ISO 8601).

    Raises
    ------
    BenchmarkError
        For an unknown method, task, data set or classifier, or bad seeds, before anything runs.
    FileNotFoundError
        When the data set's files are missing.
    """
    specs = _resolve_methods(methods)
    task_names = resolve_tasks(dataset, tasks)
    seed_list = _check_seeds(seeds)
    make_classifier(classifier, seed_list[0])  # an unknown name fails here, before any run

    path = None if out is None else Path(out) / RECORDS_FILE
    done: dict[tuple[Any, ...], Record] = {}
    for record in read_records(path) if path is not None else []:
        done.setdefault(run_key(record), record)

    grid = [(t, spec, seed) for t in task_names for spec in specs for seed in seed_list]
    keys = [(dataset, t, spec.name, seed, classifier) for t, spec, seed in grid]
    pending = [run for run, k in zip(grid, keys) if k not in done]
    if not pending:
        return [done[k] for k in keys]
    # load the first task before creating anything, so that missing data fails cleanly
    loaded = pending[0][0]
    data = load_task(dataset, loaded, data_root=data_root)
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
                    loaded, data = t, load_task(dataset, t, data_root=data_root)
                bar.set_postfix_str(f"{t} {spec.name} seed={seed}")
                record = run_one(spec, data, seed, classifier=classifier, device=device)
                record["dataset"] = dataset  # the name the run is keyed by
                if writer is not None:
                    writer.write(record)
                results.append(record)
                bar.update(1)
    finally:
        if writer is not None:
            writer.close()
    return results


def run_one(
    spec: MethodSpec, task: DomainTask, seed: int, *, classifier: str = "1nn", device: str = "auto"
) -> Record:
    """Fit one method on one task with one seed and score it on the target.

    The adapter sees the source features and labels and the target features; the target labels
    are used only to score its predictions.

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
        The run record (see :func:`run_benchmark`); ``dataset`` is ``task.dataset``.
    """
    Xs, ys, Xt, yt = task.arrays()
    adapter = spec.build(make_classifier(classifier, seed), random_state=seed, device=device)
    start = time.perf_counter()
    with config_context(report_discrepancy=True):
        adapter.fit(Xs, ys, Xt)
    pred = adapter.predict(Xt)
    run_time = time.perf_counter() - start
    report = adapter.report_
    return {
        "dataset": task.dataset,
        "task": task.name,
        "method": spec.name,
        "seed": int(seed),
        "classifier": classifier,
        "accuracy": float(accuracy_score(yt, pred)),
        "macro_f1": float(f1_score(yt, pred, average="macro")),
        "discrepancy_before": report["discrepancy_before"],
        "discrepancy_after": report["discrepancy_after"],
        "fit_time_s": float(report["fit_time_s"]),
        "run_time_s": run_time,
        "n_source": int(report["n_source"]),
        "n_target": int(report["n_target"]),
        "params": _json_params(adapter.get_params(deep=False)),
        "device": str(report["device"]),
        "domadapt_version": __version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "protocol": PROTOCOL,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON values; other objects (estimator, device) as their ``str``."""
    plain = (str, int, float, bool, type(None))
    return {name: v if isinstance(v, plain) else str(v) for name, v in params.items()}


def _resolve_methods(methods: Sequence[str]) -> list[MethodSpec]:
    if isinstance(methods, str) or not methods:
        raise BenchmarkError("methods must be a non-empty list of method names")
    try:
        specs = [get_method(name) for name in methods]
    except UnknownMethodError as exc:
        raise BenchmarkError(str(exc)) from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise BenchmarkError(f"methods repeat a name: {names}")
    return specs


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
    "PROTOCOL",
    "RECORDS_FILE",
    "RUN_KEY",
    "RecordWriter",
    "make_classifier",
    "read_records",
    "resolve_tasks",
    "run_benchmark",
    "run_one",
]
