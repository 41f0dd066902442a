"""Feature extraction: run a pretrained backbone once over image domains and cache the features.

:func:`extract_features` reads each domain of an image root (Office-31 by default, any
ImageFolder-style root otherwise), passes every image through the test transform (resize,
centre crop, the backbone's normalisation) and the backbone without its classifier, in eval mode
and batches, on CUDA when available, and writes one ``.npz`` file per domain:

``X``
    float32 features ``(n_images, dim)``.
``y``
    int64 labels, index into ``class_names``.
``class_names``, ``paths``
    The class names in label order; each image's path relative to the image root.
``domain``, ``backbone``, ``weights``
    What was extracted, with what (``weights`` is ``""`` for random initialisation).
``fingerprint``
    JSON text of everything the features depend on: backbone, the weights file's SHA-256 and
    size, the transform, the classes, the domain, and the list of image files with their sizes
    and modification times. A later run with the same fingerprint reads the file instead of
    computing it again (``cached=True`` in the result); any change recomputes.

The files are those :func:`~domadapt.datasets.load_feature_file` and the Office-31 feature loader
read (``X`` and ``y``), so ``load_task("office31", "A→W", data_root=<out folder>)`` works on an
Office-31 extraction. Each file is written to a temporary name in the same folder and renamed
into place, so a reader never sees half a file.

References
----------
J. Donahue, Y. Jia, O. Vinyals, J. Hoffman, N. Zhang, E. Tzeng, T. Darrell. DeCAF: A Deep
Convolutional Activation Feature for Generic Visual Recognition. ICML 2014.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .._array import resolve_device
from ._paths import resolve_data_root
from .images import IMAGE_EXTENSIONS, ImageDomainDataset, image_transforms, scan_image_root
from .office31 import OFFICE31_CLASSES, OFFICE31_DOMAINS, OFFICE31_IMAGE_COUNTS, office31_image_root

#: Version of the file layout; part of the fingerprint, so a new layout recomputes old caches.
FORMAT_VERSION = 1
_GENERIC_LAYOUT = "  <root>/<domain>/[images/]<class>/<image files>"


@dataclass(frozen=True)
class FeatureFile:
    """One written (or reused) feature file.

    Attributes
    ----------
    domain : str
    path : pathlib.Path
    n_samples : int
    dim : int
        Feature dimension.
    cached : bool
        True when the file already held features with the same fingerprint and was reused.
    """

    domain: str
    path: Path
    n_samples: int
    dim: int
    cached: bool


def feature_file_paths(out: str | os.PathLike[str], domains: Sequence[str]) -> dict[str, Path]:
    """Where :func:`extract_features` writes each domain's file.

    ``out`` ending in ``.npz`` is a file-name stem: ``feats.npz`` gives ``feats_amazon.npz``,
    ``feats_dslr.npz``, ... next to it (read them back with ``file_pattern="feats_{domain}"``).
    Any other ``out`` is a folder: ``out/amazon.npz``, ``out/dslr.npz``, ... (read them back
    with ``data_root=out``).

    References
    ----------
    J. Donahue et al. DeCAF: A Deep Convolutional Activation Feature for Generic Visual
    Recognition. ICML 2014 (one feature file per domain, as its Office features were released).
    """
    out = Path(out).expanduser()
    if out.suffix.lower() == ".npz":
        return {d: out.with_name(f"{out.stem}_{d}.npz") for d in domains}
    return {d: out / f"{d}.npz" for d in domains}


def extract_features(
    backbone: str,
    weights: str | os.PathLike[str] | None,
    data_root: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    domains: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    layout: str = "auto",
    batch_size: int = 64,
    device: str | torch.device = "auto",
    num_workers: int = 0,
    progress: bool = True,
    image_size: int = 224,
    resize_size: int = 256,
    amp: bool = False,
    skip_corrupt: bool = False,
    verify: str = "header",
    force: bool = False,
) -> dict[str, FeatureFile]:
    """Extract backbone features of every image of each domain into cached ``.npz`` files.

    Parameters
    ----------
    backbone : str
        A name of :data:`domadapt.deep.backbones.BACKBONES`, e.g. ``"resnet50"``.
    weights : str, path-like or None
        As for :func:`domadapt.deep.backbones.load_backbone`: a local file, ``"DEFAULT"`` or a
        torchvision weights name from the local cache, or ``None`` (random weights: only for tests).
    data_root : str, path-like or None
        The image root (``None``: ``$DOMADAPT_DATA``). For Office-31 the domain folders may also
        sit in ``data_root/office31``.
    out : str or path-like
        A folder, or a ``.npz`` name used as a stem; see :func:`feature_file_paths`.
    domains : sequence of str or None
        Domain folder names; ``None`` means Office-31's ``amazon``, ``dslr``, ``webcam``.
    classes : sequence of str or None
        Class folder names in label order; ``None`` means the 31 Office-31 classes when every
        domain is an Office-31 domain, else the sorted class folders found (the same in every
        domain).
    layout : {"auto", "images", "flat"}
        See :mod:`domadapt.datasets.images`.
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        ``"auto"``: CUDA when available, else the CPU.
    num_workers : int
        DataLoader worker processes decoding images (0: in this process).
    progress : bool
        Show a tqdm bar per domain.
    image_size, resize_size : int
        The test transform: shorter side resized to ``resize_size``, central ``image_size``
        crop; normalised with the backbone's statistics
        (:func:`~domadapt.deep.backbones.backbone_normalization`).
    amp : bool
        Run the backbone under autocast (float16 on CUDA, bfloat16 on the CPU). Off by default
        so that the features are the float32 forward pass; part of the fingerprint.
    skip_corrupt, verify
        As for :class:`~domadapt.datasets.ImageDomainDataset`.
    force : bool
        Recompute even when a file with the same fingerprint exists.

    Returns
    -------
    dict
        Domain → :class:`FeatureFile` (path, size, whether it came from the cache).

    Raises
    ------
    FileNotFoundError
        Missing root, domain or class folders (one message), or missing weights.
    CorruptImageError
        Unreadable images (named), unless ``skip_corrupt``.
    ValueError, TypeError
        Bad arguments, naming the argument.

    References
    ----------
    J. Donahue, Y. Jia, O. Vinyals, J. Hoffman, N. Zhang, E. Tzeng, T. Darrell. DeCAF: A Deep
    Convolutional Activation Feature for Generic Visual Recognition. ICML 2014.
    K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016.
    """
    from ..deep.backbones import backbone_normalization, load_backbone, resolve_weights

    for argument, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{argument} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{argument}={value} must be at least {low}")
    mean, std = backbone_normalization(backbone)
    transform = image_transforms(False, image_size=image_size, resize_size=resize_size, mean=mean, std=std)
    root, domains, classes, expected = _resolve_root(data_root, domains, classes)
    classes, _ = scan_image_root(
        root, domains, classes=classes, layout=layout, expected_counts=expected,
        what="Office-31 image root" if expected else "image root",
    )
    weights_file = resolve_weights(backbone, weights)
    torch_device = resolve_device(device)
    common = {
        "format_version": FORMAT_VERSION,
        "backbone": backbone,
        "weights": _file_identity(weights_file),
        "transform": {"kind": "test", "image_size": image_size, "resize_size": resize_size,
                      "mean": list(mean), "std": list(std)},
        "amp": bool(amp),
        "classes": list(classes),
    }
    targets = feature_file_paths(out, domains)
    model = None
    results: dict[str, FeatureFile] = {}
    for domain in domains:
        dataset = ImageDomainDataset(
            root, domain, classes=classes, transform=transform, layout=layout,
            extensions=IMAGE_EXTENSIONS, skip_corrupt=skip_corrupt, verify=verify,
        )
        paths = dataset.relative_paths()
        fingerprint = json.dumps(
            {**common, "domain": domain, "files": _files_digest(dataset, paths), "n_files": len(paths)},
            sort_keys=True,
        )
        target = targets[domain]
        if not force:
            reused = _read_cache(target, fingerprint)
            if reused is not None:
                results[domain] = FeatureFile(domain, target, reused[0], reused[1], True)
                continue
        if model is None:
            model, _ = load_backbone(backbone, weights_file)
            model = model.to(torch_device).eval()
        X = _forward_all(model, dataset, batch_size, torch_device, num_workers, amp,
                         progress, f"{backbone} {domain}")
        _atomic_savez(
            target,
            X=X,
            y=dataset.targets,
            class_names=np.array(classes, dtype=str),
            paths=np.array(paths, dtype=str),
            domain=np.array(domain),
            backbone=np.array(backbone),
            weights=np.array("" if weights is None else str(weights)),
            fingerprint=np.array(fingerprint),
        )
        results[domain] = FeatureFile(domain, target, int(X.shape[0]), int(X.shape[1]), False)
    return results


def _resolve_root(
    data_root: str | os.PathLike[str] | None,
    domains: Sequence[str] | None,
    classes: Sequence[str] | None,
) -> tuple[Path, list[str], Sequence[str] | None, dict[str, int] | None]:
    if domains is None:
        domains = list(OFFICE31_DOMAINS)
    if isinstance(domains, str) or not domains or not all(isinstance(d, str) and d for d in domains):
        raise TypeError("domains must be a non-empty sequence of domain folder names")
    domains = list(dict.fromkeys(domains))
    if set(domains) <= set(OFFICE31_DOMAINS):
        expected = {d: OFFICE31_IMAGE_COUNTS[d] for d in domains}
        return office31_image_root(data_root), domains, OFFICE31_CLASSES if classes is None else classes, expected
    return resolve_data_root(data_root, layout=_GENERIC_LAYOUT), domains, classes, None


def _file_identity(path: Path | None) -> dict[str, object] | None:
    if path is None:
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"name": path.name, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def _files_digest(dataset: ImageDomainDataset, paths: list[str]) -> str:
    digest = hashlib.sha256()
    for (path, label), relative in zip(dataset.samples, paths):
        stat = os.stat(path)
        # surrogateescape: a file name that is not valid UTF-8 keeps its own bytes
        digest.update(f"{relative}\t{label}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode(
            "utf-8", "surrogateescape"))
    return digest.hexdigest()


def _read_cache(path: Path, fingerprint: str) -> tuple[int, int] | None:
    if not path.is_file():
        return None
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a lone .npy array under this name
            return None
        with archive:
            if "fingerprint" not in archive.files or str(archive["fingerprint"]) != fingerprint:
                return None
            shape = archive["X"].shape
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # unreadable, truncated or foreign file: recompute and replace it
    return int(shape[0]), int(shape[1])


def _forward_all(
    model: torch.nn.Module,
    dataset: ImageDomainDataset,
    batch_size: int,
    device: torch.device,
    num_workers: int,
    amp: bool,
    progress: bool,
    description: str,
) -> np.ndarray:
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    autocast = (
        torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)
        if amp else contextlib.nullcontext()
    )
    chunks = []
    with tqdm(total=len(dataset), desc=description, unit="img", disable=not progress) as bar, \
            torch.inference_mode(), autocast:
        for images, _ in loader:
            features = model(images.to(device, non_blocking=True))
            chunks.append(features.float().cpu())
            bar.update(images.shape[0])
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600): the usual mode
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
