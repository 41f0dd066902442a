"""Importance weights from a probabilistic domain classifier (discriminative density ratio)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from .._array import to_numpy
from .._validation import is_integer, is_real, seed_from
from ._base import WeightingAdapter

#: folds of the calibration inside each training set (sklearn's CalibratedClassifierCV default)
CALIBRATION_FOLDS = 5
#: calibration methods of sklearn's CalibratedClassifierCV ("sigmoid" is Platt scaling)
CALIBRATIONS = ("sigmoid", "isotonic", None)

__all__ = ["DiscriminativeWeighting"]


class DiscriminativeWeighting(WeightingAdapter):
    """Density ratio from a domain classifier's calibrated probabilities.

    A probabilistic classifier learns to tell target rows (label 1) from source rows (label 0)
    on the pooled sample. By Bayes' rule its posterior gives the density ratio
    (Zadrozny, 2004; Bickel, Brückner & Scheffer, 2009)::

        p_t(x) / p_s(x) = (n_s / n_t) · P(target | x) / P(source | x),

    ``n_s / n_t`` being the ratio of the class priors in the classifier's training data. The
    ratio is only as good as the probabilities, so by default they are calibrated (Platt's
    sigmoid or isotonic regression through sklearn's :class:`~sklearn.calibration.
    CalibratedClassifierCV`, itself fitted with ``5``-fold cross-validation inside the training
    data) and **cross-fitted**: the pooled rows are split into ``cv`` stratified folds, a
    calibrated classifier is trained on every ``cv − 1`` folds, and each source row's weight
    comes from the classifier that did not see it (out-of-fold), so a flexible classifier
    cannot memorise its own training rows into extreme weights. The prior factor is that of
    each fold's training set.

    Then, optionally, the ratios are capped (``clip``: a maximum; ``clip_quantile``: the given
    quantile of the source ratios; with both, the smaller cap) and self-normalised to mean 1
    over the source rows (``normalize``), the usual remedies against the variance of extreme
    weights.

    The classifier runs where sklearn runs, on the CPU (the features are copied to the host);
    the weights come back on the adapter's device. ``compute_weights(X)`` for new source rows
    averages the ratios of the ``cv`` fold classifiers (of the one classifier when
    ``cv=None``), then applies the cap and the normalising factor fitted on the source rows.

    Parameters
    ----------
    classifier : sklearn classifier, optional
        The domain classifier; default ``LogisticRegression(max_iter=1000)``. It needs
        ``predict_proba`` with ``calibration=None``; with a calibration, ``decision_function``
        is enough (e.g. ``LinearSVC``, Platt's own case). Its log-odds model
        must be able to represent ``log p_t/p_s`` (e.g. for Gaussian domains with different
        covariances the log-ratio is quadratic: use polynomial features or a kernel method).
    calibration : {"sigmoid", "isotonic"} or None, default="sigmoid"
        Calibration of the probabilities (None: the classifier's own ``predict_proba``).
    cv : int or None, default=5
        Folds of the cross-fitting (at least 2). None fits one classifier on all rows and
        weights the source rows with it (in-sample, biased towards extreme weights for flexible
        classifiers; the choice of skada's ``DiscriminatorReweightAdapter``).
    clip : float or None, default=None
        Maximum ratio (before normalisation), positive.
    clip_quantile : float or None, default=None
        Cap the ratios at this quantile of the source rows' ratios, in (0, 1].
    normalize : bool, default=True
        Divide the weights by their mean over the source rows.
    estimator : sklearn estimator, optional
        Fitted with ``sample_weight=sample_weight_`` by ``fit`` (``estimator_``).
    device : str or torch.device, default="auto"
        Where the weights live; "auto" takes the input tensors' accelerator, else CUDA if present.
    random_state : int or None, default=None
        Seed of the cross-fitting folds.

    Attributes
    ----------
    sample_weight_ : array or tensor of shape (n_source,)
        The (capped, normalised) out-of-fold ratios of the source rows (type of ``X``).
    classifiers_ : list of fitted classifiers
        One per fold (one when ``cv=None``), calibrated when ``calibration`` is set.
    prior_ratios_ : list of float
        ``n_s / n_t`` of each classifier's training rows.
    clip_value_ : float or None
        The cap applied to the ratios (None: no cap).
    scale_ : float
        The factor applied after capping (``1 / mean`` with ``normalize``, else 1).

    References
    ----------
    S. Bickel, M. Brückner, T. Scheffer. Discriminative Learning Under Covariate Shift.
    Journal of Machine Learning Research 10, 2137–2155, 2009.
    B. Zadrozny. Learning and Evaluating Classifiers under Sample Selection Bias. ICML 2004.
    J. Platt. Probabilistic Outputs for Support Vector Machines and Comparisons to Regularized
    Likelihood Methods. Advances in Large Margin Classifiers, 1999.
    """

    def __init__(
        self,
        classifier: Any = None,
        calibration: str | None = "sigmoid",
        cv: int | None = 5,
        clip: float | None = None,
        clip_quantile: float | None = None,
        normalize: bool = True,
        estimator: Any = None,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.classifier = classifier
        self.calibration = calibration
        self.cv = cv
        self.clip = clip
        self.clip_quantile = clip_quantile
        self.normalize = normalize
        self.estimator = estimator
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        # calibration turns scores into probabilities: then decision_function is enough
        # (Platt scaling was made for SVMs)
        scores = ("predict_proba",) if self.calibration is None else ("predict_proba", "decision_function")
        if self.classifier is not None and not (
            hasattr(self.classifier, "fit") and any(hasattr(self.classifier, m) for m in scores)
        ):
            raise TypeError(
                f"classifier must be a sklearn classifier with {' or '.join(scores)}"
                f"{'' if self.calibration is None else ' (calibration uses either)'}, got "
                f"{type(self.classifier).__name__}"
            )
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        if self.cv is not None and not (
            is_integer(self.cv) and self.cv >= 2
        ):
            raise ValueError(f"cv must be an integer >= 2 or None, got {self.cv!r}")
        if self.clip is not None and not (
            is_real(self.clip) and self.clip > 0
        ):
            raise ValueError(f"clip must be a positive number or None, got {self.clip!r}")
        if self.clip_quantile is not None and not (
            is_real(self.clip_quantile) and 0 < self.clip_quantile <= 1
        ):
            raise ValueError(f"clip_quantile must be in (0, 1] or None, got {self.clip_quantile!r}")
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise ValueError(f"normalize must be True or False, got {self.normalize!r}")
        seed_from(self.random_state)

    def _new_classifier(self) -> Any:
        base = LogisticRegression(max_iter=1000) if self.classifier is None else self.classifier
        if self.calibration is None:
            return clone(base)
        return CalibratedClassifierCV(clone(base), method=self.calibration, cv=CALIBRATION_FOLDS)

    def _check_sizes(self, n_s: int, n_t: int) -> None:
        """Each fold split needs every domain in every part: fail early with the reason."""
        m = min(n_s, n_t)
        if self.cv is not None and m < self.cv:
            raise ValueError(
                f"cv={self.cv} folds need at least {self.cv} rows per domain (got {n_s} source, "
                f"{n_t} target rows)"
            )
        train = m if self.cv is None else m - math.ceil(m / self.cv)  # smallest training fold
        if self.calibration is not None and train < CALIBRATION_FOLDS:
            raise ValueError(
                f"calibration={self.calibration!r} cross-validates on {CALIBRATION_FOLDS} folds "
                f"of each training set, which then needs {CALIBRATION_FOLDS} rows per domain "
                f"(got {train}); use more rows, fewer cv folds or calibration=None"
            )

    @staticmethod
    def _ratio(classifier: Any, X: np.ndarray, prior_ratio: float) -> np.ndarray:
        """``prior_ratio · P(target|x) / P(source|x)``, probabilities kept inside [ε, 1 − ε]."""
        column = list(classifier.classes_).index(1)
        eps = np.finfo(np.float64).eps
        p = np.clip(classifier.predict_proba(X)[:, column].astype(np.float64), eps, 1 - eps)
        return prior_ratio * p / (1 - p)

    def _fit_weights(self, Xs: torch.Tensor, Xt: torch.Tensor) -> torch.Tensor:
        n_s, n_t = Xs.shape[0], Xt.shape[0]
        self._check_sizes(n_s, n_t)
        X = np.concatenate([to_numpy(Xs), to_numpy(Xt)])
        domain = np.concatenate([np.zeros(n_s, dtype=np.int64), np.ones(n_t, dtype=np.int64)])
        if self.cv is None:  # one classifier on all rows, in-sample ratios (no copies)
            clf = self._new_classifier().fit(X, domain)
            self.classifiers_, self.prior_ratios_ = [clf], [n_s / n_t]
            ratio = self._ratio(clf, X[:n_s], n_s / n_t)
        else:
            ratio = np.empty(n_s)
            self.classifiers_, self.prior_ratios_ = [], []
            folds = StratifiedKFold(int(self.cv), shuffle=True,
                                    random_state=seed_from(self.random_state))
            for train, test in folds.split(X, domain):
                clf = self._new_classifier().fit(X[train], domain[train])
                counts = np.bincount(domain[train], minlength=2)
                prior = float(counts[0] / counts[1])
                held_out_source = test[test < n_s]
                ratio[held_out_source] = self._ratio(clf, X[held_out_source], prior)
                self.classifiers_.append(clf)
                self.prior_ratios_.append(prior)
        caps = []
        if self.clip is not None:
            caps.append(float(self.clip))
        if self.clip_quantile is not None:
            caps.append(float(np.quantile(ratio, self.clip_quantile)))
        self.clip_value_ = min(caps) if caps else None
        if self.clip_value_ is not None:
            ratio = np.minimum(ratio, self.clip_value_)
        self.scale_ = float(1.0 / ratio.mean()) if self.normalize else 1.0
        return torch.as_tensor(ratio * self.scale_, dtype=Xs.dtype, device=Xs.device)

    def _weights(self, X: torch.Tensor) -> torch.Tensor:
        Xn = to_numpy(X)
        ratio = np.mean(
            [self._ratio(c, Xn, p) for c, p in zip(self.classifiers_, self.prior_ratios_)], axis=0
        )
        if self.clip_value_ is not None:
            ratio = np.minimum(ratio, self.clip_value_)
        return torch.as_tensor(ratio * self.scale_, dtype=X.dtype, device=X.device)
