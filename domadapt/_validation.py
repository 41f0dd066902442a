"""Input checks shared by every adapter and measure.

Each check raises ``TypeError`` or ``ValueError`` whose message names the argument and the
problem. Nothing is coerced in a way that changes results: integer features become floats
exactly, and nothing is clipped, imputed or reordered.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from ._array import is_tensor, to_numpy

DOMAINS = ("source", "target")


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy integer (not a bool): hyper-parameters may come
    from ``np.arange`` grids."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """Whether ``value`` is a finite Python or numpy real number (not a bool)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(value)
    )


def check_array(X: Any, name: str = "X", *, ndim: int = 2) -> np.ndarray | torch.Tensor:
    """Check a feature matrix and return it as a numpy array or tensor (not moved).

    Raises
    ------
    TypeError
        ``X`` is None, sparse, non-numeric or complex.
    ValueError
        ``X`` is not ``ndim``-dimensional, has no rows or no columns, or holds NaN or inf.
    """
    if X is None:
        raise TypeError(f"{name} is None; expected a 2-D numpy array or torch tensor")
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(f"{name} is a sparse matrix; pass a dense array or tensor")
    if not is_tensor(X):
        try:
            X = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} cannot be read as an array: {exc}") from None
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"{name} has non-numeric dtype {X.dtype}")
        if np.iscomplexobj(X):
            raise TypeError(f"{name} is complex; expected real values")
    elif X.is_complex():
        raise TypeError(f"{name} is complex; expected real values")
    if X.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no rows (samples)")
    if ndim == 2 and X.shape[1] == 0:
        raise ValueError(f"{name} has no columns (features)")
    finite = bool(torch.isfinite(X).all()) if is_tensor(X) else bool(np.isfinite(X).all())
    if not finite:
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def check_same_features(X: Any, X_target: Any, names: tuple[str, str] = ("X", "X_target")) -> None:
    """Raise ``ValueError`` when two domains have different feature counts."""
    if X.shape[1] != X_target.shape[1]:
        raise ValueError(
            f"{names[0]} has {X.shape[1]} features but {names[1]} has {X_target.shape[1]}; "
            "both domains must share one feature space"
        )


def check_same_device(**arrays: Any) -> None:
    """Raise ``ValueError`` when tensors among ``arrays`` live on different devices."""
    devices = {name: a.device for name, a in arrays.items() if is_tensor(a)}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{k} on {v}" for k, v in devices.items())
        raise ValueError(f"tensors are on different devices ({listing}); move them to one device")


def is_classification_target(y: np.ndarray) -> bool:
    """True for discrete labels (integers, strings, booleans, integral floats)."""
    if y.dtype.kind in "iubOSU":
        return True
    if y.dtype.kind == "f":
        return bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    return False


def known_rows(y: np.ndarray, classes: Any = None, name: str = "y") -> np.ndarray:
    """Mask of the rows whose label is known: all but the ``-1`` of discrete numeric labels
    (the marker of an unknown target label; continuous targets have no marker), unless ``-1``
    is among the fitted ``classes`` (then it is a class, as in a ``{-1, +1}`` labelling).

    Raises
    ------
    ValueError
        When no row is known.
    """
    marker = y.dtype.kind in "iuf" and is_classification_target(y)
    if marker and classes is not None and np.any(np.asarray(classes, dtype=object) == -1):
        marker = False
    known = y != -1 if marker else np.ones(y.shape[0], bool)
    if not known.any():
        raise ValueError(f"{name} holds no known label (every one is -1, the unknown marker)")
    return known


def check_labels(y: Any, n: int, name: str = "y", *, allow_unknown: bool = False) -> np.ndarray:
    """Check a label vector of length ``n`` and return it as a 1-D numpy array.

    With ``allow_unknown`` (target labels), ``-1`` marks an unknown label.
    """
    if y is None:
        raise TypeError(f"{name} is None; expected a 1-D label vector")
    y = to_numpy(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} labels but its features have {n} rows")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity")
    if allow_unknown:
        return y
    if is_classification_target(y) and np.unique(y).size < 2:
        raise ValueError(
            f"{name} holds a single class ({np.unique(y)[0]!r}); adaptation needs at least two"
        )
    return y


def check_domain(domain: str) -> str:
    """Check the ``domain=`` argument of ``transform``/``predict``."""
    if domain not in DOMAINS:
        raise ValueError(f"domain={domain!r} is not one of {DOMAINS}")
    return domain


def seed_from(random_state: Any) -> int:
    """An integer seed from ``random_state`` (an int, or None for a fresh OS-entropy seed)."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    raise ValueError(f"random_state={random_state!r} must be an int or None")
