"""Office-31: images (``ROOT/{amazon,dslr,webcam}/images/<class>/*.jpg``) and pre-extracted features.

Images: :func:`office31_images` reads one domain and :func:`office31_image_task` one of the six
tasks as torch Datasets (:mod:`domadapt.datasets.images`); all 31 class folders must be present
in each domain. The standard archive has 2817 (amazon), 498 (dslr) and 795 (webcam) images
(:data:`OFFICE31_IMAGE_COUNTS`); these counts are quoted in error messages but not enforced,
so a subset with every class folder works.

Features, one file per domain (e.g. written by ``domadapt extract-features``), looked up in this
order for a domain ``d`` in ``amazon``, ``dslr``, ``webcam``::

    <root>/office31/<d>.npz   <root>/office31/<d>.mat   <root>/office31/<d>.csv
    <root>/<d>.npz            <root>/<d>.mat            <root>/<d>.csv

The file stem can be changed with ``file_pattern`` (e.g. ``"{domain}_resnet50"``). Formats are those
of :func:`domadapt.datasets.load_feature_file`. Labels may be 0-based (0..30), 1-based (1..31) or
class names from :data:`OFFICE31_CLASSES`.

References
----------
K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains. ECCV 2010.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ._paths import find_file, resolve_data_root
from ._task import Domain, DomainTask, parse_task, task_name
from .features import SUFFIXES, load_feature_file, zscore
from .images import (
    IMAGE_EXTENSIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDomainDataset,
    ImageTask,
    _check_transform,
    _resolve_transform,
    image_task,
    scan_image_root,
)

#: The 31 Office-31 classes in the standard (alphabetical) order; class ``k`` is label ``k``.
OFFICE31_CLASSES: tuple[str, ...] = (
    "back_pack", "bike", "bike_helmet", "bookcase", "bottle", "calculator", "desk_chair",
    "desk_lamp", "desktop_computer", "file_cabinet", "headphones", "keyboard", "laptop_computer",
    "letter_tray", "mobile_phone", "monitor", "mouse", "mug", "paper_notebook", "pen", "phone",
    "printer", "projector", "punchers", "ring_binder", "ruler", "scissors", "speaker", "stapler",
    "tape_dispenser", "trash_can",
)
OFFICE31_DOMAINS: tuple[str, ...] = ("amazon", "dslr", "webcam")
#: The six standard Office-31 tasks.
OFFICE31_TASKS: tuple[str, ...] = ("A→W", "D→W", "W→D", "A→D", "D→A", "W→A")
OFFICE31_PREPROCESSING: tuple[str, ...] = ("none", "zscore")
#: Images per domain in the standard Office-31 archive (information; subsets are accepted).
OFFICE31_IMAGE_COUNTS: dict[str, int] = {"amazon": 2817, "dslr": 498, "webcam": 795}

_LETTER = {"amazon": "A", "dslr": "D", "webcam": "W"}
_ALIASES = {**{n: n for n in OFFICE31_DOMAINS}, **{letter.lower(): n for n, letter in _LETTER.items()}}
_SUBDIR = "office31"


def office31_domain(domain: str) -> str:
    """Canonical Office-31 domain name from ``"amazon"``/``"A"``, ``"dslr"``/``"D"``, ``"webcam"``/``"W"``."""
    try:
        return _ALIASES[str(domain).strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown Office-31 domain {domain!r}; use one of {list(OFFICE31_DOMAINS)} or {list(_LETTER.values())}"
        ) from None


def load_office31_features(
    data_root: str | os.PathLike[str] | None,
    domain: str,
    *,
    preprocess: str = "none",
    file_pattern: str = "{domain}",
) -> Domain:
    """Load the features of one Office-31 domain.

    Parameters
    ----------
    data_root : str, path-like or None
        Data folder; ``None`` reads ``$DOMADAPT_DATA``. See the module docstring for the layout.
    domain : str
        ``"amazon"``/``"A"``, ``"dslr"``/``"D"`` or ``"webcam"``/``"W"``.
    preprocess : {"none", "zscore"}
        ``"zscore"`` standardises the domain on its own statistics (population std).
    file_pattern : str
        File stem, formatted with ``domain=<canonical name>``; the suffix is tried in the order
        ``.npz``, ``.mat``, ``.csv``.

    Returns
    -------
    Domain
        ``y`` int64 in 0..30, indexing :data:`OFFICE31_CLASSES`. An ``.npz`` file that stores
        ``class_names`` (as :func:`~domadapt.datasets.extract_features` writes) has its labels
        read as indices into them and mapped by name, so a file of a subset of the classes or
        in another order keeps every image's class.

    Raises
    ------
    FileNotFoundError
        Listing the paths tried.
    ValueError
        For labels that are neither 0..30, 1..31 nor Office-31 class names.
    """
    name = office31_domain(domain)
    if preprocess not in OFFICE31_PREPROCESSING:
        raise ValueError(f"preprocess={preprocess!r} is not one of {list(OFFICE31_PREPROCESSING)}")
    root = resolve_data_root(data_root)
    stem = file_pattern.format(domain=name)
    candidates = [f"{folder}{stem}{suffix}" for folder in (f"{_SUBDIR}/", "") for suffix in SUFFIXES]
    path = find_file(root, candidates, what=f"Office-31 features, {name}")
    X, labels = load_feature_file(path)
    names = _stored_class_names(path)
    if names is not None:  # labels index the file's own class list (a subset, another order)
        if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(names):
            raise ValueError(
                f"{str(path)!r}: labels must index its class_names (0..{len(names) - 1}), found "
                f"{np.unique(labels)[:10]}"
            )
        labels = names[labels]
    y = _office31_labels(labels, path)
    if preprocess == "zscore":
        X = zscore(X)
    return Domain(X=X, y=y, name=name)


def office31_task(
    source: str,
    target: str,
    *,
    data_root: str | os.PathLike[str] | None = None,
    preprocess: str = "none",
    file_pattern: str = "{domain}",
) -> DomainTask:
    """Load an Office-31 feature task such as ``office31_task("A", "W")`` (name ``"A→W"``).

    Parameters are those of :func:`load_office31_features`.
    """
    s, t = office31_domain(source), office31_domain(target)
    if s == t:
        raise ValueError(f"source and target are the same domain {s!r}")
    src = load_office31_features(data_root, s, preprocess=preprocess, file_pattern=file_pattern)
    tgt = load_office31_features(data_root, t, preprocess=preprocess, file_pattern=file_pattern)
    return DomainTask(
        source=src,
        target=tgt,
        class_names=OFFICE31_CLASSES,
        name=task_name(_LETTER[s], _LETTER[t]),
        dataset="office31",
        meta={"preprocess": preprocess, "file_pattern": file_pattern, "data_root": str(resolve_data_root(data_root))},
    )


def _stored_class_names(path: Path) -> np.ndarray | None:
    """The ``class_names`` array of an ``.npz`` feature file, or None."""
    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as archive:
        if "class_names" not in archive.files:
            return None
        return np.asarray(archive["class_names"]).astype(str).reshape(-1)


def _office31_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    """Map stored Office-31 labels to 0..30.

    Class names map through :data:`OFFICE31_CLASSES`. Integers are 0-based when 0 occurs and
    1-based when 31 occurs (every Office-31 domain holds all 31 classes); anything else is an error.
    """
    n_classes = len(OFFICE31_CLASSES)
    where = repr(str(path))
    if labels.dtype.kind in "USO":
        index = {name: k for k, name in enumerate(OFFICE31_CLASSES)}
        unknown = sorted({str(v) for v in labels} - set(index))
        if unknown:
            raise ValueError(f"{where}: labels {unknown[:10]} are not Office-31 class names")
        return np.array([index[str(v)] for v in labels], dtype=np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{where}: labels must be integers or class names, got dtype {labels.dtype}")
    low, high = int(labels.min()), int(labels.max())
    if low == 0 and high <= n_classes - 1:
        return labels.astype(np.int64)
    if low >= 1 and high == n_classes:
        return (labels - 1).astype(np.int64)
    raise ValueError(
        f"{where}: integer labels span {low}..{high}; expected 0..{n_classes - 1} (0-based, with 0 present) "
        f"or 1..{n_classes} (1-based, with {n_classes} present)"
    )


# --- images ---------------------------------------------------------------------------------------


def office31_image_root(root: str | os.PathLike[str] | None) -> Path:
    """The folder that holds the Office-31 domain folders: ``root`` itself, else ``root/office31``.

    ``root=None`` reads ``$DOMADAPT_DATA``. ``root/office31`` is taken when ``root`` has none of
    the folders ``amazon``, ``dslr``, ``webcam`` and ``root/office31`` has one (so the images can
    sit next to the feature files ``root/office31/<domain>.npz``).

    References
    ----------
    K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains.
    ECCV 2010.
    """
    base = resolve_data_root(root, layout=_image_layout())
    nested = base / _SUBDIR
    if not any((base / d).is_dir() for d in OFFICE31_DOMAINS) and any((nested / d).is_dir() for d in OFFICE31_DOMAINS):
        return nested
    return base


def office31_images(
    root: str | os.PathLike[str] | None,
    domain: str,
    *,
    transform: Callable[[Any], Any] | str | None = "test",
    image_size: int = 224,
    resize_size: int = 256,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    layout: str = "auto",
    skip_corrupt: bool = False,
    verify: str = "header",
) -> ImageDomainDataset:
    """The images of one Office-31 domain, labels 0..30 in the order of :data:`OFFICE31_CLASSES`.

    Parameters
    ----------
    root : str, path-like or None
        Folder holding ``amazon/``, ``dslr/``, ``webcam/`` (or ``root/office31/`` holding them, see
        :func:`office31_image_root`); ``None`` reads ``$DOMADAPT_DATA``.
    domain : str
        ``"amazon"``/``"A"``, ``"dslr"``/``"D"`` or ``"webcam"``/``"W"``.
    transform : "train", "test", callable or None
        ``"test"`` (default) and ``"train"`` build :func:`~domadapt.datasets.image_transforms`
        with ``image_size``, ``resize_size``, ``mean``, ``std``; ``None`` yields PIL images.
    layout : {"auto", "images", "flat"}
        ``ROOT/<domain>/images/<class>`` (the archive's layout) or ``ROOT/<domain>/<class>``.
    skip_corrupt, verify
        As for :class:`~domadapt.datasets.ImageDomainDataset`.

    Returns
    -------
    ImageDomainDataset

    Raises
    ------
    FileNotFoundError
        The domain folder or any of the 31 class folders is missing or empty (one message
        listing them all, with the expected layout).
    CorruptImageError
        An unreadable image, named by path, unless ``skip_corrupt``.

    References
    ----------
    K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains.
    ECCV 2010.
    """
    name = office31_domain(domain)
    _check_transform(transform)
    base = office31_image_root(root)
    _check_image_root(base, [name], layout)
    options = {"image_size": image_size, "resize_size": resize_size, "mean": tuple(mean), "std": tuple(std)}
    return ImageDomainDataset(
        base,
        name,
        classes=OFFICE31_CLASSES,
        transform=_resolve_transform(transform, options),
        layout=layout,
        extensions=IMAGE_EXTENSIONS,
        skip_corrupt=skip_corrupt,
        verify=verify,
    )


def office31_image_task(
    task: str,
    root: str | os.PathLike[str] | None = None,
    *,
    transform: Callable[[Any], Any] | str | None = "train",
    image_size: int = 224,
    resize_size: int = 256,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    layout: str = "auto",
    skip_corrupt: bool = False,
    verify: str = "header",
) -> ImageTask:
    """An Office-31 image task such as ``office31_image_task("A→W", root)``.

    Parameters
    ----------
    task : str
        ``"S→T"`` or ``"S->T"`` by letter or name (``"A→W"``, ``"amazon->webcam"``); the standard
        six are :data:`OFFICE31_TASKS`.
    root : str, path-like or None
        As for :func:`office31_images`.
    transform : "train", "test", callable or None
        Transform of both domains (default ``"train"``: random-resized crop and flip). For
        evaluation use ``task.with_transform("test")``, which reads the same files.
    image_size, resize_size, mean, std, layout, skip_corrupt, verify
        As for :func:`office31_images`.

    Returns
    -------
    ImageTask
        ``source`` and ``target`` datasets with labels 0..30, ``class_names`` equal to
        :data:`OFFICE31_CLASSES`, ``name`` like ``"A→W"``, ``dataset="office31_images"``.

    Raises
    ------
    FileNotFoundError
        One message listing every missing domain or class folder of both domains.

    References
    ----------
    K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains.
    ECCV 2010.
    """
    source, target = parse_task(task)
    s, t = office31_domain(source), office31_domain(target)
    if s == t:
        raise ValueError(f"source and target are the same domain {s!r}")
    _check_transform(transform)
    base = office31_image_root(root)
    _check_image_root(base, [s, t], layout)
    return image_task(
        base,
        s,
        t,
        classes=OFFICE31_CLASSES,
        transform=transform,
        layout=layout,
        image_size=image_size,
        resize_size=resize_size,
        mean=mean,
        std=std,
        skip_corrupt=skip_corrupt,
        verify=verify,
        name=task_name(_LETTER[s], _LETTER[t]),
        dataset="office31_images",
    )


def _image_layout() -> str:
    return (
        "  <root>/{amazon,dslr,webcam}/images/<class>/*.jpg   (31 class folders per domain; "
        "<root>/office31/... also works)"
    )


def _check_image_root(base: Path, domains: list[str], layout: str) -> None:
    scan_image_root(
        base,
        domains,
        classes=OFFICE31_CLASSES,
        layout=layout,
        expected_counts={d: OFFICE31_IMAGE_COUNTS[d] for d in domains},
        what="Office-31 image root",
    )
