"""Office-Caltech-10: SURF bag-of-words (800-d) and DeCAF6 (4096-d) features of four domains.

The ten classes shared by Office-31 (amazon, dslr, webcam) and Caltech-256 (caltech), in the features
released by Gong et al. (2012). See ``docs/datasets.md`` for where the files come from.

References
----------
K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains. ECCV 2010.
G. Griffin, A. Holub, P. Perona. Caltech-256 Object Category Dataset. Caltech Tech. Report
CNS-TR-2007-001, 2007.
B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic Flow Kernel for Unsupervised Domain Adaptation.
CVPR 2012.
J. Donahue et al. DeCAF: A Deep Convolutional Activation Feature for Generic Visual Recognition.
ICML 2014.
M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. Transfer Feature Learning with Joint Distribution
Adaptation. ICCV 2013.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._paths import find_file, resolve_data_root
from ._task import Domain, DomainTask, task_name
from .features import l1_normalize, load_feature_file, zscore

#: Class ``k`` (0-based) of the Office-Caltech-10 files; the files store ``k + 1``.
OFFICE_CALTECH10_CLASSES: tuple[str, ...] = (
    "back_pack",
    "bike",
    "calculator",
    "headphones",
    "keyboard",
    "laptop_computer",
    "monitor",
    "mouse",
    "mug",
    "projector",
)
OFFICE_CALTECH10_DOMAINS: tuple[str, ...] = ("amazon", "caltech", "dslr", "webcam")
#: The 12 SURF tasks in the order of the JDA paper's results table (Long et al., ICCV 2013).
OFFICE_CALTECH10_TASKS: tuple[str, ...] = (
    "C→A", "C→W", "C→D", "A→C", "A→W", "A→D", "W→C", "W→A", "W→D", "D→C", "D→A", "D→W",
)
#: The DeCAF6 tasks the staged files allow (amazon and caltech DeCAF6 files are not available).
OFFICE_CALTECH10_DECAF_TASKS: tuple[str, ...] = ("D→W", "W→D")

FEATURE_SETS: tuple[str, ...] = ("surf", "decaf")
PREPROCESSING: tuple[str, ...] = ("standard", "none")

_LETTER = {"amazon": "A", "caltech": "C", "dslr": "D", "webcam": "W"}
_ALIASES = {
    **{name: name for name in OFFICE_CALTECH10_DOMAINS},
    **{letter.lower(): name for name, letter in _LETTER.items()},
    "caltech10": "caltech",
}
_SURF_DIR = "office_caltech10_surf"
_SURF_FILES = {
    "amazon": "amazon_SURF_L10.mat",
    "caltech": "Caltech10_SURF_L10.mat",
    "dslr": "dslr_SURF_L10.mat",
    "webcam": "webcam_SURF_L10.mat",
}
_DECAF_DIR = "office_caltech10_decaf6"
_DECAF_MISSING = (
    "the staged Office-Caltech-10 DeCAF6 set holds only dslr and webcam: amazon_decaf.mat and "
    "caltech_decaf.mat could not be obtained, so only the DeCAF tasks D→W and W→D are available. "
    "If you have those files, put them next to dslr_decaf.mat."
)


def office_caltech10_domain(domain: str) -> str:
    """Canonical domain name (``"amazon"``, ``"caltech"``, ``"dslr"``, ``"webcam"``).

    Accepts the names, their first letters and ``"Caltech10"``, in any case.
    """
    try:
        return _ALIASES[str(domain).strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown Office-Caltech-10 domain {domain!r}; use one of {list(OFFICE_CALTECH10_DOMAINS)} "
            f"or their letters {list(_LETTER.values())}"
        ) from None


def load_office_caltech10(
    domain: str,
    *,
    features: str = "surf",
    data_root: str | os.PathLike[str] | None = None,
    preprocess: str = "standard",
) -> Domain:
    """Load one Office-Caltech-10 domain.

    Parameters
    ----------
    domain : str
        ``"amazon"``/``"A"``, ``"caltech"``/``"C"``, ``"dslr"``/``"D"`` or ``"webcam"``/``"W"``.
    features : {"surf", "decaf"}
        SURF bag-of-words histograms (800-d, all four domains) or DeCAF6 activations (4096-d; dslr
        and webcam only in the staged files).
    data_root : str, path-like or None
        Data folder; ``None`` reads ``$DOMADAPT_DATA``. The file is looked up as
        ``<root>/office_caltech10_surf/<file>`` (``office_caltech10_decaf6`` for DeCAF), then
        ``<root>/<file>``; the file names are ``{amazon,Caltech10,dslr,webcam}_SURF_L10.mat`` and
        ``{amazon,caltech,dslr,webcam}_decaf.mat``.
    preprocess : {"standard", "none"}
        ``"standard"`` is the GFK/JDA protocol: SURF rows are L1-normalised, then the domain is
        z-scored on its own statistics (population std, zero-variance columns only centred); DeCAF
        features are z-scored per domain only. ``"none"`` returns the stored values as float64.

    Returns
    -------
    Domain
        ``X`` float64 of shape (n, 800) or (n, 4096); ``y`` int64 in 0..9 indexing
        :data:`OFFICE_CALTECH10_CLASSES`; ``name`` the canonical domain name.

    Raises
    ------
    FileNotFoundError
        If the data folder or the file is missing (for amazon/caltech DeCAF the message explains
        that those files are not part of the staged set).
    ValueError
        For an unknown domain, feature set or preprocessing, or labels outside 1..10.
    """
    name = office_caltech10_domain(domain)
    features = _check_choice("features", features, FEATURE_SETS)
    preprocess = _check_choice("preprocess", preprocess, PREPROCESSING)
    root = resolve_data_root(data_root)
    if features == "surf":
        filename = _SURF_FILES[name]
        path = find_file(root, [f"{_SURF_DIR}/{filename}", filename], what=f"Office-Caltech-10 SURF, {name}")
    else:
        filename = f"{name}_decaf.mat"
        try:
            path = find_file(root, [f"{_DECAF_DIR}/{filename}", filename], what=f"Office-Caltech-10 DeCAF6, {name}")
        except FileNotFoundError as exc:
            if name in ("amazon", "caltech"):
                raise FileNotFoundError(f"{exc}\n{_DECAF_MISSING}") from None
            raise
    X, labels = load_feature_file(path)
    y = _zero_based_labels(labels, path)
    if preprocess == "standard":
        X = zscore(l1_normalize(X) if features == "surf" else X)
    return Domain(X=X, y=y, name=name)


def office_caltech10_task(
    source: str,
    target: str,
    *,
    features: str = "surf",
    data_root: str | os.PathLike[str] | None = None,
    preprocess: str = "standard",
) -> DomainTask:
    """Load a source→target Office-Caltech-10 task, e.g. ``office_caltech10_task("C", "A")``.

    Parameters are those of :func:`load_office_caltech10`; each domain is preprocessed on its own
    statistics.

    Returns
    -------
    DomainTask
        Named like ``"C→A"``; ``dataset`` is ``"office_caltech10_surf"`` or
        ``"office_caltech10_decaf"``; ``meta`` records the features, preprocessing and data folder.
    """
    s, t = office_caltech10_domain(source), office_caltech10_domain(target)
    if s == t:
        raise ValueError(f"source and target are the same domain {s!r}")
    features = _check_choice("features", features, FEATURE_SETS)
    src = load_office_caltech10(s, features=features, data_root=data_root, preprocess=preprocess)
    tgt = load_office_caltech10(t, features=features, data_root=data_root, preprocess=preprocess)
    return DomainTask(
        source=src,
        target=tgt,
        class_names=OFFICE_CALTECH10_CLASSES,
        name=task_name(_LETTER[s], _LETTER[t]),
        dataset=f"office_caltech10_{features}",
        meta={"features": features, "preprocess": preprocess, "data_root": str(resolve_data_root(data_root))},
    )


def _check_choice(argument: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{argument}={value!r} is not one of {list(allowed)}")
    return value


def _zero_based_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    n_classes = len(OFFICE_CALTECH10_CLASSES)
    if labels.dtype.kind not in "iu" or labels.min() < 1 or labels.max() > n_classes:
        raise ValueError(f"{str(path)!r}: expected integer labels 1..{n_classes}, found {np.unique(labels)[:20]}")
    return (labels - 1).astype(np.int64)
