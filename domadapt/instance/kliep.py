"""KLIEP: the density ratio as a kernel expansion fitted by maximum likelihood on the target."""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from .._array import DeviceLike
from .._validation import is_integer, is_real
from ..kernels import gaussian_from_sq, gaussian_kernel, median_sq_distance, sq_euclidean
from ._base import WeightingAdapter

#: widths tried when ``sigmas=None``, as multiples of the median distance of the pooled sample
SIGMA_FACTORS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)

#: relative change of a row's weight ``1/(Ãx)_j²`` beyond which :func:`kliep_coefficients`
#: recomputes that row's term of the Hessian
HESSIAN_REFRESH = 0.1


def _log(w: torch.Tensor) -> torch.Tensor:
    """``log w`` with weights that underflow to 0 taken at the smallest positive float."""
    return torch.log(w.clamp_min(torch.finfo(w.dtype).tiny))


def kliep_coefficients(
    A: torch.Tensor, b: torch.Tensor, *, tol: float = 1e-6, max_iter: int = 500
) -> tuple[torch.Tensor, int, float]:
    """Maximise ``mean_j log (A α)_j`` subject to ``bᵀα = 1`` and ``α >= 0`` (the KLIEP program).

    With ``β_l = b_l α_l`` the program is the maximum-likelihood estimation of the weights
    ``β`` (on the probability simplex) of a mixture with the fixed components
    ``Ã_{jl} = A_{jl} / b_l``: concave, with one variable per centre (``m`` of them). As for
    mixture proportions (Kim et al., 2020), the simplex constraint is dropped for the equivalent
    program

    ``minimise ψ(x) = −(1/n) Σ_j log (Ãx)_j + 1ᵀx  subject to  x >= 0``,

    whose minimiser lies on the simplex (``ψ(tx)`` is smallest at ``t = 1 / 1ᵀx``) and is ``β``.
    It is solved by Mehrotra's (1992) primal–dual interior-point method (Nocedal & Wright,
    2006, Ch. 14 and 19): with the multipliers ``z >= 0`` of ``x >= 0`` and ``μ = xᵀz / m``,
    each iteration factors the Newton matrix ``∇²ψ + diag(z/x)`` once (Cholesky) and solves
    with it for an affine-scaling predictor and for a corrector aiming at ``x ∘ z = σμ``, with
    Mehrotra's centring ``σ = (μ_aff/μ)³`` and second-order term, then steps 99 % of the way
    to the boundary of ``x, z >= 0``. The target ``σμ`` is kept at least ``tol / (10 m)``:
    there the Frank–Wolfe gap of the central path is at most ``tol / 10``. The columns of
    ``Ã`` are first scaled by a common factor and its rows to a maximum of 1 (neither changes
    the minimiser, the gradient or the Hessian of ``ψ``), so that every ``(Ãx)_j`` lies between
    ``min_l x_l`` and ``1ᵀx``; the ratios ``max(b) / b_l`` are taken in logarithms when they
    overflow.

    The Hessian ``∇²ψ = Ãᵀ diag(1/(Ãx)²) Ã / n`` costs ``O(n m²)``, the rest of an iteration
    ``O(n m + m³)``. It is formed once, then kept up to date row by row: the term of row ``j``
    is recomputed only when its weight ``1/(Ãx)_j²`` has changed by more than
    ``HESSIAN_REFRESH`` (10 %) since it was last computed, so the Newton matrix stays within
    about 10 % of the exact one (in the Loewner order) while most rows settle after a few
    iterations (the rows recomputed add up to 1–3 full Hessians per solve on our benchmarks).

    The stopping rule is certified: the program being concave, the Frank–Wolfe gap of
    ``x̂ = x / 1ᵀx`` on the simplex, ``max_l g_l − gᵀx̂`` (``g`` the gradient of the mean
    log-likelihood at ``x̂``), bounds the suboptimality of ``x̂``; the solver stops when it is at
    most ``tol`` (4 to 14 iterations on the problems we tried), or after ``max_iter``
    iterations.

    Rows of ``A`` that are all zero (target rows whose kernel values underflow at every centre)
    do not depend on ``α`` and are left out of the optimisation; centres with ``b_l = 0`` (no
    source mass) get ``α_l = 0``, since the program would be unbounded in them.

    Parameters
    ----------
    A : Tensor of shape (n_t, n_centers)
        Kernel values ``k(x'_j, c_l)`` at the target rows.
    b : Tensor of shape (n_centers,)
        Source means ``(1/n_s) Σ_i k(x_i, c_l)``.
    tol : float
        Tolerance on the suboptimality, in units of the mean log-likelihood.
    max_iter : int
        Maximum number of interior-point iterations (Newton steps).

    Returns
    -------
    alpha : Tensor of shape (n_centers,)
    n_iter : int
        Newton steps taken.
    gap : float
        The Frank–Wolfe gap at ``alpha``.

    References
    ----------
    M. Sugiyama, T. Suzuki, S. Nakajima, H. Kashima, P. von Bünau, M. Kawanabe. "Direct
    importance estimation for covariate shift adaptation". Annals of the Institute of
    Statistical Mathematics 60(4), 2008.
    Y. Kim, P. Carbonetto, M. Stephens, M. Anitescu. "A fast algorithm for maximum likelihood
    estimation of mixture proportions using sequential quadratic programming". Journal of
    Computational and Graphical Statistics 29(2), 2020.
    S. Mehrotra. "On the implementation of a primal-dual interior point method". SIAM Journal
    on Optimization 2(4), 1992.
    J. Nocedal, S. J. Wright. "Numerical Optimization", 2nd ed. Springer, 2006.
    """
    keep = torch.nonzero(b > 0).squeeze(1)
    if keep.numel() == 0:
        raise ValueError(
            "no kernel centre has source mass (every source kernel value underflows); use wider kernels"
        )
    if keep.numel() < b.numel():
        A = A[:, keep]
    bk = b[keep]
    # Ã up to a common factor (immaterial after the row scaling), then rows scaled to max 1
    At = A * (bk.max() / bk)
    top = At.amax(dim=1)
    if not bool(torch.isfinite(top).all()):  # b spans more than the float range: scale in logs
        logs = torch.log(A) - torch.log(bk)
        At = torch.exp(logs - logs.amax(dim=1, keepdim=True)).nan_to_num(0.0)
        top = At.amax(dim=1)
    rows = torch.nonzero(top > 0).squeeze(1)
    if rows.numel() < top.numel():
        At, top = At[rows], top[rows]
    At.div_(top[:, None])
    n, m = At.shape
    share = n / A.shape[0]  # the dropped rows count in the mean log-likelihood, as constants

    x = torch.full((m,), 1.0 / m, dtype=A.dtype, device=A.device)
    inv = 1.0 / (At @ x)
    grad = At.T @ inv / n  # gradient of the mean log-likelihood: ∇ψ = 1 − grad
    z = (1.0 - grad).clamp_min(0.0) + 1.0 / m
    steps = 0
    while True:
        gap = float(share * (x.sum() * grad.max() - grad @ x))
        if gap <= tol or steps >= max_iter:
            break
        steps += 1
        if steps == 1:
            B = At * inv[:, None]
            H, reference = B.T @ B / n, inv
        else:
            ratio = (inv / reference) ** 2  # each row's weight over its weight in H
            stale = torch.nonzero((ratio - 1.0).abs() > HESSIAN_REFRESH).squeeze(1)
            if stale.numel() > 0:
                B = At[stale] * inv[stale, None]
                H = H + (B.T * ((1.0 - 1.0 / ratio[stale]) / n)) @ B
                reference = reference.index_copy(0, stale, inv[stale])
        zx = z / x
        M = H + torch.diag(zx)
        L, info = torch.linalg.cholesky_ex(M)
        if int(info) != 0:  # H is singular up to rounding: a jitter of the rounding's size
            M.diagonal().add_(m * n * torch.finfo(M.dtype).eps * float(H.diagonal().max()))
            L = torch.linalg.cholesky(M)

        def newton(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """The step aiming at ``x ∘ z = target`` (linearised) and a zero dual residual."""
            tx = target / x
            dx = torch.cholesky_solve((grad - 1.0 + tx)[:, None], L)[:, 0]
            return dx, tx - z - zx * dx

        def to_boundary(dx: torch.Tensor, dz: torch.Tensor) -> torch.Tensor:
            """The largest step ``t <= 1`` keeping ``x + t dx >= 0`` and ``z + t dz >= 0``."""
            return 1.0 / torch.minimum((dx / x).amin(), (dz / z).amin()).neg().clamp_min(1.0)

        mu = (x @ z) / m
        dx, dz = newton(torch.zeros_like(x))  # predictor: affine scaling
        t = to_boundary(dx, dz)
        centring = (((x + t * dx) @ (z + t * dz)) / m / mu) ** 3
        # corrector, with Mehrotra's second-order term; the central path is followed down to
        # m μ = tol / 10, where the Frank–Wolfe gap is at most tol / 10, and no further
        dx, dz = newton((centring * mu).clamp_min(0.1 * tol / m) - dx * dz)
        t = 0.99 * to_boundary(dx, dz)
        x, z = x + t * dx, z + t * dz
        inv = 1.0 / (At @ x)
        grad = At.T @ inv / n
    alpha = torch.zeros_like(b)
    alpha[keep] = x / x.sum() / bk
    return alpha, steps, gap


class KLIEP(WeightingAdapter):
    r"""Kullback–Leibler importance estimation: a kernel model of the density ratio.

    KLIEP (Sugiyama et al., 2007, 2008) models the ratio ``w(x) = p_t(x) / p_s(x)`` as a
    non-negative combination of Gaussian kernels centred at target rows,

    .. math::
        w(x) = \sum_{l=1}^{b} \alpha_l \exp\Big(-\frac{\|x - c_l\|^2}{2\sigma^2}\Big),

    and chooses ``α`` to minimise the Kullback–Leibler divergence from ``p_t`` to ``w p_s``,
    which is to maximise the mean log-ratio on the target under the normalisation of ``w p_s``:

    .. math::
        \max_{\alpha \ge 0}\ \frac{1}{n_t}\sum_j \log w(x'_j) \quad\text{s.t.}\quad
        \frac{1}{n_s}\sum_i w(x_i) = 1,

    a concave program, solved to a certified optimum in torch, in float64, by a primal–dual
    interior-point method (:func:`kliep_coefficients`). Sugiyama et al. solve it by projected
    gradient ascent with a fixed schedule of step sizes; we do not, because on this program it
    does not get near the optimum in reasonable time: the kernel columns are nearly collinear
    (condition numbers around 1e17 for 100 centres on the 1-D shift of
    :func:`~domadapt.datasets.make_gaussian_covariate_shift`), and projected gradient ascent —
    also with exact projections and Barzilai–Borwein or accelerated (FISTA) steps, which we
    tried — needed 3,000 to 10,000 iterations (seconds per fit) to reach a Frank–Wolfe gap of
    1e-6 there, whereas the interior-point method reaches it in 5–12 Newton steps (about 8 ms
    at n_t = 2000 on one core); the cross-validation makes ``len(sigmas) × cv + 1`` such fits.
    The centres are ``n_centers`` target rows drawn without replacement (all of them when there
    are fewer).

    The width ``σ`` is chosen by likelihood cross-validation (Sugiyama et al., 2008, Sec. 3.4):
    the target rows are shuffled and cut into ``cv`` folds; for each candidate width and fold,
    KLIEP is fitted on the source and the other folds (centres drawn from those rows) and scored
    by the mean ``log w`` on the held-out fold; the width with the highest mean score over the
    folds wins (the first on ties) and KLIEP is refitted on all rows with it. Precisely, with
    ``s = random_state``, the folds are
    ``torch.randperm(n_t, generator=torch.Generator().manual_seed(s)).tensor_split(cv)``, the
    training rows of a fold are the others in increasing order, and every fit (fold or final)
    draws its centres as the rows ``torch.randperm(n, generator=torch.Generator().manual_seed(s))
    [:n_centers]`` of the ``n`` target rows it is given; so a fold's model is exactly
    ``KLIEP(sigmas=[σ], random_state=s)`` fitted on the fold's training rows. Logarithms of
    weights that underflow to 0 are taken at the smallest positive float64 (``≈ −708``). The
    squared distances of a fold's rows to its centres are computed once and serve every width.

    Parameters
    ----------
    sigmas : float or sequence of float, optional
        Candidate kernel widths ``σ``. None: the median distance of the pooled source and target
        (:func:`domadapt.kernels.median_sq_distance`, square-rooted) times
        ``(1/8, 1/4, 1/2, 1, 2, 4)``.
    n_centers : int, default=100
        Number of kernel centres (target rows), the paper's ``b``.
    cv : int, default=5
        Number of target folds for the likelihood cross-validation (at least 2).
    tol : float, default=1e-6
        Tolerance of the solver on the suboptimality of the mean log-likelihood (certified by
        the Frank–Wolfe gap).
    max_iter : int, default=500
        Maximum Newton steps (interior-point iterations) per fit.
    estimator : sklearn estimator, optional
        Fitted on the source with ``sample_weight=sample_weight_``.
    device : str or torch.device, default="auto"
    random_state : int or None, default=None
        Seed of the folds and of the centre draws.

    Attributes
    ----------
    sample_weight_ : array or tensor of shape (n_s,)
        ``w`` at the source rows; their mean is 1.
    sigma_ : float
        The selected width.
    sigmas_ : ndarray of shape (n_sigmas,)
        The candidate widths.
    cv_scores_ : ndarray of shape (n_sigmas,)
        Mean held-out ``log w`` per candidate (averaged over the folds); NaN for a single
        given width, which is used without cross-validation (so ``cv`` target rows are not
        needed then).
    alpha_ : Tensor of shape (n_centers_,)
        The kernel coefficients (float64, on the fitted device).
    centers_ : Tensor of shape (n_centers_, n_features)
        The kernel centres (target rows, on the fitted device, in the fitted dtype).
    n_iter_ : int
        Newton steps of the final fit.

    References
    ----------
    M. Sugiyama, S. Nakajima, H. Kashima, P. von Bünau, M. Kawanabe. "Direct Importance
    Estimation with Model Selection and Its Application to Covariate Shift Adaptation".
    NIPS 2007.
    M. Sugiyama, T. Suzuki, S. Nakajima, H. Kashima, P. von Bünau, M. Kawanabe. "Direct
    importance estimation for covariate shift adaptation". Annals of the Institute of
    Statistical Mathematics 60(4), 2008.

    Examples
    --------
    >>> from domadapt import KLIEP
    >>> from domadapt.datasets import make_gaussian_covariate_shift
    >>> data = make_gaussian_covariate_shift(300, random_state=0)
    >>> kliep = KLIEP(random_state=0).fit(data.X_source, data.y_source, data.X_target)
    >>> round(float(kliep.sample_weight_.mean()), 6)
    1.0
    """

    def __init__(
        self,
        sigmas: float | Sequence[float] | None = None,
        n_centers: int = 100,
        cv: int = 5,
        tol: float = 1e-6,
        max_iter: int = 500,
        estimator: object = None,
        device: DeviceLike = "auto",
        random_state: int | None = None,
    ):
        self.sigmas = sigmas
        self.n_centers = n_centers
        self.cv = cv
        self.tol = tol
        self.max_iter = max_iter
        self.estimator = estimator
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.sigmas is not None:
            values = np.asarray(self.sigmas, dtype=object).reshape(-1)
            ok = values.size > 0 and all(
                is_real(s) and s > 0
                for s in values
            )
            if not ok:
                raise ValueError(
                    f"sigmas must be None, a positive number or a non-empty sequence of positive "
                    f"numbers, got {self.sigmas!r}"
                )
        if not (is_integer(self.n_centers) and self.n_centers >= 1):
            raise ValueError(f"n_centers must be a positive integer, got {self.n_centers!r}")
        if not (is_integer(self.cv) and self.cv >= 2):
            raise ValueError(f"cv must be an integer >= 2, got {self.cv!r}")
        if not (is_real(self.tol) and self.tol > 0):
            raise ValueError(f"tol must be a positive number, got {self.tol!r}")
        if not (is_integer(self.max_iter) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if self.random_state is not None and not is_integer(self.random_state):
            raise ValueError(f"random_state must be None or an int, got {self.random_state!r}")

    # ------------------------------------------------------------------ fitting
    def _centers(self, Xt: torch.Tensor, seed: int) -> torch.Tensor:
        """Rows of ``Xt`` that serve as kernel centres in a fit on ``Xt``."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randperm(Xt.shape[0], generator=gen)[: self.n_centers].to(Xt.device)

    def _solve(self, A: torch.Tensor, b: torch.Tensor, sigma: float) -> tuple[torch.Tensor, int]:
        """:func:`kliep_coefficients` with the adapter's settings; warns when not converged."""
        alpha, n_iter, gap = kliep_coefficients(A, b, tol=float(self.tol), max_iter=self.max_iter)
        if gap > self.tol:
            warnings.warn(
                f"KLIEP (sigma={sigma:.4g}): the solver stopped after {n_iter} Newton steps with a "
                f"Frank-Wolfe gap of {gap:.3g} > tol={self.tol}; increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        return alpha, n_iter

    def _fit_weights(self, Xs: torch.Tensor, Xt: torch.Tensor) -> torch.Tensor:
        n_t = Xt.shape[0]
        single = self.sigmas is not None and np.asarray(self.sigmas, dtype=object).size == 1
        if n_t < self.cv and not single:
            raise ValueError(f"cv={self.cv} folds need at least {self.cv} target rows, got {n_t}")
        seed = (
            int(np.random.SeedSequence().generate_state(1)[0])
            if self.random_state is None
            else int(self.random_state)
        )
        Xs64, Xt64 = Xs.to(torch.float64), Xt.to(torch.float64)
        if self.sigmas is None:
            width = math.sqrt(float(median_sq_distance(Xs64, Xt64)))
            sigmas = np.array([width * f for f in SIGMA_FACTORS])
        else:
            sigmas = np.asarray(self.sigmas, dtype=np.float64).reshape(-1)
        # one candidate width: nothing to choose, no cross-validation
        folds = [] if single else torch.randperm(
            n_t, generator=torch.Generator().manual_seed(seed)).tensor_split(self.cv)
        scores = np.full((len(sigmas), self.cv), np.nan)
        for k, fold in enumerate(folds):
            held_out = torch.zeros(n_t, dtype=torch.bool)
            held_out[fold] = True
            train = Xt64[torch.nonzero(~held_out).squeeze(1).to(Xt.device)]
            test = Xt64[torch.nonzero(held_out).squeeze(1).to(Xt.device)]
            centers = train[self._centers(train, seed)]
            # the squared distances to the fold's centres serve every width
            Dt, Ds, D_test = (sq_euclidean(X, centers) for X in (train, Xs64, test))
            for i, sigma in enumerate(sigmas):
                s2 = float(sigma) ** 2
                A, b = gaussian_from_sq(Dt, s2), gaussian_from_sq(Ds, s2).mean(dim=0)
                alpha, _ = self._solve(A, b, sigma)
                scores[i, k] = float(_log(gaussian_from_sq(D_test, s2) @ alpha).mean())
        self.sigmas_ = sigmas
        self.cv_scores_ = scores.mean(axis=1)
        self.sigma_ = float(sigmas[0] if single else sigmas[int(np.argmax(self.cv_scores_))])
        rows = self._centers(Xt64, seed)
        centers = Xt64[rows]
        s2 = self.sigma_**2
        Ks = gaussian_from_sq(sq_euclidean(Xs64, centers), s2)
        self.alpha_, self.n_iter_ = self._solve(
            gaussian_from_sq(sq_euclidean(Xt64, centers), s2), Ks.mean(dim=0), self.sigma_
        )
        self.centers_ = Xt[rows]
        return (Ks @ self.alpha_).to(Xs.dtype)  # = self._weights(Xs)

    def _weights(self, X: torch.Tensor) -> torch.Tensor:
        centers = self.centers_.to(device=X.device, dtype=torch.float64)
        K = gaussian_kernel(X.to(torch.float64), centers, self.sigma_**2)
        return (K @ self.alpha_.to(X.device)).to(X.dtype)
