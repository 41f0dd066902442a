"""The network every deep adapter trains: backbone → bottleneck → linear classifier head.

A :class:`Network` maps an input batch to ``(features, logits)``: ``features`` is the output of
the bottleneck (the embedding the alignment losses act on and ``DeepAdapter.transform`` returns),
``logits`` the head's class scores. Two constructors cover the usual cases: an MLP on
precomputed feature vectors (:meth:`Network.from_features`) and a torchvision image backbone by
name (:meth:`Network.from_backbone`); any feature extractor module can be passed to the
constructor directly.
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Sequence

import torch
from torch import nn

__all__ = ["Network"]


class Network(nn.Module):
    """Backbone, bottleneck and linear head; ``forward(x)`` returns ``(features, logits)``.

    The bottleneck is the one of the DANN and CDAN recipes (Ganin et al., 2016; Long et al.,
    2018): ``Linear(backbone_dim, bottleneck_dim) → BatchNorm1d → ReLU`` (→ ``Dropout`` when
    ``dropout > 0``), a small embedding between the generic backbone features and the
    classifier, in which source and target are aligned. ``bottleneck_dim=None`` makes it the
    identity, so the features are the backbone's own. The head is ``Linear(feature_dim,
    num_classes)``.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature extractor mapping an input batch to flat features ``(N, backbone_dim)``.
    backbone_dim : int
        Size of the backbone's output.
    num_classes : int
        Number of classes (at least 2).
    bottleneck_dim : int or None, default=256
        Width of the bottleneck; None for no bottleneck.
    dropout : float, default=0.0
        Dropout rate after the bottleneck's ReLU, in [0, 1); needs a bottleneck.
    pretrained : bool, default=False
        Whether the backbone holds pretrained weights (informative: fine-tuning strategies and
        reports read it; the network behaves the same either way).

    Attributes
    ----------
    backbone, bottleneck, head : torch.nn.Module
        The three parts, under exactly these names.
    feature_dim : int
        Size of the features (the bottleneck's output; ``backbone_dim`` without bottleneck).
    num_classes : int
    pretrained : bool

    Examples
    --------
    >>> import torch
    >>> from domadapt.deep import Network
    >>> net = Network.from_features(5, num_classes=3, hidden=(32,), bottleneck_dim=16)
    >>> features, logits = net(torch.randn(8, 5))
    >>> tuple(features.shape), tuple(logits.shape)
    ((8, 16), (8, 3))

    References
    ----------
    Y. Ganin, E. Ustinova, H. Ajakan, P. Germain, H. Larochelle, F. Laviolette, M. Marchand,
    V. Lempitsky. Domain-Adversarial Training of Neural Networks. JMLR 17(59), 2016.

    M. Long, Z. Cao, J. Wang, M. I. Jordan. Conditional Adversarial Domain Adaptation.
    NeurIPS 2018.
    """

    def __init__(
        self,
        backbone: nn.Module,
        backbone_dim: int,
        num_classes: int,
        *,
        bottleneck_dim: int | None = 256,
        dropout: float = 0.0,
        pretrained: bool = False,
    ):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}")
        backbone_dim = _positive_int(backbone_dim, "backbone_dim")
        num_classes = _positive_int(num_classes, "num_classes")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        dropout = _rate(dropout)
        if not isinstance(pretrained, bool):
            raise TypeError(f"pretrained must be a bool, got {type(pretrained).__name__}")
        self.backbone = backbone
        if bottleneck_dim is None and dropout > 0:
            raise ValueError(
                f"dropout={dropout} acts after the bottleneck, and bottleneck_dim=None has none; "
                "give a bottleneck_dim or dropout=0"
            )
        if bottleneck_dim is None:
            self.bottleneck: nn.Module = nn.Identity()
            self.feature_dim = backbone_dim
        else:
            width = _positive_int(bottleneck_dim, "bottleneck_dim")
            layers: list[nn.Module] = [
                nn.Linear(backbone_dim, width),
                nn.BatchNorm1d(width),
                nn.ReLU(inplace=True),
            ]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.bottleneck = nn.Sequential(*layers)
            self.feature_dim = width
        self.head = nn.Linear(self.feature_dim, num_classes)
        self.num_classes = num_classes
        self.pretrained = pretrained

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features, logits)`` of the batch ``x``."""
        features = self.bottleneck(self.backbone(x))
        return features, self.head(features)

    @classmethod
    def from_features(
        cls,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = (256,),
        *,
        bottleneck_dim: int | None = None,
        dropout: float = 0.0,
    ) -> "Network":
        """A network for precomputed feature vectors: an MLP backbone.

        The backbone is ``Linear → ReLU`` (→ ``Dropout``) per entry of ``hidden``; with
        ``hidden=()`` it is the identity and the network is a linear classifier on the input
        (plus the bottleneck, if any). It has no BatchNorm unless ``bottleneck_dim`` is set.

        Parameters
        ----------
        in_features : int
            Size of the input vectors.
        num_classes : int
            Number of classes (at least 2).
        hidden : sequence of int, default=(256,)
            Widths of the hidden layers.
        bottleneck_dim : int or None, default=None
            Width of a DANN-style bottleneck on top of the MLP; None for none.
        dropout : float, default=0.0
            Dropout rate after each hidden ReLU and after the bottleneck.

        Returns
        -------
        Network
        """
        width = _positive_int(in_features, "in_features")
        dropout = _rate(dropout)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise TypeError(f"hidden must be a sequence of ints, got {hidden!r}")
        layers: list[nn.Module] = []
        for size in hidden:
            size = _positive_int(size, "hidden")
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        if dropout > 0 and not layers and bottleneck_dim is None:
            raise ValueError(f"dropout={dropout} needs a hidden layer or a bottleneck to act after")
        backbone = nn.Sequential(*layers) if layers else nn.Identity()
        return cls(backbone, width, num_classes, bottleneck_dim=bottleneck_dim,
                   dropout=0.0 if bottleneck_dim is None else dropout)

    @classmethod
    def from_backbone(
        cls,
        name: str,
        num_classes: int,
        weights: str | os.PathLike[str] | None = None,
        *,
        bottleneck_dim: int | None = 256,
        dropout: float = 0.0,
    ) -> "Network":
        """A network on a torchvision image backbone, by name.

        The backbone comes from :func:`domadapt.deep.backbones.load_backbone` (its final
        classification layer removed); ``weights`` are read from a local file or torchvision's
        cache, never downloaded. ``pretrained`` is True when ``weights`` is given.

        Parameters
        ----------
        name : str
            A name of :data:`domadapt.deep.backbones.BACKBONES` (``"resnet50"``, ``"vgg16"``, ...).
        num_classes : int
            Number of classes (at least 2).
        weights : str, path-like or None
            As for :func:`~domadapt.deep.backbones.load_backbone`; None: random initialisation.
        bottleneck_dim : int or None, default=256
            Width of the bottleneck (256 in DANN and CDAN on Office-31); None for none.
        dropout : float, default=0.0
            Dropout rate after the bottleneck.

        Returns
        -------
        Network
        """
        from .backbones import load_backbone

        backbone, dim = load_backbone(name, weights)
        return cls(
            backbone,
            dim,
            num_classes,
            bottleneck_dim=bottleneck_dim,
            dropout=dropout,
            pretrained=weights is not None,
        )


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def _rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"dropout must be a real number, got {type(value).__name__}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {value}")
    return float(value)
