"""Transfer Component Analysis (TCA) and Joint Distribution Adaptation (JDA).

Both learn a projection that keeps the variance of the pooled data while shrinking maximum mean
discrepancies (MMD) between source and target — TCA the marginal one, JDA also one per class, with
target pseudo-labels. Both reduce to one symmetric-definite eigenproblem,

    S v = λ (μ I + F Fᵀ) v,

with ``S`` the centred scatter of the data (in feature space, ``"primal"``, or of the kernel
matrix, ``"linear"``/``"rbf"``) and ``F Fᵀ`` the MMD terms, of rank one (TCA) or at most
``C + 1`` (JDA). :func:`transfer_components` solves it for both without ever forming an
``n x n`` MMD or centring matrix.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from .._array import to_numpy
from .._config import get_config
from .._validation import is_integer, is_real
from ..base import Adapter
from ..kernels import median_sq_distance, pairwise_kernel
from ._eigen import top_eigh

KERNELS = ("linear", "primal", "rbf")

MatMul = Callable[[torch.Tensor], torch.Tensor]


def transfer_components(
    scatter: MatMul,
    F: torch.Tensor,
    mu: float,
    k: int,
    *,
    start: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Largest ``k`` eigenpairs of the pencil ``S v = λ (μ I + F Fᵀ) v``.

    ``B = μ I + F Fᵀ`` is symmetric positive definite for ``μ > 0``, and its inverse square root
    has a closed form: with ``F = Q_F R`` (thin QR) and ``R Rᵀ = P diag(s) Pᵀ``, ``Q = Q_F P``
    has orthonormal columns and

        B^{-1/2} = μ^{-1/2} I + Q diag((μ + s)^{-1/2} − μ^{-1/2}) Qᵀ,

    applied in ``O(N r)`` per vector. The pencil becomes the standard problem
    ``B^{-1/2} S B^{-1/2} u = λ u``, solved for its top ``k`` pairs by :func:`top_eigh`, and
    ``v = B^{-1/2} u``; hence ``Vᵀ B V = I`` (B-orthonormal), as with
    :func:`domadapt._linalg.generalized_eigh`, without an ``N x N`` factorisation.

    Parameters
    ----------
    scatter : callable
        ``scatter(V)`` returns ``S @ V`` for ``V`` of shape (N, b); ``S`` symmetric PSD.
    F : Tensor of shape (N, r)
        Factor of the MMD term.
    mu : float
        Positive ridge.
    k : int
        Number of components, ``k <= N``.
    start : Tensor of shape (N, j), optional
        Starting vectors in the standardised coordinates ``u`` (the third output of a
        previous call), to warm-start a nearby problem.

    Returns
    -------
    eigenvalues : Tensor of shape (k,), decreasing
    V : Tensor of shape (N, k)
        Generalised eigenvectors, ``Vᵀ (μ I + F Fᵀ) V = I``.
    U : Tensor of shape (N, k)
        The orthonormal ``u = B^{1/2} v``.
    """
    Q, R = torch.linalg.qr(F)
    s, P = torch.linalg.eigh(R @ R.T)
    Q = Q @ P
    root = mu**-0.5
    shrink = (s.clamp_min(0) + mu).rsqrt() - root

    def inv_sqrt(V: torch.Tensor) -> torch.Tensor:
        return root * V + Q @ (shrink[:, None] * (Q.T @ V))

    w, U = top_eigh(
        lambda V: inv_sqrt(scatter(inv_sqrt(V))),
        F.shape[0],
        k,
        dtype=F.dtype,
        device=F.device,
        start=start,
    )
    return w, inv_sqrt(U), U


def _center(Y: torch.Tensor) -> torch.Tensor:
    """``H Y`` with ``H = I − 11ᵀ/n``: subtract the column means."""
    return Y - Y.mean(dim=0, keepdim=True)


class _Problem:
    """Products with the stacked data of one fit, in the coordinates the solver works in.

    The solver sees ``S v = λ (μ I + F Fᵀ) v`` of size ``size``; ``scatter(V)`` is ``S V``,
    ``lift(E)`` turns sample-space MMD vectors ``E`` (n, r), whose columns sum to zero, into
    ``F``; ``embed(V)`` is the embedding of the fitted rows; ``solution(V)`` is the pair
    (projection ``A`` with ``z = x A``, or None; dual coefficients ``W`` with
    ``z = k(x, X) W``, or None); ``rank`` bounds the number of components with ``λ > 0``.
    Every reduction below is exact: it only drops directions where ``S`` vanishes, which
    carry ``λ = 0``, and keeps the B-normalisation.

    - "primal", ``n > d``: ``S = Xᵀ H X`` and ``F = Xᵀ E`` (size d), ``A = V``.
    - "primal", ``n <= d``: ``S`` and ``F`` live in the row space of ``H X`` (the columns of
      ``E`` sum to zero, so ``Xᵀ E = (H X)ᵀ E``); with ``H X = U Σ Vᵀ`` (from the ``n x n``
      Gram matrix) the problem is ``Σ² c = λ (Vᵀ F Fᵀ V + μ I) c`` of size ``rank(H X)``,
      ``A = V c``.
    - "linear", ``d < n`` and ``G = Xᵀ X = R Rᵀ`` well conditioned: dual solutions with
      ``λ ≠ 0`` lie in the column space of ``X``; ``w = X R⁻ᵀ b`` gives
      ``(Rᵀ Xᵀ H X R) b = λ (Rᵀ Xᵀ E Eᵀ X R + μ I) b`` of size d, with
      ``Rᵀ Xᵀ H X R = P² − n q qᵀ``, ``P = Rᵀ R``, ``q = Rᵀ x̄``; ``A = Xᵀ W = R b``.
    - otherwise (rbf; linear with ``d >= n`` or a rank-deficient ``X``): the kernel matrix,
      ``S = K H K`` applied as ``K (H (K V))``, ``F = K E`` (size n), ``W = V`` and, for the
      linear kernel, ``A = Xᵀ W``.
    """

    def __init__(self, X: torch.Tensor, kernel: str, gamma: float | None):
        n, d = X.shape
        self.rank = min(d, n - 1) if kernel != "rbf" else n - 1
        if kernel == "primal" and n > d:
            Xc = _center(X)
            S = Xc.T @ Xc
            self._set(d, lambda V: S @ V, lambda E: X.T @ E, lambda V: X @ V, lambda V: (V, None))
            return
        if kernel == "primal":
            Xc = _center(X)
            sigma2, U = torch.linalg.eigh(Xc @ Xc.T)
            keep = sigma2 > sigma2.max() * n * torch.finfo(X.dtype).eps
            sigma2 = sigma2[keep]
            basis = (Xc.T @ U[:, keep]) * sigma2.rsqrt()
            self.rank = int(sigma2.numel())
            self._set(
                self.rank,
                lambda V: sigma2[:, None] * V,
                lambda E: basis.T @ (X.T @ E),
                lambda V: X @ (basis @ V),
                lambda V: (basis @ V, None),
            )
            return
        if kernel == "linear" and d < n:
            R, info = torch.linalg.cholesky_ex(X.T @ X)
            diag = R.diagonal()
            if int(info) == 0 and bool(diag.min() ** 2 > diag.max() ** 2 * _COND[X.dtype]):
                P, q = R.T @ R, R.T @ X.mean(dim=0)
                S = P @ P - n * torch.outer(q, q)
                self._set(
                    d,
                    lambda V: S @ V,
                    lambda E: R.T @ (X.T @ E),
                    lambda V: X @ (R @ V),
                    lambda V: (R @ V, X @ torch.linalg.solve_triangular(R.T, V, upper=True)),
                )
                return
        K = pairwise_kernel(X, X, kernel, gamma)
        self._set(
            n,
            lambda V: K @ _center(K @ V),
            lambda E: K @ E,
            lambda V: K @ V,
            lambda V: (X.T @ V if kernel == "linear" else None, V),
        )

    def _set(
        self,
        size: int,
        scatter: MatMul,
        lift: MatMul,
        embed: MatMul,
        solution: Callable[[torch.Tensor], tuple[torch.Tensor | None, torch.Tensor | None]],
    ) -> None:
        self.size, self.scatter, self.lift, self.embed, self.solution = (
            size,
            scatter,
            lift,
            embed,
            solution,
        )


#: smallest accepted ``min(diag R)² / max(diag R)²`` of the Cholesky factor of ``Xᵀ X`` for
#: the linear kernel's feature-space reduction (a lower bound on ``1 / cond(Xᵀ X)``)
_COND = {torch.float64: 1e-8, torch.float32: 1e-3}


def _mmd_vector(ns: int, nt: int, like: torch.Tensor) -> torch.Tensor:
    """``e`` with ``1/ns`` on source rows and ``−1/nt`` on target rows: ``eᵀ K e`` is the MMD²."""
    return torch.cat(
        [
            torch.full((ns,), 1.0 / ns, dtype=like.dtype, device=like.device),
            torch.full((nt,), -1.0 / nt, dtype=like.dtype, device=like.device),
        ]
    )


class _TransferComponents(Adapter):
    """Parameter checks, fitting state and transform shared by TCA and JDA."""

    def _check_params(self) -> None:
        k = self.n_components
        if not (is_integer(k) and k >= 1):
            raise ValueError(f"n_components must be a positive integer, got {k!r}")
        if not (is_real(self.mu) and self.mu > 0):
            raise ValueError(f"mu must be a positive number, got {self.mu!r}")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel={self.kernel!r} is not one of {KERNELS}")
        if self.gamma is not None and not (is_real(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be None or a positive number, got {self.gamma!r}")

    def _setup(
        self, Xs: torch.Tensor, Xt: torch.Tensor
    ) -> tuple[torch.Tensor, _Problem, torch.Tensor]:
        """Stack the domains, resolve bandwidth and size; return ``X``, the problem and ``e``."""
        X = torch.cat([Xs, Xt], dim=0)
        self.gamma_ = None
        if self.kernel == "rbf":
            self.gamma_ = (
                float(self.gamma)
                if self.gamma is not None
                else float(1.0 / median_sq_distance(Xs, Xt))
            )
        problem = _Problem(X, self.kernel, self.gamma_)
        if problem.rank < 1:
            raise ValueError(
                f"{type(self).__name__} needs data that vary: the stacked source and target rows "
                "are all equal"
            )
        self.n_components_ = min(int(self.n_components), problem.rank)
        return X, problem, _mmd_vector(Xs.shape[0], Xt.shape[0], X)

    def _store(
        self,
        fitted: tuple[torch.Tensor, torch.Tensor],
        X: torch.Tensor,
        problem: _Problem,
        w: torch.Tensor,
        V: torch.Tensor,
    ) -> None:
        """Keep what ``transform`` needs: a projection (primal, linear) or the RBF dual.

        For the RBF kernel the embedding of the fitted rows, ``K W``, is already at hand; it is
        kept for the one ``transform`` of each fitted domain that :meth:`Adapter.fit` runs next,
        which would otherwise recompute the ``n x n`` kernel.
        """
        self.eigenvalues_ = w
        self.components_, self.dual_coef_ = problem.solution(V)
        self.X_fit_ = X if self.kernel == "rbf" else None
        if self.kernel == "rbf":
            Z = problem.embed(V)
            n_s = fitted[0].shape[0]
            self._fitted_rows = {"source": (fitted[0], Z[:n_s]), "target": (fitted[1], Z[n_s:])}

    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:
        if self.components_ is not None:
            return X @ self.components_.to(device=X.device, dtype=X.dtype)
        cached = self.__dict__.get("_fitted_rows", {}).pop(domain, None)
        if cached is not None and cached[0] is X:
            return cached[1]
        X_fit = self.X_fit_.to(device=X.device, dtype=X.dtype)
        W = self.dual_coef_.to(device=X.device, dtype=X.dtype)
        step = int(get_config()["chunk_size"])
        return torch.cat(
            [
                pairwise_kernel(X[i : i + step], X_fit, "rbf", self.gamma_) @ W
                for i in range(0, X.shape[0], step)
            ]
        )


class TCA(_TransferComponents):
    r"""Transfer Component Analysis: components that keep variance and shrink the marginal MMD.

    With the source and target rows stacked in ``X`` (``n = n_s + n_t``), a kernel matrix
    ``K``, the centring matrix ``H = I − 11ᵀ/n`` and ``L = e eᵀ`` where ``e`` holds ``1/n_s`` on
    source rows and ``−1/n_t`` on target rows (so that ``tr(Wᵀ K L K W)`` is the squared MMD
    between the embedded domains), TCA (Pan et al., 2011) solves

    .. math::
        \max_W \operatorname{tr}\big((W^\top K L K W + \mu W^\top W)^{-1}
        W^\top K H K W\big),

    whose solution is the ``m`` leading eigenvectors of ``K H K w = λ (K L K + μ I) w``,
    normalised so that ``Wᵀ (K L K + μ I) W = I``. The embedding of any ``x`` is
    ``k(x, X) W``. ``L`` and ``H`` are never formed: ``K L K = (K e)(K e)ᵀ`` is rank one and
    ``K H K`` is applied as ``K (H (K v))``.

    Kernels: ``"linear"`` (the default) is ``K = X Xᵀ``; ``"rbf"`` is
    ``exp(-gamma ‖x − y‖²)``; ``"primal"`` is the feature-space formulation of Long et al.
    (2013), ``Xᵀ H X a = λ (Xᵀ L X + μ I) a`` with embedding ``x ↦ x A``, which differs from the
    linear kernel only in its regulariser (``‖A‖²`` instead of ``‖W‖²`` with ``A = Xᵀ W``). The
    linear kernel never needs the ``n x n`` matrix when ``d < n``: every solution with
    ``λ > 0`` lies in the column space of ``X``, and with ``Xᵀ X = R Rᵀ`` (Cholesky) the
    substitution ``w = X R⁻ᵀ b`` turns the pencil exactly into the ``d x d`` pencil
    ``Rᵀ Xᵀ H X R b = λ (Rᵀ Xᵀ L X R + μ I) b`` with the same normalisation. Likewise the
    primal problem is solved in the ``n``-dimensional row space of the centred data when
    ``d >= n``. So "linear" and "primal" both cost a ``min(n, d)``-sized problem and keep no
    training data (the embedding is ``x ↦ x A``, ``A = Xᵀ W`` for the linear kernel); the
    linear kernel is the default because it is the paper's own formulation and on the
    Office-Caltech-10 benchmark was more accurate at m = 100 and within 0.05 point at m = 30
    (see ``docs/methods/tca.md``).

    The leading eigenpairs come from a block Krylov solver run until every pair has a relative
    residual below 1e-9 (float64) or 1e-4 (float32), with a dense eigendecomposition for small
    problems and as a fallback: the result is exact to that tolerance.

    Cost, with ``n = n_s + n_t``, ``p = min(n, d)`` and ``m`` components: "linear" and
    "primal": ``O(n d p)`` to form a ``p x p`` matrix, then ``O(p² m)`` per Krylov step (or one
    dense ``O(p³)`` solve), memory ``O(p² + n m)``. "rbf": ``O(n² d)`` for the kernel matrix,
    ``O(n² m)`` per Krylov step, memory ``O(n²)``; transforming ``n'`` new rows costs
    ``O(n' n d)`` (``O(n' d m)`` for the others).

    Parameters
    ----------
    n_components : int, default=30
        Number of transfer components ``m``, capped at the rank of the centred problem
        (``min(d, n − 1)``, or ``n − 1`` for "rbf"; see ``n_components_``). The TCA paper uses
        a few tens.
    mu : float, default=1.0
        Ridge ``μ`` on the components, with ``L = e eᵀ`` as in the paper (larger: closer to
        (kernel) PCA, less domain matching). The authors' later code divides the MMD matrix by
        its Frobenius norm ``‖e‖²``, which amounts to a smaller ``μ``.
    kernel : {"linear", "primal", "rbf"}, default="linear"
        See above.
    gamma : float, optional
        RBF inverse bandwidth; None uses ``1 / median`` of the squared distances of the pooled
        data (``gamma_``). Ignored by the other kernels.
    estimator : sklearn classifier, optional
        Fitted on the embedded source by ``fit`` (``estimator_``).
    device : str or torch.device, default="auto"
        Where to compute; "auto" takes the input tensors' accelerator, else CUDA if present.

    Attributes
    ----------
    n_components_ : int
        Number of components kept.
    eigenvalues_ : Tensor of shape (n_components_,)
        Leading generalised eigenvalues, decreasing (variance over MMD plus ridge).
    components_ : Tensor of shape (n_features, n_components_) or None
        Projection ``A`` with ``transform(x) = x A`` ("primal"; for "linear" ``A = Xᵀ W``);
        None for "rbf".
    dual_coef_ : Tensor of shape (n_s + n_t, n_components_) or None
        ``W`` of the kernel formulations (source rows first); None for "primal".
    X_fit_ : Tensor of shape (n_s + n_t, n_features) or None
        The stacked training rows, kept for the out-of-sample RBF embedding ``k(x, X_fit_) W``.
    gamma_ : float or None
        RBF inverse bandwidth used.

    References
    ----------
    S. J. Pan, I. W. Tsang, J. T. Kwok, Q. Yang. *Domain Adaptation via Transfer Component
    Analysis.* IEEE Transactions on Neural Networks 22(2):199–210, 2011.

    M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. *Transfer Feature Learning with Joint
    Distribution Adaptation.* ICCV 2013 (the primal formulation).
    """

    def __init__(
        self,
        n_components: int = 30,
        mu: float = 1.0,
        kernel: str = "linear",
        gamma: float | None = None,
        estimator: Any = None,
        device: str = "auto",
    ):
        self.n_components = n_components
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.estimator = estimator
        self.device = device

    def _fit(self, Xs: torch.Tensor, ys: torch.Tensor, Xt: torch.Tensor, yt: Any) -> None:
        X, problem, e = self._setup(Xs, Xt)
        F = problem.lift(e[:, None])
        w, V, _ = transfer_components(problem.scatter, F, float(self.mu), self.n_components_)
        self._store((Xs, Xt), X, problem, w, V)


class JDA(_TransferComponents):
    r"""Joint Distribution Adaptation: TCA plus class-conditional MMDs on target pseudo-labels.

    JDA (Long et al., 2013) adds to TCA's marginal MMD one MMD per class ``c``, between the
    source rows of class ``c`` and the target rows pseudo-labelled ``c``. With
    ``e_0 = e`` of :class:`TCA` and ``e_c`` holding ``1/n_s^c`` on source rows of class ``c``
    and ``−1/n_t^c`` on target rows predicted ``c``, ``M_c = e_c e_cᵀ``, and it solves

    .. math::
        \min_A \sum_{c=0}^{C} \operatorname{tr}(A^\top X^\top M_c X A) + \mu \|A\|_F^2
        \quad\text{s.t.}\quad A^\top X^\top H X A = I,

    i.e. the leading eigenvectors of ``Xᵀ H X a = λ (Xᵀ (Σ_c M_c) X + μ I) a`` (for a kernel,
    ``X`` becomes ``K`` as in TCA). They are normalised as in TCA,
    ``Aᵀ (Xᵀ (Σ_c M_c) X + μ I) A = I``, not to the unit variance of the constraint: the
    embedding's covariance is ``diag(λ)``, each component the paper's times ``√λ_j`` (the
    unit-variance scaling scored 7 points lower on Office-Caltech-10 SURF, see
    ``docs/methods/jda.md``). The variance term is put on the left, so the matrix to
    factor is the always-definite MMD-plus-ridge term, also when ``Xᵀ H X`` is singular
    (``d > n``). ``Σ_c M_c = E Eᵀ`` with ``E = [e_0, e_1, …]`` of rank at most ``C + 1``: no
    ``n x n`` matrix is formed.

    ``fit`` first solves TCA's problem (no class terms), then ``n_iter`` times: trains
    ``pseudo_label_estimator`` on the embedded source (plus any labelled target rows), predicts
    the target, replaces predictions by the known target labels (``y_target != -1``), rebuilds
    the class terms and solves again, warm-started. It stops early when the pseudo-labels no
    longer change (the next solution would be the same). Classes with no source row or no
    target row in the current labelling contribute no term. ``n_iter=0`` is exactly
    ``TCA(n_components, mu, kernel, gamma)``.

    Parameters
    ----------
    n_components : int, default=100
        Dimension ``k`` of the embedding (the paper's ``k = 100``); capped as in TCA.
    mu : float, default=1.0
        Ridge ``μ`` (the paper's ``λ``) on the adaptation matrix.
    kernel : {"linear", "primal", "rbf"}, default="linear"
        As in :class:`TCA`. The paper states the primal formulation; the linear kernel
        reproduced its Office-Caltech-10 results more closely (``docs/methods/jda.md``).
    gamma : float, optional
        RBF inverse bandwidth; None uses the median heuristic.
    n_iter : int, default=10
        Pseudo-labelling rounds after the initial marginal-only solve (the paper's ``T = 10``).
    pseudo_label_estimator : sklearn classifier, optional
        Labels the target at each round. None: 1-nearest-neighbour on the embedding with every
        row scaled to unit Euclidean norm (cosine 1-NN), as in the authors' code.
    estimator : sklearn classifier, optional
        Fitted on the final embedded source by ``fit`` (``estimator_``).
    device : str or torch.device, default="auto"
        Where to compute.

    Attributes
    ----------
    n_components_, eigenvalues_, components_, dual_coef_, X_fit_, gamma_
        As in :class:`TCA`, for the final solve.
    n_iter_ : int
        Pseudo-labelling rounds that led to a new solve.
    pseudo_labels_ : ndarray of shape (n_target,) or None
        Target labels behind the final class terms (known labels where given); None when
        ``n_iter=0``.

    References
    ----------
    M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. *Transfer Feature Learning with Joint
    Distribution Adaptation.* ICCV 2013.
    """

    _needs_classes = True

    def __init__(
        self,
        n_components: int = 100,
        mu: float = 1.0,
        kernel: str = "linear",
        gamma: float | None = None,
        n_iter: int = 10,
        pseudo_label_estimator: Any = None,
        estimator: Any = None,
        device: str = "auto",
    ):
        self.n_components = n_components
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.n_iter = n_iter
        self.pseudo_label_estimator = pseudo_label_estimator
        self.estimator = estimator
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        t = self.n_iter
        if not (is_integer(t) and t >= 0):
            raise ValueError(f"n_iter must be a non-negative integer, got {t!r}")

    def _fit(
        self, Xs: torch.Tensor, ys: torch.Tensor, Xt: torch.Tensor, yt: torch.Tensor | None
    ) -> None:
        ns = Xs.shape[0]
        X, problem, e = self._setup(Xs, Xt)
        mu, k = float(self.mu), self.n_components_
        w, V, U = transfer_components(problem.scatter, problem.lift(e[:, None]), mu, k)
        ys_np = to_numpy(ys)
        known = None if yt is None else to_numpy(yt)
        estimator = (
            make_pipeline(Normalizer(), KNeighborsClassifier(n_neighbors=1))
            if self.pseudo_label_estimator is None
            else self.pseudo_label_estimator
        )
        labels, rounds = None, 0
        for _ in range(int(self.n_iter)):
            new = self._pseudo_labels(estimator, to_numpy(problem.embed(V)), ns, ys_np, known)
            if labels is not None and np.array_equal(new, labels):
                break
            labels, rounds = new, rounds + 1
            E = torch.cat([e[:, None], _class_vectors(ys_np, labels, X)], dim=1)
            w, V, U = transfer_components(problem.scatter, problem.lift(E), mu, k, start=U)
        self.n_iter_ = rounds
        self.pseudo_labels_ = None if labels is None else self.classes_[labels]
        self._store((Xs, Xt), X, problem, w, V)

    @staticmethod
    def _pseudo_labels(
        estimator: Any, Z: np.ndarray, ns: int, ys: np.ndarray, known: np.ndarray | None
    ) -> np.ndarray:
        """Target label codes: the estimator's predictions, overridden by known labels."""
        Zs, Zt, y = Z[:ns], Z[ns:], ys
        mask = None if known is None else known != -1
        if mask is not None and mask.any():
            Zs, y = np.concatenate([Zs, Zt[mask]]), np.concatenate([ys, known[mask]])
        labels = np.asarray(clone(estimator).fit(Zs, y).predict(Zt)).astype(np.int64)
        if mask is not None:
            labels[mask] = known[mask]
        return labels


def _class_vectors(ys: np.ndarray, yt: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Columns ``e_c`` (n, C'): ``1/n_s^c`` on source rows of class ``c``, ``−1/n_t^c`` on target
    rows labelled ``c``, for the classes present in both domains."""
    ns, n = ys.shape[0], ys.shape[0] + yt.shape[0]
    columns = []
    for c in np.intersect1d(ys, yt):
        col = np.zeros(n)
        src, tgt = ys == c, yt == c
        col[:ns][src] = 1.0 / src.sum()
        col[ns:][tgt] = -1.0 / tgt.sum()
        columns.append(col)
    E = np.stack(columns, axis=1) if columns else np.zeros((n, 0))
    return torch.as_tensor(E, dtype=like.dtype, device=like.device)
