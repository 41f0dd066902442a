"""FineTuning: freezing, parameter groups, learning rates, L2-SP and BatchNorm freezing."""

from __future__ import annotations

import copy

import pytest
import torch
from sklearn.base import clone
from torch import nn

from domadapt.model import FineTuning

LR = 0.05


class TinyNet(nn.Module):
    """backbone (Linear, BatchNorm, ReLU, Linear, ReLU) → bottleneck → head, as a Network."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = nn.Sequential(
            nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU()
        )
        self.bottleneck = nn.Sequential(nn.Linear(8, 6), nn.ReLU())
        self.head = nn.Linear(6, 3)
        self.feature_dim = 6

    def forward(self, x):
        f = self.bottleneck(self.backbone(x))
        return f, self.head(f)


def batch(seed: int = 1, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g) * 2 + 1, torch.randint(0, 3, (n,), generator=g)


def sgd(groups):
    """The trainer's optimizer: momentum, Nesterov and weight decay all on."""
    return torch.optim.SGD(groups, lr=LR, momentum=0.9, nesterov=True, weight_decay=5e-4)


def train_steps(net, ft, opt, steps: int = 3, seed: int = 1) -> None:
    """What the trainer does per step: train mode, hook, loss (CE + penalty), step."""
    for i in range(steps):
        net.train()
        ft.train_mode(net)
        x, y = batch(seed + i)
        _, logits = net(x)
        loss = nn.functional.cross_entropy(logits, y) + ft.penalty(net)
        opt.zero_grad()
        loss.backward()
        opt.step()


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def identical(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def group_of(opt, name: str) -> dict:
    (group,) = [g for g in opt.param_groups if g["name"] == name]
    return group


# ----------------------------------------------------------------------------------- freezing
def test_linear_probe_backbone_bit_identical_through_steps():
    net, ft = TinyNet(), FineTuning("linear_probe", l2sp_beta=1e-3)
    ft.setup(net)
    before_bb, before_head = snapshot(net.backbone), snapshot(net.head)
    opt = sgd(ft.param_groups(net, LR))
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in in_opt for p in net.backbone.parameters())
    assert not any(p.requires_grad for p in net.backbone.parameters())
    for epoch in range(3):
        ft.on_epoch_start(net, epoch, opt)
        train_steps(net, ft, opt, seed=10 * epoch)
    # parameters AND BatchNorm running statistics (the frozen backbone runs in eval mode)
    assert identical(before_bb, snapshot(net.backbone))
    assert not identical(before_head, snapshot(net.head))
    assert [g["name"] for g in opt.param_groups] == ["bottleneck", "head"]


def test_two_phase_frozen_then_unfrozen_at_lower_rate():
    net, ft = TinyNet(), FineTuning("two_phase", unfreeze_epoch=2, backbone_lr_mult=0.1)
    ft.setup(net)
    start = snapshot(net.backbone)
    opt = sgd(ft.param_groups(net, LR))
    for epoch in range(2):  # phase 1: epochs 0 and 1
        ft.on_epoch_start(net, epoch, opt)
        train_steps(net, ft, opt, seed=10 * epoch)
        assert identical(start, snapshot(net.backbone))
    assert len(opt.param_groups) == 2
    # a schedule has lowered the rates: the backbone joins at 0.1 x the head's current rate
    for g in opt.param_groups:
        g["lr"] = g["initial_lr"] * 0.5
    ft.on_epoch_start(net, 2, opt)
    bb = group_of(opt, "backbone")
    assert {id(p) for p in bb["params"]} == {id(p) for p in net.backbone.parameters()}
    assert bb["lr"] == pytest.approx(0.1 * 0.5 * LR, rel=1e-12)
    assert bb["initial_lr"] == pytest.approx(0.1 * LR, rel=1e-12)
    assert bb["lr_mult"] == 0.1 and bb["momentum"] == 0.9 and bb["weight_decay"] == 5e-4
    ft.on_epoch_start(net, 3, opt)  # idempotent
    assert len(opt.param_groups) == 3
    net.train()
    ft.train_mode(net)
    assert net.backbone.training  # unfrozen backbone trains (BatchNorm statistics too)
    train_steps(net, ft, opt, seed=30)
    after = snapshot(net.backbone)
    moved = [k for k in start if not torch.equal(start[k], after[k])]
    assert {"0.weight", "1.weight", "1.running_mean", "3.weight"} <= set(moved)


def test_two_phase_resume_after_unfreezing_matches_optimizer_layout():
    net, ft = TinyNet(), FineTuning("two_phase", unfreeze_epoch=1)
    ft.setup(net)
    opt = sgd(ft.param_groups(net, LR))
    for epoch in range(3):
        ft.on_epoch_start(net, epoch, opt)
        train_steps(net, ft, opt, steps=2, seed=10 * epoch)
    state = copy.deepcopy(opt.state_dict())
    # resume at epoch 3: fresh strategy and optimizer, the hook for the resume epoch, then load
    net2, ft2 = copy.deepcopy(net), FineTuning("two_phase", unfreeze_epoch=1)
    ft2.setup(net2)
    opt2 = sgd(ft2.param_groups(net2, LR))
    ft2.on_epoch_start(net2, 3, opt2)
    opt2.load_state_dict(state)
    train_steps(net, ft, opt, steps=2, seed=99)
    train_steps(net2, ft2, opt2, steps=2, seed=99)
    assert identical(snapshot(net), snapshot(net2))


def test_full_uses_backbone_rate_and_covers_every_parameter_once():
    net = TinyNet()
    ft = FineTuning("full", backbone_lr_mult=0.2)
    ft.setup(net)
    groups = ft.param_groups(net, LR)
    assert [(g["name"], g["lr"]) for g in groups] == [
        ("backbone", pytest.approx(0.2 * LR)), ("bottleneck", LR), ("head", LR)
    ]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in net.parameters()}
    assert ft.train_mode(net) is None and net.training


def test_setup_resets_requires_grad_from_the_strategy():
    net = TinyNet()
    net.head.weight.requires_grad_(False)  # a stale flag from earlier use
    FineTuning("linear_probe").setup(net)
    assert net.head.weight.requires_grad
    FineTuning("full").setup(net)
    assert all(p.requires_grad for p in net.parameters())


# ------------------------------------------------------------------------------ discriminative
def test_discriminative_rates_exact():
    net, d = TinyNet(), 0.4
    ft = FineTuning("discriminative", layer_decay=d)
    ft.setup(net)
    groups = ft.param_groups(net, LR)
    # layers holding parameters, bottom up: backbone.0, backbone.1 (BN), backbone.3, bottleneck, head
    assert [g["name"] for g in groups] == [
        "backbone.0", "backbone.1", "backbone.3", "bottleneck", "head"
    ]
    assert [g["lr"] for g in groups] == [LR * d**4, LR * d**3, LR * d**2, LR * d, LR]
    assert [g["lr_mult"] for g in groups] == [d**4, d**3, d**2, d, 1.0]
    assert [len(g["params"]) for g in groups] == [2, 2, 2, 2, 2]
    assert groups[0]["params"][0] is net.backbone[0].weight
    # freeze_bn drops the BatchNorm group but keeps the depths of the others
    ft = FineTuning("discriminative", layer_decay=d, freeze_bn=True)
    ft.setup(net)
    groups = ft.param_groups(net, LR)
    assert [(g["name"], g["lr"]) for g in groups] == [
        ("backbone.0", LR * d**4), ("backbone.3", LR * d**2), ("bottleneck", LR * d), ("head", LR)
    ]


def test_discriminative_direct_backbone_parameters_are_the_bottom_group():
    net = TinyNet()
    net.backbone.scale = nn.Parameter(torch.ones(8))  # a parameter of the backbone itself
    ft = FineTuning("discriminative", layer_decay=0.5)
    ft.setup(net)
    groups = ft.param_groups(net, 1.0)
    assert groups[0]["name"] == "backbone" and groups[0]["params"] == [net.backbone.scale]
    assert groups[0]["lr"] == 0.5**5


# ----------------------------------------------------------------------------------- L2-SP
def test_l2sp_zero_at_start_and_hand_formula_after_perturbation():
    net = TinyNet()
    alpha, beta = 0.3, 0.02
    ft = FineTuning("full", l2sp_alpha=alpha)
    ft.setup(net)
    assert ft.penalty(net).item() == 0.0
    ftb = FineTuning("full", l2sp_alpha=alpha, l2sp_beta=beta)
    ftb.setup(net)
    new = list(net.bottleneck.parameters()) + list(net.head.parameters())
    start_beta = 0.5 * beta * sum(float(p.detach().double().pow(2).sum()) for p in new)
    assert ftb.penalty(net).item() == pytest.approx(start_beta, rel=1e-6)

    w0 = {k: v.detach().clone() for k, v in net.backbone.named_parameters()}
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    hand = 0.5 * alpha * sum(
        float((p.detach().double() - w0[k].double()).pow(2).sum())
        for k, p in net.backbone.named_parameters()
    ) + 0.5 * beta * sum(float(p.detach().double().pow(2).sum()) for p in new)
    assert ftb.penalty(net).item() == pytest.approx(hand, rel=1e-6)
    # gradient: α (w − w⁰) on the backbone, β w on the new layers
    net.zero_grad()
    ftb.penalty(net).backward()
    w = net.backbone[3].weight
    torch.testing.assert_close(w.grad, alpha * (w.detach() - w0["3.weight"]))
    torch.testing.assert_close(net.head.bias.grad, beta * net.head.bias.detach())


def test_no_penalty_is_a_zero_tensor_without_graph():
    net = TinyNet()
    ft = FineTuning("two_phase")
    ft.setup(net)
    pen = ft.penalty(net)
    assert pen.shape == () and pen.item() == 0.0 and not pen.requires_grad
    assert not hasattr(ft, "reference_")


def test_l2sp_reference_is_the_setup_state_not_a_view():
    net = TinyNet()
    ft = FineTuning("full", l2sp_alpha=1.0)
    ft.setup(net)
    opt = sgd(ft.param_groups(net, LR))
    train_steps(net, ft, opt)
    assert ft.penalty(net).item() > 0  # the reference did not move with the weights


# ------------------------------------------------------------------------------- BatchNorm
def test_freeze_bn_keeps_running_stats_and_affine_parameters():
    net = TinyNet()
    ft = FineTuning("full", freeze_bn=True, backbone_lr_mult=1.0)
    ft.setup(net)
    bn = net.backbone[1]
    before = snapshot(bn)
    lin_before = net.backbone[0].weight.detach().clone()
    opt = sgd(ft.param_groups(net, LR))
    assert not any(id(p) in {id(q) for g in opt.param_groups for q in g["params"]} for p in bn.parameters())
    train_steps(net, ft, opt, steps=4)
    assert not bn.training and net.backbone[0].training
    assert identical(before, snapshot(bn))  # weight, bias, running_mean/var, num_batches_tracked
    assert not torch.equal(lin_before, net.backbone[0].weight)


def test_without_freeze_bn_running_stats_move():
    net = TinyNet()
    ft = FineTuning("full")
    ft.setup(net)
    before = net.backbone[1].running_mean.clone()
    train_steps(net, ft, sgd(ft.param_groups(net, LR)), steps=1)
    assert not torch.equal(before, net.backbone[1].running_mean)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "params, exc, match",
    [
        ({"strategy": "partial"}, ValueError, "strategy must be one of"),
        ({"backbone_lr_mult": 0.0}, ValueError, "backbone_lr_mult"),
        ({"backbone_lr_mult": float("nan")}, ValueError, "backbone_lr_mult"),
        ({"backbone_lr_mult": "0.1"}, TypeError, "backbone_lr_mult"),
        ({"unfreeze_epoch": 0}, ValueError, "unfreeze_epoch"),
        ({"unfreeze_epoch": 1.5}, TypeError, "unfreeze_epoch"),
        ({"layer_decay": 1.5}, ValueError, "layer_decay"),
        ({"layer_decay": 0}, ValueError, "layer_decay"),
        ({"l2sp_alpha": -1.0}, ValueError, "l2sp_alpha"),
        ({"l2sp_beta": float("inf")}, ValueError, "l2sp_beta"),
        ({"freeze_bn": 1}, TypeError, "freeze_bn"),
    ],
)
def test_invalid_parameters(params, exc, match):
    with pytest.raises(exc, match=match):
        FineTuning(**params).setup(TinyNet())


def test_hook_errors():
    ft = FineTuning()
    with pytest.raises(RuntimeError, match="setup"):
        ft.param_groups(TinyNet(), LR)
    with pytest.raises(TypeError, match="'backbone'"):
        ft.setup(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(TypeError, match="network must be an nn.Module"):
        ft.setup("resnet50")
    net = TinyNet()
    ft.setup(net)
    with pytest.raises(ValueError, match="lr"):
        ft.param_groups(net, -1.0)
    with pytest.raises(ValueError, match="epoch"):
        ft.on_epoch_start(net, -1, sgd(ft.param_groups(net, LR)))


def test_clone_drops_fitted_state():
    ft = FineTuning("two_phase", unfreeze_epoch=3, l2sp_alpha=0.1)
    ft.setup(TinyNet())
    c = clone(ft)
    assert c.get_params() == ft.get_params()
    assert not hasattr(c, "reference_") and not hasattr(c, "backbone_frozen_")


# ------------------------------------------------------------------ through DeepAdapter.fit
@pytest.fixture(scope="module")
def blobs():
    from domadapt.datasets import make_shifted_blobs

    return make_shifted_blobs(60, 60, n_features=4, n_classes=3, random_state=0).arrays()


def bn_network():
    """A Network whose backbone has BatchNorm (statistics that a frozen phase must keep)."""
    from domadapt.deep import Network

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU())
    return Network(backbone, 8, num_classes=3, bottleneck_dim=6)


def fit_deep(blobs, ft, epochs, **kw):
    from domadapt.deep import DeepAdapter

    Xs, ys, Xt, _ = blobs
    net = bn_network()
    adapter = DeepAdapter(net, finetune=ft, epochs=epochs, batch_size=16, random_state=0,
                          verbose=False, **kw)
    return net, adapter.fit(Xs, ys, Xt)


@pytest.mark.parametrize("strategy", ["linear_probe", "two_phase"])
def test_deep_adapter_keeps_frozen_backbone_bit_identical(blobs, strategy):
    ft = FineTuning(strategy, unfreeze_epoch=2)
    net, adapter = fit_deep(blobs, ft, epochs=2)  # two_phase: both epochs in phase 1
    assert identical(snapshot(net.backbone), snapshot(adapter.network_.backbone))
    assert not identical(snapshot(net.head), snapshot(adapter.network_.head))
    assert ft.get_params() == adapter.finetune_.get_params() and not hasattr(ft, "backbone_frozen_")


def test_deep_adapter_two_phase_unfreezes(blobs):
    net, adapter = fit_deep(blobs, FineTuning("two_phase", unfreeze_epoch=1), epochs=2)
    assert not identical(snapshot(net.backbone), snapshot(adapter.network_.backbone))
    assert not adapter.finetune_.backbone_frozen_


def test_deep_adapter_records_the_l2sp_penalty(blobs):
    _, adapter = fit_deep(blobs, FineTuning("full", l2sp_alpha=1.0), epochs=2, weight_decay=0.0)
    pen = adapter.history_["penalty"]
    assert 0 < pen[0] < pen[1]  # zero at the first step, then grows as the backbone moves
    ref = adapter.finetune_.reference_
    hand = 0.5 * sum(
        float((p.detach() - ref[k]).pow(2).sum()) for k, p in adapter.network_.backbone.named_parameters()
    )
    assert adapter.finetune_.penalty(adapter.network_).item() == pytest.approx(hand, rel=1e-5)


class CrashOnce(FineTuning):
    """Raises once at the start of epoch 2: a run interrupted after its checkpoint of epoch 2."""

    crashed = False

    def on_epoch_start(self, network, epoch, optimizer):
        if epoch == 2 and not CrashOnce.crashed:
            CrashOnce.crashed = True
            raise KeyboardInterrupt("simulated interruption")
        super().on_epoch_start(network, epoch, optimizer)


def test_deep_adapter_resumes_two_phase_after_unfreezing(blobs, tmp_path):
    from domadapt.deep import DeepAdapter

    Xs, ys, Xt, _ = blobs
    net = bn_network()  # one object for all runs: the checkpoint fingerprints the parameters

    def run(ft, **kw):
        return DeepAdapter(net, finetune=ft, epochs=4, batch_size=16, random_state=0,
                           verbose=False, **kw).fit(Xs, ys, Xt)

    straight = run(FineTuning("two_phase", unfreeze_epoch=1, freeze_bn=True))
    crashing = CrashOnce("two_phase", unfreeze_epoch=1, freeze_bn=True)
    with pytest.raises(KeyboardInterrupt):
        run(crashing, checkpoint_dir=tmp_path)
    resumed = run(crashing, checkpoint_dir=tmp_path)  # rebuilds the backbone group, then loads
    assert resumed.report_["resumed_from_epoch"] == 2
    assert identical(snapshot(straight.network_), snapshot(resumed.network_))
    assert straight.history_ == resumed.history_
