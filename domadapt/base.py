"""The one contract every adapter follows, and pipelines built from adapters and sklearn steps.

An :class:`Adapter` is fitted on labelled source data and unlabelled (or sparsely labelled)
target data, maps features of either domain into an adapted space with ``transform``, and, with
an ``estimator`` attached, classifies in that space (``predict``, ``score``). Subclasses write
two methods on torch tensors — ``_fit`` and ``_transform`` — and inherit input checks,
numpy/torch conversion, device handling, the discrepancy report and the estimator plumbing.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import has_fit_parameter

from ._array import ArrayLike, origin_of, resolve_device, to_numpy, to_output, to_tensor
from ._config import get_config
from ._validation import (
    check_array,
    check_domain,
    check_labels,
    check_same_device,
    check_same_features,
    is_classification_target,
    known_rows,
)


class Adapter(BaseEstimator):
    """Base class of all adapters.

    Subclasses define ``__init__`` storing their hyper-parameters untouched (sklearn rules),
    including ``estimator``, ``device`` and, where randomness is involved, ``random_state``, and
    implement:

    ``_fit(self, Xs, ys, Xt, yt) -> None``
        Learn from tensors on one device: ``Xs`` (n_s, d) and ``Xt`` (n_t, d) floating
        tensors; ``ys`` the source labels as an int64 tensor of codes ``0..C-1`` for
        classification (``self.classes_`` holds the original labels) or a float tensor for
        regression; ``yt`` the same for target labels with ``-1`` where unknown, or None.
        Fitted attributes end in ``_``. Instance-based adapters set ``sample_weight_`` (a
        tensor; ``fit`` hands it back in the type of ``X`` once the estimator is fitted).
    ``_transform(self, X, domain) -> Tensor``
        Map ``X`` (a tensor on any device, in the dtype to compute in) of ``domain``
        ("source" or "target") into the adapted space.

    Attributes set by :meth:`fit`
    -----------------------------
    n_features_in_ : int
    classes_ : ndarray or None
        Sorted source classes (None for a continuous target).
    device_ : torch.device
        Device the adapter was fitted on.
    estimator_ : estimator or None
        Fitted clone of ``estimator`` (trained on the adapted source, plus the adapted labelled
        target rows when ``y_target`` has any).
    report_ : dict
        ``method``, ``device``, ``dtype``, ``n_source``, ``n_target``, ``n_features_in``,
        ``fit_time_s`` (adaptation only), ``estimator_fit_time_s`` and, unless switched off with
        :func:`domadapt.set_config`, ``discrepancy_before`` / ``discrepancy_after``: squared MMD
        (Gaussian kernel, median heuristic) and CORAL distance between the domains in the input
        space and in the adapted space, on at most ``report_max_samples`` rows per domain (NaN
        when a domain has a single row). After an instance-based adapter the "after" MMD² is
        weighted by ``sample_weight_``.
    """

    #: whether ``_fit`` needs discrete source labels (class-conditional methods)
    _needs_classes: bool = False

    @classmethod
    def _computes_weights(cls) -> bool:
        """Whether the adapter is instance-based (it learns the source weights itself)."""
        return hasattr(cls, "_fit_weights")

    @classmethod
    def _has_own_head(cls) -> bool:
        """Whether the adapter predicts with a model of its own (a network's head) when no
        estimator is attached, rather than only through one."""
        return cls.predict is not Adapter.predict

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        X_target: ArrayLike,
        y_target: ArrayLike | None = None,
        *,
        sample_weight: ArrayLike | None = None,
    ) -> "Adapter":
        """Fit the adapter on labelled source and (mostly) unlabelled target data.

        Parameters
        ----------
        X : array or tensor of shape (n_source, n_features)
            Source features.
        y : array or tensor of shape (n_source,)
            Source labels (at least two classes) or, for methods that allow it, real targets.
        X_target : array or tensor of shape (n_target, n_features)
            Target features.
        y_target : array or tensor of shape (n_target,), optional
            Target labels where known, ``-1`` where unknown (semi-supervised adaptation).
        sample_weight : array or tensor of shape (n_source,), optional
            Non-negative weights of the source rows for the attached ``estimator`` only (the
            adaptation itself is unweighted), e.g. the importance weights of an earlier
            re-weighting step, which :func:`make_da_pipeline` passes this way. An estimator
            that cannot take them is an error, as is an instance-based adapter (it computes
            its own weights).

        Returns
        -------
        self : Adapter
        """
        self._check_params()
        check_same_device(X=X, y=y, X_target=X_target, y_target=y_target)
        X = check_array(X, "X")
        X_target = check_array(X_target, "X_target")
        check_same_features(X, X_target)
        y_np = check_labels(y, X.shape[0], "y")
        yt_np = None if y_target is None else check_labels(
            y_target, X_target.shape[0], "y_target", allow_unknown=True
        )
        device = resolve_device(getattr(self, "device", "auto"), X, X_target)
        dtype = torch.promote_types(origin_of(X).dtype, origin_of(X_target).dtype)
        Xs = to_tensor(X, device, dtype)
        Xt = to_tensor(X_target, device, dtype)

        ys, yt = self._encode_labels(y_np, yt_np, device)
        self.n_features_in_ = int(X.shape[1])
        self.device_ = device
        for attr in ("sample_weight_",):
            self.__dict__.pop(attr, None)
        given_weight = None
        if sample_weight is not None:
            if self._computes_weights():
                raise TypeError(
                    f"{type(self).__name__} computes its own source weights; sample_weight is "
                    "for adapters that do not"
                )
            given_weight = to_numpy(check_array(sample_weight, "sample_weight", ndim=1)).astype(np.float64)
            if given_weight.shape[0] != Xs.shape[0] or (given_weight < 0).any():
                raise ValueError(
                    f"sample_weight must hold {Xs.shape[0]} non-negative values (one per source "
                    f"row), got shape {given_weight.shape}"
                )

        report: dict[str, Any] = {
            "method": type(self).__name__,
            "device": str(device),
            "dtype": str(dtype).replace("torch.", ""),
            "n_source": int(Xs.shape[0]),
            "n_target": int(Xt.shape[0]),
            "n_features_in": self.n_features_in_,
        }
        seed = self._report_seed()
        # the pass over the data of the "before" measures, made first (see _Measurement)
        pending = _Measurement(Xs, Xt, seed) if get_config()["report_discrepancy"] else None
        start = time.perf_counter()
        self._fit(Xs, ys, Xt, yt)
        Zs = self._transform(Xs, "source")
        Zt = self._transform(Xt, "target")
        _sync(device)
        report["fit_time_s"] = time.perf_counter() - start
        if pending is not None:
            weight = getattr(self, "sample_weight_", None)
            if Zs is Xs and Zt is Xt:  # features unchanged (re-weighting): the pass serves both
                before, after = pending.values([None, weight])
            else:
                before, after = pending.values([None])[0], _measure(Zs, Zt, seed, weight)
            del pending
            report["discrepancy_before"], report["discrepancy_after"] = before, after
        start = time.perf_counter()
        self._fit_estimator(Zs, y_np, Zt, yt_np, given_weight)
        report["estimator_fit_time_s"] = time.perf_counter() - start
        self.report_ = report
        if getattr(self, "sample_weight_", None) is not None:  # in the caller's type, like X
            self.sample_weight_ = to_output(self.sample_weight_, origin_of(X))
        return self

    def fit_transform(
        self,
        X: ArrayLike,
        y: ArrayLike,
        X_target: ArrayLike,
        y_target: ArrayLike | None = None,
    ) -> ArrayLike:
        """Fit, then return the adapted **source** features ``transform(X, domain="source")``.

        As in scikit-learn, ``fit_transform`` transforms the data it was given first; use
        ``transform(X_target)`` for the adapted target.
        """
        return self.fit(X, y, X_target, y_target).transform(X, domain="source")

    def _encode_labels(
        self, y: np.ndarray, yt: np.ndarray | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not is_classification_target(y):
            if self._needs_classes:
                raise ValueError(
                    f"{type(self).__name__} needs class labels; y looks continuous"
                )
            self.classes_ = None
            ys = torch.as_tensor(y.astype(np.float64), device=device)
            yt_t = None if yt is None else torch.as_tensor(yt.astype(np.float64), device=device)
            return ys, yt_t
        self.classes_ = np.unique(y)
        ys = torch.as_tensor(np.searchsorted(self.classes_, y), device=device)
        if yt is None:
            return ys, None
        known = yt != -1
        unseen = ~np.isin(yt[known], self.classes_)
        if unseen.any():
            raise ValueError(
                f"y_target holds labels absent from y: {np.unique(yt[known][unseen])[:5].tolist()}"
                " (use -1 for unknown target labels)"
            )
        codes = np.full(yt.shape[0], -1, dtype=np.int64)
        codes[known] = np.searchsorted(self.classes_, yt[known])
        return ys, torch.as_tensor(codes, device=device)

    def _report_seed(self) -> int:
        rs = getattr(self, "random_state", None)
        return int(rs) if isinstance(rs, (int, np.integer)) else 0

    def _fit_estimator(
        self, Zs: torch.Tensor, y: np.ndarray, Zt: torch.Tensor, yt: np.ndarray | None,
        given_weight: np.ndarray | None = None,
    ) -> None:
        estimator = getattr(self, "estimator", None)
        if estimator is None:
            if given_weight is not None:
                raise TypeError(
                    f"sample_weight was given but {type(self).__name__} has no estimator to take it"
                )
            self.estimator_ = None
            return
        Z = to_numpy(Zs)
        labels = y
        weight = getattr(self, "sample_weight_", None)
        weight = given_weight if weight is None else to_numpy(weight)
        if yt is not None and np.any(yt != -1):
            known = yt != -1
            Z = np.concatenate([Z, to_numpy(Zt)[known]])
            labels = np.concatenate([labels, yt[known]])
            if weight is not None:  # labelled target rows already follow the target law
                weight = np.concatenate([weight, np.ones(int(known.sum()))])
        self.estimator_ = fit_with_weights(clone(estimator), Z, labels, weight)

    # ---------------------------------------------------------------- transform
    def transform(self, X: ArrayLike, domain: str = "target") -> ArrayLike:
        """Map features of ``domain`` into the adapted space.

        Parameters
        ----------
        X : array or tensor of shape (n_samples, n_features_in_)
        domain : {"target", "source"}, default="target"
            The domain ``X`` comes from.

        Returns
        -------
        Z : array or tensor
            Same type as ``X`` (a tensor stays on its device, in its floating dtype).
        """
        check_domain(domain)
        self._check_fitted()
        X = check_array(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features but the adapter was fitted with {self.n_features_in_}"
            )
        origin = origin_of(X)
        device = X.device if origin.kind == "torch" else self.device_
        T = to_tensor(X, device, origin.dtype)
        Z = self._transform(T, domain)
        if Z.data_ptr() == T.data_ptr():  # identity map: never hand back a view of the input
            Z = Z.clone()
        return to_output(Z, origin)

    # --------------------------------------------------------------- estimator
    def _estimator_input(self, X: ArrayLike, domain: str) -> tuple[Any, np.ndarray]:
        """The fitted estimator and ``X`` mapped into the adapted space as numpy."""
        self._check_fitted()
        if self.estimator_ is None:
            raise AttributeError(
                f"{type(self).__name__} has no estimator: pass estimator=... (a sklearn "
                "classifier) to predict or score"
            )
        return self.estimator_, to_numpy(self.transform(X, domain=domain))

    def predict(self, X: ArrayLike, domain: str = "target") -> ArrayLike:
        """Predict labels of ``X`` (target by default) with the fitted estimator.

        A tensor in gives a tensor out on the same device when the labels are numeric.
        """
        est, Z = self._estimator_input(X, domain)
        return _labels_like(est.predict(Z), X)

    def predict_proba(self, X: ArrayLike, domain: str = "target") -> ArrayLike:
        """Class probabilities of ``X`` from the fitted estimator."""
        est, Z = self._estimator_input(X, domain)
        proba = est.predict_proba(Z)
        return to_output(torch.as_tensor(proba), origin_of(X)) if _is_t(X) else proba

    def score(self, X: ArrayLike, y: ArrayLike, domain: str = "target") -> float:
        """Accuracy (or the estimator's own ``score``) on ``X`` of ``domain`` against ``y``; rows
        labelled ``-1`` (unknown, as in ``fit``'s ``y_target``) are left out, unless ``-1`` is
        one of the fitted classes (a ``{-1, +1}`` labelling)."""
        est, Z = self._estimator_input(X, domain)
        labels = check_labels(y, Z.shape[0], "y", allow_unknown=True)
        known = known_rows(labels, getattr(self, "classes_", None))
        return float(est.score(Z[known], labels[known]))

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y, X_target)"
            )

    def _check_params(self) -> None:
        """Raise ``ValueError`` for invalid hyper-parameters (called first in ``fit``)."""

    def _fit(
        self, Xs: torch.Tensor, ys: torch.Tensor, Xt: torch.Tensor, yt: torch.Tensor | None
    ) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def fit_with_weights(estimator: Any, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> Any:
    """Fit ``estimator`` on ``(X, y)``, passing ``sample_weight`` when weights are given.

    Raises ``TypeError`` when weights are given and the estimator's ``fit`` does not accept
    ``sample_weight``: the weights are never dropped silently.
    """
    if weight is None:
        return estimator.fit(X, y)
    if not has_fit_parameter(estimator, "sample_weight"):
        raise TypeError(
            f"{type(estimator).__name__}.fit does not accept sample_weight, so the importance "
            "weights cannot reach it; use an estimator whose fit takes sample_weight"
        )
    return estimator.fit(X, y, sample_weight=weight)


def _is_t(X: Any) -> bool:
    return isinstance(X, torch.Tensor)


def _labels_like(pred: np.ndarray, X: Any) -> ArrayLike:
    if _is_t(X) and pred.dtype.kind in "iubf":
        return torch.as_tensor(pred, device=X.device)
    return pred


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(
    Zs: torch.Tensor, Zt: torch.Tensor, seed: int, weight: torch.Tensor | None = None
) -> dict[str, float]:
    """Discrepancy between two domains on at most ``report_max_samples`` seeded rows each.

    With source importance ``weight`` (instance-based adapters), ``mmd2`` is the weighted MMD²
    the adapter minimises; the CORAL distance stays unweighted (its value is the same before and
    after re-weighting, the features being unchanged).
    """
    return _measures(Zs, Zt, seed, [weight])[0]


def _measures(
    Zs: torch.Tensor, Zt: torch.Tensor, seed: int, weights: list[torch.Tensor | None]
) -> list[dict[str, float]]:
    """:func:`_measure` for several source weightings of the same rows (one pass over the data)."""
    return _Measurement(Zs, Zt, seed).values(weights)


class _Measurement:
    """The report's measures of two domains, in two phases: the pass over the data, on
    construction, and the values for given source weights (:meth:`values`), which need only
    what the pass kept.

    :meth:`Adapter.fit` makes the pass before fitting, so that the report's torch kernels do not
    run right after an estimator's BLAS or OpenMP calls, whose worker threads keep spinning for
    a while after each call and take the cores (a re-weighting adapter's report took twice as
    long after a logistic regression on two cores). On the report's usual sizes (both
    subsamples together within two chunks) the pass computes the Gram blocks of the pooled rows
    (:func:`domadapt.discrepancy._report_kernels`); larger caps fall back to the chunked
    :func:`~domadapt.discrepancy.mmd2` and :func:`~domadapt.discrepancy.coral_distance` in
    :meth:`values`.
    """

    def __init__(self, Zs: torch.Tensor, Zt: torch.Tensor, seed: int) -> None:
        from .discrepancy import _report_kernels

        config = get_config()
        cap = int(config["report_max_samples"])
        gen = torch.Generator().manual_seed(seed)

        def rows(n: int) -> torch.Tensor | None:
            return None if n <= cap else torch.randperm(n, generator=gen)[:cap]

        self.seed = seed
        self.rows = rows(Zs.shape[0]), rows(Zt.shape[0])
        i, j = self.rows
        self.a = Zs.detach() if i is None else Zs.detach()[i.to(Zs.device)]
        self.b = Zt.detach() if j is None else Zt.detach()[j.to(Zt.device)]
        self.kernels = None
        if min(self.a.shape[0], self.b.shape[0]) >= 2 and (
            self.a.shape[0] + self.b.shape[0] <= 2 * int(config["chunk_size"])
        ):
            self.kernels = _report_kernels(self.a, self.b, seed)

    def values(self, weights: list[torch.Tensor | None]) -> list[dict[str, float]]:
        """``{"mmd2", "coral"}`` for each source weighting (None: uniform)."""
        from .discrepancy import _kernel_mmd2, coral_distance, mmd2

        a, b, i = self.a, self.b, self.rows[0]
        if min(a.shape[0], b.shape[0]) < 2:  # the estimators need two rows per domain
            return [{"mmd2": float("nan"), "coral": float("nan")} for _ in weights]
        kept = []  # normalised weights of the kept rows; None: uniform; False: no weighted estimate
        for weight in weights:
            if weight is None:
                kept.append(None)
                continue
            w = weight.detach().to(device=a.device, dtype=a.dtype)
            w = w if i is None else w[i.to(w.device)]
            w = w / w.sum()
            # the unbiased estimator needs two rows with positive weight
            kept.append(w if bool((w * w).sum() < 1.0 - torch.finfo(w.dtype).eps) else False)
        usable = [w for w in kept if w is not False]
        if self.kernels is not None:
            values, coral = _kernel_mmd2(self.kernels, usable), self.kernels.coral
        else:
            values = [mmd2(a, b, weights=w, random_state=self.seed) for w in usable]
            coral = coral_distance(a, b)
        values = iter(values)
        return [
            {"mmd2": float("nan") if w is False else float(next(values)), "coral": float(coral)}
            for w in kept
        ]


class DAPipeline(BaseEstimator):
    """A chain of steps fitted on the source and carried through to the target.

    Each step but the last is an :class:`Adapter` (fitted with ``fit(X, y, X_target)``) or an
    ordinary sklearn transformer (fitted on the source only, then applied to both domains). The
    last step is an estimator (fitted on the transformed source, with the ``sample_weight_`` of
    the latest instance-based adapter, if any), an adapter, or a transformer. A last adapter
    that is not instance-based gets those weights for its ``estimator``
    (``fit(..., sample_weight=)``); one that classifies but cannot take them (a deep adapter,
    whose head is trained unweighted) is an error, never a silent drop. A last adapter that
    only transforms (no estimator, no head of its own) has nothing for them to reach.

    Build it with :func:`make_da_pipeline`.

    Parameters
    ----------
    steps : list of (name, step)
    """

    def __init__(self, steps: list[tuple[str, Any]]):
        self.steps = steps

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, with ``<step>__<param>`` entries when ``deep``."""
        params: dict[str, Any] = {"steps": self.steps}
        if deep:
            for name, step in self.steps:
                params[name] = step
                for key, value in step.get_params(deep=True).items():
                    params[f"{name}__{key}"] = value
        return params

    def set_params(self, **params: Any) -> "DAPipeline":
        """Set ``steps`` or ``<step>__<param>`` values."""
        if "steps" in params:
            self.steps = params.pop("steps")
        names = dict(self.steps)
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in names:
                raise ValueError(f"invalid parameter {key!r} for DAPipeline")
            if sub:
                names[name].set_params(**{sub: value})
            else:
                self.steps = [(n, value if n == name else s) for n, s in self.steps]
        return self

    def fit(
        self, X: ArrayLike, y: ArrayLike, X_target: ArrayLike, y_target: ArrayLike | None = None
    ) -> "DAPipeline":
        """Fit every step in order; see the class docstring."""
        if not self.steps:
            raise ValueError("steps is empty")
        fitted: list[tuple[str, Any]] = []
        Xs, Xt = X, X_target
        weight = None
        for i, (name, step) in enumerate(self.steps):
            step = clone(step)
            last = i == len(self.steps) - 1
            if isinstance(step, Adapter):
                classifies = getattr(step, "estimator", None) is not None or step._has_own_head()
                if last and weight is not None and classifies and not step._computes_weights():
                    # an earlier step's importance weights go to what classifies at the end
                    if getattr(step, "estimator", None) is None or (
                        "sample_weight" not in inspect.signature(step.fit).parameters
                    ):
                        raise TypeError(
                            f"step {name!r} ({type(step).__name__}) cannot take the importance "
                            "weights of the earlier re-weighting step; end the pipeline with "
                            "an estimator instead"
                        )
                    step.fit(Xs, y, Xt, y_target, sample_weight=weight)
                else:
                    step.fit(Xs, y, Xt, y_target)
                weight = getattr(step, "sample_weight_", weight)
                if not last:
                    Xs, Xt = step.transform(Xs, "source"), step.transform(Xt, "target")
            elif last and not hasattr(step, "transform"):
                yy, ZZ, ww = to_numpy(y), to_numpy(Xs), None if weight is None else to_numpy(weight)
                if y_target is not None:
                    yt = to_numpy(y_target)
                    known = yt != -1
                    if known.any():
                        ZZ = np.concatenate([ZZ, to_numpy(Xt)[known]])
                        yy = np.concatenate([yy, yt[known]])
                        ww = None if ww is None else np.concatenate([ww, np.ones(known.sum())])
                fit_with_weights(step, ZZ, yy, ww)
            else:
                step.fit(to_numpy(Xs), to_numpy(y))
                Xs, Xt = _apply(step, Xs), _apply(step, Xt)
            fitted.append((name, step))
        self.steps_ = fitted
        return self

    def _carry(self, X: ArrayLike, domain: str) -> tuple[ArrayLike, Any]:
        check_domain(domain)
        if not hasattr(self, "steps_"):
            raise NotFittedError("This DAPipeline instance is not fitted yet")
        for _, step in self.steps_[:-1]:
            X = step.transform(X, domain=domain) if isinstance(step, Adapter) else _apply(step, X)
        return X, self.steps_[-1][1]

    def transform(self, X: ArrayLike, domain: str = "target") -> ArrayLike:
        """Carry ``X`` through every step (the last must transform)."""
        X, last = self._carry(X, domain)
        return last.transform(X, domain=domain) if isinstance(last, Adapter) else _apply(last, X)

    def predict(self, X: ArrayLike, domain: str = "target") -> ArrayLike:
        """Predict with the last step after carrying ``X`` through the others."""
        Z, last = self._carry(X, domain)
        if isinstance(last, Adapter):
            return last.predict(Z, domain=domain)
        return _labels_like(last.predict(to_numpy(Z)), X)

    def predict_proba(self, X: ArrayLike, domain: str = "target") -> ArrayLike:
        """Class probabilities from the last step (a tensor for a tensor ``X``, as an
        :class:`Adapter` gives)."""
        Z, last = self._carry(X, domain)
        if isinstance(last, Adapter):
            proba = to_numpy(last.predict_proba(Z, domain=domain))
        else:
            proba = last.predict_proba(to_numpy(Z))
        return to_output(torch.as_tensor(proba), origin_of(X)) if _is_t(X) else proba

    def score(self, X: ArrayLike, y: ArrayLike, domain: str = "target") -> float:
        """Score of the last step on ``X`` against ``y``."""
        Z, last = self._carry(X, domain)
        if isinstance(last, Adapter):
            return last.score(Z, y, domain=domain)
        return float(last.score(to_numpy(Z), to_numpy(y)))

    @property
    def named_steps(self) -> dict[str, Any]:
        """Fitted steps by name (the unfitted ones before ``fit``)."""
        return dict(getattr(self, "steps_", self.steps))


def _apply(step: Any, X: ArrayLike) -> ArrayLike:
    """Apply a fitted sklearn transformer, keeping tensors tensors."""
    out = step.transform(to_numpy(X))
    if _is_t(X):
        return torch.as_tensor(np.asarray(out), device=X.device).to(origin_of(X).dtype)
    return out


def make_da_pipeline(*steps: Any) -> DAPipeline:
    """Build a :class:`DAPipeline` from steps, naming them after their lower-cased class names.

    Example
    -------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> from domadapt import CORAL, make_da_pipeline
    >>> pipe = make_da_pipeline(StandardScaler(), CORAL(), LogisticRegression())
    """
    names: list[str] = []
    for step in steps:
        base = type(step).__name__.lower()
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return DAPipeline(list(zip(names, steps)))


__all__: Sequence[str] = ["Adapter", "DAPipeline", "make_da_pipeline", "fit_with_weights"]
