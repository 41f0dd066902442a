"""Dense linear algebra shared by the shallow adapters (torch, any device)."""

from __future__ import annotations

import torch


def covariance(X: torch.Tensor) -> torch.Tensor:
    """Unbiased covariance of the rows of ``X`` (d×d)."""
    Xc = X - X.mean(dim=0, keepdim=True)
    return Xc.T @ Xc / max(X.shape[0] - 1, 1)


def sym_power(C: torch.Tensor, power: float) -> torch.Tensor:
    """``C ** power`` for a symmetric positive-definite ``C`` through its eigendecomposition."""
    w, V = torch.linalg.eigh(C)
    w = w.clamp_min(torch.finfo(C.dtype).tiny)
    return (V * w.pow(power)) @ V.T


def generalized_eigh(
    A: torch.Tensor, B: torch.Tensor, k: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest eigenpairs of the symmetric-definite pencil ``A v = λ B v``.

    ``B`` must be symmetric positive definite. With ``B = L Lᵀ`` (Cholesky) the pencil becomes
    the standard problem ``L⁻¹ A L⁻ᵀ u = λ u`` and ``v = L⁻ᵀ u``, so the returned vectors are
    B-orthonormal: ``Vᵀ B V = I``.

    Returns
    -------
    eigenvalues : tensor of shape (k,), in decreasing order
    V : tensor of shape (n, k)
    """
    L = torch.linalg.cholesky(B)
    M = torch.linalg.solve_triangular(L, A, upper=False)
    M = torch.linalg.solve_triangular(L, M.T, upper=False)
    M = (M + M.T) / 2
    w, U = torch.linalg.eigh(M)
    k = M.shape[0] if k is None else min(k, M.shape[0])
    w, U = w.flip(0)[:k], U.flip(1)[:, :k]
    V = torch.linalg.solve_triangular(L.T, U, upper=True)
    return w, V
