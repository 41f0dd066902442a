"""Digits under a controlled shift: an offline task built from scikit-learn's bundled 8×8 digits.

The 1797 images of :func:`sklearn.datasets.load_digits` are split into two disjoint halves,
stratified by class and seeded. Each half is one domain; each domain is an image transformation
applied to its half. The domains (one letter each) are:

``O`` original
    The images as they are.
``R`` rotated
    Rotated by 20 degrees counter-clockwise about the image centre (bilinear interpolation, zero
    outside the image; :func:`scipy.ndimage.rotate`).
``B`` blurred, low contrast
    Gaussian blur with sigma = 1 pixel (zero outside the image), then intensities mapped by
    ``0.5 * x + 0.3``: a grey background and washed-out strokes.
``Z`` zoomed out
    Shrunk to 75 % about the image centre (bilinear interpolation, zero border).

Features are the 64 pixel intensities divided by 16 (so in [0, 1]). The standard tasks
:data:`DIGITS_TASKS` keep the source half original: ``O→R``, ``O→B``, ``O→Z``; any two distinct
letters form a task (``R→O`` transforms the source half instead).

Measured with this module (see ``docs/datasets.md``): a classifier trained on the source half loses
20 to 75 accuracy points on each shifted target, and per-domain standardisation followed by CORAL
(Sun et al., 2016) recovers a large part of the loss, so adaptation has room to show.

References
----------
E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten Digits. UCI Machine Learning Repository,
1998 (the data behind :func:`sklearn.datasets.load_digits`).
B. Sun, J. Feng, K. Saenko. Return of Frustratingly Easy Domain Adaptation. AAAI 2016.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ._task import Domain, DomainTask, parse_task, task_name
from .features import zscore

ROTATION_DEGREES = 20.0
BLUR_SIGMA = 1.0
CONTRAST_GAIN, CONTRAST_OFFSET = 0.5, 0.3
ZOOM_FACTOR = 0.75

DIGITS_CLASSES: tuple[str, ...] = tuple(str(k) for k in range(10))
#: The standard digit-shift tasks: original source half, transformed target half.
DIGITS_TASKS: tuple[str, ...] = ("O→R", "O→B", "O→Z")


def _identity(images: np.ndarray) -> np.ndarray:
    return images


def _rotate(images: np.ndarray) -> np.ndarray:
    return ndimage.rotate(images, ROTATION_DEGREES, axes=(2, 1), reshape=False, order=1, mode="constant")


def _blur_contrast(images: np.ndarray) -> np.ndarray:
    blurred = ndimage.gaussian_filter(images, sigma=(0.0, BLUR_SIGMA, BLUR_SIGMA), mode="constant")
    return CONTRAST_GAIN * blurred + CONTRAST_OFFSET


def _zoom_out(images: np.ndarray) -> np.ndarray:
    centre = (images.shape[1] - 1) / 2.0
    # output pixel p samples input pixel centre + (p - centre) / ZOOM_FACTOR
    scale = 1.0 / ZOOM_FACTOR
    offset = centre - scale * centre
    return ndimage.affine_transform(
        images, np.diag([1.0, scale, scale]), offset=(0.0, offset, offset), order=1, mode="constant"
    )


#: Domain letter → (domain name, transformation of a stack of images of shape (n, 8, 8)).
DIGITS_DOMAINS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "O": ("original", _identity),
    "R": ("rotated", _rotate),
    "B": ("blurred", _blur_contrast),
    "Z": ("zoomed", _zoom_out),
}


def load_digits_shift(
    task: str = "O→R", *, random_state: int | None = 0, preprocess: str = "standard"
) -> DomainTask:
    """Build a digits domain-shift task (no files, no download; about 0.1 s).

    Parameters
    ----------
    task : str
        ``"S→T"`` (or ``"S->T"``) with two distinct letters from ``O``, ``R``, ``B``, ``Z`` (see the
        module docstring); the standard ones are :data:`DIGITS_TASKS`.
    random_state : int or None
        Seed of the stratified half/half split. The same seed gives the same task.
    preprocess : {"standard", "none"}, default="standard"
        ``"standard"`` z-scores each domain on its own statistics (population std; constant
        pixels become 0), the unsupervised per-domain standardisation of the GFK/JDA protocol
        that the Office-Caltech-10 loader applies too; ``"none"`` keeps pixel intensities.

    Returns
    -------
    DomainTask
        Source: one half, transformed by the source letter; target: the other half, transformed by
        the target letter. 64 features (z-scored per domain, or intensities in [0, 1] up to
        the contrast map with ``preprocess="none"``), labels 0..9,
        ``dataset="digits"``; ``meta`` holds the split indices into ``load_digits()`` and the seed.
    """
    if preprocess not in ("standard", "none"):
        raise ValueError(f"preprocess={preprocess!r} is not one of ('standard', 'none')")
    s, t = (letter.upper() for letter in parse_task(task))
    for letter in (s, t):
        if letter not in DIGITS_DOMAINS:
            raise ValueError(f"digits task {task!r}: unknown domain {letter!r}; use letters {list(DIGITS_DOMAINS)}")
    if s == t:
        raise ValueError(f"digits task {task!r}: source and target are the same domain")
    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target.astype(np.int64)
    source_idx, target_idx = train_test_split(
        np.arange(len(labels)), test_size=0.5, stratify=labels, random_state=random_state
    )
    domains = []
    for letter, idx in ((s, source_idx), (t, target_idx)):
        name, transform = DIGITS_DOMAINS[letter]
        X = transform(images[idx]).reshape(len(idx), -1)
        if preprocess == "standard":
            X = zscore(X)
        domains.append(Domain(X=np.ascontiguousarray(X, dtype=np.float64), y=labels[idx], name=name))
    return DomainTask(
        source=domains[0],
        target=domains[1],
        class_names=DIGITS_CLASSES,
        name=task_name(s, t),
        dataset="digits",
        meta={"random_state": random_state, "preprocess": preprocess, "source_indices": source_idx, "target_indices": target_idx},
    )
