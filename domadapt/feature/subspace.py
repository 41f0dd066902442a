"""Subspace Alignment (SA)."""

from __future__ import annotations

from typing import Any

import torch

from .._validation import is_integer, seed_from
from ..base import Adapter
from ._eigen import fix_signs, top_eigh


#: "auto" takes the randomized solver when the eigenproblem (of size min(n, d)) exceeds this
#: and k is under a quarter of it; smaller problems are solved to a residual bound
RANDOMIZED_MIN_SIZE = 1024


def principal_axes(
    X: torch.Tensor, k: int, solver: str = "exact", *, n_oversamples: int = 10,
    n_iter: int | str = "auto", seed: int = 0,
) -> torch.Tensor:
    """The ``k`` leading principal axes of the rows of ``X`` (d×k, orthonormal columns).

    ``solver="exact"``: eigenvectors of the scatter ``Xcᵀ Xc`` of the centred rows when
    ``d <= n``; otherwise those of the ``n x n`` Gram matrix ``Xc Xcᵀ = U Λ Uᵀ``, mapped back by
    ``P = Xcᵀ U Λ^{-1/2}`` (the same axes, found through the smaller matrix; when ``k`` exceeds
    the rank of ``Xc``, the axes beyond it are an orthonormal completion, of zero variance, as
    eigenvectors of a zero eigenvalue are on the ``d <= n`` route). The leading pairs
    come from :func:`top_eigh` (a Krylov solve to a residual bound for large problems, else a
    dense ``eigh``).

    ``solver="randomized"``: randomized subspace iteration (Halko, Martinsson & Tropp, SIAM
    Review 2011, Alg. 4.4): a seeded Gaussian block of ``k + n_oversamples`` vectors, ``n_iter``
    applications of ``Xcᵀ Xc`` with re-orthonormalisation after each, then Rayleigh–Ritz on the
    block. ``n_iter="auto"`` is 7 when ``k < 0.1 · min(n, d)``, else 4 — the settings of
    scikit-learn's randomized PCA — so the axes are approximate, with an error that shrinks
    with the gap between the ``k``-th and the following eigenvalues. The data are never
    centred in a copy (``Xc V = X V − 1 (x̄ V)``). On float64 data all power steps but the last
    run in float32, the products with the data being the whole cost, as in mixed-precision
    sketching (Carson & Daužickaitė, *Single-pass Nyström approximation in mixed precision*,
    SIAM J. Matrix Anal. Appl. 2024): the last step and the Rayleigh–Ritz projection are float64,
    which damps the float32 rounding by one more power step and leaves the axes orthonormal to
    float64 precision (on the benchmark data of ``benchmarks/speed_shallow.py`` the subspace
    moves by 2e-8 against an all-float64 run whose own distance to the exact one is 1e-2).
    """
    if solver == "randomized":
        return _randomized_axes(X, k, n_oversamples, n_iter, seed)
    Xc = X - X.mean(dim=0, keepdim=True)
    n, d = Xc.shape
    if d <= n:
        S = Xc.T @ Xc
        return top_eigh(lambda V: S @ V, d, k, dtype=X.dtype, device=X.device)[1]
    G = Xc @ Xc.T
    _, U = top_eigh(lambda V: G @ V, n, k, dtype=X.dtype, device=X.device)
    # Xcᵀ U has orthogonal columns of norms √λ; a QR makes them unit (signs kept) and, when k
    # exceeds the rank of Xc (duplicate rows), turns the rounding-noise columns of λ ≈ 0 into
    # an orthonormal completion (axes of zero variance, orthogonal to the data's span) instead
    # of rescaled noise
    Q, R = torch.linalg.qr(Xc.T @ U)
    signs = torch.sign(torch.diagonal(R))
    return Q * torch.where(signs == 0, torch.ones_like(signs), signs)


def _randomized_axes(
    X: torch.Tensor, k: int, n_oversamples: int, n_iter: int | str, seed: int
) -> torch.Tensor:
    n, d = X.shape
    size = min(n, d)
    q = (7 if k < 0.1 * size else 4) if n_iter == "auto" else int(n_iter)
    block = min(k + n_oversamples, size)

    def scatter(A: torch.Tensor, mean: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        AV = A @ V - mean @ V  # Ac V without forming the centred copy Ac = A − 1·mean
        return A.T @ AV - mean.T @ AV.sum(dim=0, keepdim=True)

    mean = X.mean(dim=0, keepdim=True)
    # float64 data: the first q power steps only steer the block towards the leading subspace
    # and run in float32 (half the memory traffic of the data passes); the last step and the
    # Rayleigh–Ritz projection are float64, so the rounding left by the float32 steps is damped
    # by a further power step and the axes are orthonormal to float64 precision
    low = torch.float32 if X.dtype == torch.float64 else X.dtype
    X_low, mean_low = X.to(low), mean.to(low)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    Q = torch.randn(d, block, generator=gen, dtype=X.dtype).to(device=X.device, dtype=low)
    for _ in range(q):
        Q = torch.linalg.qr(scatter(X_low, mean_low, Q)).Q
    del X_low
    Q = torch.linalg.qr(scatter(X, mean, Q.to(X.dtype))).Q
    XQ = X @ Q - mean @ Q
    T = XQ.T @ XQ  # Qᵀ Xcᵀ Xc Q
    _, S = torch.linalg.eigh((T + T.T) / 2)
    return fix_signs(_unit_columns(Q @ S.flip(1)[:, :k]))


def _unit_columns(P: torch.Tensor) -> torch.Tensor:
    return P / torch.linalg.vector_norm(P, dim=0).clamp_min(torch.finfo(P.dtype).tiny)


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
    solver : {"auto", "exact", "randomized"}, default="auto"
        How the principal axes are found (see :func:`principal_axes`). ``"exact"`` solves the
        eigenproblem to a residual bound (``1e-9·λ_1`` in float64); ``"randomized"`` runs a
        fixed number of randomized subspace iterations, as scikit-learn's randomized PCA does,
        which is much faster on large data and approximate when the ``k``-th eigenvalue is not
        well separated from the next. ``"auto"`` is ``"randomized"`` when the eigenproblem
        (size ``min(n_rows, n_features)`` per domain) is larger than 1024 and ``k`` is below a
        quarter of it, else ``"exact"``.
    random_state : int or None, default=None
        Seed of the randomized solver (None: fresh entropy each fit).
    estimator : sklearn classifier, optional
        Fitted on the aligned source by ``fit`` (``estimator_``).
    device : str or torch.device, default="auto"
        Where to compute; "auto" takes the input tensors' accelerator, else CUDA if present.

    Attributes
    ----------
    n_components_ : int
        Subspace dimension used.
    solver_ : str
        Solver used ("exact" or "randomized").
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

    def __init__(
        self,
        n_components: int = 30,
        solver: str = "auto",
        random_state: int | None = None,
        estimator: Any = None,
        device: str = "auto",
    ):
        self.n_components = n_components
        self.solver = solver
        self.random_state = random_state
        self.estimator = estimator
        self.device = device

    def _check_params(self) -> None:
        k = self.n_components
        if not (is_integer(k) and k >= 1):
            raise ValueError(f"n_components must be a positive integer, got {k!r}")
        if self.solver not in ("auto", "exact", "randomized"):
            raise ValueError(
                f"solver must be 'auto', 'exact' or 'randomized', got {self.solver!r}"
            )

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
        size = min(Xs.shape[1], Xs.shape[0], Xt.shape[0])
        solver = self.solver
        if solver == "auto":
            solver = "randomized" if size > RANDOMIZED_MIN_SIZE and k < size / 4 else "exact"
        self.solver_ = solver
        seed = seed_from(self.random_state)
        self.components_source_ = principal_axes(Xs, k, solver, seed=seed)
        self.components_target_ = principal_axes(Xt, k, solver, seed=seed + 1)
        self.M_ = self.components_source_.T @ self.components_target_

    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:
        def cast(T: torch.Tensor) -> torch.Tensor:
            return T.to(device=X.device, dtype=X.dtype)

        if domain == "source":
            mean, P = self.mean_source_, self.components_source_ @ self.M_
        else:
            mean, P = self.mean_target_, self.components_target_
        P = cast(P)
        return X @ P - cast(mean) @ P  # (X − mean) P without copying X
