"""Containers for one domain and one source→target task."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Domain:
    """Features and labels of one domain.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features (float).
    y : ndarray of shape (n_samples,)
        Integer class labels, 0-based, indexing ``class_names`` of the task.
    name : str
        Domain name, e.g. ``"amazon"``.
    """

    X: np.ndarray
    y: np.ndarray
    name: str

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.y.ndim != 1 or self.X.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"domain {self.name!r}: X of shape {self.X.shape} and y of shape {self.y.shape} "
                "do not describe the same samples"
            )

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.X.shape[0])


@dataclass(frozen=True)
class DomainTask:
    """A source→target adaptation task: labelled source, target whose labels are for scoring only.

    Parameters
    ----------
    source, target : Domain
        The two domains; they share ``class_names`` and the feature space.
    class_names : sequence of str
        Name of class ``k`` at position ``k``.
    name : str
        Short task name such as ``"A→W"``.
    dataset : str
        Data set the task belongs to, e.g. ``"office_caltech10_surf"``.
    meta : dict
        Free-form provenance (files read, preprocessing applied).
    """

    source: Domain
    target: Domain
    class_names: Sequence[str]
    name: str
    dataset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source.X.shape[1] != self.target.X.shape[1]:
            raise ValueError(
                f"task {self.name!r}: source has {self.source.X.shape[1]} features, "
                f"target {self.target.X.shape[1]}"
            )

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(X_source, y_source, X_target, y_target)``."""
        return self.source.X, self.source.y, self.target.X, self.target.y

    def digest(self) -> str:
        """A fingerprint of the task's data: SHA-256 (first 16 hex digits) of the four arrays'
        dtypes, shapes and bytes, in the order of :meth:`arrays`.

        Two loads give the same digest exactly when they hand an adapter the same numbers, so a
        benchmark can tell records of another data folder or preprocessing from its own.
        """
        h = hashlib.sha256()
        for array in self.arrays():
            array = np.ascontiguousarray(array)
            h.update(f"{array.dtype.str}{array.shape};".encode())
            h.update(memoryview(array).cast("B"))
        return h.hexdigest()[:16]


def task_name(source: str, target: str) -> str:
    """Name of a task from two domain letters, e.g. ``task_name("A", "W") == "A→W"``."""
    return f"{source}→{target}"


def parse_task(name: str) -> tuple[str, str]:
    """Split ``"A→W"`` or ``"A->W"`` (also ``"A2W"``-free forms like ``"amazon->webcam"``)."""
    for sep in ("→", "->"):
        if sep in name:
            s, t = name.split(sep, 1)
            if s and t:
                return s.strip(), t.strip()
    raise ValueError(f"task {name!r} is not of the form 'S→T' or 'S->T'")


def as_float_array(X: Any) -> np.ndarray:
    """Features as a C-contiguous float64 array."""
    return np.ascontiguousarray(np.asarray(X, dtype=np.float64))


def encode_labels(y: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Map labels to 0..K-1; returns codes and the sorted original labels."""
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    return codes.astype(np.int64), classes.tolist()
