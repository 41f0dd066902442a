"""Largest eigenpairs of big symmetric problems, solved exactly but without a full decomposition.

The shallow subspace adapters (PCA bases of Subspace Alignment, the transfer components of TCA
and JDA) need the top ``k`` eigenpairs of an ``N x N`` symmetric matrix with ``k << N``, where
``N`` is a sample count (kernel methods) or a feature count. A full ``torch.linalg.eigh`` costs
``O(N^3)`` with a large constant; :func:`top_eigh` instead runs a restarted block Krylov method on
the matrix's products and stops when every returned pair meets a residual bound, so the result is
as exact as a dense solve up to that tolerance. Small or nearly full problems go to the dense
solver directly, and a run that does not converge falls back to it.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

MatMul = Callable[[torch.Tensor], torch.Tensor]

#: problems up to this size are solved densely (a dense eigh is then cheaper than iterating)
DENSE_MAX = 768
#: residual bound ``||A x - θ x|| <= tol · |θ_1|`` for each returned pair, by dtype
TOL = {torch.float64: 1e-9, torch.float32: 1e-4}
#: Krylov blocks kept before a thick restart
DEPTH = 8


def top_eigh(
    matmul: MatMul,
    n: int,
    k: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
    start: torch.Tensor | None = None,
    tol: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest ``k`` eigenpairs of a symmetric ``n x n`` matrix ``A`` known through ``V ↦ A V``.

    A block Krylov (block Lanczos) iteration with full reorthogonalisation and thick restarts:
    the basis grows by one block ``b = k + max(16, k/2)`` of vectors, ``A Q_{j+1} ⟂ Q_0…Q_j``,
    at a time; after each block the Rayleigh–Ritz pairs of ``A`` on the basis are formed, and
    the run stops when each of the top ``k`` satisfies ``||A x - θ x|| <= tol · |θ_1|`` — a
    backward-error bound: ``(θ, x)`` is an exact eigenpair of a symmetric matrix within
    ``tol · ||A||`` of ``A``. After ``DEPTH`` blocks the basis restarts from the top ``b`` Ritz
    vectors, whose products are already known. The dense ``torch.linalg.eigh`` of ``A`` (built
    from ``matmul`` on the identity) is used instead when ``n <= DENSE_MAX``, when a full basis
    would exceed ``n/2`` vectors, and when the iteration has applied ``A`` to ``n`` vectors
    without converging — the work a dense solve needs anyway — or its convergence over the last
    restart cycle projects past that.

    Eigenvectors are fixed in sign: the entry of largest magnitude of each is positive.

    Parameters
    ----------
    matmul : callable
        ``matmul(V)`` returns ``A @ V`` for a tensor ``V`` of shape (n, b).
    n : int
        Size of ``A``.
    k : int
        Number of pairs wanted, ``1 <= k <= n``.
    dtype, device
        Where ``matmul`` computes.
    start : Tensor of shape (n, j), optional
        Vectors to start from (e.g. the solution of a nearby problem); completed with seeded
        random vectors.
    tol : float, optional
        Residual bound; default ``TOL[dtype]``.

    Returns
    -------
    eigenvalues : Tensor of shape (k,), decreasing
    eigenvectors : Tensor of shape (n, k), orthonormal columns
    """
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and n={n}")
    tol = TOL.get(dtype, 1e-4) if tol is None else tol
    block = min(n, k + max(16, k // 2))
    if n <= DENSE_MAX or DEPTH * block >= n // 2:
        return _dense_top(matmul, n, k, dtype, device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    Q = torch.randn(n, block, generator=gen, dtype=dtype).to(device)
    if start is not None and start.shape[1] > 0:
        j = min(start.shape[1], block)
        Q[:, :j] = start[:, :j].to(device=device, dtype=dtype)
    Q = _orthonormal(Q, None)
    basis, products, applied = [Q], [matmul(Q)], block
    history: list[tuple[int, float]] = []  # (vectors applied, worst residual / bound) per cycle
    while True:
        V, AV = torch.cat(basis, dim=1), torch.cat(products, dim=1)
        T = V.T @ AV
        theta, S = torch.linalg.eigh((T + T.T) / 2)
        theta, S = theta.flip(0)[:block], S.flip(1)[:, :block]
        X, AX = V @ S, AV @ S
        residual = torch.linalg.vector_norm(AX[:, :k] - X[:, :k] * theta[:k], dim=0)
        scale = theta.abs().max().clamp_min(torch.finfo(dtype).tiny)
        worst = float((residual / (tol * scale)).max())
        if worst <= 1.0:
            return theta[:k], fix_signs(X[:, :k])
        if applied >= n:
            return _dense_top(matmul, n, k, dtype, device)
        if len(basis) == DEPTH:  # thick restart on the (orthonormal) Ritz vectors
            history.append((applied, worst))
            if _too_slow(history, n):
                return _dense_top(matmul, n, k, dtype, device)
            basis, products = [X], [AX]
        Q = _orthonormal(products[-1], torch.cat(basis, dim=1))
        basis.append(Q)
        products.append(matmul(Q))
        applied += Q.shape[1]


def _too_slow(history: list[tuple[int, float]], n: int) -> bool:
    """Whether the residual's decay over the last cycle projects past ``n`` applied vectors."""
    if len(history) < 2:
        return False
    (a0, r0), (a1, r1) = history[-2:]
    rate = math.log(r1 / r0) / (a1 - a0)  # log-residual change per applied vector
    return rate >= 0 or a1 + math.log(r1) / -rate > n


def _dense_top(
    matmul: MatMul, n: int, k: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    A = matmul(torch.eye(n, dtype=dtype, device=device))
    w, V = torch.linalg.eigh((A + A.T) / 2)
    return w.flip(0)[:k], fix_signs(V.flip(1)[:, :k])


def _orthonormal(Y: torch.Tensor, against: torch.Tensor | None) -> torch.Tensor:
    """Orthonormal basis of ``Y`` made orthogonal to the orthonormal columns of ``against``.

    Classical Gram–Schmidt run twice, then QR, then once more: the result stays orthonormal to
    working precision even when ``Y`` lies (nearly) inside ``span(against)``, in which case its
    columns are just some other orthonormal directions — harmless for Rayleigh–Ritz.
    """
    if against is None:
        return torch.linalg.qr(Y).Q
    for _ in range(2):
        Y = Y - against @ (against.T @ Y)
    Q = torch.linalg.qr(Y).Q
    return torch.linalg.qr(Q - against @ (against.T @ Q)).Q


def fix_signs(V: torch.Tensor) -> torch.Tensor:
    """Flip columns so that the entry of largest magnitude of each is positive."""
    idx = V.abs().argmax(dim=0)
    signs = torch.sign(V[idx, torch.arange(V.shape[1], device=V.device)])
    return V * torch.where(signs == 0, torch.ones_like(signs), signs)
