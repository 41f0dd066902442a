"""Nearest-neighbour importance weighting: count the target rows in each source row's Voronoi cell."""

from __future__ import annotations

import math

import torch

from .._array import DeviceLike
from .._config import get_config
from .._validation import is_real
from ..kernels import sq_norms
from ._base import WeightingAdapter


def nearest_rows(X: torch.Tensor, Y: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Index of the nearest row of ``Y`` (squared Euclidean distance) for every row of ``X``.

    Rows of ``X`` and of ``Y`` are walked in blocks of ``chunk_size`` (default
    ``get_config()["chunk_size"]``), keeping a running minimum, so memory is
    ``O(chunk_size² + (n + m) d)``: no ``n × m`` distance matrix is held. Ties go to the smallest
    index of ``Y`` (within a block by :func:`torch.min`, which returns the first minimum; across
    blocks because a later block must be strictly closer to win).

    Parameters
    ----------
    X : Tensor of shape (n, d)
    Y : Tensor of shape (m, d)
    chunk_size : int, optional

    Returns
    -------
    Tensor of shape (n,), int64
    """
    cs = int(get_config()["chunk_size"] if chunk_size is None else chunk_size)
    if cs < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer")
    # ‖x − y‖² = ‖x‖² + (‖y‖² − 2 xᵀy): the first term is the same for every y, so the nearest
    # row minimises the second, one addmm into a reused buffer and no further pass
    sq_y = sq_norms(Y)
    buffer = X.new_empty((min(cs, X.shape[0]), min(cs, Y.shape[0])))
    out = []
    for i0 in range(0, X.shape[0], cs):
        Xb = X[i0 : i0 + cs]
        best = torch.full((Xb.shape[0],), math.inf, dtype=X.dtype, device=X.device)
        index = torch.zeros(Xb.shape[0], dtype=torch.int64, device=X.device)
        for j0 in range(0, Y.shape[0], cs):
            Yb = Y[j0 : j0 + cs]
            partial = buffer[: Xb.shape[0], : Yb.shape[0]]
            torch.addmm(sq_y[j0 : j0 + cs][None, :], Xb, Yb.T, alpha=-2.0, out=partial)
            dist, arg = partial.min(dim=1)
            closer = dist < best
            best = torch.where(closer, dist, best)
            index = torch.where(closer, arg + j0, index)
        out.append(index)
    return torch.cat(out)


class NearestNeighborWeighting(WeightingAdapter):
    r"""Nearest-neighbour weighting: a source row weighs as many target rows as fall in its cell.

    Loog (2012) estimates the density ratio at each source row ``x_i`` by the number of target
    rows that have ``x_i`` as their nearest source row, i.e. that fall in the Voronoi cell of
    ``x_i`` in the tessellation of the source sample. Cells of source rows where the source is
    dense relative to the target are small and catch few target rows; Laplace smoothing keeps
    every weight positive:

    .. math::
        w_i \propto \alpha + \#\{j : \mathrm{NN}_S(x'_j) = x_i\}, \qquad
        \frac{1}{n_s}\sum_i w_i = 1,

    so ``w_i = n_s (α + c_i) / (n_s α + n_t)``. There is no parameter to tune beyond ``alpha``
    and the metric (Euclidean; scale the features first). The nearest neighbours are found in
    blocks, in torch (:func:`nearest_rows`). Identical source rows share one cell: its count
    is split equally among the ``m`` copies (``c_i`` is the cell's count over ``m``), so the
    weights, and the estimator fitted with them, do not depend on the order of the rows (the
    whole count on one copy would, e.g., turn a class balance of 1:3 among four copies into
    7:3 or 1:9).

    **New rows.** The weights belong to the fitted source sample's cells; for a new source row
    ``x``, :meth:`compute_weights` returns the weight of the fitted source row nearest to ``x``
    (the weight of the cell ``x`` falls in). At the fitted rows this gives back
    ``sample_weight_``.

    Parameters
    ----------
    alpha : float, default=1.0
        Laplace smoothing added to every count (non-negative; 0 gives the raw counts, with
        weight 0 for source rows whose cell holds no target row).
    estimator : sklearn estimator, optional
        Fitted on the source with ``sample_weight=sample_weight_``.
    device : str or torch.device, default="auto"

    Attributes
    ----------
    sample_weight_ : array or tensor of shape (n_s,)
        Smoothed, normalised counts; their mean is 1.
    counts_ : Tensor of shape (n_s,), int64
        Number of target rows in each source row's Voronoi cell (the shared cell's count for
        every copy of a duplicated row).
    multiplicity_ : Tensor of shape (n_s,), int64
        Number of identical copies of each source row in the fitted sample (1 for most).
    X_source_ : Tensor of shape (n_s, n_features)
        The fitted source rows (for :meth:`compute_weights`).

    References
    ----------
    M. Loog. "Nearest neighbor-based importance weighting". IEEE International Workshop on
    Machine Learning for Signal Processing (MLSP), 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from domadapt import NearestNeighborWeighting
    >>> Xs = np.array([[0.0], [1.0], [2.0]]); Xt = np.array([[0.1], [0.2], [1.9]])
    >>> NearestNeighborWeighting(alpha=1.0).fit(Xs, [0, 1, 0], Xt).sample_weight_.tolist()
    [1.5, 0.5, 1.0]
    """

    def __init__(self, alpha: float = 1.0, estimator: object = None, device: DeviceLike = "auto"):
        self.alpha = alpha
        self.estimator = estimator
        self.device = device

    def _check_params(self) -> None:
        a = self.alpha
        if not (is_real(a) and a >= 0):
            raise ValueError(f"alpha must be a non-negative number, got {a!r}")

    def _fit_weights(self, Xs: torch.Tensor, Xt: torch.Tensor) -> torch.Tensor:
        # shift both samples by the source mean: distances unchanged, less rounding
        self.shift_ = Xs.mean(dim=0)
        self.X_source_ = Xs
        nearest = nearest_rows(Xt - self.shift_, Xs - self.shift_)
        counts = torch.bincount(nearest, minlength=Xs.shape[0])
        multiplicity = torch.ones_like(counts)
        # identical rows form one cell (nearest_rows credits its first copy): give every copy
        # the cell's count and split it among them. Copies share their first column, so when
        # no two first-column values are equal (continuous data) there is none and the sort
        # of the rows is skipped
        first = torch.sort(Xs[:, 0]).values
        if bool((first[1:] == first[:-1]).any()):
            _, group, size = torch.unique(Xs, dim=0, return_inverse=True, return_counts=True)
            counts = torch.zeros_like(size).index_add_(0, group, counts)[group]
            multiplicity = size[group]
        self.counts_, self.multiplicity_ = counts, multiplicity
        n_s, n_t = Xs.shape[0], Xt.shape[0]
        total = n_s * float(self.alpha) + n_t
        share = self.counts_.to(Xs.dtype) / self.multiplicity_.to(Xs.dtype)
        self.cell_weight_ = (share + float(self.alpha)) * (n_s / total)
        return self.cell_weight_.clone()  # the public weights do not alias the fitted state

    def _weights(self, X: torch.Tensor) -> torch.Tensor:
        nearest = nearest_rows(X.to(self.X_source_.device) - self.shift_, self.X_source_ - self.shift_)
        return self.cell_weight_[nearest].to(X.device)
