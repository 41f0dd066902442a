"""Deep domain adaptation: a network, alignment losses and the one trainer that combines them.

:class:`DeepAdapter` trains a :class:`Network` (backbone → bottleneck → head) on labelled source
and unlabelled target batches with an optional alignment loss — :class:`MMDLoss` (DAN),
:class:`JMMDLoss` (JAN), :class:`CORALLoss` (Deep CORAL), :class:`DomainAdversarialLoss` (DANN),
:class:`ConditionalDomainAdversarialLoss` (CDAN), :class:`MCCLoss`, :class:`EntropyLoss`,
:class:`DeepJDOTLoss` — and an optional fine-tuning strategy (:mod:`domadapt.model`). Image
backbones come from torchvision with local weights only (:func:`load_backbone`,
:func:`transfer_model`).
"""

from .backbones import (
    BACKBONES,
    EfficientNetLite0,
    backbone_normalization,
    load_backbone,
    resolve_weights,
    transfer_model,
)
from .losses import (
    AlignmentLoss,
    ConditionalDomainAdversarialLoss,
    CORALLoss,
    DeepJDOTLoss,
    DomainAdversarialLoss,
    EntropyLoss,
    GradientReversal,
    JMMDLoss,
    MCCLoss,
    MMDLoss,
    dann_coefficient,
    grad_reverse,
)
from .network import Network
from .trainer import DeepAdapter, annealed_lr

__all__ = [
    "AlignmentLoss",
    "BACKBONES",
    "EfficientNetLite0",
    "backbone_normalization",
    "load_backbone",
    "resolve_weights",
    "transfer_model",
    "CORALLoss",
    "ConditionalDomainAdversarialLoss",
    "DeepAdapter",
    "DeepJDOTLoss",
    "DomainAdversarialLoss",
    "EntropyLoss",
    "GradientReversal",
    "JMMDLoss",
    "MCCLoss",
    "MMDLoss",
    "Network",
    "annealed_lr",
    "dann_coefficient",
    "grad_reverse",
]
