"""Source-target discrepancy measures.

Every measure takes two samples (numpy arrays or torch tensors of shape ``(n, d)`` and
``(m, d)``), validates them, and computes in torch, in the inputs' floating dtype (float32 input
stays float32; integers are computed in float64 for numpy and float32 for tensors). numpy input
gives a Python float; tensor input gives a 0-d tensor on the input device that carries gradients
when the inputs require them (except :func:`proxy_a_distance`, which trains a scikit-learn
classifier and always returns a float).

Kernel sums and Sinkhorn iterations are evaluated in blocks of ``chunk_size`` rows and columns
(default ``get_config()["chunk_size"]``), so memory grows linearly with the number of samples.

The alignment losses of :mod:`domadapt.deep.losses` call the same computations as these measures
through the private, validation-free cores ``_gaussian_mmd2``, ``_coral`` and
``_sinkhorn_plan``, which read no value back to the host (no ``.item()``, no branching on tensor
values), so they can run inside a training step on an accelerator.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, NamedTuple, Sequence

import numpy as np
import ot
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.checkpoint import checkpoint

from ._array import ArrayLike, compute_dtype, is_tensor, scalar_output, to_numpy, to_tensor
from ._config import get_config
from ._validation import check_array, check_same_device, check_same_features, is_integer, seed_from
from .kernels import (
    MEDIAN_MAX_SAMPLES,
    KernelFn,
    gaussian_kernel,
    joint_gaussian_kernel,
    kernel_sum,
    median_sq_distance,
    median_subsample,
    pair_median,
    sq_euclidean,
    upper_pairs,
)

__all__ = [
    "mmd2",
    "coral_distance",
    "wasserstein",
    "sinkhorn",
    "sinkhorn_divergence",
    "proxy_a_distance",
]

_METRICS = ("sqeuclidean", "euclidean")
# Sinkhorn over-relaxation (Thibault et al. 2021): after a few plain iterations, each potential
# moves 1.5 times its Sinkhorn step. On random problems this cut the iterations to convergence
# by 2-3x in the median and in the worst case; factors near 2 sometimes failed to converge.
_PLAIN_ITERATIONS = 10
_OVERRELAXATION = 1.5


# --------------------------------------------------------------------------------------------
# shared input handling
# --------------------------------------------------------------------------------------------


def _prepare(
    X: Any, Y: Any, names: tuple[str, str] = ("X", "Y"), **extra: Any
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Validate two samples; return them as tensors on one device and the reference input.

    The reference input (the first tensor among ``X``, ``Y``, else ``X``) decides the output
    type. ``extra`` are further arrays (weights) whose device must match.
    """
    X = check_array(X, names[0])
    Y = check_array(Y, names[1])
    check_same_features(X, Y, names)
    others = {k: v for k, v in extra.items() if v is not None}
    check_same_device(**{names[0]: X, names[1]: Y}, **others)
    dtype = torch.promote_types(compute_dtype(X), compute_dtype(Y))
    like = X if is_tensor(X) or not is_tensor(Y) else Y
    device = like.device if is_tensor(like) else torch.device("cpu")
    return to_tensor(X, device, dtype, keep_grad=True), to_tensor(Y, device, dtype, keep_grad=True), like


def _check_weights(w: Any, n: int, name: str, ref: torch.Tensor) -> torch.Tensor | None:
    """Check non-negative sample weights of length ``n``; return them normalised to sum 1."""
    if w is None:
        return None
    w = check_array(w, name, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"{name} has {w.shape[0]} entries but its sample has {n} rows")
    wt = to_tensor(w, ref.device, ref.dtype, keep_grad=True)
    if bool((wt < 0).any()):
        raise ValueError(f"{name} has negative entries; weights must be non-negative")
    total = wt.sum()
    if not total > 0:
        raise ValueError(f"{name} sums to 0; at least one weight must be positive")
    return wt / total


def _uniform(n: int, ref: torch.Tensor) -> torch.Tensor:
    return torch.full((n,), 1.0 / n, dtype=ref.dtype, device=ref.device)


def _center(X: torch.Tensor, Y: torch.Tensor, detach: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift both samples by their pooled mean (distances are unchanged; rounding shrinks)."""
    c = (X.sum(dim=0) + Y.sum(dim=0)) / (X.shape[0] + Y.shape[0])
    if detach:
        c = c.detach()
    return X - c, Y - c


def _cost(X: torch.Tensor, Y: torch.Tensor, metric: str) -> torch.Tensor:
    """Ground cost matrix: squared Euclidean, or Euclidean (with a zero gradient at 0)."""
    D = sq_euclidean(X, Y)
    if metric == "sqeuclidean":
        return D
    return torch.sqrt(D.clamp_min(torch.finfo(D.dtype).tiny))


def _check_metric(metric: str) -> None:
    if metric not in _METRICS:
        raise ValueError(f"metric={metric!r} is not one of {_METRICS}")


def _check_chunk_size(chunk_size: int | None) -> int:
    cs = get_config()["chunk_size"] if chunk_size is None else chunk_size
    if not (is_integer(cs) and cs >= 1):
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer")
    return int(cs)


# --------------------------------------------------------------------------------------------
# MMD
# --------------------------------------------------------------------------------------------


def _check_bandwidth(bandwidth: str | float, scales: Sequence[float]) -> tuple[float, ...]:
    """Validate a Gaussian bandwidth specification; return the scales as Python floats."""
    s = np.asarray(scales, dtype=np.float64).reshape(-1)
    if s.size == 0 or not np.isfinite(s).all() or (s <= 0).any():
        raise ValueError(f"scales={scales!r} must be a non-empty sequence of positive numbers")
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ValueError(f"bandwidth={bandwidth!r} must be 'median' or a positive number")
    elif isinstance(bandwidth, bool) or not np.isscalar(bandwidth) or not 0 < bandwidth < np.inf:
        raise ValueError(f"bandwidth={bandwidth!r} must be 'median' or a positive number")
    return tuple(float(v) for v in s)


def _bandwidths(
    bandwidth: str | float, scales: Sequence[float], X: torch.Tensor, Y: torch.Tensor, seed: int
) -> torch.Tensor:
    """Squared bandwidths ``b * scales`` as a 1-D tensor on the device of ``X``.

    ``b`` is the median heuristic or the given number. The tensor is built
    on the device from Python floats (no host-to-device copy, no read-back).
    """
    s = _check_bandwidth(bandwidth, scales)
    if bandwidth == "median":
        base = median_sq_distance(X, Y, seed=seed)
    else:
        base = torch.full((), float(bandwidth), dtype=X.dtype, device=X.device)
    return torch.stack([base * v for v in s])


def _shifted(
    A: torch.Tensor, B: torch.Tensor, *, kernel: KernelFn, shift: torch.Tensor
) -> torch.Tensor:
    """Kernel matrix of ``A - shift`` and ``B - shift``.

    The same as of A and B for a translation-invariant kernel, with less rounding in the
    distance expansion.
    """
    return kernel(A - shift, B - shift)


def _paired_linear(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``<a_i, b_i>`` row by row."""
    return (A * B).sum(dim=1)


def _mmd2_linear_time(
    X: torch.Tensor, Y: torch.Tensor, paired_kernel: KernelFn, seed: int | None
) -> torch.Tensor:
    """Linear-time statistic of Gretton et al. (2012, Sec. 6): mean of h over disjoint pairs.

    ``paired_kernel(A, B)`` returns ``k(a_i, b_i)``. The rows are shuffled with ``seed`` (a CPU
    generator, so the indices are copied to the device), or taken in their order when ``seed``
    is None (for batches that are already in random order).
    """
    if seed is not None:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        X = X[torch.randperm(X.shape[0], generator=gen).to(X.device)]
        Y = Y[torch.randperm(Y.shape[0], generator=gen).to(Y.device)]
    n2 = (min(X.shape[0], Y.shape[0]) // 2) * 2
    x1, x2 = X[0:n2:2], X[1:n2:2]
    y1, y2 = Y[0:n2:2], Y[1:n2:2]
    h = (
        paired_kernel(x1, x2)
        + paired_kernel(y1, y2)
        - paired_kernel(x1, y2)
        - paired_kernel(x2, y1)
    )
    return h.mean()


def _gaussian_mmd2(
    X: torch.Tensor,
    Y: torch.Tensor,
    sigma2: torch.Tensor | Sequence[torch.Tensor],
    *,
    estimator: str = "unbiased",
    weights: torch.Tensor | None = None,
    chunk_size: int,
    seed: int | None = None,
    sizes: Sequence[int] | None = None,
) -> torch.Tensor:
    """MMD^2 estimate of two checked tensors for a (multi-)Gaussian kernel.

    The core of :func:`mmd2` for ``kernel="gaussian"`` and of the deep alignment losses (MMD,
    JMMD): no input checks and no read-back of tensor values. ``sigma2`` is a 1-D tensor of
    squared bandwidths; with ``sizes`` (column counts of consecutive blocks) it is a sequence of
    such tensors, one per block, and the kernel is their product
    (:func:`domadapt.kernels.joint_gaussian_kernel`, the joint MMD of JAN). ``weights`` are
    normalised source weights (None: uniform); ``seed`` shuffles the rows of the linear-time
    estimator (None: pairs in the given order).
    """
    if sizes is None:
        kfn = partial(gaussian_kernel, sigma2=sigma2)
    else:
        kfn = partial(joint_gaussian_kernel, sigma2s=sigma2, sizes=sizes)
    if estimator == "linear":
        return _mmd2_linear_time(X, Y, partial(kfn, paired=True), seed)
    # shift each block by the pooled mean (less rounding in the distance expansion) instead of
    # copying both samples; the kernel is translation invariant
    shift = ((X.sum(dim=0) + Y.sum(dim=0)) / (X.shape[0] + Y.shape[0])).detach()
    shifted = partial(_shifted, kernel=kfn, shift=shift)
    return _mmd2_quadratic(X, Y, shifted, weights, estimator == "unbiased", chunk_size)


def _mmd2_linear_kernel(
    X: torch.Tensor, Y: torch.Tensor, w: torch.Tensor | None, unbiased: bool
) -> torch.Tensor:
    """Closed forms of the quadratic estimators for ``k(x, y) = <x, y>`` in O((n + m) d)."""
    n, m = X.shape[0], Y.shape[0]
    mu_x = X.mean(dim=0) if w is None else w @ X
    mu_y = Y.mean(dim=0)
    if not unbiased:
        return ((mu_x - mu_y) ** 2).sum()
    sq_x = (X * X).sum(dim=1)
    sq_y = (Y * Y).sum(dim=1)
    if w is None:
        kxx = (n * n * (mu_x @ mu_x) - sq_x.sum()) / (n * (n - 1))
    else:
        kxx = ((mu_x @ mu_x) - (w * w) @ sq_x) / (1.0 - (w * w).sum())
    kyy = (m * m * (mu_y @ mu_y) - sq_y.sum()) / (m * (m - 1))
    return kxx + kyy - 2.0 * (mu_x @ mu_y)


def _mmd2_quadratic(
    X: torch.Tensor,
    Y: torch.Tensor,
    kfn: Any,
    w: torch.Tensor | None,
    unbiased: bool,
    chunk_size: int,
) -> torch.Tensor:
    """U- or V-statistic of MMD^2 from three chunked kernel sums."""
    n, m = X.shape[0], Y.shape[0]
    kyy = kernel_sum(Y, Y, kfn, exclude_diagonal=unbiased, chunk_size=chunk_size)
    kyy = kyy / (m * (m - 1)) if unbiased else kyy / (m * m)
    if w is None:
        kxx = kernel_sum(X, X, kfn, exclude_diagonal=unbiased, chunk_size=chunk_size)
        kxx = kxx / (n * (n - 1)) if unbiased else kxx / (n * n)
        kxy = kernel_sum(X, Y, kfn, chunk_size=chunk_size) / (n * m)
    else:
        kxx = kernel_sum(X, X, kfn, wx=w, wy=w, exclude_diagonal=unbiased, chunk_size=chunk_size)
        if unbiased:
            kxx = kxx / (1.0 - (w * w).sum())
        kxy = kernel_sum(X, Y, kfn, wx=w, chunk_size=chunk_size) / m
    return kxx + kyy - 2.0 * kxy


def mmd2(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    kernel: str = "gaussian",
    bandwidth: str | float = "median",
    scales: Sequence[float] = (1.0,),
    estimator: str = "unbiased",
    weights: ArrayLike | None = None,
    chunk_size: int | None = None,
    random_state: int | None = 0,
) -> float | torch.Tensor:
    r"""Squared maximum mean discrepancy between two samples.

    .. math::
        \mathrm{MMD}^2(P, Q) = \| \mu_P - \mu_Q \|_{\mathcal H}^2
        = \mathbb E\,k(x, x') + \mathbb E\,k(y, y') - 2\,\mathbb E\,k(x, y).

    Estimators, with ``K^{XX}, K^{YY}, K^{XY}`` the kernel matrices and ``n, m`` the sample
    sizes:

    - ``"unbiased"`` (U-statistic, Gretton et al. 2012, Lemma 6):
      :math:`\frac{1}{n(n-1)}\sum_{i\ne j}K^{XX}_{ij} + \frac{1}{m(m-1)}\sum_{i\ne j}K^{YY}_{ij}
      - \frac{2}{nm}\sum_{i,j}K^{XY}_{ij}`. Can be negative; about 0 when ``P = Q``.
    - ``"biased"`` (V-statistic): the same with the diagonals kept and ``n^2, m^2`` as
      denominators; equals :math:`\|\hat\mu_X - \hat\mu_Y\|^2 \ge 0`.
    - ``"linear"`` (linear time, Sec. 6): the rows of ``X`` and ``Y`` are shuffled (seeded by
      ``random_state``, independently), the first ``n' = 2 * (min(n, m) // 2)`` are cut into
      ``n'/2`` consecutive pairs, and the mean of
      :math:`h = k(x_1, x_2) + k(y_1, y_2) - k(x_1, y_2) - k(x_2, y_1)` over the pairs is
      returned. Unbiased, O(n d), with a larger variance.

    With ``weights`` (importance weights on the rows of ``X``, normalised to ``w`` with
    :math:`\sum_i w_i = 1`) the source mean embedding is :math:`\sum_i w_i \phi(x_i)`; the
    ``"biased"`` estimator is :math:`\|\sum_i w_i\phi(x_i) - \hat\mu_Y\|^2`, i.e.
    :math:`\sum_{i,j} w_i w_j K^{XX}_{ij} + \frac{1}{m^2}\sum K^{YY} - \frac{2}{m}\sum_{i,j}
    w_i K^{XY}_{ij}`, and the ``"unbiased"`` estimator replaces the first term by the
    diagonal-free :math:`\sum_{i\ne j} w_i w_j K^{XX}_{ij} / (1 - \sum_i w_i^2)` (and uses the
    U-statistic for ``Y``). Since :math:`1 - \sum_i w_i^2 = \sum_{i\ne j} w_i w_j`, this is the
    self-normalised weighted U-statistic: with weights proportional to the density ratio
    :math:`q/p` it converges to :math:`\mathbb E_{x,x'\sim Q}\,k(x, x')` (consistent, not exactly
    unbiased); uniform weights give back the unweighted U-statistic exactly. Weights are not
    supported by the ``"linear"`` estimator.

    Kernels: ``"gaussian"``, :math:`k(x, y) = \frac{1}{L}\sum_{l=1}^L
    \exp(-\|x-y\|^2 / (2\sigma_l^2))` with :math:`\sigma_l^2 = b \cdot \mathrm{scales}_l`, where
    ``b`` is ``bandwidth`` (a squared bandwidth) or, for ``bandwidth="median"``, the median
    squared distance between distinct points of the pooled sample (up to 1000 rows drawn with
    ``random_state``; see :func:`domadapt.kernels.median_sq_distance`). The multi-kernel MMD of
    DAN (Long et al., ICML 2015) is ``scales=(0.25, 0.5, 1.0, 2.0, 4.0)``. The bandwidth is a
    constant for autograd. ``"linear"``, :math:`k(x, y) = \langle x, y\rangle`, is evaluated in
    closed form in O((n + m) d): the biased estimator is :math:`\|\bar x - \bar y\|^2`. Both
    samples are shifted by their pooled mean before any kernel is evaluated (less rounding);
    this changes nothing except the weighted unbiased linear-kernel statistic, which is not
    translation invariant and is therefore defined on the centred data.

    Parameters
    ----------
    X : array or tensor of shape (n, d)
        Source sample.
    Y : array or tensor of shape (m, d)
        Target sample.
    kernel : {"gaussian", "linear"}, default="gaussian"
    bandwidth : "median" or float, default="median"
        Base squared bandwidth ``b`` of the Gaussian kernel.
    scales : sequence of float, default=(1.0,)
        Multipliers of ``b``; several give the mean of several Gaussian kernels.
    estimator : {"unbiased", "biased", "linear"}, default="unbiased"
    weights : array or tensor of shape (n,), optional
        Non-negative weights of the rows of ``X``; normalised to sum 1.
    chunk_size : int, optional
        Rows per block of the kernel sums (default ``get_config()["chunk_size"]``); memory is
        ``O(chunk_size**2 + (n + m) d)``.
    random_state : int or None, default=0
        Seed of the median-heuristic subsample and of the linear estimator's shuffle.

    Returns
    -------
    float or 0-d Tensor
        Python float for numpy input; a tensor on the input device (differentiable) otherwise.

    References
    ----------
    Gretton, Borgwardt, Rasch, Schölkopf, Smola. "A Kernel Two-Sample Test". JMLR 13, 2012.
    Long, Cao, Wang, Jordan. "Learning Transferable Features with Deep Adaptation Networks".
    ICML 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from domadapt.discrepancy import mmd2
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(500, 5)), rng.normal(0.5, 1.0, size=(400, 5))
    >>> mmd2(Xs, Xt) > mmd2(Xs, rng.normal(size=(400, 5)))
    True
    """
    if kernel not in ("gaussian", "linear"):
        raise ValueError(f"kernel={kernel!r} is not one of ('gaussian', 'linear')")
    if estimator not in ("unbiased", "biased", "linear"):
        raise ValueError(f"estimator={estimator!r} is not one of ('unbiased', 'biased', 'linear')")
    Xt, Yt, like = _prepare(X, Y, weights=weights)
    n, m = Xt.shape[0], Yt.shape[0]
    w = _check_weights(weights, n, "weights", Xt)
    if estimator != "biased" and min(n, m) < 2:
        raise ValueError(
            f"estimator={estimator!r} needs at least 2 rows in X and in Y, got {n} and {m}"
        )
    if estimator == "linear" and w is not None:
        raise ValueError("weights are not supported with estimator='linear'")
    if estimator == "unbiased" and w is not None:
        if bool((w * w).sum() >= 1.0 - torch.finfo(w.dtype).eps):
            raise ValueError(
                "weights put all mass on one row of X; the unbiased estimator needs two positive "
                "weights (use estimator='biased')"
            )
    seed = seed_from(random_state)
    cs = _check_chunk_size(chunk_size)

    if kernel == "linear":
        Xc, Yc = _center(Xt, Yt, detach=False)
        if estimator == "linear":
            value = _mmd2_linear_time(Xc, Yc, _paired_linear, seed)
        else:
            value = _mmd2_linear_kernel(Xc, Yc, w, estimator == "unbiased")
    else:
        sigma2 = _bandwidths(bandwidth, scales, Xt, Yt, seed)
        value = _gaussian_mmd2(
            Xt, Yt, sigma2, estimator=estimator, weights=w, chunk_size=cs, seed=seed
        )
    return scalar_output(value, like)


# --------------------------------------------------------------------------------------------
# CORAL
# --------------------------------------------------------------------------------------------


def coral_distance(X: ArrayLike, Y: ArrayLike) -> float | torch.Tensor:
    r"""CORAL distance between the second-order statistics of two samples.

    .. math::
        d_{\mathrm{CORAL}} = \frac{1}{4 d^2} \| C_X - C_Y \|_F^2,
        \qquad C_X = \frac{1}{n-1} (X - \bar X)^\top (X - \bar X),

    with unbiased covariance matrices ``C_X`` (``d x d``) and ``C_Y``. Costs
    ``O((n + m) d^2)`` time and ``O(d^2)`` memory.

    Parameters
    ----------
    X : array or tensor of shape (n, d), n >= 2
    Y : array or tensor of shape (m, d), m >= 2

    Returns
    -------
    float or 0-d Tensor
        Python float for numpy input; a tensor on the input device (differentiable) otherwise.

    References
    ----------
    Sun, Saenko. "Deep CORAL: Correlation Alignment for Deep Domain Adaptation". ECCV 2016
    Workshops.

    Examples
    --------
    >>> import numpy as np
    >>> from domadapt.discrepancy import coral_distance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> round(coral_distance(X, X), 12)
    0.0
    """
    Xt, Yt, like = _prepare(X, Y)
    n, m = Xt.shape[0], Yt.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"coral_distance needs at least 2 rows in X and Y, got {n} and {m}")
    return scalar_output(_coral(Xt, Yt), like)


def _coral(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """``||C_X - C_Y||_F^2 / (4 d^2)`` of two checked tensors (at least 2 rows each).

    The core of :func:`coral_distance` and of the Deep CORAL loss; reads nothing back.
    """
    n, m, d = X.shape[0], Y.shape[0], X.shape[1]
    Xc = X - X.mean(dim=0, keepdim=True)
    Yc = Y - Y.mean(dim=0, keepdim=True)
    diff = Xc.T @ Xc / (n - 1) - Yc.T @ Yc / (m - 1)
    return (diff * diff).sum() / (4.0 * d * d)


class _ReportKernels(NamedTuple):
    """The Gaussian kernel blocks and CORAL distance of :func:`_report_kernels`."""

    Kxx: torch.Tensor
    Kyy: torch.Tensor
    Kxy: torch.Tensor
    coral: torch.Tensor


def _report_kernels(X: torch.Tensor, Y: torch.Tensor, seed: int) -> _ReportKernels:
    """The kernel blocks of default-setting :func:`mmd2` and :func:`coral_distance`, at once.

    For two checked tensors with at least two rows each, returns the Gaussian kernel blocks
    ``K_XX, K_YY, K_XY`` with the median-heuristic bandwidth (drawn with ``seed``), from which
    :func:`_kernel_mmd2` takes the unbiased ``mmd2`` for any source weights, and the CORAL
    distance; both equal the public functions up to rounding. Everything comes from the three
    Gram blocks ``G_XX, G_YY, G_XY`` of the rows shifted by their pooled mean, at
    ``O((n + m)² d)`` time and ``O((n + m)²)`` memory, which suits the discrepancy report's few
    thousand rows:

    - the CORAL distance through ``‖C_X − C_Y‖²_F = ‖G̃_XX‖²/(n−1)² + ‖G̃_YY‖²/(m−1)²
      − 2‖G̃_XY‖²/((n−1)(m−1))``, where ``G̃ = H G H`` is a block centred per domain
      (``tr(A_cᵀA_c B_cᵀB_c) = ‖A_c B_cᵀ‖²_F``) and ``‖H G H‖² = ‖G‖² − ‖G1‖²/q − ‖1ᵀG‖²/p
      + (1ᵀG1)²/(pq)`` for a ``p × q`` block ``G = ABᵀ``, with ``G1 = A(Bᵀ1)`` taken from the
      rows, summed in float64; no ``d × d`` covariance;
    - the squared distances ``G_ii + G_jj − 2 G_ij``, whose median over the pairs of the
      heuristic's subsample is the bandwidth, and the kernel sums of the three blocks.
    """
    n, m, d = X.shape[0], Y.shape[0], X.shape[1]
    f64 = torch.float64
    shift = (X.sum(dim=0) + Y.sum(dim=0)).detach() / (n + m)
    Zx, Zy = X.detach() - shift, Y.detach() - shift
    sqx, sqy = (Zx * Zx).sum(dim=1), (Zy * Zy).sum(dim=1)
    blocks, coral = {}, torch.zeros((), dtype=f64, device=X.device)
    for key, A, B, sa, sb, scale in (
        ("xx", Zx, Zx, sqx, sqx, 1.0 / (n - 1) ** 2),
        ("yy", Zy, Zy, sqy, sqy, 1.0 / (m - 1) ** 2),
        ("xy", Zx, Zy, sqx, sqy, -2.0 / ((n - 1) * (m - 1))),
    ):
        G = A @ B.T
        p, q = G.shape
        a_sum, b_sum = A.sum(dim=0), B.sum(dim=0)  # G1 = A(Bᵀ1), 1ᵀG = (1ᵀA)Bᵀ: no pass over G
        total = (a_sum @ b_sum).to(f64)
        centred = (
            torch.linalg.vector_norm(G, dtype=f64) ** 2
            - ((A @ b_sum).to(f64) ** 2).sum() / q
            - ((B @ a_sum).to(f64) ** 2).sum() / p
            + total * total / (p * q)
        )
        coral = coral + scale * centred
        blocks[key] = G.mul_(-2.0).add_(sa[:, None]).add_(sb[None, :]).clamp_min_(0.0)
    coral = coral / (4.0 * d * d)

    idx = median_subsample(n + m, MEDIAN_MAX_SAMPLES, seed)
    if idx is None:
        ix = iy = None
        cross = blocks["xy"].reshape(-1)
    else:
        idx = idx.to(X.device)
        ix, iy = idx[idx < n], idx[idx >= n] - n
        cross = blocks["xy"][ix[:, None], iy[None, :]].reshape(-1)
    sigma2 = pair_median(
        torch.cat([upper_pairs(blocks["xx"], ix), upper_pairs(blocks["yy"], iy), cross])
    )
    Kxx, Kyy, Kxy = (blocks[k].mul_(-0.5 / sigma2).exp_() for k in ("xx", "yy", "xy"))
    return _ReportKernels(Kxx, Kyy, Kxy, coral.to(X.dtype))


def _kernel_mmd2(
    kernels: _ReportKernels, weights: Sequence[torch.Tensor | None]
) -> list[torch.Tensor]:
    """The unbiased ``mmd2`` of :func:`_report_kernels`' blocks for each entry of ``weights``
    (normalised source weights, None for uniform), at ``O(n² + n m)`` each."""
    Kxx, Kyy, Kxy = kernels.Kxx, kernels.Kyy, kernels.Kxy
    n, m, f64 = Kxy.shape[0], Kxy.shape[1], torch.float64
    kyy = (Kyy.sum(dtype=f64) - Kyy.diagonal().sum(dtype=f64)) / (m * (m - 1))
    values = []
    for w in weights:
        if w is None:
            kxx = (Kxx.sum(dtype=f64) - Kxx.diagonal().sum(dtype=f64)) / (n * (n - 1))
            kxy = Kxy.sum(dtype=f64) / (n * m)
        else:
            w64 = w.to(f64)
            kxx = (w @ Kxx @ w).to(f64) - (w64 * w64 * Kxx.diagonal()).sum()
            kxx, kxy = kxx / (1.0 - (w64 * w64).sum()), (w @ Kxy).sum(dtype=f64) / m
        values.append((kxx + kyy - 2.0 * kxy).to(Kxy.dtype))
    return values


# --------------------------------------------------------------------------------------------
# optimal transport
# --------------------------------------------------------------------------------------------


def wasserstein(
    X: ArrayLike,
    Y: ArrayLike,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    *,
    metric: str = "sqeuclidean",
) -> float | torch.Tensor:
    r"""Exact optimal transport cost between two weighted samples.

    .. math::
        \mathrm{OT}(a, b) = \min_{P \ge 0,\ P\mathbf 1 = a,\ P^\top \mathbf 1 = b}
        \sum_{i,j} P_{ij} C_{ij}

    with :math:`C_{ij} = \|x_i - y_j\|^2` (``metric="sqeuclidean"``: the value is the squared
    2-Wasserstein distance :math:`W_2^2`) or :math:`\|x_i - y_j\|` (``"euclidean"``: the
    1-Wasserstein distance :math:`W_1`). Solved by the network simplex of POT (``ot.emd2`` on
    torch tensors), which runs on the CPU: tensors on an accelerator are moved to the CPU and
    the result is moved back. The dense ``n x m`` cost matrix is built, so this is meant for
    samples of a few thousand rows. Gradients flow to ``X``, ``Y``, ``a`` and ``b`` (POT returns
    the optimal plan and dual potentials as gradients).

    Parameters
    ----------
    X : array or tensor of shape (n, d)
    Y : array or tensor of shape (m, d)
    a : array or tensor of shape (n,), optional
        Non-negative masses of the rows of ``X``, normalised to sum 1; uniform when None.
    b : array or tensor of shape (m,), optional
        Masses of the rows of ``Y``, likewise.
    metric : {"sqeuclidean", "euclidean"}, default="sqeuclidean"

    Returns
    -------
    float or 0-d Tensor

    References
    ----------
    Peyré, Cuturi. "Computational Optimal Transport". Foundations and Trends in ML, 2019, Ch. 2-3.
    Flamary et al. "POT: Python Optimal Transport". JMLR 22, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from domadapt.discrepancy import wasserstein
    >>> X = np.array([[0.0], [1.0]]); Y = np.array([[2.0], [3.0]])
    >>> wasserstein(X, Y)
    4.0
    """
    _check_metric(metric)
    Xt, Yt, like = _prepare(X, Y, a=a, b=b)
    wa = _check_weights(a, Xt.shape[0], "a", Xt)
    wb = _check_weights(b, Yt.shape[0], "b", Yt)
    wa = _uniform(Xt.shape[0], Xt) if wa is None else wa
    wb = _uniform(Yt.shape[0], Yt) if wb is None else wb
    device = Xt.device
    Xc, Yc = _center(Xt.cpu(), Yt.cpu(), detach=True)
    value = ot.emd2(wa.cpu(), wb.cpu(), _cost(Xc, Yc, metric))
    return scalar_output(value.to(device), like)


class _SoftMin:
    r"""The two soft-min operators of log-domain Sinkhorn for the cost ``C(X, Y)``.

    ``rows(h)[i] = -eps * log sum_j exp(h_j - C_ij / eps)`` and
    ``cols(h)[j] = -eps * log sum_i exp(h_i - C_ij / eps)``. When both samples fit in one block
    the cost matrix is built once and kept; otherwise every call recomputes ``chunk x chunk``
    cost blocks and merges their log-sum-exps with ``logaddexp`` (memory
    ``O(chunk**2 + (n + m) d)``). Under autograd with several blocks, each block is
    checkpointed (recomputed in the backward pass).
    """

    def __init__(
        self, X: torch.Tensor, Y: torch.Tensor, eps: torch.Tensor, metric: str, chunk_size: int
    ) -> None:
        self.X, self.Y, self.eps, self.metric, self.cs = X, Y, eps, metric, chunk_size
        self.dense = None
        if X.shape[0] <= chunk_size and Y.shape[0] <= chunk_size:
            self.dense = _cost(X, Y, metric) / eps

    def rows(self, h: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            return -self.eps * torch.logsumexp(h[None, :] - self.dense, dim=1)
        return self._chunked(self.X, self.Y, h)

    def cols(self, h: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            return -self.eps * torch.logsumexp(h[:, None] - self.dense, dim=0)
        return self._chunked(self.Y, self.X, h)

    def _chunked(self, A: torch.Tensor, B: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        cs = self.cs
        tracked = torch.is_grad_enabled() and (A.requires_grad or B.requires_grad)
        out = []
        for i0 in range(0, A.shape[0], cs):
            acc = None
            for j0 in range(0, B.shape[0], cs):
                args = (A[i0 : i0 + cs], B[j0 : j0 + cs], h[j0 : j0 + cs], self.eps, self.metric)
                if tracked:
                    blk = checkpoint(_block_logsumexp, *args, use_reentrant=False)
                else:
                    blk = _block_logsumexp(*args)
                acc = blk if acc is None else torch.logaddexp(acc, blk)
            out.append(acc)
        return -self.eps * torch.cat(out)


def _block_logsumexp(
    A: torch.Tensor, B: torch.Tensor, h: torch.Tensor, eps: torch.Tensor, metric: str
) -> torch.Tensor:
    return torch.logsumexp(h[None, :] - _cost(A, B, metric) / eps, dim=1)


def _marginal_error(
    a: torch.Tensor, f: torch.Tensor, f_new: torch.Tensor, eps: torch.Tensor
) -> float:
    """L1 error of the ``a``-marginal of the plan of ``(f, g)``, given ``f_new = T_f(g)``.

    That marginal is ``a * exp((f - f_new) / eps)``; rows without mass are left out.
    """
    viol = (a * torch.expm1((f - f_new) / eps)).abs()
    return float(torch.where(a > 0, viol, 0.0).sum())


def _entropic_ot(
    X: torch.Tensor,
    Y: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    eps: torch.Tensor,
    metric: str,
    max_iter: int,
    tol: float,
    chunk_size: int,
    symmetric: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-domain Sinkhorn; returns (OT_eps value, f, g) with autograd through the value.

    General problems alternate the ``f`` and ``g`` updates, over-relaxed by
    ``_OVERRELAXATION`` after ``_PLAIN_ITERATIONS`` plain ones. ``symmetric`` (the caller
    guarantees ``X == Y`` and ``a == b``) uses the averaged fixed point ``f <- (f + T(f)) / 2``
    of Feydy et al. (2019), which converges in a few iterations where alternating updates
    oscillate; then ``g = f``. The iterations run without autograd on detached inputs. The
    value is the dual objective after one last pair of soft-min updates taken with autograd on,
    each against the other (detached) potential and with the other sample detached (Feydy et
    al. 2019): by the envelope theorem its gradient is that of OT_eps at convergence.
    """
    loga, logb = torch.log(a.detach()), torch.log(b.detach())
    with torch.no_grad():
        op = _SoftMin(X.detach(), Y.detach(), eps, metric, chunk_size)
        err = float("inf")
        if symmetric:
            f = op.rows(loga)
            for _ in range(max_iter):
                f_new = op.rows(loga + f / eps)
                err = _marginal_error(a, f, f_new, eps)
                f = 0.5 * (f + f_new)
                if err < tol:
                    break
            g = f
        else:
            f = torch.zeros_like(loga)
            g = op.cols(loga)
            omega = 1.0
            for it in range(max_iter):
                if it == _PLAIN_ITERATIONS:
                    omega = _OVERRELAXATION
                f_new = op.rows(logb + g / eps)
                err = _marginal_error(a, f, f_new, eps)  # row sums of the plan (f, g)
                f = f + omega * (f_new - f)
                g_new = op.cols(loga + f / eps)
                err += _marginal_error(b, g, g_new, eps)  # column sums, with f updated
                g = g + omega * (g_new - g)
                if err < tol:
                    break
        if not err < tol:
            warnings.warn(
                f"Sinkhorn did not converge: marginal error {err:.3g} > tol={tol:g} after "
                f"max_iter={max_iter} iterations; increase max_iter or reg, or loosen tol",
                ConvergenceWarning,
                stacklevel=3,
            )
    f_t = _SoftMin(X, Y.detach(), eps, metric, chunk_size).rows((logb + g / eps).detach())
    g_t = _SoftMin(X.detach(), Y, eps, metric, chunk_size).cols((loga + f / eps).detach())
    value = (a * f_t).sum() + (b * g_t).sum()
    return value, f, g


def _sinkhorn_plan(
    C: torch.Tensor,
    eps: float | torch.Tensor,
    num_iter: int,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Entropic OT plan for a cost matrix by a fixed number of log-domain Sinkhorn iterations.

    Solves :math:`\min_P \langle P, C\rangle + \varepsilon\,\mathrm{KL}(P \| a\otimes b)`
    over plans with marginals ``a`` and ``b`` (uniform when None); the minimiser is the same as
    with POT's entropy :math:`\sum P \log P`. With scaled potentials
    :math:`u = f/\varepsilon, v = g/\varepsilon` the updates are
    :math:`u_i = -\log\sum_j b_j e^{v_j - C_{ij}/\varepsilon}` and
    :math:`v_j = -\log\sum_i a_i e^{u_i - C_{ij}/\varepsilon}`, and the plan is
    :math:`P_{ij} = a_i b_j e^{u_i + v_j - C_{ij}/\varepsilon}`. It ends on a column update, so
    the column sums equal ``b`` exactly and the row sums approach ``a`` as ``num_iter`` grows.

    Unlike :func:`sinkhorn` there is no stopping test: nothing is read back to the host, so it
    runs without synchronisation on an accelerator (the core of the DeepJDOT loss). It runs
    under :func:`torch.no_grad`; ``eps`` may be a 0-d tensor on the device of ``C``.

    References
    ----------
    Cuturi. "Sinkhorn Distances: Lightspeed Computation of Optimal Transport". NIPS 2013.
    Peyré, Cuturi. "Computational Optimal Transport". Foundations and Trends in ML, 2019, Sec. 4.4.
    """
    n, m = C.shape
    with torch.no_grad():
        Ce = C / eps
        if a is None:
            loga = torch.full((n,), -np.log(n), dtype=C.dtype, device=C.device)
        else:
            loga = a.log()
        if b is None:
            logb = torch.full((m,), -np.log(m), dtype=C.dtype, device=C.device)
        else:
            logb = b.log()
        u = torch.zeros_like(loga)
        v = torch.zeros_like(logb)
        for _ in range(num_iter):
            u = -torch.logsumexp((logb + v)[None, :] - Ce, dim=1)
            v = -torch.logsumexp((loga + u)[:, None] - Ce, dim=0)
        return torch.exp((loga + u)[:, None] + (logb + v)[None, :] - Ce)


def _sinkhorn_setup(
    X: Any,
    Y: Any,
    a: Any,
    b: Any,
    reg: float,
    relative_reg: bool,
    metric: str,
    max_iter: int,
    tol: float,
    chunk_size: int | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int, Any]:
    """Validate the Sinkhorn arguments; return centred samples, masses, eps, chunk and ``like``."""
    _check_metric(metric)
    if isinstance(reg, bool) or not np.isscalar(reg) or not 0 < reg < np.inf:
        raise ValueError(f"reg={reg!r} must be a positive number")
    if not (is_integer(max_iter) and max_iter >= 1):
        raise ValueError(f"max_iter={max_iter!r} must be a positive integer")
    if not np.isscalar(tol) or not tol > 0:
        raise ValueError(f"tol={tol!r} must be a positive number")
    cs = _check_chunk_size(chunk_size)
    Xt, Yt, like = _prepare(X, Y, a=a, b=b)
    wa = _check_weights(a, Xt.shape[0], "a", Xt)
    wb = _check_weights(b, Yt.shape[0], "b", Yt)
    wa = _uniform(Xt.shape[0], Xt) if wa is None else wa
    wb = _uniform(Yt.shape[0], Yt) if wb is None else wb
    Xc, Yc = _center(Xt, Yt, detach=True)
    eps = torch.tensor(float(reg), dtype=Xt.dtype, device=Xt.device)
    if relative_reg:
        scale = median_sq_distance(Xc, Yc, seed=0)
        eps = eps * (scale if metric == "sqeuclidean" else scale.sqrt())
    return Xc, Yc, wa, wb, eps, cs, like


def sinkhorn(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    reg: float = 0.05,
    relative_reg: bool = True,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    metric: str = "sqeuclidean",
    max_iter: int = 1000,
    tol: float = 1e-5,
    chunk_size: int | None = None,
    return_potentials: bool = False,
) -> float | torch.Tensor | tuple[Any, Any, Any]:
    r"""Entropic optimal transport cost OT_eps, by log-domain Sinkhorn iterations.

    .. math::
        \mathrm{OT}_\varepsilon(a, b) = \min_{P \ge 0,\ P\mathbf 1 = a,\ P^\top\mathbf 1 = b}
        \langle P, C\rangle + \varepsilon\,\mathrm{KL}(P \,\|\, a \otimes b)
        = \max_{f, g}\ \langle a, f\rangle + \langle b, g\rangle
        - \varepsilon \langle a \otimes b, e^{(f \oplus g - C)/\varepsilon} - 1\rangle .

    The returned value is this entropic objective (primal = dual at the optimum), evaluated as
    :math:`\langle a, f\rangle + \langle b, g\rangle` at the final potentials; it is *not* the
    transport cost :math:`\langle P, C\rangle` alone that ``ot.sinkhorn2`` returns (that one is
    :math:`\mathrm{OT}_\varepsilon - \varepsilon\,\mathrm{KL}(P\|a\otimes b)`; with
    ``return_potentials=True`` the plan :math:`P_{ij} = a_i b_j
    e^{(f_i + g_j - C_{ij})/\varepsilon}` can be rebuilt). The optimal plan is the same as with
    POT's entropy :math:`\sum P\log P`.

    The iterations alternate, in the log domain (Peyré & Cuturi 2019, Sec. 4.4), the updates
    :math:`T_f(g)_i = -\varepsilon\log\sum_j b_j e^{(g_j - C_{ij})/\varepsilon}` and
    :math:`T_g(f)_j = -\varepsilon\log\sum_i a_i e^{(f_i - C_{ij})/\varepsilon}`; after 10 plain
    steps they are over-relaxed, :math:`f \leftarrow f + \omega(T_f(g) - f)` with
    :math:`\omega = 1.5` (Thibault et al. 2021), which takes 2-3 times fewer iterations. They stop
    when the L1 errors of the two marginals, :math:`\|P\mathbf 1 - a\|_1 +
    \|P^\top\mathbf 1 - b\|_1`, sum below ``tol``; a
    :class:`~sklearn.exceptions.ConvergenceWarning` is raised when ``max_iter`` is reached first.
    When ``X`` equals ``Y`` and ``a`` equals ``b``, the averaged symmetric update
    :math:`f \leftarrow \frac12(f + T(f))` is used instead (Feydy et al. 2019), as alternating
    updates oscillate on symmetric problems. Inputs of more than
    ``chunk_size`` rows are processed in ``chunk_size x chunk_size`` cost blocks recomputed at
    every iteration, so no ``n x m`` matrix is held; smaller inputs keep their cost matrix.
    Iterations grow as ``reg`` shrinks and are highest for small low-dimensional samples: at the
    default ``reg=0.05`` typically 15-100, at ``reg=0.01`` hundreds to thousands.

    Regularisation: with ``relative_reg=True`` (default) :math:`\varepsilon` = ``reg`` times the
    median cost between distinct points of the pooled sample (median squared distance for
    ``"sqeuclidean"``, its square root for ``"euclidean"``; up to 1000 rows, seed 0), which makes
    ``reg`` unit-free: squared-Euclidean costs are about ``2 d`` for standardised features, and
    a fixed ``reg = 1`` would be a tiny blur. With ``relative_reg=False``, :math:`\varepsilon` =
    ``reg`` in cost units.

    Gradients: the value is differentiable in ``X``, ``Y``, ``a`` and ``b`` through the envelope
    theorem (gradient :math:`P` for the cost, the potentials for the masses), exact at
    convergence; the iterations themselves are not recorded.

    Parameters
    ----------
    X : array or tensor of shape (n, d)
    Y : array or tensor of shape (m, d)
    reg : float, default=0.05
        Entropic regularisation, relative to the median cost when ``relative_reg``.
    relative_reg : bool, default=True
    a, b : array or tensor of shape (n,) / (m,), optional
        Non-negative masses, normalised to sum 1; uniform when None.
    metric : {"sqeuclidean", "euclidean"}, default="sqeuclidean"
    max_iter : int, default=1000
    tol : float, default=1e-5
        Stopping threshold on the L1 marginal error.
    chunk_size : int, optional
        Rows per cost block (default ``get_config()["chunk_size"]``).
    return_potentials : bool, default=False
        Also return the dual potentials ``f`` (n,) and ``g`` (m,) in the caller's type.

    Returns
    -------
    value : float or 0-d Tensor
    f, g : arrays or tensors, only with ``return_potentials``

    References
    ----------
    Cuturi. "Sinkhorn Distances: Lightspeed Computation of Optimal Transport". NIPS 2013.
    Thibault, Chizat, Dossal, Papadakis. "Overrelaxed Sinkhorn-Knopp Algorithm for Regularized
    Optimal Transport". Algorithms 14(5), 2021.
    Peyré, Cuturi. "Computational Optimal Transport". Foundations and Trends in ML, 2019, Ch. 4.
    Feydy, Séjourné, Vialard, Amari, Trouvé, Peyré. "Interpolating between Optimal Transport and
    MMD using Sinkhorn Divergences". AISTATS 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from domadapt.discrepancy import sinkhorn
    >>> rng = np.random.default_rng(0)
    >>> value = sinkhorn(rng.normal(size=(200, 3)), rng.normal(1.0, 1.0, size=(150, 3)))
    """
    Xc, Yc, wa, wb, eps, cs, like = _sinkhorn_setup(
        X, Y, a, b, reg, relative_reg, metric, max_iter, tol, chunk_size
    )
    same = torch.equal(Xc, Yc) and torch.equal(wa, wb)
    value, f, g = _entropic_ot(Xc, Yc, wa, wb, eps, metric, max_iter, tol, cs, same)
    out = scalar_output(value, like)
    if not return_potentials:
        return out
    if is_tensor(like):
        return out, f, g
    return out, to_numpy(f), to_numpy(g)


def sinkhorn_divergence(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    reg: float = 0.05,
    relative_reg: bool = True,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    metric: str = "sqeuclidean",
    max_iter: int = 1000,
    tol: float = 1e-5,
    chunk_size: int | None = None,
) -> float | torch.Tensor:
    r"""Debiased Sinkhorn divergence.

    .. math::
        S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
        - \tfrac12 \mathrm{OT}_\varepsilon(\alpha, \alpha)
        - \tfrac12 \mathrm{OT}_\varepsilon(\beta, \beta),

    with :math:`\mathrm{OT}_\varepsilon` the entropic objective of :func:`sinkhorn` (relative
    entropy to :math:`a \otimes b`, evaluated through the dual potentials). For this objective
    :math:`S_\varepsilon \ge 0` with equality iff the two weighted samples are equal (Feydy et
    al. 2019, Thm. 1); identical inputs give exactly 0. It interpolates between the squared MMD
    of the kernel :math:`-C` (:math:`\varepsilon \to \infty`) and the unregularised OT cost
    (:math:`\varepsilon \to 0`; :math:`W_2^2` for ``"sqeuclidean"``). The three terms share one
    :math:`\varepsilon`, computed from the pooled sample when ``relative_reg``. The symmetric
    terms use the averaged update :math:`f \leftarrow \frac12 (f + T(f))` of Feydy et al.,
    which converges in a few iterations; when ``X``/``a`` equal ``Y``/``b`` the cross term is
    the same symmetric problem, so the result is exactly 0. Up to the stopping tolerance,
    values for nearly identical samples can fall a little below 0.

    Parameters
    ----------
    X : array or tensor of shape (n, d)
    Y : array or tensor of shape (m, d)
    reg, relative_reg, a, b, metric, max_iter, tol, chunk_size
        As in :func:`sinkhorn`.

    Returns
    -------
    float or 0-d Tensor
        Python float for numpy input; a tensor on the input device (differentiable) otherwise.

    References
    ----------
    Genevay, Peyré, Cuturi. "Learning Generative Models with Sinkhorn Divergences". AISTATS 2018.
    Feydy, Séjourné, Vialard, Amari, Trouvé, Peyré. "Interpolating between Optimal Transport and
    MMD using Sinkhorn Divergences". AISTATS 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from domadapt.discrepancy import sinkhorn_divergence
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> sinkhorn_divergence(X, X)
    0.0
    """
    Xc, Yc, wa, wb, eps, cs, like = _sinkhorn_setup(
        X, Y, a, b, reg, relative_reg, metric, max_iter, tol, chunk_size
    )
    same = torch.equal(Xc, Yc) and torch.equal(wa, wb)
    ot_xy = _entropic_ot(Xc, Yc, wa, wb, eps, metric, max_iter, tol, cs, same)[0]
    ot_xx = _entropic_ot(Xc, Xc, wa, wa, eps, metric, max_iter, tol, cs, True)[0]
    ot_yy = _entropic_ot(Yc, Yc, wb, wb, eps, metric, max_iter, tol, cs, True)[0]
    return scalar_output(ot_xy - 0.5 * ot_xx - 0.5 * ot_yy, like)


# --------------------------------------------------------------------------------------------
# proxy A-distance
# --------------------------------------------------------------------------------------------


def proxy_a_distance(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    estimator: Any = None,
    test_size: float = 0.5,
    random_state: int | None = 0,
) -> float:
    r"""Proxy A-distance: how well a classifier tells the two domains apart.

    .. math::
        \hat d_{\mathcal A} = 2\,(1 - 2\epsilon),

    where :math:`\epsilon` is the balanced test error of a domain classifier (label 0 for the
    rows of ``X``, 1 for those of ``Y``) trained on a stratified split of the pooled sample and
    tested on the held-out ``test_size`` fraction: the mean of its error rates on the held-out
    rows of each domain, so that :math:`1 - 2\epsilon = P_Y(h = 1) - P_X(h = 1)`, the quantity
    of Ben-David et al.'s :math:`\mathcal A`-distance, whatever the two sample sizes (the
    plain error would reward a classifier that always names the larger domain: 1.2 for two
    samples of one distribution of sizes 800 and 200). With equal sizes it is the plain error.
    About 0 when the domains are indistinguishable, 2 when they are separable; it may fall
    slightly below 0 by chance (:math:`\epsilon > 0.5`). The classifier runs in scikit-learn
    on the CPU; the result is always a Python float.

    Parameters
    ----------
    X : array or tensor of shape (n, d)
    Y : array or tensor of shape (m, d)
    estimator : sklearn classifier, optional
        Cloned before fitting. Default: ``StandardScaler`` followed by
        ``LogisticRegression(max_iter=1000, class_weight="balanced")`` (a linear domain
        classifier trained for the balanced error).
    test_size : float, default=0.5
        Held-out fraction (or count) of the pooled sample.
    random_state : int or None, default=0
        Seed of the split (and of the default classifier).

    Returns
    -------
    float

    References
    ----------
    Ben-David, Blitzer, Crammer, Pereira. "Analysis of Representations for Domain Adaptation".
    NIPS 2007.
    Ganin et al. "Domain-Adversarial Training of Neural Networks". JMLR 17, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from domadapt.discrepancy import proxy_a_distance
    >>> rng = np.random.default_rng(0)
    >>> proxy_a_distance(rng.normal(size=(300, 4)), rng.normal(3.0, 1.0, size=(300, 4)))
    2.0
    """
    Xt, Yt, _ = _prepare(X, Y)
    Z = np.concatenate([to_numpy(Xt.detach()), to_numpy(Yt.detach())], axis=0)
    domain = np.r_[np.zeros(Xt.shape[0], dtype=int), np.ones(Yt.shape[0], dtype=int)]
    seed = seed_from(random_state)
    Z_tr, Z_te, d_tr, d_te = train_test_split(
        Z, domain, test_size=test_size, stratify=domain, random_state=seed
    )
    if estimator is None:
        clf = make_pipeline(
            StandardScaler(),
            LogisticRegression(max_iter=1000, class_weight="balanced", random_state=seed),
        )
    else:
        clf = clone(estimator)
    clf.fit(Z_tr, d_tr)
    for k, name in ((0, "X"), (1, "Y")):
        if not np.any(d_te == k):
            raise ValueError(
                f"proxy_a_distance: no held-out row of {name} ({int(np.sum(domain == k))} rows, "
                f"test_size={test_size}); the balanced error needs rows of both domains"
            )
    wrong = clf.predict(Z_te) != d_te
    error = 0.5 * (float(wrong[d_te == 0].mean()) + float(wrong[d_te == 1].mean()))
    return 2.0 * (1.0 - 2.0 * error)
