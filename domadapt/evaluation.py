"""Metrics and unsupervised model selection.

Metrics (:func:`classification_metrics`, :func:`per_class_accuracy`) score predictions against
target labels, for the final report only. The scorers choose hyper-parameters *without* target
labels, from labelled source rows held out of training and the unlabelled target; see
``docs/evaluation.md``.
"""

from __future__ import annotations

import inspect
import math
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, r2_score, roc_auc_score
from sklearn.model_selection import KFold, ParameterGrid, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from ._array import ArrayLike, to_numpy
from ._config import get_config
from ._validation import check_array, check_same_features, is_classification_target, is_integer, is_real
from .base import Adapter, DAPipeline

__all__ = [
    "DeepEmbeddedValidationScorer",
    "DomainAwareSplit",
    "ImportanceWeightedScorer",
    "METRIC_NAMES",
    "PredictionEntropyScorer",
    "ReverseValidationScorer",
    "SCORERS",
    "SelectionResult",
    "SoftNeighborhoodDensityScorer",
    "SourceValidationScorer",
    "StackedAdapter",
    "classification_metrics",
    "deep_embedded_validation_score",
    "density_ratio_weights",
    "get_scorer",
    "importance_weighted_score",
    "per_class_accuracy",
    "prediction_entropy_score",
    "reverse_validation_score",
    "select_by_score",
    "soft_neighborhood_density",
    "stack_domains",
]

#: Keys of :func:`classification_metrics`, in table order.
METRIC_NAMES: tuple[str, ...] = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "auc_ovr")


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


def _labels_1d(y: Any, name: str) -> np.ndarray:
    if y is None:
        raise TypeError(f"{name} is None; expected a 1-D label vector")
    y = to_numpy(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity")
    return y


def _check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true = _labels_1d(y_true, "y_true")
    y_pred = _labels_1d(y_pred, "y_pred")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"y_true has {y_true.shape[0]} labels but y_pred has {y_pred.shape[0]}"
        )
    return y_true, y_pred


def _check_classes(classes: Any, *label_sets: np.ndarray) -> np.ndarray:
    """``classes`` as an array of distinct labels covering every label in ``label_sets``."""
    classes = to_numpy(classes).ravel()
    if classes.size == 0:
        raise ValueError("classes is empty")
    if np.unique(classes).size != classes.size:
        raise ValueError(f"classes repeats a label: {classes.tolist()}")
    for labels in label_sets:
        unknown = ~np.isin(labels, classes)
        if unknown.any():
            raise ValueError(
                f"labels {np.unique(labels[unknown])[:5].tolist()} are not in classes"
            )
    return classes


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: Any = None,
) -> dict[str, float]:
    r"""Accuracy, macro-F1, macro precision, macro recall and one-vs-rest macro AUC.

    Precision, recall and F1 are computed per class and averaged with equal class weights
    (macro average) over the classes that occur in ``y_true`` or ``y_pred`` — a class that
    occurs in neither has no defined value and is left out. An undefined precision (a class
    never predicted) or recall counts as 0 (``zero_division=0``), so a classifier that ignores
    a class is penalised rather than excused.

    The one-vs-rest AUC is the mean over ``classes`` of the area under the ROC curve of
    "class :math:`k`" against "any other class", scored by column :math:`k` of ``proba``
    (Provost & Domingos, 2000). Only the ranking within a column matters, so ``proba`` may be
    any per-class scores (probabilities, decision values). It is NaN when ``proba`` is None,
    when some class of ``classes`` is absent from ``y_true`` (its ROC curve has no positives),
    because averaging over the remaining classes would compare numbers computed on different
    class sets, and when ``y_true`` holds a label outside ``classes`` (a target class the
    classifier never saw, as in partial or open-set adaptation: it has no column).

    Parameters
    ----------
    y_true : array or tensor of shape (n,)
        True labels.
    y_pred : array or tensor of shape (n,)
        Predicted labels.
    proba : array or tensor of shape (n, n_classes), optional
        Per-class scores; column ``k`` belongs to ``classes[k]``.
    classes : array-like of shape (n_classes,), optional
        The class labels in the column order of ``proba`` (the ``classes_`` of the classifier).
        Default: the sorted labels of ``y_true`` and ``y_pred``; with ``proba`` given, its
        number of columns must then match. Every label of ``y_pred`` must be in it; a label of
        ``y_true`` outside it only makes the AUC NaN.

    Returns
    -------
    dict
        ``{"accuracy", "macro_f1", "macro_precision", "macro_recall", "auc_ovr"}`` →
        float (keys in :data:`METRIC_NAMES` order).

    References
    ----------
    C. J. van Rijsbergen. *Information Retrieval*, 2nd ed. Butterworths, 1979 (the F-measure).
    F. Provost, P. Domingos. *Well-trained PETs: Improving probability estimation trees.*
    CeDER Working Paper IS-00-04, New York University, 2000 (one-vs-rest multi-class AUC).
    T. Fawcett. *An introduction to ROC analysis.* Pattern Recognition Letters 27(8), 2006.

    Examples
    --------
    >>> classification_metrics([0, 0, 1, 1], [0, 1, 1, 1])["macro_recall"]
    0.75
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    present = np.union1d(y_true, y_pred)
    if classes is not None:
        # a true label outside classes (a target class the source never had: partial or
        # open-set adaptation) leaves the AUC undefined, not the other metrics
        classes = _check_classes(classes, y_pred)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=present, average="macro", zero_division=0.0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "auc_ovr": _auc_ovr(y_true, proba, present if classes is None else classes),
    }


def _auc_ovr(y_true: np.ndarray, proba: Any, classes: np.ndarray) -> float:
    if proba is None:
        return float("nan")
    scores = to_numpy(proba)
    if scores.ndim != 2 or scores.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"proba must have shape (n_samples={y_true.shape[0]}, n_classes), got {scores.shape}"
        )
    if scores.shape[1] != classes.shape[0]:
        raise ValueError(
            f"proba has {scores.shape[1]} columns but there are {classes.shape[0]} classes "
            f"({classes[:10].tolist()}); pass classes= in the column order of proba"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("proba contains NaN or infinity")
    if classes.shape[0] < 2 or not np.all(np.isin(classes, y_true)) or not np.all(np.isin(y_true, classes)):
        return float("nan")
    aucs = [roc_auc_score(y_true == c, scores[:, k]) for k, c in enumerate(classes)]
    return float(np.mean(aucs))


def per_class_accuracy(y_true: Any, y_pred: Any, classes: Any = None) -> np.ndarray:
    """Recall of each class: the fraction of its rows that are predicted as that class.

    Parameters
    ----------
    y_true, y_pred : array or tensor of shape (n,)
        True and predicted labels.
    classes : array-like, optional
        Classes to report, in this order (default: the sorted labels of ``y_true``). A class
        absent from ``y_true`` gets NaN.

    Returns
    -------
    ndarray of shape (n_classes,)
        Per-class accuracy in [0, 1]; its mean over classes is the macro recall (balanced
        accuracy) when every class occurs.

    References
    ----------
    K. H. Brodersen, C. S. Ong, K. E. Stephan, J. M. Buhmann. *The balanced accuracy and its
    posterior distribution.* ICPR 2010.

    Examples
    --------
    >>> per_class_accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]).tolist()
    [0.5, 0.6666666666666666]
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    classes = np.unique(y_true) if classes is None else _check_classes(classes, y_true)
    out = np.full(classes.shape[0], np.nan)
    for k, c in enumerate(classes):
        rows = y_true == c
        if rows.any():
            out[k] = float(np.mean(y_pred[rows] == c))
    return out


# --------------------------------------------------------------------------------------------
# stacked [source; target] data, for scikit-learn's model-selection tools
# --------------------------------------------------------------------------------------------


def _target_rows(y: np.ndarray) -> np.ndarray:
    """Boolean mask of the target rows of a stacked label vector (-1, or NaN for real labels)."""
    if y.dtype.kind == "f" and np.isnan(y).any():
        return np.isnan(y)
    return y == -1


def stack_domains(
    X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack source and target rows as ``[source; target]`` with masked target labels.

    scikit-learn's model-selection tools (``GridSearchCV``, ``cross_val_score``) pass one ``X``
    and one ``y`` around. In the stacked form the target rows carry the label ``-1`` (class
    labels) or NaN (real-valued labels), which is how :class:`StackedAdapter`, the scorers and
    :class:`DomainAwareSplit` tell the domains apart.

    Parameters
    ----------
    X_source : array or tensor of shape (n_source, n_features)
    y_source : array or tensor of shape (n_source,)
        Numeric source labels (class labels must not use ``-1``; encode string labels with
        ``sklearn.preprocessing.LabelEncoder`` first).
    X_target : array or tensor of shape (n_target, n_features)

    Returns
    -------
    X : ndarray of shape (n_source + n_target, n_features)
    y : ndarray of shape (n_source + n_target,)
        Source labels, then ``-1`` (or NaN) for every target row.
    sample_domain : ndarray of shape (n_source + n_target,)
        ``+1`` for source rows and ``-1`` for target rows (the sign convention of SKADA's
        ``sample_domain``); it can be passed as ``groups=`` to :class:`DomainAwareSplit`.

    References
    ----------
    L. Buitinck et al. *API design for machine learning software: experiences from the
    scikit-learn project.* ECML PKDD Workshop on Languages for Data Mining and Machine
    Learning, 2013 (the ``fit(X, y)`` convention this form fits into).
    """
    Xs = to_numpy(check_array(X_source, "X_source"))
    Xt = to_numpy(check_array(X_target, "X_target"))
    check_same_features(Xs, Xt, ("X_source", "X_target"))
    ys = _labels_1d(y_source, "y_source")
    if ys.shape[0] != Xs.shape[0]:
        raise ValueError(f"y_source has {ys.shape[0]} labels but X_source has {Xs.shape[0]} rows")
    if ys.dtype.kind in "bu":  # the mask -1 of the target rows needs a signed type
        ys = ys.astype(np.int64)
    if ys.dtype.kind not in "if":
        raise TypeError(
            f"y_source has dtype {ys.dtype}; stacked data need numeric labels (encode them with "
            "sklearn.preprocessing.LabelEncoder)"
        )
    if is_classification_target(ys):
        if np.any(ys == -1):
            raise ValueError("y_source uses the label -1, which marks target rows; re-encode the classes")
        mask = np.full(Xt.shape[0], -1, dtype=ys.dtype)
    else:
        ys = ys.astype(np.float64)
        mask = np.full(Xt.shape[0], np.nan)
    X = np.concatenate([Xs, Xt]).astype(_common_float(Xs, Xt), copy=False)
    y = np.concatenate([ys, mask])
    domain = np.r_[np.ones(Xs.shape[0], dtype=np.int64), -np.ones(Xt.shape[0], dtype=np.int64)]
    return X, y, domain


def _unstack(
    X: Any, y: Any, *, need_source: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split stacked data into ``(X_source, y_source, X_target)`` (``y=None``: all target)."""
    X = to_numpy(check_array(X, "X"))
    if y is None:
        target = np.ones(X.shape[0], dtype=bool)
        y = np.full(X.shape[0], -1)
    else:
        y = to_numpy(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be 1-D with {X.shape[0]} labels (one per row of X), got shape {y.shape}")
        target = _target_rows(y)
    if need_source and not np.any(~target):
        raise ValueError(
            "no source rows: every label is -1/NaN (the target mark); this scorer needs labelled "
            "source rows held out of training (use DomainAwareSplit(holdout='source'))"
        )
    if not np.any(target):
        raise ValueError(
            "no target rows: mark them with the label -1 (NaN for real labels), see stack_domains"
        )
    return X[~target], y[~target], X[target]


def _is_da(estimator: Any) -> bool:
    """Whether ``estimator.fit`` takes the target rows (an Adapter, a DAPipeline or alike)."""
    if isinstance(estimator, (Adapter, DAPipeline)):
        return True
    fit = getattr(estimator, "fit", None)
    if fit is None:
        return False
    try:
        return "X_target" in inspect.signature(fit).parameters
    except (TypeError, ValueError):
        return False


def _fit_da(estimator: Any, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> Any:
    """``fit(Xs, ys, Xt)`` for domain-adaptation estimators, ``fit(Xs, ys)`` for the others."""
    if not hasattr(estimator, "fit"):
        raise TypeError(f"{type(estimator).__name__} has no fit method")
    if _is_da(estimator):
        return estimator.fit(Xs, ys, Xt)
    return estimator.fit(Xs, ys)


def _unwrap(estimator: Any) -> Any:
    if isinstance(estimator, StackedAdapter):
        estimator._check_fitted()
        return estimator.estimator_
    return estimator


def _call(estimator: Any, method: str, X: Any, domain: str) -> np.ndarray:
    """``estimator.<method>(X, domain=domain)``, or without ``domain`` where it takes none."""
    func = getattr(estimator, method, None)
    if func is None:
        raise TypeError(f"{type(estimator).__name__} has no {method} method")
    try:
        takes_domain = "domain" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        takes_domain = False
    out = func(X, domain=domain) if takes_domain else func(X)
    return to_numpy(out)


def _common_float(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype both domains are stacked in: integer features of one domain never
    truncate the float features of the other."""
    return np.result_type(*(a.dtype for a in arrays), np.float32)


def _proba_classes(estimator: Any) -> np.ndarray:
    """Labels of the columns of ``estimator.predict_proba``."""
    if isinstance(estimator, Adapter):
        inner = getattr(estimator, "estimator_", None)
        if inner is None:
            # an adapter that predicts with its own head (a deep adapter): its classes
            if estimator._has_own_head() and getattr(estimator, "classes_", None) is not None:
                return np.asarray(estimator.classes_)
            raise TypeError(f"{type(estimator).__name__} has no fitted estimator (pass estimator=...)")
        return _proba_classes(inner)
    if isinstance(estimator, DAPipeline):
        return _proba_classes(estimator.named_steps[list(estimator.named_steps)[-1]])
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise TypeError(f"{type(estimator).__name__} exposes no classes_ for its predict_proba columns")
    return np.asarray(classes)


def _features(estimator: Any, X: np.ndarray, domain: str) -> np.ndarray:
    """The representation the final classifier sees.

    An Adapter's ``transform``; for a DAPipeline, ``X`` carried through every step but a final
    classifier; for a scikit-learn ``Pipeline``, every step but the last; otherwise ``X``. When
    the classifier at the end is itself a scikit-learn ``Pipeline`` (an adapter's ``estimator``
    such as ``make_pipeline(Normalizer(), KNeighborsClassifier())``, or a DAPipeline's last
    step), its steps but the last are applied too.
    """
    if isinstance(estimator, Adapter):
        Z = to_numpy(estimator.transform(X, domain=domain))
        return _features(getattr(estimator, "estimator_", None), Z, domain)
    if isinstance(estimator, DAPipeline):
        Z, last = estimator._carry(X, domain)
        return _features(last, to_numpy(Z), domain)
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        return to_numpy(estimator[:-1].transform(X))
    return X


class StackedAdapter(BaseEstimator):
    """An adapter (or DA pipeline) fitted from stacked ``[source; target]`` data.

    scikit-learn's ``GridSearchCV`` and ``cross_val_score`` call ``fit(X, y)``; this wrapper
    splits such a call into ``estimator.fit(X_source, y_source, X_target)``, the target rows
    being those labelled ``-1`` (NaN for real-valued labels; see :func:`stack_domains`).
    Hyper-parameters of the wrapped estimator are reached as ``estimator__<name>``
    (``estimator__reg`` for a :class:`~domadapt.CORAL`, ``estimator__coral__reg`` inside a
    :func:`~domadapt.make_da_pipeline`). An estimator whose ``fit`` takes no target (a plain
    scikit-learn classifier, the no-adaptation baseline) is fitted on the source rows only.

    Parameters
    ----------
    estimator : Adapter, DAPipeline or estimator
        Cloned before fitting.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.

    References
    ----------
    L. Buitinck et al. *API design for machine learning software: experiences from the
    scikit-learn project.* 2013 (the meta-estimator convention).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from domadapt import CORAL
    >>> from domadapt.datasets import make_shifted_blobs
    >>> from domadapt.evaluation import DomainAwareSplit, StackedAdapter, stack_domains
    >>> task = make_shifted_blobs(60, 60, random_state=0)
    >>> X, y, _ = stack_domains(task.source.X, task.source.y, task.target.X)
    >>> search = GridSearchCV(StackedAdapter(CORAL(estimator=LogisticRegression())),
    ...                       {"estimator__reg": [0.1, 1.0]}, cv=DomainAwareSplit(3, random_state=0))
    >>> search.fit(X, y).best_params_["estimator__reg"] in (0.1, 1.0)
    True
    """

    def __init__(self, estimator: Any):
        self.estimator = estimator

    def fit(self, X: ArrayLike, y: ArrayLike) -> "StackedAdapter":
        """Fit a clone of ``estimator`` on the source rows (labelled) and target rows (``-1``)."""
        Xs, ys, Xt = _unstack(X, y)
        self.estimator_ = _fit_da(clone(self.estimator), Xs, ys, Xt)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise NotFittedError("This StackedAdapter instance is not fitted yet; call fit(X, y)")

    def predict(self, X: ArrayLike, domain: str = "target") -> np.ndarray:
        """Labels of rows of ``domain`` (all rows are taken from that domain)."""
        self._check_fitted()
        return _call(self.estimator_, "predict", X, domain)

    def predict_proba(self, X: ArrayLike, domain: str = "target") -> np.ndarray:
        """Class probabilities of rows of ``domain``."""
        self._check_fitted()
        return _call(self.estimator_, "predict_proba", X, domain)

    def transform(self, X: ArrayLike, domain: str = "target") -> np.ndarray:
        """The adapted features of rows of ``domain`` (see the DEV scorer)."""
        self._check_fitted()
        return _features(self.estimator_, to_numpy(X), domain)

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Source-validation score: accuracy (R² for real labels) on the labelled rows of ``X``.

        Target rows (label ``-1``/NaN) are ignored, so with :class:`DomainAwareSplit` this is
        the plain "source-val" selection protocol, blind to the shift.
        """
        self._check_fitted()
        X = to_numpy(check_array(X, "X"))
        y = to_numpy(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        labelled = ~_target_rows(y)
        if not labelled.any():
            raise ValueError("no labelled (source) rows to score: every label is -1/NaN")
        ys = y[labelled]
        pred = _call(self.estimator_, "predict", X[labelled], "source")
        if is_classification_target(ys):
            return float(np.mean(pred == ys))
        return float(r2_score(ys, pred))


class DomainAwareSplit:
    """Cross-validation folds for stacked ``[source; target]`` data.

    Only one domain is split; the other stays in every training fold:

    ``holdout="source"`` (for IWV, DEV, reverse validation and source validation)
        The source rows are split into ``n_splits`` folds (stratified by class when the labels
        are classes). Each training set is all target rows plus the source rows of the other
        folds; each test set is the held-out source rows plus all target rows — the target is
        unlabelled, so showing it to both sides leaks no label, and the scorers need it to
        estimate the shift. A held-out source row is never in the training set.
    ``holdout="target"`` (for SND and prediction entropy, inductive)
        The target rows are split into folds; each training set is all source rows plus the
        target rows of the other folds, each test set the held-out target rows only.

    The domains are read from ``groups`` (a ``sample_domain`` vector: positive for source rows,
    negative for target rows, as :func:`stack_domains` returns) when it is given, otherwise from
    ``y`` (target rows labelled ``-1``, or NaN). Works as ``cv=`` of ``cross_val_score``,
    ``GridSearchCV`` and :func:`select_by_score`.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (at least 2).
    holdout : {"source", "target"}, default="source"
        The domain whose rows are held out.
    shuffle : bool, default=True
        Shuffle the rows of that domain before cutting folds.
    random_state : int or None, default=None
        Seed of the shuffle.

    References
    ----------
    M. Sugiyama, M. Krauledat, K.-R. Müller. *Covariate Shift Adaptation by Importance Weighted
    Cross Validation.* JMLR 8, 2007 (k-fold splits of the source under covariate shift).
    R. Kohavi. *A study of cross-validation and bootstrap for accuracy estimation and model
    selection.* IJCAI 1995 (stratified k-fold).
    """

    def __init__(
        self,
        n_splits: int = 5,
        holdout: str = "source",
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.n_splits = n_splits
        self.holdout = holdout
        self.shuffle = shuffle
        self.random_state = random_state

    def __repr__(self) -> str:
        return (
            f"DomainAwareSplit(n_splits={self.n_splits!r}, holdout={self.holdout!r}, "
            f"shuffle={self.shuffle!r}, random_state={self.random_state!r})"
        )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds."""
        self._check_params()
        return int(self.n_splits)

    def _check_params(self) -> None:
        if not (is_integer(self.n_splits) and self.n_splits >= 2):
            raise ValueError(f"n_splits must be an integer of at least 2, got {self.n_splits!r}")
        if self.holdout not in ("source", "target"):
            raise ValueError(f"holdout must be 'source' or 'target', got {self.holdout!r}")

    def _target_mask(self, n: int, y: Any, groups: Any) -> np.ndarray:
        from_y = None
        if y is not None:
            y = to_numpy(y)
            if y.shape != (n,):
                raise ValueError(f"y must have shape ({n},), got {y.shape}")
            from_y = _target_rows(y)
        if groups is None:
            if from_y is None:
                raise ValueError(
                    "DomainAwareSplit needs the domains: pass y with target rows labelled -1 "
                    "(see stack_domains) or groups=sample_domain"
                )
            return from_y
        groups = to_numpy(groups)
        if groups.shape != (n,) or groups.dtype.kind not in "iuf" or np.any(groups == 0):
            raise ValueError(
                "groups must be a sample_domain vector of length n_samples: positive for source "
                "rows, negative for target rows"
            )
        target = groups < 0
        if from_y is not None and not np.array_equal(from_y, target):
            raise ValueError(
                "groups (sample_domain) and y disagree on which rows are target rows; label the "
                "target rows -1 in y"
            )
        return target

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for each fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Stacked labels, ``-1`` (or NaN) on target rows.
        groups : array-like of shape (n_samples,), optional
            ``sample_domain``: positive for source rows, negative for target rows.
        """
        self._check_params()
        n = len(X)
        target = self._target_mask(n, y, groups)
        src, tgt = np.flatnonzero(~target), np.flatnonzero(target)
        if src.size == 0 or tgt.size == 0:
            raise ValueError(
                f"DomainAwareSplit needs both domains; got {src.size} source and {tgt.size} target rows"
            )
        held = src if self.holdout == "source" else tgt
        if held.size < self.n_splits:
            raise ValueError(
                f"n_splits={self.n_splits} is more than the {held.size} {self.holdout} rows to split"
            )
        seed = self.random_state if self.shuffle else None
        labels = None if y is None or self.holdout == "target" else to_numpy(y)[src]
        folds: Any
        if labels is not None and is_classification_target(labels) and (
            np.unique(labels, return_counts=True)[1].min() >= self.n_splits
        ):
            folds = StratifiedKFold(self.n_splits, shuffle=self.shuffle, random_state=seed).split(held, labels)
        else:
            folds = KFold(self.n_splits, shuffle=self.shuffle, random_state=seed).split(held)
        every = np.arange(n)
        for _, fold in folds:
            test_held = held[fold]
            train = np.setdiff1d(every, test_held, assume_unique=True)
            test = np.sort(np.concatenate([test_held, tgt])) if self.holdout == "source" else np.sort(test_held)
            yield train, test


# --------------------------------------------------------------------------------------------
# importance weights and losses
# --------------------------------------------------------------------------------------------

_LOSSES = ("zero_one", "log_loss", "squared_error")
_EPS_PROBA = 1e-12


def _default_domain_classifier(random_state: int | None) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=random_state))


def density_ratio_weights(
    X_source: ArrayLike,
    X_target: ArrayLike,
    *,
    domain_classifier: Any = None,
    cv: int | None = 5,
    random_state: int | None = 0,
) -> np.ndarray:
    r"""Importance weights :math:`p_t(x)/p_s(x)` at the source rows, from a domain classifier.

    A probabilistic classifier is trained to tell source rows (label 0) from target rows
    (label 1). By Bayes' rule, with :math:`n_s` source and :math:`n_t` target training rows,

    .. math::
        w(x) = \frac{p_t(x)}{p_s(x)} = \frac{n_s}{n_t}\,\frac{P(\text{target}\mid x)}{P(\text{source}\mid x)}.

    The probabilities are *cross-fitted*: each source row is scored by a classifier trained on
    the other ``cv`` − 1 stratified folds of the pooled rows, so that no weight comes from a
    classifier that saw its row (an in-sample classifier over-separates the domains, most of
    all in high dimension). The default classifier, a logistic regression on standardised
    features, models a log-linear ratio — exact for two Gaussians with a shared covariance.
    Probabilities are clipped to :math:`[10^{-12}, 1 - 10^{-12}]` so that the weights stay finite.

    Parameters
    ----------
    X_source : array or tensor of shape (n_source, n_features)
    X_target : array or tensor of shape (n_target, n_features)
    domain_classifier : sklearn classifier with ``predict_proba``, optional
        Cloned before fitting. Default: ``StandardScaler`` + ``LogisticRegression(C=1)``.
    cv : int or None, default=5
        Number of cross-fitting folds; None trains one classifier on every row (in-sample).
    random_state : int or None, default=0
        Seed of the folds and of the default classifier.

    Returns
    -------
    ndarray of shape (n_source,)
        Non-negative weights; their mean estimates 1 when the classifier is well calibrated.

    References
    ----------
    S. Bickel, M. Brückner, T. Scheffer. *Discriminative learning under covariate shift.*
    JMLR 10, 2009.
    K. You, X. Wang, M. Long, M. I. Jordan. *Towards Accurate Model Selection in Deep
    Unsupervised Domain Adaptation.* ICML 2019 (the density ratio of DEV).
    """
    Xs = to_numpy(check_array(X_source, "X_source"))
    Xt = to_numpy(check_array(X_target, "X_target"))
    check_same_features(Xs, Xt, ("X_source", "X_target"))
    ns, nt = Xs.shape[0], Xt.shape[0]
    clf = _default_domain_classifier(random_state) if domain_classifier is None else clone(domain_classifier)
    if not hasattr(clf, "predict_proba"):
        raise TypeError(f"domain_classifier {type(clf).__name__} has no predict_proba")
    Z = np.concatenate([Xs, Xt]).astype(_common_float(Xs, Xt), copy=False)
    Xs = Z[:ns]
    d = np.r_[np.zeros(ns, dtype=np.int64), np.ones(nt, dtype=np.int64)]
    if cv is None:
        p = clf.fit(Z, d).predict_proba(Xs)[:, 1]
    else:
        if not (is_integer(cv) and cv >= 2):
            raise ValueError(f"cv must be an integer of at least 2 or None, got {cv!r}")
        if min(ns, nt) < cv:
            raise ValueError(f"cv={cv} folds need at least {cv} rows per domain; got {ns} source, {nt} target")
        folds = StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
        p = cross_val_predict(clf, Z, d, cv=folds, method="predict_proba")[:ns, 1]
    p = np.clip(p.astype(np.float64), _EPS_PROBA, 1.0 - _EPS_PROBA)
    return (ns / nt) * p / (1.0 - p)


def _resolve_weights(
    weights: Any,
    Zs: np.ndarray,
    ys: np.ndarray,
    Zt: np.ndarray,
    domain_classifier: Any,
    cv: int | None,
    random_state: int | None,
) -> np.ndarray:
    """Importance weights of the source rows ``Zs`` from the ``weights`` argument of a scorer."""
    if weights is None:
        w: Any = density_ratio_weights(
            Zs, Zt, domain_classifier=domain_classifier, cv=cv, random_state=random_state
        )
    elif hasattr(weights, "compute_weights"):
        try:
            w = weights.compute_weights(Zs)
        except NotFittedError:
            w = clone(weights).fit(Zs, ys, Zt).sample_weight_
    elif callable(weights):
        w = weights(Zs, Zt)
    elif isinstance(weights, (np.ndarray, torch.Tensor, list, tuple)):
        w = weights
    else:
        raise TypeError(
            "weights must be None, an array of source weights, a callable weights(X_source, "
            f"X_target), or an object with compute_weights; got {type(weights).__name__}"
        )
    w = np.asarray(to_numpy(w), dtype=np.float64)
    if w.shape != (Zs.shape[0],):
        raise ValueError(f"weights must have shape ({Zs.shape[0]},) (one per source row), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    return w


def _pointwise_loss(estimator: Any, Xs: np.ndarray, ys: np.ndarray, loss: str) -> np.ndarray:
    """Loss of each source row under the fitted ``estimator`` (predicting in the source domain)."""
    if loss == "zero_one":
        return (_call(estimator, "predict", Xs, "source") != ys).astype(np.float64)
    if loss == "squared_error":
        pred = _call(estimator, "predict", Xs, "source").astype(np.float64)
        return (pred - ys.astype(np.float64)) ** 2
    if loss == "log_loss":
        proba = _call(estimator, "predict_proba", Xs, "source")
        classes = _proba_classes(estimator)
        column = {c: k for k, c in enumerate(classes.tolist())}
        p = np.array([proba[i, column[c]] if c in column else 0.0 for i, c in enumerate(ys.tolist())])
        return -np.log(np.clip(p, 1e-15, 1.0))
    raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")


def _check_domains(X_source: Any, y_source: Any, X_target: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Xs = to_numpy(check_array(X_source, "X_source"))
    Xt = to_numpy(check_array(X_target, "X_target"))
    check_same_features(Xs, Xt, ("X_source", "X_target"))
    ys = _labels_1d(y_source, "y_source")
    if ys.shape[0] != Xs.shape[0]:
        raise ValueError(f"y_source has {ys.shape[0]} labels but X_source has {Xs.shape[0]} rows")
    return Xs, ys, Xt


def _check_loss(loss: str) -> None:
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")


# --------------------------------------------------------------------------------------------
# the scores, as plain functions of a fitted estimator
# --------------------------------------------------------------------------------------------


def importance_weighted_score(
    estimator: Any,
    X_source: ArrayLike,
    y_source: ArrayLike,
    X_target: ArrayLike,
    *,
    loss: str = "zero_one",
    weights: Any = None,
    normalize: bool = False,
    domain_classifier: Any = None,
    cv: int | None = 5,
    random_state: int | None = 0,
) -> float:
    r"""Importance-weighted validation (IWV): minus the importance-weighted source risk.

    Under covariate shift (:math:`p_t(y\mid x) = p_s(y\mid x)`), the target risk of a model
    :math:`f` equals a source expectation re-weighted by the density ratio, and its empirical
    version on held-out source rows is unbiased:

    .. math::
        R_t(f) = \mathbb E_{x\sim p_s}\!\left[w(x)\,\ell(f(x), y)\right]
        \approx \frac1n \sum_{i=1}^{n} w(x_i)\,\ell(f(x_i), y_i),
        \qquad w = p_t/p_s .

    The weights live in the *input* space, where the covariate-shift assumption is made. With
    ``normalize=True`` the sum is divided by :math:`\sum_i w(x_i)` instead of :math:`n` (the
    self-normalised estimator: slightly biased, but bounded by the largest loss, which keeps it
    usable when estimated weights are extreme).

    IWV is only as good as the weights: when a domain classifier separates the domains almost
    perfectly (proxy A-distance near 2), the estimated ratios span many orders of magnitude and
    the unnormalised estimate is dominated by a handful of rows.

    Parameters
    ----------
    estimator : fitted Adapter, DAPipeline, StackedAdapter or sklearn estimator
        Predicts the source rows (``domain="source"`` where the estimator takes a domain).
    X_source, y_source : held-out labelled source rows
        Rows the estimator was **not** trained on.
    X_target : array or tensor of shape (n_target, n_features)
        Unlabelled target rows (used for the density ratio only).
    loss : {"zero_one", "log_loss", "squared_error"}, default="zero_one"
        Pointwise loss (``log_loss`` needs ``predict_proba``; ``squared_error`` is for regression).
    weights : None, array, callable or instance adapter, default=None
        None: :func:`density_ratio_weights` from a cross-fitted domain classifier; an array of
        shape (n_source,); a callable ``weights(X_source, X_target) -> array``; or an object
        with ``compute_weights(X)`` (the instance-based adapters of ``domadapt.instance``: used
        as fitted, or cloned and fitted on ``(X_source, y_source, X_target)`` when unfitted).
    normalize : bool, default=False
        Self-normalise: divide by the sum of the weights rather than by ``n``.
    domain_classifier, cv, random_state
        Passed to :func:`density_ratio_weights` when ``weights`` is None.

    Returns
    -------
    float
        :math:`-\hat R_t(f)`, so that higher is better (with ``zero_one``, minus the estimated
        target error rate).

    References
    ----------
    M. Sugiyama, M. Krauledat, K.-R. Müller. *Covariate Shift Adaptation by Importance Weighted
    Cross Validation.* JMLR 8, 2007.
    H. Shimodaira. *Improving predictive inference under covariate shift by weighting the
    log-likelihood function.* J. Statistical Planning and Inference 90(2), 2000.
    T. Hesterberg. *Weighted average importance sampling and defensive mixture distributions.*
    Technometrics 37(2), 1995 (the self-normalised estimator).
    """
    _check_loss(loss)
    est = _unwrap(estimator)
    Xs, ys, Xt = _check_domains(X_source, y_source, X_target)
    w = _resolve_weights(weights, Xs, ys, Xt, domain_classifier, cv, random_state)
    weighted = w * _pointwise_loss(est, Xs, ys, loss)
    if normalize:
        total = float(np.sum(w))
        if total <= 0.0:
            raise ValueError("normalize=True needs weights with a positive sum")
        return -float(np.sum(weighted)) / total
    return -float(np.mean(weighted))


def _control_variate_risk(L: np.ndarray, W: np.ndarray) -> float:
    """``mean(L) + η mean(W) − η`` with ``η = −Cov(L, W) / Var(W)`` (You et al., 2019, Eq. 9)."""
    if L.shape[0] < 2:
        return float(np.mean(L))
    var_w = float(np.var(W, ddof=1))
    eta = 0.0 if var_w <= 0.0 else -float(np.cov(L, W, ddof=1)[0, 1]) / var_w
    return float(np.mean(L) + eta * np.mean(W) - eta)


def deep_embedded_validation_score(
    estimator: Any,
    X_source: ArrayLike,
    y_source: ArrayLike,
    X_target: ArrayLike,
    *,
    loss: str = "zero_one",
    weights: Any = None,
    domain_classifier: Any = None,
    cv: int | None = 5,
    random_state: int | None = 0,
) -> float:
    r"""Deep embedded validation (DEV): IWV in the adapted feature space, with a control variate.

    The density ratio is estimated on the *features* the classifier sees
    (:math:`z = \phi(x)`: an adapter's ``transform``, the carried features of a DA pipeline),
    where an adapted model makes the domains overlap and the ratio is easier to estimate. With
    :math:`L_i = w_i\,\ell_i` and :math:`W_i = w_i`, whose expectation under the source is
    exactly 1, the control-variate estimate

    .. math::
        \hat R_{\mathrm{DEV}} = \overline{L} + \eta\,\overline{W} - \eta,
        \qquad \eta = -\frac{\widehat{\mathrm{Cov}}(L, W)}{\widehat{\mathrm{Var}}(W)},

    keeps the expectation of :math:`\overline{L}` (up to the :math:`O(1/n)` effect of
    estimating :math:`\eta`) and lowers its variance, by :math:`\mathrm{Corr}(L, W)^2` in
    relative terms. A constant loss :math:`\ell` is recovered exactly, whatever the weights.

    Like IWV it needs overlapping domains: with estimated weights spanning many orders of
    magnitude (a domain classifier that separates the features almost perfectly) the estimate
    is unstable and can even leave the range of the loss.

    Parameters
    ----------
    estimator : fitted Adapter, DAPipeline, StackedAdapter or sklearn estimator
    X_source, y_source : held-out labelled source rows
    X_target : unlabelled target rows
    loss : {"zero_one", "log_loss", "squared_error"}, default="zero_one"
        The paper uses the cross-entropy (``log_loss``); 0-1 gives an error-rate scale.
    weights : None, array, callable or instance adapter, default=None
        As in :func:`importance_weighted_score`, but evaluated on the features: a callable
        receives ``(Z_source, Z_target)``; None fits the domain classifier on the features.
    domain_classifier, cv, random_state
        Passed to :func:`density_ratio_weights` when ``weights`` is None.

    Returns
    -------
    float
        :math:`-\hat R_{\mathrm{DEV}}` (higher is better).

    References
    ----------
    K. You, X. Wang, M. Long, M. I. Jordan. *Towards Accurate Model Selection in Deep
    Unsupervised Domain Adaptation.* ICML 2019.
    """
    _check_loss(loss)
    est = _unwrap(estimator)
    Xs, ys, Xt = _check_domains(X_source, y_source, X_target)
    Zs, Zt = _features(est, Xs, "source"), _features(est, Xt, "target")
    w = _resolve_weights(weights, Zs, ys, Zt, domain_classifier, cv, random_state)
    return -_control_variate_risk(w * _pointwise_loss(est, Xs, ys, loss), w)


def _target_representation(estimator: Any, X_target: ArrayLike, representation: str) -> np.ndarray:
    Xt = to_numpy(check_array(X_target, "X_target"))
    if representation == "proba":
        P = _call(estimator, "predict_proba", Xt, "target")
    elif representation == "features":
        P = _features(estimator, Xt, "target")
    else:
        raise ValueError(f"representation must be 'proba' or 'features', got {representation!r}")
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != Xt.shape[0] or not np.all(np.isfinite(P)):
        raise ValueError(f"the {representation} of X_target must be a finite (n_target, k) array, got {P.shape}")
    return P


def soft_neighborhood_density(
    estimator: Any,
    X_target: ArrayLike,
    *,
    temperature: float = 0.05,
    representation: str = "proba",
    chunk_size: int | None = None,
) -> float:
    r"""Soft neighbourhood density (SND): how densely the target predictions cluster.

    Each target row :math:`i` is represented by its L2-normalised prediction vector
    :math:`p_i` (softmax outputs; or the adapted features). Its similarity to every other
    target row is turned into a neighbourhood distribution and the score is the mean entropy
    of those distributions:

    .. math::
        P_{ij} = \frac{\exp(p_i^\top p_j/\tau)}{\sum_{k\ne i}\exp(p_i^\top p_k/\tau)}\ (j\ne i),
        \qquad
        \mathrm{SND} = -\frac1n\sum_i\sum_{j\ne i} P_{ij}\log P_{ij}.

    A model whose target predictions form dense, well-separated clusters gives each row many
    near-identical neighbours, hence a high entropy; decision boundaries through dense regions
    (or scattered, noisy predictions) give few close neighbours, hence a low one. Self-similarity
    is left out. The score is maximal, :math:`\log(n-1)`, when every prediction is the same
    vector — a collapsed model scores best, so compare models trained with source supervision,
    as in the paper. Memory stays linear in ``n``: the similarities are computed in row blocks.

    Parameters
    ----------
    estimator : fitted Adapter, DAPipeline, StackedAdapter or classifier
        Needs ``predict_proba`` for ``representation="proba"``.
    X_target : array or tensor of shape (n_target, n_features)
        At least two rows.
    temperature : float, default=0.05
        :math:`\tau`, the value of the paper.
    representation : {"proba", "features"}, default="proba"
    chunk_size : int, optional
        Rows per block (default ``get_config()["chunk_size"]``).

    Returns
    -------
    float
        SND, in :math:`[0, \log(n-1)]`; higher is better.

    References
    ----------
    K. Saito, D. Kim, P. Teterwak, S. Sclaroff, T. Darrell, K. Saenko. *Tune it the Right Way:
    Unsupervised Validation of Domain Adaptation via Soft Neighborhood Density.* ICCV 2021.
    """
    if not (is_real(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    P = _target_representation(_unwrap(estimator), X_target, representation)
    n = P.shape[0]
    if n < 2:
        raise ValueError("X_target needs at least two rows for neighbourhoods")
    chunk = int(get_config()["chunk_size"] if chunk_size is None else chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size!r}")
    T = torch.nn.functional.normalize(torch.as_tensor(P), dim=1)
    total = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        S = (T[start:stop] @ T.T) / float(temperature)
        rows = torch.arange(stop - start)
        S[rows, rows + start] = -math.inf
        logp = torch.log_softmax(S, dim=1)
        plogp = torch.where(torch.isfinite(logp), logp.exp() * logp, torch.zeros_like(logp))
        total += float(-plogp.sum())
    return total / n


def prediction_entropy_score(estimator: Any, X_target: ArrayLike) -> float:
    r"""Minus the mean entropy of the target predictions.

    .. math::
        -\frac1n \sum_{i=1}^n H(p_i), \qquad H(p) = -\sum_k p_k \log p_k \quad (0\log 0 = 0).

    Confident target predictions (low entropy) suggest target rows lie away from the decision
    boundaries, the low-density separation assumption behind entropy minimisation. It cannot
    tell a confident *wrong* model from a right one, and it favours over-confident classifiers;
    use it to compare models of the same family.

    Parameters
    ----------
    estimator : fitted Adapter, DAPipeline, StackedAdapter or classifier with ``predict_proba``
    X_target : array or tensor of shape (n_target, n_features)

    Returns
    -------
    float
        In :math:`[-\log K, 0]` for :math:`K` classes; higher is better.

    References
    ----------
    Y. Grandvalet, Y. Bengio. *Semi-supervised Learning by Entropy Minimization.* NIPS 2004.
    P. Morerio, J. Cavazza, V. Murino. *Minimal-Entropy Correlation Alignment for Unsupervised
    Deep Domain Adaptation.* ICLR 2018 (target entropy as a validation criterion).
    """
    P = _target_representation(_unwrap(estimator), X_target, "proba")
    if np.any(P < -1e-9) or np.any(P > 1 + 1e-9):
        raise ValueError("predict_proba returned values outside [0, 1]")
    P = np.clip(P, 0.0, 1.0)
    logP = np.log(np.where(P > 0, P, 1.0))
    return float(np.mean(np.sum(P * logP, axis=1)))


def reverse_validation_score(estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
    r"""Reverse validation (RV): adapt back from the pseudo-labelled target and score on the source.

    1. The fitted ``estimator`` (trained on other source rows and the target) labels the
       target: :math:`\hat y_t = f(X_t)`.
    2. A *reverse* model — a clone with the same hyper-parameters — is fitted with the domains
       swapped: the pseudo-labelled target as its source, the held-out source rows
       ``X_source`` (their labels unseen) as its unlabelled target.
    3. The score is the reverse model's accuracy on ``(X_source, y_source)`` (minus the mean
       squared error for real labels).

    A setting that maps the domains onto each other faithfully transfers the labels there and
    back; a broken one loses them on the way. When the pseudo-labels hold a single class, the
    reverse model can only predict that class, and the score is that prediction's accuracy.

    Parameters
    ----------
    estimator : fitted Adapter, DAPipeline, StackedAdapter or sklearn estimator
        Cloned for the reverse model (an estimator whose ``fit`` takes no target is refitted on
        the pseudo-labelled target alone).
    X_source, y_source : held-out labelled source rows
    X_target : unlabelled target rows

    Returns
    -------
    float
        Higher is better.

    References
    ----------
    E. Zhong, W. Fan, Q. Yang, O. Verscheure, J. Ren. *Cross Validation Framework to Choose
    amongst Models and Datasets for Transfer Learning.* ECML PKDD 2010.
    L. Bruzzone, M. Marconcini. *Domain Adaptation Problems: A DASVM Classification Technique
    and a Circular Validation Strategy.* IEEE TPAMI 32(5), 2010.
    """
    est = _unwrap(estimator)
    Xs, ys, Xt = _check_domains(X_source, y_source, X_target)
    classify = is_classification_target(ys)
    pseudo = _call(est, "predict", Xt, "target")
    if classify and np.unique(pseudo).size < 2:
        pred = np.full(ys.shape[0], pseudo[0])
    else:
        reverse = clone(est)
        if _is_da(reverse):
            reverse.fit(Xt, pseudo, Xs)
        else:
            reverse.fit(Xt, pseudo)
        pred = _call(reverse, "predict", Xs, "target")
    if classify:
        return float(np.mean(pred == ys))
    return -float(np.mean((pred.astype(np.float64) - ys.astype(np.float64)) ** 2))


# --------------------------------------------------------------------------------------------
# the scores as scikit-learn scorers: scorer(estimator, X, y) on stacked data
# --------------------------------------------------------------------------------------------


class _DomainScorer(BaseEstimator, metaclass=ABCMeta):
    """Shared call protocol: ``scorer(estimator, X, y=None)`` on stacked ``[source; target]`` rows."""

    #: short name used in records and by :func:`get_scorer`
    name: str = ""
    _needs_source: bool = True

    def __call__(self, estimator: Any, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """Score the fitted ``estimator`` on a test fold (target rows labelled ``-1``/NaN)."""
        Xs, ys, Xt = _unstack(X, y, need_source=self._needs_source)
        return self.score(estimator, Xs, ys, Xt)

    @abstractmethod
    def score(self, estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
        """The score of the fitted ``estimator`` from held-out source rows and target rows."""


class SourceValidationScorer(_DomainScorer):
    """Source validation: minus the mean loss on held-out source rows, blind to the shift.

    The baseline protocol that every unsupervised scorer should beat: it equals
    :func:`importance_weighted_score` with unit weights.

    Parameters
    ----------
    loss : {"zero_one", "log_loss", "squared_error"}, default="zero_one"

    References
    ----------
    M. Stone. *Cross-validatory choice and assessment of statistical predictions.* JRSS B 36(2),
    1974.
    """

    name = "source_val"

    def __init__(self, loss: str = "zero_one"):
        self.loss = loss

    def score(self, estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
        """Minus the unweighted mean loss of ``estimator`` on ``(X_source, y_source)``."""
        Xs, ys, Xt = _check_domains(X_source, y_source, X_target)
        return importance_weighted_score(estimator, Xs, ys, Xt, loss=self.loss, weights=np.ones(Xs.shape[0]))


class ImportanceWeightedScorer(_DomainScorer):
    """Importance-weighted validation as a scorer; see :func:`importance_weighted_score`.

    Parameters
    ----------
    loss : {"zero_one", "log_loss", "squared_error"}, default="zero_one"
    weights : None, callable or instance adapter, default=None
        How to weight the held-out source rows (an array is not accepted here: the rows change
        with every fold).
    normalize : bool, default=False
        Self-normalised estimate.
    domain_classifier : sklearn classifier, optional
    cv : int or None, default=5
        Cross-fitting folds of the domain classifier.
    random_state : int or None, default=0

    References
    ----------
    M. Sugiyama, M. Krauledat, K.-R. Müller. *Covariate Shift Adaptation by Importance Weighted
    Cross Validation.* JMLR 8, 2007.
    """

    name = "iwv"

    def __init__(
        self,
        loss: str = "zero_one",
        weights: Any = None,
        normalize: bool = False,
        domain_classifier: Any = None,
        cv: int | None = 5,
        random_state: int | None = 0,
    ):
        self.loss = loss
        self.weights = weights
        self.normalize = normalize
        self.domain_classifier = domain_classifier
        self.cv = cv
        self.random_state = random_state

    def score(self, estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
        """IWV of ``estimator`` on held-out source rows and the target rows."""
        if isinstance(self.weights, (np.ndarray, torch.Tensor, list, tuple)):
            raise TypeError("ImportanceWeightedScorer takes weights as None, a callable or an adapter, not an array")
        return importance_weighted_score(
            estimator, X_source, y_source, X_target, loss=self.loss, weights=self.weights,
            normalize=self.normalize, domain_classifier=self.domain_classifier, cv=self.cv, random_state=self.random_state,
        )


class DeepEmbeddedValidationScorer(_DomainScorer):
    """Deep embedded validation as a scorer; see :func:`deep_embedded_validation_score`.

    Parameters
    ----------
    loss : {"zero_one", "log_loss", "squared_error"}, default="zero_one"
    weights : None, callable or instance adapter, default=None
    domain_classifier : sklearn classifier, optional
    cv : int or None, default=5
    random_state : int or None, default=0

    References
    ----------
    K. You, X. Wang, M. Long, M. I. Jordan. *Towards Accurate Model Selection in Deep
    Unsupervised Domain Adaptation.* ICML 2019.
    """

    name = "dev"

    def __init__(
        self,
        loss: str = "zero_one",
        weights: Any = None,
        domain_classifier: Any = None,
        cv: int | None = 5,
        random_state: int | None = 0,
    ):
        self.loss = loss
        self.weights = weights
        self.domain_classifier = domain_classifier
        self.cv = cv
        self.random_state = random_state

    def score(self, estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
        """DEV of ``estimator`` on held-out source rows and the target rows."""
        if isinstance(self.weights, (np.ndarray, torch.Tensor, list, tuple)):
            raise TypeError("DeepEmbeddedValidationScorer takes weights as None, a callable or an adapter, not an array")
        return deep_embedded_validation_score(
            estimator, X_source, y_source, X_target, loss=self.loss, weights=self.weights,
            domain_classifier=self.domain_classifier, cv=self.cv, random_state=self.random_state,
        )


class SoftNeighborhoodDensityScorer(_DomainScorer):
    """Soft neighbourhood density as a scorer; see :func:`soft_neighborhood_density`.

    Uses the target rows of the test fold only (labels are not needed: ``y`` may be None).

    Parameters
    ----------
    temperature : float, default=0.05
    representation : {"proba", "features"}, default="proba"

    References
    ----------
    K. Saito, D. Kim, P. Teterwak, S. Sclaroff, T. Darrell, K. Saenko. *Tune it the Right Way:
    Unsupervised Validation of Domain Adaptation via Soft Neighborhood Density.* ICCV 2021.
    """

    name = "snd"
    _needs_source = False

    def __init__(self, temperature: float = 0.05, representation: str = "proba"):
        self.temperature = temperature
        self.representation = representation

    def score(self, estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
        """SND of ``estimator`` on ``X_target`` (the source rows are not used)."""
        return soft_neighborhood_density(
            estimator, X_target, temperature=self.temperature, representation=self.representation
        )


class PredictionEntropyScorer(_DomainScorer):
    """Minus the mean target prediction entropy as a scorer; see :func:`prediction_entropy_score`.

    References
    ----------
    P. Morerio, J. Cavazza, V. Murino. *Minimal-Entropy Correlation Alignment for Unsupervised
    Deep Domain Adaptation.* ICLR 2018.
    """

    name = "entropy"
    _needs_source = False

    def score(self, estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
        """Minus the mean entropy of ``estimator``'s predictions on ``X_target``."""
        return prediction_entropy_score(estimator, X_target)


class ReverseValidationScorer(_DomainScorer):
    """Reverse validation as a scorer; see :func:`reverse_validation_score`.

    References
    ----------
    E. Zhong, W. Fan, Q. Yang, O. Verscheure, J. Ren. *Cross Validation Framework to Choose
    amongst Models and Datasets for Transfer Learning.* ECML PKDD 2010.
    """

    name = "rv"

    def score(self, estimator: Any, X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike) -> float:
        """Reverse-validation accuracy of ``estimator``'s setting on the held-out source rows."""
        return reverse_validation_score(estimator, X_source, y_source, X_target)


#: Scorer name → class, for :func:`get_scorer` and the benchmark runner's ``--selection``.
SCORERS: dict[str, type[_DomainScorer]] = {
    cls.name: cls
    for cls in (
        SourceValidationScorer,
        ImportanceWeightedScorer,
        DeepEmbeddedValidationScorer,
        SoftNeighborhoodDensityScorer,
        PredictionEntropyScorer,
        ReverseValidationScorer,
    )
}


def get_scorer(name: str, **params: Any) -> _DomainScorer:
    """A scorer by name: ``"source_val"``, ``"iwv"``, ``"dev"``, ``"snd"``, ``"entropy"`` or ``"rv"``.

    Parameters
    ----------
    name : str
    **params
        Passed to the scorer's constructor.

    Returns
    -------
    scorer
        A callable ``scorer(estimator, X, y=None) -> float``.

    References
    ----------
    See each scorer class (:data:`SCORERS`).
    """
    cls = SCORERS.get(name)
    if cls is None:
        raise ValueError(f"unknown scorer {name!r}; use one of {', '.join(SCORERS)}")
    return cls(**params)


# --------------------------------------------------------------------------------------------
# model selection
# --------------------------------------------------------------------------------------------


@dataclass
class SelectionResult:
    """The outcome of :func:`select_by_score`.

    Attributes
    ----------
    best_index : int
        Position of the winner in ``table``.
    best_candidate : estimator
        The winning candidate, unfitted.
    best_estimator : estimator or None
        The winner refitted on all source rows and the target (None with ``refit=False``).
    table : list of dict
        One row per candidate: ``name``, ``params`` (the grid point, ``{}`` for an explicit
        candidate), ``mean_score``, ``std_score`` and ``scores`` (one per fold).
    scorer : str
        ``repr`` of the scorer used.

    References
    ----------
    K. You, X. Wang, M. Long, M. I. Jordan. *Towards Accurate Model Selection in Deep
    Unsupervised Domain Adaptation.* ICML 2019 (selection by an unsupervised validation score).
    """

    best_index: int
    best_candidate: Any
    best_estimator: Any
    table: list[dict[str, Any]] = field(default_factory=list)
    scorer: str = ""

    @property
    def best_params(self) -> dict[str, Any]:
        """The grid point of the winner (``{}`` for an explicit candidate)."""
        return dict(self.table[self.best_index]["params"])

    def to_markdown(self) -> str:
        """The table as Markdown, best candidate marked with ``*``."""
        lines = ["| candidate | score (mean ± std) |", "| --- | --- |"]
        for k, row in enumerate(self.table):
            mark = " *" if k == self.best_index else ""
            lines.append(f"| {row['name']}{mark} | {row['mean_score']:.4f} ± {row['std_score']:.4f} |")
        return "\n".join(lines) + "\n"


def _candidate_list(candidates: Any, param_grid: Any) -> list[tuple[str, dict[str, Any], Any]]:
    if param_grid is not None:
        if not hasattr(candidates, "set_params"):
            raise TypeError("with param_grid, candidates must be one estimator (with set_params)")
        out = []
        for params in ParameterGrid(param_grid):
            est = clone(candidates).set_params(**params)
            name = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))
            out.append((name, dict(params), est))
        return out
    if isinstance(candidates, Mapping):
        items = [(str(k), {}, v) for k, v in candidates.items()]
    elif isinstance(candidates, Sequence) and not isinstance(candidates, str):
        items = [(" ".join(repr(v).split()), {}, v) for v in candidates]
    else:
        raise TypeError(
            "candidates must be a list or dict of estimators, or one estimator with param_grid"
        )
    for name, _, est in items:
        if not hasattr(est, "fit"):
            raise TypeError(f"candidate {name} has no fit method")
    return items


def select_by_score(
    candidates: Any,
    scorer: str | Callable[..., float],
    X_source: ArrayLike,
    y_source: ArrayLike,
    X_target: ArrayLike,
    *,
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None = None,
    cv: int | DomainAwareSplit | None = None,
    refit: bool = True,
    random_state: int | None = 0,
    progress: bool = False,
) -> SelectionResult:
    """Pick the candidate with the best unsupervised score, without target labels.

    Every candidate is fitted on each training fold of ``cv`` (source rows minus a held-out
    fold, plus all target rows) and scored by ``scorer`` on the test fold; the winner has the
    highest mean score (ties go to the earlier candidate; NaN scores lose).

    Parameters
    ----------
    candidates : list or dict of estimators, or one estimator with ``param_grid``
        Adapters, DA pipelines, or plain sklearn estimators (fitted on the source only).
    scorer : str or callable
        A name of :data:`SCORERS` or any ``scorer(estimator, X, y) -> float`` on stacked
        data (higher is better).
    X_source, y_source, X_target : arrays or tensors
        Labelled source and unlabelled target (numeric labels; see :func:`stack_domains`).
    param_grid : dict or list of dicts, optional
        Expanded with ``sklearn.model_selection.ParameterGrid`` over ``candidates``.
    cv : int or DomainAwareSplit, optional
        Folds; an int ``k`` means ``DomainAwareSplit(k, random_state=random_state)``; default 3.
    refit : bool, default=True
        Refit the winner on every source row and the target.
    random_state : int or None, default=0
        Seed of the default folds.
    progress : bool, default=False
        Show a progress bar over the candidates.

    Returns
    -------
    SelectionResult

    References
    ----------
    M. Sugiyama, M. Krauledat, K.-R. Müller. *Covariate Shift Adaptation by Importance Weighted
    Cross Validation.* JMLR 8, 2007.
    K. You, X. Wang, M. Long, M. I. Jordan. *Towards Accurate Model Selection in Deep
    Unsupervised Domain Adaptation.* ICML 2019.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from domadapt import CORAL
    >>> from domadapt.datasets import make_shifted_blobs
    >>> task = make_shifted_blobs(90, 90, random_state=0)
    >>> result = select_by_score(CORAL(estimator=LogisticRegression()), "rv", *task.arrays()[:3],
    ...                          param_grid={"reg": [0.01, 1.0]})
    >>> len(result.table)
    2
    """
    named = _candidate_list(candidates, param_grid)
    if not named:
        raise ValueError("no candidates to select from")
    scorer_fn = get_scorer(scorer) if isinstance(scorer, str) else scorer
    if not callable(scorer_fn):
        raise TypeError(f"scorer must be a name of {list(SCORERS)} or a callable, got {type(scorer).__name__}")
    X, y, domain = stack_domains(X_source, y_source, X_target)
    if cv is None or is_integer(cv):
        cv = DomainAwareSplit(3 if cv is None else int(cv), random_state=random_state)
    if not hasattr(cv, "split"):
        raise TypeError(f"cv must be an int or a splitter with split(), got {type(cv).__name__}")
    splits = list(cv.split(X, y, domain))
    table = []
    for name, params, est in tqdm(named, desc="candidates", disable=not progress):
        scores = [float(scorer_fn(StackedAdapter(est).fit(X[tr], y[tr]), X[te], y[te])) for tr, te in splits]
        table.append({
            "name": name,
            "params": params,
            "mean_score": float(np.mean(scores)),
            "std_score": float(np.std(scores)),
            "scores": scores,
        })
    means = np.array([row["mean_score"] for row in table])
    if np.all(np.isnan(means)):
        raise ValueError("every candidate scored NaN")
    best = int(np.nanargmax(means))
    best_candidate = named[best][2]
    best_estimator = None
    if refit:
        Xs, ys, Xt = _unstack(X, y)
        best_estimator = _fit_da(clone(best_candidate), Xs, ys, Xt)
    return SelectionResult(best, best_candidate, best_estimator, table, repr(scorer_fn))
