"""numpy/torch interop: device and dtype resolution, conversion in and out.

Every adapter and measure computes in torch. The helpers here turn user input (numpy arrays,
torch tensors or array-likes) into tensors on one device and remember where the input came
from, so that results go back in the caller's own type: numpy in gives numpy out, a tensor in
gives a tensor out on the same device and of the same floating dtype family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]
DeviceLike = Union[str, torch.device, None]

_FLOATS = (torch.float32, torch.float64)


@dataclass(frozen=True)
class Origin:
    """Where an input came from: ``"numpy"`` or ``"torch"``, with device and dtype."""

    kind: str
    device: torch.device
    dtype: torch.dtype


def is_tensor(X: Any) -> bool:
    """Return True when ``X`` is a torch tensor."""
    return isinstance(X, torch.Tensor)


def compute_dtype(X: Any) -> torch.dtype:
    """Floating dtype that computation on ``X`` uses.

    float32 and float64 are kept. Anything else (integers, booleans, float16, bfloat16) is
    computed in float64 for numpy input and in float32 for tensors (torch's default), so that
    integer counts such as SURF histograms are represented exactly.
    """
    if is_tensor(X):
        return X.dtype if X.dtype in _FLOATS else torch.float32
    dt = np.asarray(X).dtype if not isinstance(X, np.ndarray) else X.dtype
    if dt == np.float32:
        return torch.float32
    return torch.float64


def origin_of(X: Any) -> Origin:
    """Describe the type, device and dtype of ``X`` for :func:`to_output`."""
    if is_tensor(X):
        return Origin("torch", X.device, compute_dtype(X))
    return Origin("numpy", torch.device("cpu"), compute_dtype(X))


def resolve_device(device: DeviceLike, *arrays: Any) -> torch.device:
    """Resolve the ``device`` parameter of an adapter.

    ``"auto"`` (or None) takes the device of the first tensor among ``arrays`` that lives on an
    accelerator, else CUDA when available, else the CPU. Any other value is passed to
    :class:`torch.device`; an invalid name, or CUDA where none is available, is a ``ValueError``.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        for a in arrays:
            if is_tensor(a) and a.device.type != "cpu":
                return a.device
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asks for CUDA, which this torch build or machine lacks")
    return resolved


def to_tensor(
    X: Any,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    *,
    keep_grad: bool = False,
) -> torch.Tensor:
    """Convert ``X`` to a floating tensor on ``device`` (no copy when nothing changes).

    Tensors are detached unless ``keep_grad`` (measures used as training losses keep the
    autograd history of their inputs).
    """
    dtype = dtype or compute_dtype(X)
    if is_tensor(X):
        X = X if keep_grad else X.detach()
        return X.to(device=device or X.device, dtype=dtype)
    arr = np.ascontiguousarray(X)  # torch cannot wrap negative strides (e.g. X[::-1])
    return torch.as_tensor(arr, dtype=dtype, device=device)


def to_output(T: torch.Tensor, origin: Origin) -> ArrayLike:
    """Return ``T`` in the caller's type: a numpy array, or a tensor on the caller's device."""
    if origin.kind == "torch":
        return T.to(device=origin.device, dtype=origin.dtype if T.is_floating_point() else T.dtype)
    out = T.detach().cpu()
    if out.is_floating_point():
        out = out.to(origin.dtype)
    return out.numpy()


def to_numpy(X: Any) -> np.ndarray:
    """Return ``X`` as a numpy array (tensors are detached and moved to the CPU)."""
    if is_tensor(X):
        return X.detach().cpu().numpy()
    return np.asarray(X)


def scalar_output(value: torch.Tensor, like: Any) -> float | torch.Tensor:
    """Return a 0-d result as a Python float for numpy input, or as a tensor for tensor input."""
    if is_tensor(like):
        return value
    return float(value.detach().cpu())
