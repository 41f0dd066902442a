"""One entry point over all data sets, as used by the benchmark command line (``--dataset``, ``--tasks``)."""

from __future__ import annotations

import os
from typing import Any

from ._task import DomainTask, parse_task, task_name
from .digits import DIGITS_DOMAINS, DIGITS_TASKS, load_digits_shift
from .office31 import _LETTER as _OFFICE31_LETTER
from .office31 import OFFICE31_TASKS, office31_domain, office31_task
from .office_caltech import _LETTER as _OFFICE_CALTECH10_LETTER
from .office_caltech import (
    OFFICE_CALTECH10_DECAF_TASKS,
    OFFICE_CALTECH10_TASKS,
    office_caltech10_domain,
    office_caltech10_task,
)

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


def canonical_task(dataset: str, task: str) -> str:
    """The short name (``"A→W"``) of any task of ``dataset``, standard or not.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    task : str
        Source and target separated by ``→`` or ``->``, each given by letter or name in any
        case: ``"A->W"``, ``"amazon->webcam"``, ``"c→a"``, ``"rotated->original"``. Any two
        distinct domains of the data set form a task; :func:`list_tasks` gives the standard
        ones (for DeCAF features only ``D→W`` and ``W→D`` have staged files, see
        :func:`~domadapt.datasets.load_office_caltech10`).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown data set or domain, a malformed name, or the same domain twice.
    """
    dataset = _check_dataset(dataset)
    source, target = (_domain_letter(dataset, part) for part in parse_task(task))
    if source == target:
        raise ValueError(f"task {task!r}: source and target are the same domain")
    return task_name(source, target)


def _domain_letter(dataset: str, domain: str) -> str:
    if dataset == "office31":
        return _OFFICE31_LETTER[office31_domain(domain)]
    if dataset != "digits":
        return _OFFICE_CALTECH10_LETTER[office_caltech10_domain(domain)]
    key = domain.strip()
    names = {name: letter for letter, (name, _) in DIGITS_DOMAINS.items()}
    letter = key.upper() if key.upper() in DIGITS_DOMAINS else names.get(key.lower())
    if letter is None:
        raise ValueError(
            f"unknown digits domain {domain!r}; use one of {list(names)} or {list(DIGITS_DOMAINS)}"
        )
    return letter


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
    source, target = parse_task(canonical_task(dataset, task))
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
