"""CORrelation ALignment (CORAL)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._linalg import ridge_covariance_power
from .._validation import is_real
from ..base import Adapter


class CORAL(Adapter):
    """CORrelation ALignment: re-colour the source with the target's covariance.

    The source features are whitened with their own regularised covariance and re-coloured
    with the target's (Sun, Feng & Saenko, 2016)::

        C_s = cov(X_s) + reg·I,    C_t = cov(X_t) + reg·I,    A = C_s^{-1/2} C_t^{1/2}
        transform(x, "source") = x A          transform(x, "target") = x

    After the map, the covariance of the source equals ``C_t − reg·C_t^{1/2} C_s^{-1} C_t^{1/2}``,
    i.e. the target's covariance up to the regulariser. As in the paper the map is linear and
    applied to the raw (uncentred) source; standardise the features first (e.g. with
    ``make_da_pipeline(StandardScaler(), CORAL(), ...)``) as the paper does. With
    ``center=True`` the source is centred before the map and moved to the target's mean after
    it, ``transform(x, "source") = (x − μ_s) A + μ_t``, so that the first moments match too
    (as skada's ``CORALAdapter`` does, up to a common translation of both domains).

    A domain with fewer rows than features (DeCAF or ResNet features of a small domain) has a
    covariance of rank below ``d``; its regularised power is then computed exactly from the
    ``n × n`` Gram matrix (:func:`domadapt._linalg.ridge_covariance_power`), at
    ``O(n² d + n d²)`` instead of the ``O(d³)`` of a ``d × d`` eigendecomposition. The
    covariances and the matrix powers are symmetric products ``BᵀB`` (one BLAS ``syrk`` each on
    the CPU for float64 with d ≥ 1024, half the multiply-adds of a general product) and the
    eigendecompositions LAPACK's ``syevd`` (:mod:`domadapt._linalg`).

    Parameters
    ----------
    reg : float, default=1.0
        Ridge added to both covariances (the paper uses 1 on standardised features).
    center : bool, default=False
        Also align the means: centre the source, map it, add the target's mean.
    estimator : sklearn classifier, optional
        Fitted on the re-coloured source by ``fit`` (``estimator_``).
    device : str or torch.device, default="auto"
        Where to compute; "auto" takes the input tensors' accelerator, else CUDA if present.

    Attributes
    ----------
    A_ : tensor of shape (n_features, n_features)
        The source map ``C_s^{-1/2} C_t^{1/2}``.
    offset_ : tensor of shape (n_features,) or None
        ``μ_t − μ_s A`` with ``center=True`` (the source map is ``x A + offset_``), else None.

    References
    ----------
    B. Sun, J. Feng, K. Saenko. *Return of Frustratingly Easy Domain Adaptation.* AAAI 2016.
    """

    def __init__(
        self, reg: float = 1.0, center: bool = False, estimator: Any = None, device: str = "auto"
    ):
        self.reg = reg
        self.center = center
        self.estimator = estimator
        self.device = device

    def _check_params(self) -> None:
        if not (is_real(self.reg) and self.reg > 0):
            raise ValueError(f"reg must be a positive number, got {self.reg!r}")
        if not isinstance(self.center, (bool, np.bool_)):
            raise TypeError(f"center must be a bool, got {self.center!r}")

    def _fit(self, Xs: torch.Tensor, ys: torch.Tensor, Xt: torch.Tensor, yt: Any) -> None:
        reg = float(self.reg)
        self.A_ = ridge_covariance_power(Xs, reg, -0.5) @ ridge_covariance_power(Xt, reg, 0.5)
        self.offset_ = Xt.mean(dim=0) - Xs.mean(dim=0) @ self.A_ if self.center else None

    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:
        if domain == "target":
            return X
        A = self.A_.to(device=X.device, dtype=X.dtype)
        if self.offset_ is None:
            return X @ A
        return torch.addmm(self.offset_.to(device=X.device, dtype=X.dtype), X, A)
