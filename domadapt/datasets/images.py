"""Image domains laid out like torchvision's ``ImageFolder``: one folder per domain, one per class.

A root holds one folder per domain; each domain holds one folder per class, either directly or
below an ``images`` folder (the Office-31 archive)::

    ROOT/<domain>/images/<class>/*.jpg      layout="images"  (Office-31)
    ROOT/<domain>/<class>/*.jpg             layout="flat"    (Office-Home, most custom sets)

``layout="auto"`` takes ``images`` for a domain that has an ``images`` folder and ``flat``
otherwise. Classes are numbered in sorted order of their folder names (the order of
``torchvision.datasets.ImageFolder``). :class:`ImageDomainDataset` reads one domain,
:func:`image_task` a source→target pair with :func:`image_transforms` (torchvision
``transforms.v2``, ImageNet normalisation). Nothing is downloaded; images are opened with PIL.

References
----------
K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains. ECCV 2010.
H. Venkateswara, J. Eusebio, S. Chakraborty, S. Panchanathan. Deep Hashing Network for
Unsupervised Domain Adaptation. CVPR 2017 (Office-Home).
"""

from __future__ import annotations

import copy
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .._torchvision import import_torchvision
from ._paths import resolve_data_root

#: Per-channel mean and standard deviation of ImageNet (RGB, pixel values in [0, 1]).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: File name endings read as images (compared case-insensitively), as in ``ImageFolder``.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: ``layout`` values.
LAYOUTS: tuple[str, ...] = ("auto", "images", "flat")
#: ``verify`` values: open each file and check its header, decode it fully, or do not look.
VERIFY_MODES: tuple[str, ...] = ("header", "full", "none")


class CorruptImageError(OSError):
    """An image file that PIL cannot read; ``paths`` lists every such file found.

    References
    ----------
    K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains.
    ECCV 2010 (the image sets this guards).
    """

    def __init__(self, message: str, paths: Sequence[str] = ()):
        # `paths` has a default: a DataLoader worker re-raises an exception in the main process
        # as `type(exc)(message)`, which must keep this type rather than turn into RuntimeError
        super().__init__(message)
        self.paths = list(paths)


def image_transforms(
    train: bool = False,
    *,
    image_size: int = 224,
    resize_size: int = 256,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    scale: tuple[float, float] = (0.08, 1.0),
) -> Callable[[Any], torch.Tensor]:
    """The standard ImageNet-style transforms (torchvision ``transforms.v2``).

    Training: a random crop of a random area fraction in ``scale`` and aspect ratio in
    [3/4, 4/3], resized to ``image_size`` × ``image_size`` (Inception-style
    ``RandomResizedCrop``), then a horizontal flip with probability 1/2. Test: the shorter side
    resized to ``resize_size`` (bilinear, antialiased), then the central ``image_size`` ×
    ``image_size`` crop. Both end with pixels scaled to [0, 1] as float32 and normalised per
    channel, ``(x - mean) / std``.

    Parameters
    ----------
    train : bool
        Training (random) or test (deterministic) transform.
    image_size : int
        Side of the output image (224).
    resize_size : int
        Shorter side before the central crop of the test transform (256); at least ``image_size``.
    mean, std : sequence of 3 floats
        Normalisation per RGB channel, for pixels in [0, 1]; ImageNet's by default. Use
        :func:`domadapt.deep.backbones.backbone_normalization` for backbones trained otherwise.
    scale : (float, float)
        Range of the crop's area fraction in the training transform.

    Returns
    -------
    callable
        Maps a PIL image (or a ``uint8`` tensor ``(3, H, W)``) to a float32 tensor
        ``(3, image_size, image_size)``.

    References
    ----------
    C. Szegedy et al. Going Deeper with Convolutions. CVPR 2015 (random-resized crops).
    K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016
    (resize 256, centre crop 224 at test time).
    """
    for argument, value in (("image_size", image_size), ("resize_size", resize_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{argument} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{argument}={value} must be positive")
    if resize_size < image_size:
        raise ValueError(f"resize_size={resize_size} must be at least image_size={image_size}")
    mean, std = _check_channels("mean", mean), _check_channels("std", std)
    if min(std) <= 0:
        raise ValueError(f"std={std} must be positive")
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"scale={scale} must satisfy 0 < low <= high <= 1")
    v2 = import_torchvision("transforms.v2")
    if train:
        geometry = [v2.RandomResizedCrop(image_size, scale=tuple(scale), antialias=True), v2.RandomHorizontalFlip()]
    else:
        geometry = [v2.Resize(resize_size, antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose([v2.ToImage(), *geometry, v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])


class ImageDomainDataset(Dataset):
    """The images of one domain, ``ROOT/<domain>[/images]/<class>/<file>``, as a torch Dataset.

    Item ``i`` is ``(transform(image), label)``: the image opened with PIL and converted to RGB,
    the label the index of its class folder in ``classes``. Files are found recursively below
    each class folder, in sorted order; only names ending in ``extensions`` count. Hidden
    entries (names starting with ``.``: ``.ipynb_checkpoints``, macOS's ``._*`` files) are left
    out; symbolic links are followed, except one back up to a folder on the way down (a loop),
    and a folder reached twice is walked once (a link to another class folder still lists
    that class's images under this one, as torchvision's ``ImageFolder`` does). 16-bit
    images are scaled to 8 bits; 32-bit integer or float images are refused by name.

    Parameters
    ----------
    root : str, path-like or None
        Folder holding the domain folders (``None``: ``$DOMADAPT_DATA``).
    domain : str
        Name of the domain folder, e.g. ``"amazon"`` or ``"Real_World"``.
    classes : sequence of str or None
        Class folder names, label ``k`` for ``classes[k]``; every one must exist and hold at
        least one image. ``None``: the sorted class folders found in the domain.
    transform : callable or None
        Applied to each PIL image (e.g. :func:`image_transforms`); ``None`` returns the PIL image.
    layout : {"auto", "images", "flat"}
        Where the class folders are (see the module docstring).
    extensions : sequence of str
        File name endings of images.
    skip_corrupt : bool
        Leave out files that PIL cannot read (with a warning listing them) instead of raising.
    verify : {"header", "full", "none"}
        How files are checked when the dataset is built: ``"header"`` opens each one and checks
        its header (catches files that are no image at all, fast); ``"full"`` decodes each one
        (also catches truncated files; slower); ``"none"`` checks nothing (then a bad file
        raises when it is loaded).

    Attributes
    ----------
    folder : pathlib.Path
        The folder holding the class folders.
    samples : list of (str, int)
        Image path and label.
    targets : ndarray of shape (n_images,)
        The labels, int64.
    skipped : list of str
        Corrupt files left out (``skip_corrupt=True``).

    Raises
    ------
    FileNotFoundError
        The root, the domain or a class folder is missing, or a class folder holds no image: one
        message lists every problem and the expected layout.
    CorruptImageError
        A file cannot be read and ``skip_corrupt`` is False; the message names every such file.

    References
    ----------
    K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains.
    ECCV 2010.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None,
        domain: str,
        *,
        classes: Sequence[str] | None = None,
        transform: Callable[[Any], Any] | None = None,
        layout: str = "auto",
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        skip_corrupt: bool = False,
        verify: str = "header",
    ):
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify={verify!r} is not one of {list(VERIFY_MODES)}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
        found_classes, folders = scan_image_root(root, [domain], classes=classes, layout=layout, extensions=extensions)
        self.root = resolve_data_root(root)
        self.domain = domain
        self.folder = folders[domain]
        self.classes: tuple[str, ...] = tuple(found_classes)
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}
        self.transform = transform
        self.extensions = _extensions(extensions)
        samples = [
            (str(path), label)
            for label, name in enumerate(self.classes)
            for path in _image_files(self.folder / name, self.extensions)
        ]
        bad = _unreadable(samples, verify)
        self.skipped = [path for path, _ in bad]
        if bad and not skip_corrupt:
            raise CorruptImageError(
                f"{len(bad)} corrupt image file(s) in domain {domain!r}:\n"
                + "\n".join(f"  {path}: {reason}" for path, reason in bad)
                + "\nremove or replace them, or pass skip_corrupt=True (--skip-corrupt on the "
                "command line) to leave them out",
                self.skipped,
            )
        if bad:
            warnings.warn(
                f"skipped {len(bad)} corrupt image file(s) in domain {domain!r}: " + ", ".join(self.skipped),
                UserWarning,
                stacklevel=2,
            )
            dropped = set(self.skipped)
            samples = [sample for sample in samples if sample[0] not in dropped]
        if not samples:
            raise FileNotFoundError(f"domain {domain!r} in {str(self.root)!r} has no readable image left")
        self.samples: list[tuple[str, int]] = samples
        self.targets = np.array([label for _, label in samples], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        label = self.samples[index][1]
        image = self.load_image(index)
        return (self.transform(image) if self.transform is not None else image), label

    def load_image(self, index: int) -> Image.Image:
        """Image ``index`` as an RGB PIL image (no transform).

        Raises
        ------
        CorruptImageError
            Naming the file, when PIL cannot decode it.
        """
        path = self.samples[index][0]
        try:
            with Image.open(path) as image:
                return _to_rgb(image, path)
        except CorruptImageError:
            raise
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
            raise CorruptImageError(
                f"cannot read image {path!r}: {type(exc).__name__}: {exc} (build the dataset with "
                "verify='full', skip_corrupt=True to find and leave out such files; on the command "
                "line --verify full --skip-corrupt)",
                [path],
            ) from exc

    def relative_paths(self) -> list[str]:
        """Image paths relative to ``root``, with ``/`` separators, in sample order."""
        return [Path(path).relative_to(self.root).as_posix() for path, _ in self.samples]

    def with_transform(self, transform: Callable[[Any], Any] | None) -> ImageDomainDataset:
        """A copy reading the same files through another ``transform`` (no rescan)."""
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
        other = copy.copy(self)
        other.transform = transform
        return other

    def class_counts(self) -> dict[str, int]:
        """Number of images per class."""
        counts = np.bincount(self.targets, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts)}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(domain={self.domain!r}, images={len(self)}, "
            f"classes={len(self.classes)}, folder={str(self.folder)!r})"
        )


@dataclass(frozen=True)
class ImageTask:
    """A source→target task of image datasets (the image counterpart of ``DomainTask``).

    Parameters
    ----------
    source, target : ImageDomainDataset
        The two domains, with the same ``classes``; the target labels are for scoring only.
    class_names : tuple of str
        Name of class ``k`` at position ``k``.
    name : str
        Task name such as ``"A→W"``.
    dataset : str
        Data set the task belongs to, e.g. ``"office31_images"``.
    meta : dict
        Provenance: root, layout, transform.

    References
    ----------
    K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains.
    ECCV 2010.
    """

    source: ImageDomainDataset
    target: ImageDomainDataset
    class_names: tuple[str, ...]
    name: str
    dataset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def with_transform(self, transform: Callable[[Any], Any] | str | None) -> ImageTask:
        """The same task read through another transform (``"train"``, ``"test"``, a callable or None).

        The strings build :func:`image_transforms` with the sizes and normalisation recorded in
        ``meta``; e.g. ``task.with_transform("test")`` for evaluating on the target.
        """
        built = _resolve_transform(transform, self.meta.get("transform_options", {}))
        return ImageTask(
            source=self.source.with_transform(built),
            target=self.target.with_transform(built),
            class_names=self.class_names,
            name=self.name,
            dataset=self.dataset,
            meta={**self.meta, "transform": _transform_label(transform)},
        )


def image_task(
    root: str | os.PathLike[str] | None,
    source: str,
    target: str,
    *,
    classes: Sequence[str] | None = None,
    transform: Callable[[Any], Any] | str | None = "train",
    layout: str = "auto",
    image_size: int = 224,
    resize_size: int = 256,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    skip_corrupt: bool = False,
    verify: str = "header",
    name: str | None = None,
    dataset: str = "images",
) -> ImageTask:
    """Source and target image datasets of any ImageFolder-style root (Office-Home, custom sets).

    Both domains are checked before anything is read, so a missing domain or class folder in
    either gives one error that lists every problem.

    Parameters
    ----------
    root : str, path-like or None
        Folder holding the domain folders (``None``: ``$DOMADAPT_DATA``).
    source, target : str
        Domain folder names, e.g. ``"Art"`` and ``"Clipart"`` for Office-Home.
    classes : sequence of str or None
        Class folder names (label order); ``None``: the sorted union of the class folders of
        both domains, each of which must then hold all of them.
    transform : "train", "test", callable or None
        ``"train"``/``"test"`` build :func:`image_transforms` with ``image_size``,
        ``resize_size``, ``mean`` and ``std``; a callable is used as is for both domains.
    layout, extensions, skip_corrupt, verify
        As for :class:`ImageDomainDataset`.
    image_size, resize_size, mean, std
        Options of :func:`image_transforms` (also used by :meth:`ImageTask.with_transform`).
    name : str or None
        Task name; ``None`` gives ``"<source>→<target>"``.
    dataset : str
        Recorded in the task.

    Returns
    -------
    ImageTask

    References
    ----------
    H. Venkateswara, J. Eusebio, S. Chakraborty, S. Panchanathan. Deep Hashing Network for
    Unsupervised Domain Adaptation. CVPR 2017 (Office-Home, laid out ``ROOT/<domain>/<class>``).
    """
    if source == target:
        raise ValueError(f"source and target are the same domain {source!r}")
    options = {"image_size": image_size, "resize_size": resize_size, "mean": tuple(mean), "std": tuple(std)}
    built = _resolve_transform(transform, options)
    found, _ = scan_image_root(root, [source, target], classes=classes, layout=layout, extensions=extensions)
    kwargs = dict(classes=found, transform=built, layout=layout, extensions=extensions,
                  skip_corrupt=skip_corrupt, verify=verify)
    src = ImageDomainDataset(root, source, **kwargs)
    tgt = ImageDomainDataset(root, target, **kwargs)
    return ImageTask(
        source=src,
        target=tgt,
        class_names=tuple(found),
        name=name if name is not None else f"{source}→{target}",
        dataset=dataset,
        meta={
            "root": str(src.root),
            "layout": layout,
            "transform": _transform_label(transform),
            "transform_options": options,
        },
    )


def scan_image_root(
    root: str | os.PathLike[str] | None,
    domains: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    layout: str = "auto",
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    expected_counts: dict[str, int] | None = None,
    what: str = "image root",
) -> tuple[list[str], dict[str, Path]]:
    """Check that ``root`` holds every domain and class folder; return the classes and folders.

    Parameters
    ----------
    root : str, path-like or None
        Folder holding the domain folders (``None``: ``$DOMADAPT_DATA``).
    domains : sequence of str
        Domain folder names.
    classes : sequence of str or None
        Required class folders; ``None``: the sorted union of those found in the domains.
    layout : {"auto", "images", "flat"}
        See the module docstring.
    extensions : sequence of str
        Image file name endings; a class folder without any such file counts as missing.
    expected_counts : dict or None
        Standard images per domain, quoted in the error message for information only.
    what : str
        Name of the data set in messages.

    Returns
    -------
    classes : list of str
        The class names in label order.
    folders : dict
        Domain → the folder holding its class folders.

    Raises
    ------
    FileNotFoundError
        One message that lists every absent domain folder, every absent or empty class folder
        per domain, and the expected layout.

    References
    ----------
    K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New Domains.
    ECCV 2010.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {list(LAYOUTS)}")
    if isinstance(domains, str) or not domains:
        raise TypeError("domains must be a non-empty sequence of domain folder names")
    if classes is not None:
        if isinstance(classes, str) or not all(isinstance(c, str) and c for c in classes):
            raise TypeError("classes must be a sequence of class folder names")
        repeated = sorted(name for name, n in Counter(classes).items() if n > 1)
        if repeated:
            raise ValueError(f"classes holds duplicate names: {repeated}")
    extensions = tuple(ext.lower() for ext in _extensions(extensions))
    base = resolve_data_root(root, layout=_layout_text(domains, classes, layout, expected_counts))
    problems: list[str] = []
    folders: dict[str, Path] = {}
    for domain in domains:
        folder = base / domain
        if not folder.is_dir():
            problems.append(f"domain {domain!r}: folder {str(folder)!r} is missing")
            continue
        folders[domain] = folder / "images" if _uses_images(folder, layout) else folder
        if layout == "images" and not folders[domain].is_dir():
            problems.append(f"domain {domain!r}: folder {str(folders[domain])!r} is missing (layout='images')")
            del folders[domain]
    present = {
        d: sorted(p.name for p in f.iterdir() if p.is_dir() and not p.name.startswith("."))
        for d, f in folders.items()
    }
    wanted = list(classes) if classes is not None else sorted({c for names in present.values() for c in names})
    if folders and not wanted:
        problems.append("no class folder in any domain")
    for domain, folder in folders.items():
        missing = [c for c in wanted if c not in present[domain]]
        empty = [c for c in wanted if c in present[domain] and not _has_image(folder / c, extensions)]
        if missing:
            problems.append(
                f"domain {domain!r}: {len(missing)} of {len(wanted)} class folders missing in "
                f"{str(folder)!r}: {', '.join(missing)}"
            )
        if empty:
            problems.append(f"domain {domain!r}: class folders without images: {', '.join(empty)}")
    if problems:
        raise FileNotFoundError(
            f"incomplete {what} {str(base)!r}:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nexpected layout:\n"
            + _layout_text(domains, classes, layout, expected_counts)
        )
    return wanted, folders


# --- helpers ------------------------------------------------------------------------------------


def _check_channels(argument: str, values: Sequence[float]) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise TypeError(f"{argument} must be a sequence of 3 numbers, got {values!r}") from None
    if len(out) != 3 or not all(np.isfinite(out)):
        raise ValueError(f"{argument} must hold 3 finite numbers (R, G, B), got {values!r}")
    return out  # type: ignore[return-value]


def _check_transform(transform: Callable[[Any], Any] | str | None) -> None:
    if not (transform is None or callable(transform) or transform in ("train", "test")):
        raise ValueError(f"transform={transform!r} must be 'train', 'test', a callable or None")


def _resolve_transform(transform: Callable[[Any], Any] | str | None, options: dict[str, Any]) -> Callable[[Any], Any] | None:
    _check_transform(transform)
    if transform is None or callable(transform):
        return transform
    return image_transforms(transform == "train", **options)


def _transform_label(transform: Callable[[Any], Any] | str | None) -> str | None:
    return transform if isinstance(transform, str) or transform is None else repr(transform)


def _uses_images(folder: Path, layout: str) -> bool:
    return layout == "images" or (layout == "auto" and (folder / "images").is_dir())


def _layout_text(
    domains: Sequence[str], classes: Sequence[str] | None, layout: str, expected: dict[str, int] | None
) -> str:
    names = "{" + ",".join(domains) + "}"
    if classes is None:
        class_text = "one folder per class, the same classes in every domain"
    else:
        shown = ", ".join(list(classes)[:5]) + (", ..." if len(classes) > 5 else "")
        class_text = f"{len(classes)} classes: {shown}"
    lines = {
        "images": [f"<root>/{names}/images/<class>/<image files>"],
        "flat": [f"<root>/{names}/<class>/<image files>"],
        "auto": [f"<root>/{names}/images/<class>/<image files>", f"or <root>/{names}/<class>/<image files>"],
    }[layout]
    text = "\n".join(f"  {line}" for line in lines) + f"\n  ({class_text})"
    if expected:
        counts = ", ".join(f"{d} {n}" for d, n in expected.items())
        text += f"\n  (the full data set has {counts} images; subsets are accepted)"
    return text


def _extensions(extensions: str | Sequence[str]) -> tuple[str, ...]:
    """File endings as a tuple; one string is one ending (not its characters)."""
    return (extensions,) if isinstance(extensions, str) else tuple(extensions)


def _walk(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """``(directory, file names)`` below ``folder``, sorted, following symbolic links except
    those back to a folder on the way down (a loop would repeat, under this class, every file
    of the folders above it), entering each real directory once, and skipping hidden entries
    (``.ipynb_checkpoints``, macOS's ``._*`` resource files)."""
    seen: set[str] = set()
    for directory, subdirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            subdirs[:] = []
            continue
        seen.add(real)
        keep = []
        for d in sorted(subdirs):
            target = os.path.realpath(os.path.join(directory, d))
            upward = real == target or real.startswith(target.rstrip(os.sep) + os.sep)
            if not d.startswith(".") and not upward:
                keep.append(d)
        subdirs[:] = keep
        yield directory, sorted(n for n in names if not n.startswith("."))


def _image_files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    lowered = tuple(ext.lower() for ext in extensions)
    return [Path(d) / n for d, names in _walk(folder) for n in names if n.lower().endswith(lowered)]


def _has_image(folder: Path, extensions: tuple[str, ...]) -> bool:
    return any(n.lower().endswith(extensions) for _, names in _walk(folder) for n in names)


#: PIL modes of more than 8 bits per channel, and the divisor that brings them to 0..255
_WIDE_MODES = {"I;16": 257, "I;16L": 257, "I;16B": 257, "I;16N": 257}


def _to_rgb(image: Image.Image, path: str) -> Image.Image:
    """``image`` as 8-bit RGB. 16-bit images are scaled (``convert`` would clip them to 255:
    nearly white); 32-bit integer and float images have no agreed range, so they are refused
    by name rather than saturated."""
    if image.mode in _WIDE_MODES:
        values = np.asarray(image, dtype=np.float64) / _WIDE_MODES[image.mode]
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
    elif image.mode in ("I", "F"):
        raise CorruptImageError(
            f"image {path!r} has PIL mode {image.mode!r} (32-bit integer or float pixels), whose "
            "range is not known; convert it to 8 or 16 bits per channel",
            [path],
        )
    return image.convert("RGB")


def _unreadable(samples: list[tuple[str, int]], verify: str) -> list[tuple[str, str]]:
    if verify == "none":
        return []
    bad = []
    for path, _ in samples:
        try:
            with Image.open(path) as image:
                if verify == "full":
                    image.load()
                else:
                    image.verify()
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
            bad.append((path, f"{type(exc).__name__}: {exc}"))
    return bad
