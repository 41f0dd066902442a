"""The one place where domadapt imports torchvision.

The torchvision wheel on the package registry is built against the CUDA torch. Next to the CPU
build of the same torch version, ``import torchvision`` stops with ``RuntimeError: operator
torchvision::nms does not exist``: two fake-kernel registrations at import time assume that the
compiled detection operators ``nms`` and ``qnms`` were registered by torchvision's C++ library.
When that happens, :func:`import_torchvision` declares the two operator schemas (without any
kernel), forgets the half-imported modules and imports again. Models, ``transforms.v2`` and
``datasets`` then work; the detection operators (``torchvision.ops.nms``) still have no kernel.
Where torchvision imports normally nothing is changed.

Import torchvision through this module only (``tv = import_torchvision()``,
``v2 = import_torchvision("transforms.v2")``), never with a bare ``import torchvision``.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

import torch

_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_MISSING_OPERATOR = "operator torchvision::"
_lock = threading.Lock()


def import_torchvision(submodule: str | None = None) -> ModuleType:
    """Return ``torchvision`` (or ``torchvision.<submodule>``), working around the CPU-torch trap.

    Parameters
    ----------
    submodule : str or None
        Dotted name below ``torchvision``, e.g. ``"transforms.v2"`` or ``"models"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    ImportError
        When torchvision is not installed, or fails to import for another reason (the message
        keeps the original error).
    """
    with _lock:
        if "torchvision" not in sys.modules:
            _import_base()
    name = "torchvision" if not submodule else f"torchvision.{submodule}"
    return importlib.import_module(name)


def _import_base() -> None:
    try:
        importlib.import_module("torchvision")
        return
    except RuntimeError as exc:
        if _MISSING_OPERATOR not in str(exc):
            raise ImportError(f"torchvision failed to import: {exc}") from exc
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    for op in ("nms", "qnms"):
        try:
            torch.library.define(f"torchvision::{op}", _SCHEMA)
        except RuntimeError:  # already declared (an earlier attempt, or only one was missing)
            pass
    try:
        importlib.import_module("torchvision")
    except RuntimeError as exc:
        raise ImportError(f"torchvision failed to import even after declaring its operators: {exc}") from exc
