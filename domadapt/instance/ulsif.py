"""Least-squares importance fitting: uLSIF and its relative variant RuLSIF, in closed form.

Both fit a linear-in-parameters model of a density ratio, ``g(x) = Σ_l θ_l k(x, c_l)`` with a
Gaussian kernel on ``b`` centres ``c_l`` drawn from the target, by least squares: with
``ψ(x) = (k(x, c_1), ..., k(x, c_b))``,

    Ĥ = α/n_t Σ_{x ∈ target} ψ(x)ψ(x)ᵀ + (1 − α)/n_s Σ_{x ∈ source} ψ(x)ψ(x)ᵀ,
    ĥ = 1/n_t Σ_{x ∈ target} ψ(x),
    θ̂ = max(0, (Ĥ + λ I)⁻¹ ĥ)            (element-wise; negative coefficients set to 0)

estimates the *relative* density ratio ``r_α = p_t / (α p_t + (1 − α) p_s)``; ``α = 0`` is
uLSIF, whose target is the plain ratio ``p_t / p_s``. The kernel width σ and the ridge λ are
chosen on grids by the closed-form leave-one-out score of :func:`loo_scores`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch

from .._validation import is_integer, is_real, seed_from
from ..kernels import gaussian_kernel, median_sq_distance, sq_euclidean
from ._base import WeightingAdapter

#: default width grid: these factors times the median-heuristic width √(median ‖x − x'‖²)
SIGMA_FACTORS = tuple(2.0 ** (k / 2) for k in range(-6, 3))
#: default ridge grid, 10^-3 ... 10^1
LAMBDAS = tuple(10.0 ** (k / 2) for k in range(-6, 3))

__all__ = ["ULSIF", "RuLSIF", "loo_scores"]


def loo_scores(
    Ps: torch.Tensor,
    Pt: torch.Tensor,
    lambdas: torch.Tensor,
    alpha: float = 0.0,
) -> torch.Tensor:
    """Closed-form leave-one-out scores of (R)uLSIF for several ridges, one kernel width.

    The held-out units are pairs: row ``i`` of the source and row ``i`` of the target,
    ``i < n = min(n_s, n_t)`` (Kanamori, Hido & Sugiyama, 2009, Sec. 3.4; reorder the rows to
    choose the pairs). Removing pair ``i`` changes ``Ĥ + λI`` by a rank-two term and ``ĥ`` by
    one vector,

        Ĥ⁽ⁱ⁾ + λI = A − U_i D U_iᵀ,   A = α n_t/(n_t−1) Ĥ_t + (1−α) n_s/(n_s−1) Ĥ_s + λI,
        U_i = [ψ(x_i^t), ψ(x_i^s)],   D = diag(α/(n_t−1), (1−α)/(n_s−1)),
        ĥ⁽ⁱ⁾ = (n_t ĥ − ψ(x_i^t)) / (n_t − 1),

    so by the Woodbury identity
    ``(A − U D Uᵀ)⁻¹ = A⁻¹ + A⁻¹U (I₂ − D UᵀA⁻¹U)⁻¹ D UᵀA⁻¹`` (valid for the singular ``D`` of
    uLSIF, α = 0, where it is the paper's Sherman–Morrison update) every held-out solution
    ``θ⁽ⁱ⁾ = max(0, (Ĥ⁽ⁱ⁾ + λI)⁻¹ ĥ⁽ⁱ⁾)`` follows from one eigendecomposition of the λ-free part
    of ``A`` and explicit 2×2 inverses, for all pairs and ridges at once (memory
    ``O(b n)`` per ridge). The score is the (R)uLSIF criterion on the held-out pair,

        LOO(σ, λ) = 1/n Σ_i [ α/2 g⁽ⁱ⁾(x_i^t)² + (1−α)/2 g⁽ⁱ⁾(x_i^s)² − g⁽ⁱ⁾(x_i^t) ],

    for uLSIF the paper's ``1/(2n) Σ g⁽ⁱ⁾(x_i^s)² − 1/n Σ g⁽ⁱ⁾(x_i^t)``. Lower is better.

    Parameters
    ----------
    Ps : Tensor of shape (n_s, b)
        Basis functions at the source rows, ``Ps[j, l] = k(x_j^s, c_l)``; ``n_s >= 2``.
    Pt : Tensor of shape (n_t, b)
        Basis functions at the target rows; ``n_t >= 2``.
    lambdas : Tensor of shape (L,)
        Positive ridges.
    alpha : float, default=0.0
        Relative-ratio parameter, ``0 <= alpha < 1``.

    Returns
    -------
    Tensor of shape (L,)
        The leave-one-out score of each ridge.

    References
    ----------
    T. Kanamori, S. Hido, M. Sugiyama. A Least-squares Approach to Direct Importance Estimation.
    Journal of Machine Learning Research 10, 2009 (Sec. 3.4 and Appendix: the closed form).
    M. Yamada, T. Suzuki, T. Kanamori, H. Hachiya, M. Sugiyama. Relative Density-Ratio
    Estimation for Robust Distribution Comparison. NeurIPS 2011.
    """
    n_s, n_t = Ps.shape[0], Pt.shape[0]
    if min(n_s, n_t) < 2:
        raise ValueError(
            f"leave-one-out needs at least two rows per domain (got {n_s} source, {n_t} target)"
        )
    n = min(n_s, n_t)
    Hs = Ps.T @ Ps / n_s
    Ht = Pt.T @ Pt / n_t
    h = Pt.mean(dim=0)
    A0 = (alpha * n_t / (n_t - 1)) * Ht + ((1 - alpha) * n_s / (n_s - 1)) * Hs
    e, Q = torch.linalg.eigh((A0 + A0.T) / 2)
    Ut, Us = Pt[:n].T, Ps[:n].T  # (b, n): the held-out pairs
    # in the eigenbasis of A0 every A⁻¹ = Q diag(1/(e + λ)) Qᵀ is diagonal
    Gh, Gt, Gs = Q.T @ h, Q.T @ Ut, Q.T @ Us
    inv = 1.0 / (e[None, :] + lambdas[:, None])  # (L, b)
    # the 2×2 blocks U_iᵀ A⁻¹ U_i and U_iᵀ A⁻¹ ĥ⁽ⁱ⁾ for all pairs and all ridges: (L, n) each
    tt, ts, ss = inv @ (Gt * Gt), inv @ (Gt * Gs), inv @ (Gs * Gs)
    ct = (n_t * (inv @ (Gh[:, None] * Gt)) - tt) / (n_t - 1)
    cs = (n_t * (inv @ (Gh[:, None] * Gs)) - ts) / (n_t - 1)
    dt, ds = alpha / (n_t - 1), (1 - alpha) / (n_s - 1)
    # z_i = (I₂ − D M_i)⁻¹ D c_i by the explicit 2×2 inverse, M_i = [[tt, ts], [ts, ss]]
    det = (1 - dt * tt) * (1 - ds * ss) - dt * ds * ts * ts
    z0 = ((1 - ds * ss) * dt * ct + dt * ts * ds * cs) / det
    z1 = (ds * ts * dt * ct + (1 - dt * tt) * ds * cs) / det
    base = (n_t * Gh[:, None] - Gt) / (n_t - 1)  # Qᵀ ĥ⁽ⁱ⁾, (b, n)
    scores = []
    for k in range(lambdas.shape[0]):
        # θ⁽ⁱ⁾ = A⁻¹ (ĥ⁽ⁱ⁾ + U_i z_i), back in the original basis and clipped at 0: (b, n)
        theta = (Q @ (inv[k, :, None] * (base + Gt * z0[k] + Gs * z1[k]))).clamp_min(0)
        gt, gs = (Ut * theta).sum(dim=0), (Us * theta).sum(dim=0)
        scores.append((alpha / 2 * gt**2 + (1 - alpha) / 2 * gs**2 - gt).mean())
    return torch.stack(scores)


def _grid(values: Any, name: str) -> tuple[float, ...] | None:
    """Validate a positive scalar or a non-empty 1-D grid of positive numbers (None: default)."""
    if values is None:
        return None
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        grid: Sequence[Any] = [values]
    elif isinstance(values, (list, tuple)) or (
        hasattr(values, "ndim") and getattr(values, "ndim") == 1
    ):
        grid = list(values)
    else:
        raise ValueError(f"{name} must be a positive number, a 1-D sequence of them or None, "
                         f"got {values!r}")
    try:
        out = tuple(float(v) for v in grid)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers, got {values!r}") from None
    if not out or not all(math.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name} must be positive and finite (and not empty), got {values!r}")
    return out


class _LeastSquaresRatio(WeightingAdapter):
    """uLSIF and RuLSIF: one implementation, ``alpha`` fixed to 0 for uLSIF."""

    _alpha: float

    def _check_params(self) -> None:
        _grid(self.sigmas, "sigmas")
        _grid(self.lambdas, "lambdas")
        n = self.n_centers
        if not (is_integer(n) and n >= 1):
            raise ValueError(f"n_centers must be a positive integer, got {self.n_centers!r}")
        seed_from(self.random_state)

    def _fit_weights(self, Xs: torch.Tensor, Xt: torch.Tensor) -> torch.Tensor:
        alpha = float(self._alpha)
        seed = seed_from(self.random_state)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        n_s, n_t = Xs.shape[0], Xt.shape[0]
        b = min(int(self.n_centers), n_t)
        centers = Xt[torch.randperm(n_t, generator=gen)[:b].to(Xt.device)]
        sigmas = _grid(self.sigmas, "sigmas")
        if sigmas is None:
            width = float(median_sq_distance(Xs, Xt, seed=seed).sqrt())
            sigmas = tuple(f * width for f in SIGMA_FACTORS)
        lambdas = _grid(self.lambdas, "lambdas") or LAMBDAS
        like = {"dtype": Xs.dtype, "device": Xs.device}
        lam = torch.tensor(lambdas, **like)

        if min(n_s, n_t) >= 2:
            # the held-out pairs: every row of the smaller domain with a random row of the other
            if n_s >= n_t:
                src_order = torch.randperm(n_s, generator=gen).to(Xs.device)
                tgt_order = torch.arange(n_t, device=Xt.device)
            else:
                src_order = torch.arange(n_s, device=Xs.device)
                tgt_order = torch.randperm(n_t, generator=gen).to(Xt.device)
            # gaussian_kernel's exp(−‖x − c‖² / (2σ²)), the distances computed once for all σ
            Ds, Dt = sq_euclidean(Xs[src_order], centers), sq_euclidean(Xt[tgt_order], centers)
            scores = torch.stack([
                loo_scores(torch.exp(Ds * (-0.5 / s**2)), torch.exp(Dt * (-0.5 / s**2)), lam, alpha)
                for s in sigmas
            ])
            best = int(torch.argmin(torch.nan_to_num(scores, nan=math.inf)))
        elif len(sigmas) * len(lambdas) > 1:
            raise ValueError(
                f"{type(self).__name__} selects sigma and lambda by leave-one-out, which needs "
                f"at least two rows per domain (got {n_s} source, {n_t} target); pass a single "
                "value for sigmas and for lambdas"
            )
        else:  # one candidate, nothing to select
            scores = torch.full((1, 1), math.nan, **like)
            best = 0
        i, j = divmod(best, len(lambdas))
        self.sigma_ = float(sigmas[i])
        self.lambda_ = float(lambdas[j])
        self.sigmas_ = torch.tensor(sigmas, **like)
        self.lambdas_ = lam
        self.loo_scores_ = scores
        self.centers_ = centers
        self.alpha_ = alpha

        Ps = gaussian_kernel(Xs, centers, self.sigma_**2)
        Pt = gaussian_kernel(Xt, centers, self.sigma_**2)
        H = (alpha / n_t) * (Pt.T @ Pt) + ((1 - alpha) / n_s) * (Ps.T @ Ps)
        H = (H + H.T) / 2 + self.lambda_ * torch.eye(b, **like)
        self.theta_ = torch.linalg.solve(H, Pt.mean(dim=0)).clamp_min(0.0)
        return Ps @ self.theta_

    def _weights(self, X: torch.Tensor) -> torch.Tensor:
        centers = self.centers_.to(device=X.device, dtype=X.dtype)
        return gaussian_kernel(X, centers, self.sigma_**2) @ self.theta_.to(X.device, X.dtype)


_COMMON_PARAMS = """
    sigmas : float, sequence of floats or None, default=None
        Gaussian kernel widths σ, ``k(x, c) = exp(−‖x − c‖² / (2σ²))``, to choose from by
        leave-one-out. None: the 9 widths ``m · 2^(k/2)``, ``k = −6, ..., 2``, around the median
        heuristic ``m = √(median ‖x − x'‖²)`` of the pooled sample (at most 1000 rows).
    lambdas : float, sequence of floats or None, default=None
        Ridges λ to choose from by leave-one-out. None: ``10^(k/2)``, ``k = −6, ..., 2``
        (10⁻³ ... 10).
    n_centers : int, default=100
        Number ``b`` of kernel centres, drawn without replacement from the target rows
        (all of them when the target has fewer rows).
    estimator : sklearn estimator, optional
        Fitted with ``sample_weight=sample_weight_`` by ``fit`` (``estimator_``).
    device : str or torch.device, default="auto"
        Where to compute; "auto" takes the input tensors' accelerator, else CUDA if present.
    random_state : int or None, default=None
        Seed of the centres, of the median-heuristic subsample and of the leave-one-out
        pairing (every row of the smaller domain is paired with a distinct random row of the
        larger one).
"""

_COMMON_ATTRIBUTES = """
    sample_weight_ : array or tensor of shape (n_source,)
        ``ĝ(x) = Σ_l θ_l k(x, c_l)`` at the source rows (type of ``X``).
    theta_ : tensor of shape (b,)
        The coefficients θ̂ (non-negative).
    centers_ : tensor of shape (b, n_features)
        The kernel centres (target rows).
    sigma_, lambda_ : float
        The selected width and ridge.
    sigmas_, lambdas_ : tensor
        The grids searched.
    loo_scores_ : tensor of shape (len(sigmas_), len(lambdas_))
        Leave-one-out score of each (σ, λ) (lower is better; the selected pair is the
        minimum). All NaN when a single candidate was given and a domain has one row.
"""


class ULSIF(_LeastSquaresRatio):
    __doc__ = f"""Unconstrained least-squares importance fitting (uLSIF), in closed form.

    Estimates the density ratio ``w(x) = p_target(x) / p_source(x)`` with a kernel model
    ``ŵ(x) = Σ_l θ_l k(x, c_l)`` on ``b`` target rows ``c_l``, fitted by least squares
    (Kanamori, Hido & Sugiyama, 2009)::

        Ĥ = 1/n_s Σ_source ψ(x)ψ(x)ᵀ,   ĥ = 1/n_t Σ_target ψ(x),
        θ̂ = max(0, (Ĥ + λI)⁻¹ ĥ)

    (``ψ(x)_l = k(x, c_l)``; negative coefficients are set to 0 as in the paper). The width σ
    and ridge λ are chosen on grids by the paper's closed-form leave-one-out score
    (:func:`domadapt.instance.ulsif.loo_scores`), evaluated for every candidate with batched
    linear algebra — one eigendecomposition per width, no refits. The weights of the source
    rows, ``sample_weight_ = ŵ(x_s)``, estimate the importance of covariate-shift adaptation;
    they are not normalised (their mean over the source estimates 1).

    uLSIF is :class:`RuLSIF` with ``alpha = 0``.

    Parameters
    ----------{_COMMON_PARAMS}
    Attributes
    ----------{_COMMON_ATTRIBUTES}
    References
    ----------
    T. Kanamori, S. Hido, M. Sugiyama. A Least-squares Approach to Direct Importance Estimation.
    Journal of Machine Learning Research 10, 1391–1445, 2009.
    """

    _alpha = 0.0

    def __init__(
        self,
        sigmas: float | Sequence[float] | None = None,
        lambdas: float | Sequence[float] | None = None,
        n_centers: int = 100,
        estimator: Any = None,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.sigmas = sigmas
        self.lambdas = lambdas
        self.n_centers = n_centers
        self.estimator = estimator
        self.device = device
        self.random_state = random_state


class RuLSIF(_LeastSquaresRatio):
    __doc__ = f"""Relative unconstrained least-squares importance fitting (RuLSIF).

    Estimates the *relative* density ratio (Yamada et al., 2011)

        r_α(x) = p_t(x) / (α p_t(x) + (1 − α) p_s(x)),     0 <= α < 1,

    with the kernel model of :class:`ULSIF` fitted by least squares::

        Ĥ = α/n_t Σ_target ψ(x)ψ(x)ᵀ + (1 − α)/n_s Σ_source ψ(x)ψ(x)ᵀ,
        ĥ = 1/n_t Σ_target ψ(x),   θ̂ = max(0, (Ĥ + λI)⁻¹ ĥ),

    and σ, λ chosen by the closed-form leave-one-out score (the uLSIF formula extended to the
    relative ratio: removing a source–target pair is a rank-two update). ``alpha = 0`` is
    uLSIF.

    **What the weights are.** ``sample_weight_`` is ``r̂_α`` at the source rows, *not* the
    importance ``p_t / p_s``: for ``α > 0`` the relative ratio is bounded by ``1/α`` (it is
    smooth where ``p_t/p_s`` explodes, which is why it is easier to estimate), and it is an
    increasing function of ``p_t / p_s``, ``r_α = w / (α w + 1 − α)``, so it ranks the source
    rows in the same order (equal Spearman correlation with the true importance). Weighting
    a loss by ``r_α`` corrects the covariate shift only partially — it targets the mixture
    ``α p_t + (1 − α) p_s`` in place of ``p_s``: the bias–variance trade-off of flattened
    importance weights (Shimodaira, 2000; Sugiyama et al., 2007).

    Parameters
    ----------
    alpha : float, default=0.5
        Relative-ratio parameter, ``0 <= alpha < 1``; larger values give a smoother ratio,
        bounded by ``1/alpha``.{_COMMON_PARAMS}
    Attributes
    ----------{_COMMON_ATTRIBUTES}
    alpha_ : float
        The ``alpha`` used.

    References
    ----------
    M. Yamada, T. Suzuki, T. Kanamori, H. Hachiya, M. Sugiyama. Relative Density-Ratio
    Estimation for Robust Distribution Comparison. NeurIPS 2011 (Neural Computation 25(5), 2013).
    T. Kanamori, S. Hido, M. Sugiyama. A Least-squares Approach to Direct Importance Estimation.
    Journal of Machine Learning Research 10, 2009.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        sigmas: float | Sequence[float] | None = None,
        lambdas: float | Sequence[float] | None = None,
        n_centers: int = 100,
        estimator: Any = None,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.alpha = alpha
        self.sigmas = sigmas
        self.lambdas = lambdas
        self.n_centers = n_centers
        self.estimator = estimator
        self.device = device
        self.random_state = random_state

    @property
    def _alpha(self) -> float:  # type: ignore[override]
        return float(self.alpha)

    def _check_params(self) -> None:
        if not (is_real(self.alpha) and 0 <= self.alpha < 1):
            raise ValueError(f"alpha must be a number in [0, 1), got {self.alpha!r}")
        super()._check_params()
