"""What every importance-weighting adapter shares: identity features, one weight per source row."""

from __future__ import annotations

import torch

from .._array import ArrayLike, origin_of, to_output, to_tensor
from .._validation import check_array
from ..base import Adapter


class WeightingAdapter(Adapter):
    """Base class of the instance-based adapters.

    An instance-based adapter leaves the features as they are and learns a non-negative weight
    per source row, approximating the density ratio ``p_target(x) / p_source(x)`` so that the
    weighted source sample looks like the target. ``fit`` stores the weights of the fitted source
    rows in ``sample_weight_`` (in the type of ``X``: a numpy array, or a tensor on ``X``'s
    device); the attached estimator, and the final estimator of a
    :func:`~domadapt.make_da_pipeline`, is fitted with them (``sample_weight=``), or fitting fails
    with a ``TypeError`` when the estimator cannot take weights. The ``report_`` compares the
    plain MMD² before with the weighted MMD² after.

    Subclasses implement ``_fit_weights(Xs, Xt) -> Tensor`` (the weights of the source rows, shape
    ``(n_s,)``, non-negative, on the device of ``Xs``) and ``_weights(X) -> Tensor`` (the fitted
    weight function evaluated at new source rows ``X``, a tensor on the fitted device in the
    fitted dtype).
    """

    def _fit(self, Xs: torch.Tensor, ys: torch.Tensor, Xt: torch.Tensor, yt: torch.Tensor | None) -> None:
        w = self._fit_weights(Xs, Xt)
        if w.shape != (Xs.shape[0],):
            raise RuntimeError(f"{type(self).__name__} returned weights of shape {tuple(w.shape)}")
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            raise FloatingPointError(
                f"{type(self).__name__} produced negative or non-finite weights; check the input "
                "scale or the regularisation"
            )
        self.fit_dtype_ = Xs.dtype
        self.sample_weight_ = w

    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:
        return X

    def compute_weights(self, X: ArrayLike) -> ArrayLike:
        """Importance weights of new source rows under the fitted weight function.

        Parameters
        ----------
        X : array or tensor of shape (n_samples, n_features_in_)
            Source rows (not necessarily those seen in ``fit``).

        Returns
        -------
        weights : array or tensor of shape (n_samples,)
            Same type as ``X`` (a tensor stays on its device).
        """
        self._check_fitted()
        X = check_array(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features but the adapter was fitted with {self.n_features_in_}"
            )
        return to_output(self._weights(to_tensor(X, self.device_, self.fit_dtype_)), origin_of(X))

    def _fit_weights(self, Xs: torch.Tensor, Xt: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _weights(self, X: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
