"""Data sets as :class:`DomainTask` objects (Office-Caltech-10, Office-31, digit shifts, toys) and image Datasets.

Files are read from an explicit ``data_root`` or from ``$DOMADAPT_DATA``; nothing is downloaded.
See ``docs/datasets.md``.
"""

from ._paths import ENV_VAR, resolve_data_root
from ._registry import DATASETS, DEFAULT_DATASET, canonical_task, list_tasks, load_task
from ._task import Domain, DomainTask, parse_task, task_name
from .digits import DIGITS_DOMAINS, DIGITS_TASKS, load_digits_shift
from .extract import FeatureFile, extract_features, feature_file_paths
from .features import l1_normalize, load_feature_file, zscore
from .images import (
    IMAGE_EXTENSIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    CorruptImageError,
    ImageDomainDataset,
    ImageTask,
    image_task,
    image_transforms,
    scan_image_root,
)
from .office31 import (
    OFFICE31_CLASSES,
    OFFICE31_DOMAINS,
    OFFICE31_IMAGE_COUNTS,
    OFFICE31_TASKS,
    load_office31_features,
    office31_image_root,
    office31_image_task,
    office31_images,
    office31_task,
)
from .office_caltech import (
    OFFICE_CALTECH10_CLASSES,
    OFFICE_CALTECH10_DECAF_TASKS,
    OFFICE_CALTECH10_DOMAINS,
    OFFICE_CALTECH10_TASKS,
    load_office_caltech10,
    office_caltech10_task,
)
from .toy import CovariateShiftData, make_gaussian_covariate_shift, make_shifted_blobs

__all__ = [
    "CorruptImageError",
    "CovariateShiftData",
    "DATASETS",
    "DEFAULT_DATASET",
    "DIGITS_DOMAINS",
    "DIGITS_TASKS",
    "Domain",
    "DomainTask",
    "ENV_VAR",
    "FeatureFile",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "ImageDomainDataset",
    "ImageTask",
    "OFFICE31_CLASSES",
    "OFFICE31_DOMAINS",
    "OFFICE31_IMAGE_COUNTS",
    "OFFICE31_TASKS",
    "OFFICE_CALTECH10_CLASSES",
    "OFFICE_CALTECH10_DECAF_TASKS",
    "OFFICE_CALTECH10_DOMAINS",
    "OFFICE_CALTECH10_TASKS",
    "extract_features",
    "feature_file_paths",
    "image_task",
    "image_transforms",
    "l1_normalize",
    "canonical_task",
    "list_tasks",
    "load_digits_shift",
    "load_feature_file",
    "load_office31_features",
    "load_office_caltech10",
    "load_task",
    "make_gaussian_covariate_shift",
    "make_shifted_blobs",
    "office31_image_root",
    "office31_image_task",
    "office31_images",
    "office31_task",
    "office_caltech10_task",
    "parse_task",
    "resolve_data_root",
    "scan_image_root",
    "task_name",
    "zscore",
]
