"""Subspace Alignment (SA)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..base import Adapter
from ._eigen import top_eigh


def principal_axes(X: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` leading principal axes of the rows of ``X`` (d×k, orthonormal columns).

    Eigenvectors of the scatter ``Xcᵀ Xc`` of the centred rows when ``d <= n``; otherwise those
    of the ``n x n`` Gram matrix ``Xc Xcᵀ = U Λ Uᵀ``, mapped back by ``P = Xcᵀ U Λ^{-1/2}``
    (the same axes, found through the smaller matrix). The leading pairs come from
    :func:`top_eigh` (a Krylov solve for large problems, else a dense ``eigh``).
    """
    Xc = X - X.mean(dim=0, keepdim=True)
    n, d = Xc.shape
    if d <= n:
        S = Xc.T @ Xc
        return top_eigh(lambda V: S @ V, d, k, dtype=X.dtype, device=X.device)[1]
    G = Xc @ Xc.T
    _, U = top_eigh(lambda V: G @ V, n, k, dtype=X.dtype, device=X.device)
    P = Xc.T @ U
    return P / torch.linalg.vector_norm(P, dim=0).clamp_min(torch.finfo(X.dtype).tiny)


class SubspaceAlignment(Adapter):
    r"""Subspace Alignment: map the source principal subspace onto the target's.

    Each domain is summarised by its ``k`` leading principal axes, ``P_s`` and ``P_t``
    (d×k, orthonormal columns, from the domain's covariance). The alignment matrix
    ``M = P_sᵀ P_t`` minimises ``‖P_s M − P_t‖_F`` (Fernando et al., 2013), and::

        transform(x, "source") = (x − m_s) P_s M        transform(x, "target") = (x − m_t) P_t

    where ``m_s``, ``m_t`` are the domain means. The paper z-scores each domain before its PCA,
    so its projected data are centred on their own domain mean; subtracting that mean here
    gives the same map on uncentred input (and keeps a mean shift between the domains out of
    the aligned space). Scaling to unit variance is left to the caller
    (e.g. the loaders' ``preprocess="standard"`` or a ``StandardScaler`` per domain).

    Parameters
    ----------
    n_components : int, default=30
        Subspace dimension ``k``, capped at ``min(n_features, n_source − 1, n_target − 1)``
        (the ranks of the centred data; see ``n_components_``). 30 is the dimension at which
        SA is usually reported on Office-Caltech-10 SURF features (800-d); the paper selects
        ``k`` with a stability bound, and small values suit low-dimensional data.
    estimator : sklearn classifier, optional
        Fitted on the aligned source by ``fit`` (``estimator_``).
    device : str or torch.device, default="auto"
        Where to compute; "auto" takes the input tensors' accelerator, else CUDA if present.

    Attributes
    ----------
    n_components_ : int
        Subspace dimension used.
    components_source_, components_target_ : Tensor of shape (n_features, n_components_)
        ``P_s`` and ``P_t``.
    M_ : Tensor of shape (n_components_, n_components_)
        Alignment matrix ``P_sᵀ P_t``.
    mean_source_, mean_target_ : Tensor of shape (n_features,)
        Domain means.

    References
    ----------
    B. Fernando, A. Habrard, M. Sebban, T. Tuytelaars. *Unsupervised Visual Domain Adaptation
    Using Subspace Alignment.* ICCV 2013.
    """

    def __init__(self, n_components: int = 30, estimator: Any = None, device: str = "auto"):
        self.n_components = n_components
        self.estimator = estimator
        self.device = device

    def _check_params(self) -> None:
        k = self.n_components
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_components must be a positive integer, got {k!r}")

    def _fit(self, Xs: torch.Tensor, ys: torch.Tensor, Xt: torch.Tensor, yt: Any) -> None:
        k = min(int(self.n_components), Xs.shape[1], Xs.shape[0] - 1, Xt.shape[0] - 1)
        if k < 1:
            raise ValueError(
                "SubspaceAlignment needs at least two rows in each domain to find a principal "
                f"axis (got {Xs.shape[0]} source and {Xt.shape[0]} target rows)"
            )
        self.n_components_ = k
        self.mean_source_ = Xs.mean(dim=0)
        self.mean_target_ = Xt.mean(dim=0)
        self.components_source_ = principal_axes(Xs, k)
        self.components_target_ = principal_axes(Xt, k)
        self.M_ = self.components_source_.T @ self.components_target_

    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:
        def cast(T: torch.Tensor) -> torch.Tensor:
            return T.to(device=X.device, dtype=X.dtype)

        if domain == "source":
            return (X - cast(self.mean_source_)) @ (cast(self.components_source_) @ cast(self.M_))
        return (X - cast(self.mean_target_)) @ cast(self.components_target_)
