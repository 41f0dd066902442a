"""One entry point over all data sets, as used by the benchmark command line (``--dataset``, ``--tasks``)."""

from __future__ import annotations

import os
from typing import Any

from ._task import DomainTask, parse_task
from .digits import DIGITS_TASKS, load_digits_shift
from .office31 import OFFICE31_TASKS, office31_task
from .office_caltech import OFFICE_CALTECH10_DECAF_TASKS, OFFICE_CALTECH10_TASKS, office_caltech10_task

#: The data set that needs no files.
DEFAULT_DATASET = "digits"

#: Data set name → its standard tasks.
DATASETS: dict[str, tuple[str, ...]] = {
    "digits": DIGITS_TASKS,
    "office_caltech10_surf": OFFICE_CALTECH10_TASKS,
    "office_caltech10_decaf": OFFICE_CALTECH10_DECAF_TASKS,
    "office31": OFFICE31_TASKS,
}


def list_tasks(dataset: str = DEFAULT_DATASET) -> list[str]:
    """Standard task names of ``dataset`` (one of :data:`DATASETS`), e.g. ``["O→R", "O→B", "O→Z"]``."""
    return list(DATASETS[_check_dataset(dataset)])


def load_task(
    dataset: str, task: str, *, data_root: str | os.PathLike[str] | None = None, **kwargs: Any
) -> DomainTask:
    """Load task ``task`` (``"A→W"`` or ``"A->W"``) of ``dataset``.

    Parameters
    ----------
    dataset : str
        ``"digits"`` (built in, no files), ``"office_caltech10_surf"``, ``"office_caltech10_decaf"``
        or ``"office31"`` (features).
    task : str
        Source and target, by letter or name (``"C→A"``, ``"caltech->amazon"``, ``"O→R"``).
    data_root : str, path-like or None
        Data folder for the file-based data sets (``None``: ``$DOMADAPT_DATA``); ignored for digits.
    **kwargs
        Passed on: ``random_state`` for :func:`~domadapt.datasets.load_digits_shift`,
        ``preprocess`` for :func:`~domadapt.datasets.office_caltech10_task`, ``preprocess`` and
        ``file_pattern`` for :func:`~domadapt.datasets.office31_task`.

    Returns
    -------
    DomainTask
    """
    dataset = _check_dataset(dataset)
    source, target = parse_task(task)
    if dataset == "digits":
        return load_digits_shift(f"{source}→{target}", **kwargs)
    if dataset == "office31":
        return office31_task(source, target, data_root=data_root, **kwargs)
    features = dataset.removeprefix("office_caltech10_")
    return office_caltech10_task(source, target, features=features, data_root=data_root, **kwargs)


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; use one of {list(DATASETS)}")
    return dataset
