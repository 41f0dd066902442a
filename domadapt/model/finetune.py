"""Fine-tuning strategies for a pretrained backbone: what trains, at which rate, and toward what.

A :class:`FineTuning` object is handed to :class:`domadapt.deep.DeepAdapter` as ``finetune=``. It
does not train anything itself: the trainer calls its hooks (``setup``, ``param_groups``,
``on_epoch_start``, ``penalty``, ``train_mode``) and it decides which parameters of the
``Network`` (``backbone`` → ``bottleneck`` → ``head``) are frozen, how the optimizer's parameter
groups and learning rates are laid out, and which regulariser keeps the weights near what
transfers.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable

import torch
from sklearn.base import BaseEstimator
from torch import nn

STRATEGIES: tuple[str, ...] = ("linear_probe", "full", "two_phase", "discriminative")
_PARTS: tuple[str, ...] = ("backbone", "bottleneck", "head")


class FineTuning(BaseEstimator):
    """How to fine-tune a pretrained backbone inside :class:`~domadapt.deep.DeepAdapter`.

    The network is split into the *pretrained* ``backbone`` and the *new* layers (``bottleneck``
    and ``head``, plus any parameter outside the backbone and bottleneck, which counts as head).
    Features of the lower layers of a pretrained network are general and transfer, those of the
    upper layers are specific to the pretraining task (Yosinski et al., 2014); each strategy
    trades how far the backbone may move against how much it can adapt.

    Strategies
    ----------
    ``"linear_probe"``
        The backbone is frozen for the whole run: its parameters have ``requires_grad=False``,
        are left out of the optimizer (so weight decay and momentum cannot move them either) and
        the backbone runs in eval mode (its BatchNorm statistics and dropout are those of the
        pretrained model): it is a fixed feature extractor. Only the new layers train, at ``lr``.
        With an identity bottleneck (``bottleneck_dim=None``) this is the linear probe of
        Kornblith et al. (2019).
    ``"full"``
        Everything trains: the new layers at ``lr``, the backbone at ``lr * backbone_lr_mult``.
        ``backbone_lr_mult=1`` gives one rate for all.
    ``"two_phase"``
        Epochs ``0 .. unfreeze_epoch - 1`` as ``"linear_probe"`` (the new layers learn on frozen
        features, so that their random initial gradients do not wreck the pretrained weights);
        from epoch ``unfreeze_epoch`` on as ``"full"``: the backbone is unfrozen, put back in
        train mode and added to the optimizer at ``lr * backbone_lr_mult`` — the classic recipe
        of the Keras and PyTorch transfer-learning tutorials, and the one-step form of the
        gradual unfreezing of Howard & Ruder (2018).
    ``"discriminative"``
        Discriminative learning rates (Howard & Ruder, 2018). The layer groups are, from the
        bottom up, the backbone's own direct parameters (if any), the backbone's top-level
        children in order, the bottleneck and the head — counting only parts that hold
        parameters. The group at depth ``k`` from the top (head: ``k = 0``) trains at
        ``lr * layer_decay**k``. ``backbone_lr_mult`` is not used.

    Independent of the strategy:

    * ``l2sp_alpha``, ``l2sp_beta`` add the L2-SP penalty (Li, Grandvalet & Davoine, 2018)
      ``α/2 · Σ_backbone ‖w − w⁰‖² + β/2 · Σ_new ‖w‖²`` to the loss, where ``w⁰`` are the backbone
      weights recorded by :meth:`setup` (the pretrained starting point). Use it with the
      optimizer's weight decay set to 0 for the backbone to follow the paper (weight decay pulls
      toward 0, L2-SP toward ``w⁰``). At the start the first term is exactly zero; the penalty is
      then ``β/2 · ‖w_new‖²`` (zero when ``l2sp_beta=0``).
    * ``freeze_bn=True`` keeps every BatchNorm layer of the backbone in eval mode (running
      statistics frozen at their pretrained values) and freezes its affine parameters (left out
      of the optimizer), the usual choice for small batches and small target sets.

    Every hook decides ``requires_grad`` for *all* parameters of the network from the strategy
    (a parameter the user froze by hand before is unfrozen unless the strategy freezes it).

    Parameters
    ----------
    strategy : {"linear_probe", "full", "two_phase", "discriminative"}, default="full"
    backbone_lr_mult : float, default=0.1
        Backbone rate relative to ``lr`` for ``"full"`` and after unfreezing in ``"two_phase"``
        (0.1 is the usual rate for a pretrained backbone in domain adaptation, e.g. DANN and CDAN
        on Office-31). Must be positive.
    unfreeze_epoch : int, default=1
        First epoch (0-based) of the second phase of ``"two_phase"``; at least 1.
    layer_decay : float, default=0.5
        Rate factor per layer group of ``"discriminative"``, in (0, 1]; Howard & Ruder use
        ``1/2.6`` per layer of their language model.
    l2sp_alpha : float, default=0.0
        Weight α of the pull toward the starting backbone weights; at least 0.
    l2sp_beta : float, default=0.0
        Weight β of the plain L2 penalty on the new layers; at least 0.
    freeze_bn : bool, default=False
        Keep the backbone's BatchNorm layers in eval mode with frozen affine parameters.

    Attributes
    ----------
    reference_ : dict of str to Tensor
        Detached copies of the backbone parameters at :meth:`setup` (only when
        ``l2sp_alpha > 0``), keyed by parameter name inside the backbone.
    backbone_frozen_ : bool
        Whether the backbone is frozen now.

    Examples
    --------
    >>> from domadapt.model import FineTuning
    >>> ft = FineTuning("two_phase", unfreeze_epoch=3, backbone_lr_mult=0.1, l2sp_alpha=0.01)
    >>> # DeepAdapter(Network.from_backbone("resnet50", 31, weights=...), finetune=ft)

    References
    ----------
    J. Yosinski, J. Clune, Y. Bengio, H. Lipson. How transferable are features in deep neural
    networks? NIPS 2014.

    J. Howard, S. Ruder. Universal Language Model Fine-tuning for Text Classification. ACL 2018.

    X. Li, Y. Grandvalet, F. Davoine. Explicit Inductive Bias for Transfer Learning with
    Convolutional Networks. ICML 2018.

    S. Kornblith, J. Shlens, Q. V. Le. Do Better ImageNet Models Transfer Better? CVPR 2019.
    """

    def __init__(
        self,
        strategy: str = "full",
        *,
        backbone_lr_mult: float = 0.1,
        unfreeze_epoch: int = 1,
        layer_decay: float = 0.5,
        l2sp_alpha: float = 0.0,
        l2sp_beta: float = 0.0,
        freeze_bn: bool = False,
    ):
        self.strategy = strategy
        self.backbone_lr_mult = backbone_lr_mult
        self.unfreeze_epoch = unfreeze_epoch
        self.layer_decay = layer_decay
        self.l2sp_alpha = l2sp_alpha
        self.l2sp_beta = l2sp_beta
        self.freeze_bn = freeze_bn

    # ------------------------------------------------------------------------------ hooks
    def setup(self, network: nn.Module) -> None:
        """Record the starting backbone weights (for L2-SP) and freeze for the first phase.

        Called once by the trainer, after the network is on its device and before the optimizer
        is built from :meth:`param_groups`.
        """
        self.check_params()
        backbone, _, _ = _parts(network)
        self.backbone_frozen_ = self.strategy in ("linear_probe", "two_phase")
        if self.l2sp_alpha > 0:
            self.reference_ = {
                name: p.detach().clone() for name, p in backbone.named_parameters()
            }
        else:
            self.__dict__.pop("reference_", None)
        self._apply_requires_grad(network)

    def param_groups(self, network: nn.Module, lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups for the current phase, each with its learning rate.

        Every group is a dict with ``params``, ``lr``, ``initial_lr`` (equal to ``lr``: the
        rate before any schedule), ``lr_mult`` (``lr`` relative to the base rate, for schedules
        that rescale every group) and ``name``. Frozen parameters are in no group; groups
        without trainable parameters are left out.

        Parameters
        ----------
        network : Network
            The network passed to :meth:`setup`.
        lr : float
            Base learning rate (the rate of the head).
        """
        self._check_setup()
        lr = _check_lr(lr)
        backbone, bottleneck, _ = _parts(network)
        head_params = _head_params(network)
        if self.strategy == "discriminative":
            layers = _backbone_layers(backbone)
            layers += [("bottleneck", list(bottleneck.parameters())), ("head", head_params)]
            layers = [(name, params) for name, params in layers if params]
            depth = len(layers) - 1
            named = [
                (name, params, float(self.layer_decay) ** (depth - i))
                for i, (name, params) in enumerate(layers)
            ]
        else:
            named = []
            if not self.backbone_frozen_:
                named.append(("backbone", list(backbone.parameters()), float(self.backbone_lr_mult)))
            named += [("bottleneck", list(bottleneck.parameters()), 1.0), ("head", head_params, 1.0)]
        groups = []
        for name, params, mult in named:
            trainable = [p for p in params if p.requires_grad]
            if trainable:
                groups.append(_group(name, trainable, lr * mult, mult))
        return groups

    def on_epoch_start(self, network: nn.Module, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        """Unfreeze the backbone when ``"two_phase"`` reaches ``unfreeze_epoch``.

        The backbone parameters get ``requires_grad=True`` (BatchNorm affine parameters stay
        frozen with ``freeze_bn``) and join ``optimizer`` as one new group named ``"backbone"``
        at ``backbone_lr_mult`` times the head group's rate: its current ``lr`` and its
        ``initial_lr`` are both scaled, so a schedule that sets ``lr = initial_lr · factor(p)``
        carries on for the new group. Idempotent, and it tells from ``optimizer`` whether the
        backbone is already in it, so a run resumed at an epoch after ``unfreeze_epoch`` calls it
        with that epoch on a fresh optimizer before loading the saved optimizer state, and the
        group layouts match. Other strategies: nothing to do.
        """
        self._check_setup()
        if isinstance(epoch, bool) or not isinstance(epoch, Integral) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        if self.strategy != "two_phase" or epoch < self.unfreeze_epoch:
            return
        self.backbone_frozen_ = False
        self._apply_requires_grad(network)
        backbone, _, _ = _parts(network)
        present = {id(p) for group in optimizer.param_groups for p in group["params"]}
        todo = [p for p in backbone.parameters() if p.requires_grad and id(p) not in present]
        if not todo:
            return
        head = _head_group(optimizer)
        mult = float(self.backbone_lr_mult)
        group = _group("backbone", todo, head["lr"] / head["lr_mult"] * mult, mult)
        group["initial_lr"] = head.get("initial_lr", head["lr"]) / head["lr_mult"] * mult
        optimizer.add_param_group(group)

    def penalty(self, network: nn.Module) -> torch.Tensor:
        """The L2-SP penalty ``α/2 Σ_backbone ‖w − w⁰‖² + β/2 Σ_new ‖w‖²`` (a 0-dim tensor).

        A zero tensor on the network's device when ``l2sp_alpha == l2sp_beta == 0``. Plain torch
        on the parameters' device, differentiable, no host synchronisation.
        """
        self._check_setup()
        backbone, _, _ = _parts(network)
        zero = _zero_like(network)
        terms = []
        if self.l2sp_alpha > 0:
            sq = [
                (p - _on(self.reference_[name], p)).pow(2).sum()
                for name, p in backbone.named_parameters()
                if p.requires_grad
            ]
            if sq:
                terms.append(0.5 * float(self.l2sp_alpha) * torch.stack(sq).sum())
        if self.l2sp_beta > 0:
            sq = [p.pow(2).sum() for p in _new_params(network) if p.requires_grad]
            if sq:
                terms.append(0.5 * float(self.l2sp_beta) * torch.stack(sq).sum())
        return torch.stack(terms).sum() if terms else zero

    def train_mode(self, network: nn.Module) -> None:
        """Put the frozen parts back in eval mode; called by the trainer after ``network.train()``.

        A frozen backbone runs entirely in eval mode; with ``freeze_bn`` every BatchNorm layer of
        the backbone does.
        """
        self._check_setup()
        backbone, _, _ = _parts(network)
        if self.backbone_frozen_:
            backbone.eval()
        elif self.freeze_bn:
            for module in _batchnorms(backbone):
                module.eval()

    # ---------------------------------------------------------------------------- checks
    def check_params(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first invalid hyper-parameter."""
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {self.strategy!r}")
        _check_real(self.backbone_lr_mult, "backbone_lr_mult", positive=True)
        if isinstance(self.unfreeze_epoch, bool) or not isinstance(self.unfreeze_epoch, Integral):
            raise TypeError(f"unfreeze_epoch must be an int, got {type(self.unfreeze_epoch).__name__}")
        if self.unfreeze_epoch < 1:
            raise ValueError(
                f"unfreeze_epoch must be at least 1 (epoch 0 is the frozen phase), got {self.unfreeze_epoch}"
            )
        _check_real(self.layer_decay, "layer_decay", positive=True)
        if self.layer_decay > 1:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        _check_real(self.l2sp_alpha, "l2sp_alpha")
        _check_real(self.l2sp_beta, "l2sp_beta")
        if not isinstance(self.freeze_bn, bool):
            raise TypeError(f"freeze_bn must be a bool, got {type(self.freeze_bn).__name__}")

    # --------------------------------------------------------------------------- helpers
    def _check_setup(self) -> None:
        if not hasattr(self, "backbone_frozen_"):
            raise RuntimeError("FineTuning.setup(network) must be called before the other hooks")

    def _apply_requires_grad(self, network: nn.Module) -> None:
        backbone, _, _ = _parts(network)
        for p in network.parameters():
            p.requires_grad_(True)
        for p in backbone.parameters():
            p.requires_grad_(not self.backbone_frozen_)
        if self.freeze_bn:
            for module in _batchnorms(backbone):
                for p in module.parameters():
                    p.requires_grad_(False)


# -------------------------------------------------------------------------------- helpers
def _parts(network: Any) -> tuple[nn.Module, nn.Module, nn.Module]:
    if not isinstance(network, nn.Module):
        raise TypeError(f"network must be an nn.Module, got {type(network).__name__}")
    parts = []
    for name in _PARTS:
        part = getattr(network, name, None)
        if not isinstance(part, nn.Module):
            raise TypeError(
                f"network needs an nn.Module attribute {name!r} (a Network: backbone, bottleneck, "
                f"head); {type(network).__name__} has {type(part).__name__}"
            )
        parts.append(part)
    return parts[0], parts[1], parts[2]


def _head_params(network: nn.Module) -> list[nn.Parameter]:
    """Parameters outside the backbone and the bottleneck: the head's, and any others."""
    backbone, bottleneck, _ = _parts(network)
    old = {id(p) for p in backbone.parameters()} | {id(p) for p in bottleneck.parameters()}
    return [p for p in network.parameters() if id(p) not in old]


def _new_params(network: nn.Module) -> list[nn.Parameter]:
    """Parameters of the new layers: everything outside the backbone."""
    backbone, _, _ = _parts(network)
    old = {id(p) for p in backbone.parameters()}
    return [p for p in network.parameters() if id(p) not in old]


def _backbone_layers(backbone: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """The backbone's layer groups, bottom up: its direct parameters, then its top-level children."""
    layers = [("backbone", list(backbone.parameters(recurse=False)))]
    layers += [(f"backbone.{name}", list(child.parameters())) for name, child in backbone.named_children()]
    return layers


def _batchnorms(module: nn.Module) -> Iterable[nn.Module]:
    return (m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


def _group(name: str, params: list[nn.Parameter], lr: float, mult: float) -> dict[str, Any]:
    return {"params": params, "lr": lr, "initial_lr": lr, "lr_mult": mult, "name": name}


def _head_group(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    for group in optimizer.param_groups:
        if group.get("name") == "head" and group.get("lr_mult"):
            return group
    raise ValueError(
        "optimizer has no group named 'head' with an 'lr_mult': build it from FineTuning.param_groups"
    )


def _zero_like(network: nn.Module) -> torch.Tensor:
    first = next(network.parameters(), None)
    if first is None:
        return torch.zeros(())
    return torch.zeros((), device=first.device, dtype=first.dtype)


def _on(ref: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return ref if ref.device == p.device and ref.dtype == p.dtype else ref.to(p.device, p.dtype)


def _check_lr(lr: Any) -> float:
    _check_real(lr, "lr", positive=True)
    return float(lr)


def _check_real(value: Any, name: str, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a finite {kind} number, got {value}")
