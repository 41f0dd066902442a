"""Synthetic shifts with known ground truth, for unit tests of adapters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._task import Domain, DomainTask, as_float_array, task_name


def make_shifted_blobs(
    n_source: int = 300,
    n_target: int = 300,
    n_features: int = 2,
    n_classes: int = 3,
    *,
    shift: float | ArrayLike = 2.0,
    rotation: float = 30.0,
    scale: float = 1.0,
    cluster_std: float = 0.6,
    center_spread: float = 3.0,
    random_state: int | None = None,
) -> DomainTask:
    """Gaussian class blobs; the target is the same mixture rotated, scaled and shifted.

    Class ``k`` has centre ``c_k`` drawn once from ``N(0, center_spread² I)``; samples are
    ``c_k + cluster_std · N(0, I)`` with classes as balanced as ``n`` allows. Target samples are drawn
    the same way and then mapped by ``x ↦ scale · R x + shift``, where ``R`` rotates the plane of the
    first two features by ``rotation`` degrees (counter-clockwise) and leaves the others alone.

    Parameters
    ----------
    n_source, n_target : int
        Samples per domain (each at least ``n_classes``).
    n_features : int
        Dimension (at least 2).
    n_classes : int
        Number of classes (at least 2).
    shift : float or array-like of shape (n_features,)
        Translation of the target; a float ``s`` means ``s`` added to every feature.
    rotation : float
        Rotation of the target, in degrees.
    scale : float
        Isotropic scaling of the target (applied before the shift).
    cluster_std : float
        Standard deviation of each blob.
    center_spread : float
        Standard deviation of the class centres.
    random_state : int or None
        Seed; the same seed gives the same task.

    Returns
    -------
    DomainTask
        Named ``"S→T"``, ``dataset="toy_blobs"``; ``meta`` holds ``centers`` (n_classes, n_features),
        ``rotation_matrix`` (n_features, n_features), ``shift`` (n_features,) and ``scale``, so that the
        exact inverse map is known.
    """
    if n_features < 2:
        raise ValueError(f"n_features={n_features} must be at least 2")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes} must be at least 2")
    if min(n_source, n_target) < n_classes:
        raise ValueError(f"n_source={n_source} and n_target={n_target} must each be at least n_classes={n_classes}")
    rng = np.random.default_rng(random_state)
    centers = rng.normal(scale=center_spread, size=(n_classes, n_features))
    offset = as_float_array(np.atleast_1d(shift)).ravel()
    if offset.shape[0] == 1:
        offset = np.full(n_features, offset[0])
    elif offset.shape[0] != n_features:
        raise ValueError(f"shift has {offset.shape[0]} entries; expected a float or {n_features} entries")
    angle = np.deg2rad(rotation)
    R = np.eye(n_features)
    R[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(n) % n_classes)
        return centers[y] + cluster_std * rng.normal(size=(n, n_features)), y.astype(np.int64)

    Xs, ys = draw(n_source)
    Xt, yt = draw(n_target)
    Xt = scale * Xt @ R.T + offset
    return DomainTask(
        source=Domain(X=Xs, y=ys, name="source"),
        target=Domain(X=Xt, y=yt, name="target"),
        class_names=tuple(str(k) for k in range(n_classes)),
        name=task_name("S", "T"),
        dataset="toy_blobs",
        meta={"centers": centers, "rotation_matrix": R, "shift": offset, "scale": scale, "random_state": random_state},
    )


@dataclass(frozen=True)
class CovariateShiftData:
    """Samples of a Gaussian covariate shift, with its true density ratio.

    Attributes
    ----------
    X_source : ndarray of shape (n_source, d)
        Samples from ``p_s = N(0, source_std² I)``.
    X_target : ndarray of shape (n_target, d)
        Samples from ``p_t = N(target_mean, target_std² I)``.
    y_source, y_target : ndarray
        Regression targets ``sinc(x_0) + noise · ε`` (the same conditional law in both domains).
    target_mean : ndarray of shape (d,)
    source_std, target_std : float
    """

    X_source: np.ndarray
    y_source: np.ndarray
    X_target: np.ndarray
    y_target: np.ndarray
    target_mean: np.ndarray
    source_std: float
    target_std: float

    def density_ratio(self, X: ArrayLike) -> np.ndarray:
        """``p_t(x) / p_s(x)`` for each row of ``X`` (shape (n, d)), in closed form."""
        X = np.atleast_2d(as_float_array(X))
        d = self.target_mean.shape[0]
        log_ratio = (
            d * np.log(self.source_std / self.target_std)
            - ((X - self.target_mean) ** 2).sum(axis=1) / (2 * self.target_std**2)
            + (X**2).sum(axis=1) / (2 * self.source_std**2)
        )
        return np.exp(log_ratio)

    @property
    def source_weights(self) -> np.ndarray:
        """The ideal importance weights ``density_ratio(X_source)``."""
        return self.density_ratio(self.X_source)


def make_gaussian_covariate_shift(
    n: int = 200,
    d: int = 1,
    *,
    n_target: int | None = None,
    mean_shift: float = 0.5,
    source_std: float = 1.0,
    target_std: float = 0.5,
    noise: float = 0.1,
    random_state: int | None = None,
) -> CovariateShiftData:
    """Source and target from two isotropic Gaussians, with the closed-form density ratio.

    ``p_s = N(0, source_std² I)`` and ``p_t = N(m, target_std² I)`` with ``m = mean_shift · 1/√d``
    (so ``‖m‖ = mean_shift``). The log-ratio is

    ``log p_t(x)/p_s(x) = d·log(source_std/target_std) − ‖x − m‖²/(2·target_std²)``
    ``+ ‖x‖²/(2·source_std²)``,

    bounded above when ``target_std < source_std`` (the usual setting of importance-weighting
    methods such as KMM, KLIEP and uLSIF). The labels follow ``y = sinc(x_0) + noise · ε`` in both
    domains, so only the input distribution changes (Shimodaira, 2000).

    Parameters
    ----------
    n : int
        Source sample size.
    d : int
        Dimension.
    n_target : int or None
        Target sample size; ``None`` means ``n``.
    mean_shift : float
        Distance between the two means.
    source_std, target_std : float
        Standard deviations (positive).
    noise : float
        Standard deviation of the label noise.
    random_state : int or None
        Seed.

    Returns
    -------
    CovariateShiftData
        The samples; ``.density_ratio(X)`` evaluates the true ratio, ``.source_weights`` at the
        source samples.

    References
    ----------
    H. Shimodaira. Improving predictive inference under covariate shift by weighting the
    log-likelihood function. Journal of Statistical Planning and Inference 90(2), 2000.
    M. Sugiyama, S. Nakajima, H. Kashima, P. von Bünau, M. Kawanabe. Direct Importance Estimation
    with Model Selection and Its Application to Covariate Shift Adaptation. NeurIPS 2007.
    """
    n_target = n if n_target is None else n_target
    if min(n, n_target, d) < 1:
        raise ValueError(f"n={n}, n_target={n_target} and d={d} must be positive")
    if min(source_std, target_std) <= 0:
        raise ValueError(f"source_std={source_std} and target_std={target_std} must be positive")
    rng = np.random.default_rng(random_state)
    mean = np.full(d, mean_shift / np.sqrt(d))
    Xs = source_std * rng.normal(size=(n, d))
    Xt = mean + target_std * rng.normal(size=(n_target, d))

    def label(X: np.ndarray) -> np.ndarray:
        return np.sinc(X[:, 0]) + noise * rng.normal(size=len(X))

    return CovariateShiftData(
        X_source=Xs,
        y_source=label(Xs),
        X_target=Xt,
        y_target=label(Xt),
        target_mean=mean,
        source_std=float(source_std),
        target_std=float(target_std),
    )
