"""Dense linear algebra shared by the shallow adapters (torch, any device)."""

from __future__ import annotations

import numpy as np
import torch


# Below this many columns (and in float32) torch's own kernels are used on the CPU too.
LAPACK_MIN_DIM = 1024


def _lapack_ready(A: torch.Tensor) -> bool:
    """Whether ``A`` should go to numpy's BLAS/LAPACK: a large float64 CPU tensor outside autograd.

    numpy's OpenBLAS and torch have separate thread pools, and OpenBLAS's threads keep spinning
    for a while after each call: torch's next parallel operations then share the cores with
    them and run 2–3 times slower (on our 2-core test machine the discrepancy report right after
    CORAL's fit took 81 ms instead of 29 ms at 1000 rows × 64 features, and the fit itself 17 ms
    instead of 3 ms). The faster ``syrk`` and ``syevd`` of numpy's build repay this only for
    float64 matrices with at least :data:`LAPACK_MIN_DIM` columns: whole CORAL fits with the
    report took 0.28 s with torch only against 0.38 s through numpy at d = 512 (0.50 against
    0.57 s at d = 768), but 1.05 s against 0.90 s at d = 1024 and 5.1–5.5 s against 4.7–4.8 s
    at d = 2048; in float32 torch only was ahead at d = 1024 (0.52 against 0.80 s) and at
    d = 2048 (2.4–2.6 against 2.5–2.7 s).
    """
    return (
        A.device.type == "cpu"
        and A.dtype == torch.float64
        and A.shape[-1] >= LAPACK_MIN_DIM
        and not (torch.is_grad_enabled() and A.requires_grad)
    )


def scatter(Xc: torch.Tensor) -> torch.Tensor:
    """``Xcᵀ Xc`` (d×d, symmetric).

    For large float64 CPU inputs (:func:`_lapack_ready`) this is numpy's matrix product, which
    recognises the ``Aᵀ A`` pattern and runs one BLAS ``syrk`` (half the multiply-adds of a
    general product; the other triangle copied), with the OpenBLAS that numpy ships: on our
    2-core test machine 0.27 s at 4000 × 2048, against 0.45–0.65 s for torch's ``Xc.T @ Xc``
    and 0.40–0.53 s for scipy's ``dsyrk``; otherwise the torch product. ``Xc`` may be a
    transposed view (then the result is ``B Bᵀ`` of the untransposed ``B``, again one ``syrk``,
    without a copy).
    """
    if not _lapack_ready(Xc):
        return Xc.T @ Xc
    A = Xc.numpy()  # a view with the tensor's strides: numpy passes either layout to BLAS
    return torch.from_numpy(A.T @ A)


def eigh(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix.

    For large float64 CPU inputs (:func:`_lapack_ready`), numpy's LAPACK divide-and-conquer
    ``dsyevd``: on our 2-core test machine 1.2–1.46 s at d = 2048 against 1.49–1.80 s for
    torch's; otherwise :func:`torch.linalg.eigh`.
    """
    if not _lapack_ready(C):
        return torch.linalg.eigh(C)
    w, V = np.linalg.eigh(C.numpy())
    return torch.from_numpy(w), torch.from_numpy(V)


def covariance(X: torch.Tensor) -> torch.Tensor:
    """Unbiased covariance of the rows of ``X`` (d×d)."""
    return scatter(X - X.mean(dim=0, keepdim=True)) / max(X.shape[0] - 1, 1)


def sym_power(C: torch.Tensor, power: float) -> torch.Tensor:
    """``C ** power`` for a symmetric positive-definite ``C`` through its eigendecomposition.

    ``C = V diag(w) Vᵀ`` gives ``C ** power = B Bᵀ`` with ``B = V diag(w ** (power / 2))``, one
    symmetric rank-k product (:func:`scatter`; 0.16 s instead of 0.23 s for ``(V w^p) Vᵀ`` at
    d = 2048 in float64 on our 2-core test machine, where the ``syrk`` result is exactly
    symmetric).
    """
    w, V = eigh(C)
    w = w.clamp_min(torch.finfo(C.dtype).tiny)
    return scatter((V * w.pow(0.5 * power)).T)


def ridge_covariance_power(X: torch.Tensor, reg: float, power: float) -> torch.Tensor:
    """``(cov(X) + reg·I) ** power`` (d×d) for ``reg > 0``, exactly, by the cheaper route.

    With ``n`` rows and ``d`` features, ``cov(X) = Xcᵀ Xc / (n − 1)`` has rank at most
    ``n − 1``. When ``n < d`` its non-zero eigenpairs come from the ``n × n`` Gram matrix
    ``G = Xc Xcᵀ / (n − 1) = V Λ Vᵀ`` — the same eigenvalues, with eigenvectors
    ``U = Xcᵀ V (Λ (n − 1))^{-1/2}`` — and

        (cov(X) + reg·I) ** p = reg**p · I + U ((Λ + reg)**p − reg**p) Uᵀ,

    which costs ``O(n² d + n³ + d² n)`` instead of the ``O(d³)`` of a ``d × d`` decomposition.
    Eigenvalues below ``n · eps · λ_max`` are rounding noise of zero ones and are left out (their
    term is ``p · reg**(p−1) · λ``, below rounding as well). Otherwise the ``d × d`` matrix is
    decomposed directly (:func:`sym_power`).
    """
    n, d = X.shape
    if n >= d:
        C = covariance(X)
        C.diagonal().add_(reg)
        return sym_power(C, power)
    Xc = X - X.mean(dim=0, keepdim=True)
    scale = max(n - 1, 1)
    lam, V = eigh(Xc @ Xc.T / scale)
    keep = lam > n * torch.finfo(X.dtype).eps * lam[-1].clamp_min(torch.finfo(X.dtype).tiny)
    lam, V = lam[keep], V[:, keep]
    U = (Xc.T @ V) / torch.sqrt(lam * scale)
    middle = (lam + reg).pow(power) - reg**power
    P = (U * middle) @ U.T
    P.diagonal().add_(reg**power)
    return P


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
