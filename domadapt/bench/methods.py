"""The methods a benchmark can run: a name, the adapter behind it and its settings.

Every entry builds a fresh adapter for one run from the classifier to attach, the run's seed and
the device. The hyper-parameters of the registered entries are fixed — the published setting
where a paper gives one for the Office-Caltech-10 protocol, otherwise the adapter's own default —
and never tuned on target labels. A derived entry (a benchmark config's ``[method.NAME]`` table,
or :func:`dataclasses.replace` on a spec) may add a grid of candidate values and name how the
runner chooses among them (:attr:`MethodSpec.selection`).

The built-in adapters are imported lazily, by name, from their family package
(``domadapt.feature``, ``domadapt.instance``, ``domadapt.deep``); an entry whose adapter is not (yet) exported there is left out of
:func:`available_methods`, so the registry only ever offers methods that run.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from ..base import Adapter


class UnknownMethodError(ValueError):
    """A method name that is not registered, or whose adapter cannot be imported."""


class SourceOnly(Adapter):
    """No adaptation: the identity map, so the classifier is trained on the source as it is.

    The "source-only" baseline of every benchmark table (the "NN" column of Long et al. 2013 when
    the classifier is 1-NN). Its ``report_`` shows the same discrepancy before and after.

    Parameters
    ----------
    estimator : sklearn classifier, optional
        Fitted on the untouched source features.
    device : str or torch.device, default="auto"
        Where the discrepancy report is computed.

    References
    ----------
    M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. *Transfer Feature Learning with Joint
    Distribution Adaptation.* ICCV 2013 (the NN baseline of its tables).
    """

    def __init__(self, estimator: Any = None, device: str = "auto"):
        self.estimator = estimator
        self.device = device

    def _fit(self, Xs: torch.Tensor, ys: torch.Tensor, Xt: torch.Tensor, yt: Any) -> None:
        """Nothing to learn."""

    def _transform(self, X: torch.Tensor, domain: str) -> torch.Tensor:
        return X


@dataclass(frozen=True)
class MethodSpec:
    """One benchmark method.

    Parameters
    ----------
    name : str
        Name used on the command line and in tables, e.g. ``"JDA"``.
    adapter : type or str
        The adapter class, or ``"package:Name"`` to import lazily (``"domadapt.feature:TCA"``).
    params : mapping
        Hyper-parameters passed to the adapter; ``estimator``, ``device`` and (when the adapter
        takes one) ``random_state`` are added per run.
    setting : str
        Where ``params`` come from (paper, table, or "adapter defaults"), shown in the docs.
    unit_norm : bool, default=False
        Scale every adapted row to unit Euclidean norm before the classifier (the classifier
        becomes ``make_pipeline(Normalizer(), classifier)``), as the authors' code of TCA and
        JDA does before its 1-NN (Long et al. 2013).
    grid : mapping of str to sequence, optional
        Candidate values of some hyper-parameters (on top of ``params``); the runner fits every
        combination and keeps the one ``selection`` prefers. Empty: ``params`` are used as they are.
    classifier : str or None, default=None
        The classifier this method always runs with, whatever the benchmark's: a name of
        :data:`domadapt.bench.runner.CLASSIFIERS`, e.g. ``"logreg"`` for the instance-based
        adapters (their weights need an estimator that takes ``sample_weight``, which 1-NN does
        not) or ``"head"`` for the deep adapters (their network's own head). None: the
        benchmark's classifier.
    selection : str, default="fixed"
        How the hyper-parameters are chosen. Without a grid: ``"fixed"`` (set in advance),
        ``"none"`` (the method has none) or ``"last-epoch"`` (a network after its last epoch).
        With a grid: ``"source-val"``, ``"oracle-target"`` (target labels: flagged in tables) or
        the name of an unsupervised scorer of :mod:`domadapt.evaluation`; see
        :func:`domadapt.bench.runner.run_one`.
    """

    name: str
    adapter: type[Adapter] | str
    params: Mapping[str, Any] = field(default_factory=dict)
    setting: str = ""
    unit_norm: bool = False
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    selection: str = "fixed"
    classifier: str | None = None

    def adapter_class(self) -> type[Adapter]:
        """Return the adapter class, importing it if it was given by name.

        Raises
        ------
        UnknownMethodError
            When the named package does not export the class.
        """
        if not isinstance(self.adapter, str):
            return self.adapter
        module_name, _, attr = self.adapter.partition(":")
        cls = getattr(importlib.import_module(module_name), attr, None)
        if cls is None:
            raise UnknownMethodError(
                f"method {self.name!r} needs {attr} from {module_name}, which does not export it"
            )
        return cls

    def has_own_predictor(self) -> bool:
        """Whether the adapter predicts without an attached estimator (a network's head), so
        that it can run with the ``"head"`` classifier."""
        return self.adapter_class()._has_own_head()

    def build(
        self,
        estimator: Any,
        random_state: int,
        device: str = "auto",
        params: Mapping[str, Any] | None = None,
    ) -> Adapter:
        """A fresh adapter for one run.

        Parameters
        ----------
        estimator : sklearn classifier or None
            Attached to the adapter (``estimator=``), after a ``Normalizer`` if ``unit_norm``;
            None for none (an adapter that predicts with its own model).
        random_state : int
            Passed as ``random_state`` when the adapter has that parameter.
        device : str, default="auto"
            Passed as ``device``.
        params : mapping, optional
            Values that replace those of :attr:`params` (e.g. one point of :attr:`grid`).

        Returns
        -------
        Adapter
        """
        cls = self.adapter_class()
        if self.unit_norm and estimator is not None:
            estimator = make_pipeline(Normalizer(), estimator)
        kwargs = dict(self.params, **(params or {}), estimator=estimator, device=device)
        if "random_state" in inspect.signature(cls).parameters:
            kwargs["random_state"] = random_state
        return cls(**kwargs)

    def digest(self) -> str:
        """A short fingerprint of what this spec runs: adapter, parameters, grid, selection.

        Two specs with the same name but different settings have different digests, so a
        benchmark can refuse to mix their records.
        """
        content = {
            "adapter": self.adapter_class().__qualname__,
            "params": dict(self.params),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "selection": self.selection,
            "unit_norm": self.unit_norm,
        }
        if self.classifier is not None:  # digests of specs without one stay as they were
            content["classifier"] = self.classifier
        text = json.dumps(content, sort_keys=True, default=_stable_repr)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _stable_repr(value: Any) -> str:
    """``repr`` without memory addresses, so that it is the same in every process."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


_FEATURE = "domadapt.feature"
_LONG2013 = "Long et al. 2013 (JDA), Office-Caltech-10 SURF"
_COURTY2017 = (
    "Courty et al. 2017 (TPAMI) chose the regularisers per task by circular validation, so no "
    "single published value exists; the adapter's defaults are used"
)

_INSTANCE = "domadapt.instance"
_DEEP = "domadapt.deep"
#: the network and schedule shared by the deep entries, fixed in advance (not tuned on targets)
_MLP: dict[str, Any] = {
    "hidden": (256,), "bottleneck_dim": 256, "dropout": 0.5, "epochs": 20, "batch_size": 64,
    "lr": 0.01, "verbose": False,
}
_MLP_SETTING = (
    "MLP 256 → bottleneck 256 (BatchNorm, ReLU, dropout 0.5) → linear head; SGD lr 0.01 annealed, "
    "20 epochs, batch 64, last epoch"
)


def _deep_methods() -> list[tuple[str, dict[str, Any], str]]:
    """(name, parameters, note) of the deep entries."""
    from ..deep.losses import (
        ConditionalDomainAdversarialLoss,
        CORALLoss,
        DomainAdversarialLoss,
        MMDLoss,
    )

    return [
        ("MLP", {}, "no alignment (the baseline of the deep methods)"),
        ("DAN", {"alignment": MMDLoss(scales=(0.25, 0.5, 1.0, 2.0, 4.0)), "trade_off": 1.0},
         "multi-kernel MMD, 5 bandwidths around the median, trade-off 1 (Long et al. 2015)"),
        ("DANN", {"alignment": DomainAdversarialLoss(), "trade_off": 1.0},
         "discriminator 1024-1024, reversal schedule of Ganin et al. 2016, trade-off 1"),
        ("CDAN", {"alignment": ConditionalDomainAdversarialLoss(), "trade_off": 1.0},
         "multilinear conditioning, trade-off 1 (Long et al. 2018)"),
        ("DeepCORAL", {"alignment": CORALLoss(), "trade_off": 10.0},
         "trade-off 10 (Sun & Saenko 2016 weigh it so that both losses are of one size)"),
    ]


_REGISTRY: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("NoAdapt", SourceOnly, {}, "no adaptation (source-only baseline)", selection="none"),
        MethodSpec("CORAL", f"{_FEATURE}:CORAL", {"reg": 1.0}, "reg=1 as in Sun et al. 2016"),
        MethodSpec(
            "SA",
            f"{_FEATURE}:SubspaceAlignment",
            {"n_components": 100},
            "d=100, fixed here (the adapter's own default is 30); Fernando et al. (ICCV 2013) "
            "chose d per task from their consistency bound, so no single published value exists",
        ),
        MethodSpec(
            "TCA",
            f"{_FEATURE}:TCA",
            {"n_components": 100, "mu": 1.0, "kernel": "primal"},
            f"k=100, mu=1, primal (linear) formulation, unit-norm embedding as in {_LONG2013}",
            unit_norm=True,
        ),
        MethodSpec(
            "JDA",
            f"{_FEATURE}:JDA",
            {"n_components": 100, "mu": 1.0, "kernel": "primal", "n_iter": 10},
            f"k=100, lambda (mu)=1, primal (linear) formulation, T=10, unit-norm embedding as in "
            f"{_LONG2013}",
            unit_norm=True,
        ),
        MethodSpec(
            "OT-EMD", f"{_FEATURE}:OTMapping", {"method": "emd"}, "exact OT, no parameter", selection="none"
        ),
        MethodSpec("OT-Sinkhorn", f"{_FEATURE}:OTMapping", {"method": "sinkhorn"}, _COURTY2017),
        MethodSpec("OT-LpL1", f"{_FEATURE}:OTMapping", {"method": "lpl1"}, _COURTY2017),
        MethodSpec("OT-L1L2", f"{_FEATURE}:OTMapping", {"method": "l1l2"}, _COURTY2017),
        # instance-based: the weights need an estimator with sample_weight, so logistic regression
        MethodSpec("NoAdapt-LR", SourceOnly, {}, "no adaptation, logistic regression (the baseline "
                   "of the weighting methods)", selection="none", classifier="logreg"),
        *(
            MethodSpec(name, f"{_INSTANCE}:{name}", {}, "the adapter's defaults (kernel widths by "
                       "its own source/target-only selection where it has one)", classifier="logreg")
            for name in ("KMM", "KLIEP", "ULSIF", "RuLSIF", "DiscriminativeWeighting",
                         "NearestNeighborWeighting")
        ),
        # deep, on feature vectors: an MLP with a bottleneck, its own head as the classifier
        *(
            MethodSpec(name, f"{_DEEP}:DeepAdapter", {**_MLP, **params}, f"{_MLP_SETTING}; {note}",
                       selection="last-epoch", classifier="head")
            for name, params, note in _deep_methods()
        ),
    )
}


def register_method(spec: MethodSpec, *, replace: bool = False) -> MethodSpec:
    """Add a method to the registry (e.g. your own adapter, to benchmark it beside the others).

    Parameters
    ----------
    spec : MethodSpec
    replace : bool, default=False
        Allow overwriting an entry of the same name.

    Returns
    -------
    MethodSpec
        ``spec``.

    Raises
    ------
    ValueError
        When the name is taken and ``replace`` is false.
    """
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"method {spec.name!r} is already registered (pass replace=True)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_method(name: str) -> None:
    """Remove a method from the registry (no error when absent)."""
    _REGISTRY.pop(name, None)


def available_methods() -> list[str]:
    """Names of the registered methods whose adapter imports, in registry order."""
    names = []
    for name, spec in _REGISTRY.items():
        try:
            spec.adapter_class()
        except UnknownMethodError:
            continue
        names.append(name)
    return names


def get_method(name: str) -> MethodSpec:
    """The registered, importable method called ``name``.

    Raises
    ------
    UnknownMethodError
        Naming the available methods.
    """
    spec = _REGISTRY.get(name)
    if spec is None:
        raise UnknownMethodError(
            f"unknown method {name!r}; available: {', '.join(available_methods())}"
        )
    spec.adapter_class()
    return spec


__all__ = [
    "MethodSpec",
    "SourceOnly",
    "UnknownMethodError",
    "available_methods",
    "get_method",
    "register_method",
    "unregister_method",
]
