"""Alignment losses of domadapt.deep.losses: closed forms, parity with the measures and POT."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import ot
import pytest
import torch
from torch import nn

from domadapt.deep.losses import (
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
from domadapt.discrepancy import coral_distance, mmd2

DAN_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def _batch(n=12, m=9, d=5, shift=0.0, seed=0, classes=3):
    g = torch.Generator().manual_seed(seed)
    f_s = torch.randn(n, d, generator=g, dtype=torch.float64)
    f_t = torch.randn(m, d, generator=g, dtype=torch.float64) + shift
    l_s = torch.randn(n, classes, generator=g, dtype=torch.float64)
    l_t = torch.randn(m, classes, generator=g, dtype=torch.float64) + shift
    y_s = torch.randint(0, classes, (n,), generator=g)
    return f_s, f_t, l_s, l_t, y_s


class _FixedLogits(nn.Module):
    """A 'discriminator' returning preset logits (kept in the graph of its input)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.as_tensor(logits, dtype=torch.float64)

    def forward(self, h):
        return self.logits[:, None] + 0.0 * h.sum(dim=1, keepdim=True)


# ------------------------------------------------------------------ gradient reversal, schedule


@pytest.mark.parametrize("progress", [0.0, 0.3, 1.0])
def test_grad_reverse_flips_gradient_by_the_scheduled_coefficient(progress):
    coeff = dann_coefficient(progress)
    assert coeff == pytest.approx(2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0, abs=1e-15)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 3, dtype=torch.float64)
    y = grad_reverse(x, coeff)
    assert torch.equal(y, x)
    (y * upstream).sum().backward()
    torch.testing.assert_close(x.grad, -coeff * upstream, rtol=0, atol=0)


def test_gradient_reversal_module_default_and_override():
    x = torch.randn(3, 2, requires_grad=True)
    GradientReversal(0.5)(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3, 2), -0.5))
    x.grad = None
    GradientReversal(0.5)(x, coeff=2.0).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3, 2), -2.0))
    with pytest.raises(ValueError, match="coeff"):
        GradientReversal(float("nan"))


def test_dann_coefficient_schedule():
    assert dann_coefficient(0.0) == 0.0
    assert dann_coefficient(1.0) == pytest.approx(math.tanh(5.0))  # 2/(1+e^-10) - 1
    assert dann_coefficient(1.0) > 0.9999
    values = [dann_coefficient(p) for p in np.linspace(0, 1, 11)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert dann_coefficient(0.5, alpha=4.0, high=0.1) == pytest.approx(0.1 * math.tanh(1.0))
    assert dann_coefficient(1.0, alpha=50.0) == pytest.approx(1.0, abs=1e-12)
    for bad in (-0.1, 1.5, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match="progress"):
            dann_coefficient(bad)
    with pytest.raises(ValueError, match="alpha"):
        dann_coefficient(0.5, alpha=0.0)


# ------------------------------------------------------------------ MMD, JMMD, CORAL


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("bandwidth", ["median", 3.0])
def test_mmd_loss_equals_mmd2(estimator, bandwidth):
    f_s, f_t, *_ = _batch(shift=0.4)
    loss = MMDLoss(scales=DAN_SCALES, bandwidth=bandwidth, estimator=estimator)(f_s, f_t)
    ref = mmd2(f_s, f_t, scales=DAN_SCALES, bandwidth=bandwidth, estimator=estimator)
    torch.testing.assert_close(loss, ref, rtol=1e-13, atol=1e-15)
    # and mmd2 on numpy input (a different code path in, same core) agrees too
    ref_np = mmd2(f_s.numpy(), f_t.numpy(), scales=DAN_SCALES, bandwidth=bandwidth,
                  estimator=estimator)
    assert float(loss) == pytest.approx(ref_np, rel=1e-12)


def test_mmd_loss_linear_time_pairs_rows_in_batch_order():
    f_s, f_t, *_ = _batch(n=11, m=8, shift=0.5)
    loss = MMDLoss(bandwidth=2.0, scales=(1.0,), estimator="linear")(f_s, f_t)
    # hand formula on consecutive pairs (the first 8 rows of each batch)
    def k(a, b):
        return torch.exp(-((a - b) ** 2).sum(1) / 4.0)
    x1, x2, y1, y2 = f_s[0:8:2], f_s[1:8:2], f_t[0:8:2], f_t[1:8:2]
    ref = (k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)).mean()
    torch.testing.assert_close(loss, ref)
    # mmd2 shuffles with a CPU generator seeded by random_state: same value on shuffled rows
    gen = torch.Generator().manual_seed(7)
    px, py = torch.randperm(11, generator=gen), torch.randperm(8, generator=gen)
    ref2 = mmd2(f_s, f_t, bandwidth=2.0, estimator="linear", random_state=7)
    torch.testing.assert_close(MMDLoss(bandwidth=2.0, scales=(1.0,), estimator="linear")(
        f_s[px], f_t[py]), ref2)


def test_coral_loss_equals_coral_distance_and_its_formula():
    f_s, f_t, *_ = _batch(n=10, m=7, d=4)
    f_t = f_t * torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    loss = CORALLoss()(f_s, f_t)
    torch.testing.assert_close(loss, coral_distance(f_s, f_t), rtol=1e-14, atol=0)
    C_s = np.cov(f_s.numpy(), rowvar=False)
    C_t = np.cov(f_t.numpy(), rowvar=False)
    assert float(loss) == pytest.approx(((C_s - C_t) ** 2).sum() / (4 * 4 * 4), rel=1e-12)


def _dense_joint_mmd2(f_s, f_t, g_s, g_t, s_f, s_g, unbiased):
    """Reference: the joint-kernel MMD^2 from full numpy kernel matrices."""
    def gauss(A, B, sig):
        D = ((A[:, None] - B[None]) ** 2).sum(-1)
        return np.mean([np.exp(-D / (2 * s)) for s in sig], axis=0)

    def K(A, B, gA, gB):
        return gauss(A, B, s_f) * gauss(gA, gB, s_g)

    Kss, Ktt, Kst = K(f_s, f_s, g_s, g_s), K(f_t, f_t, g_t, g_t), K(f_s, f_t, g_s, g_t)
    n, m = len(f_s), len(f_t)
    if unbiased:
        kss = (Kss.sum() - np.trace(Kss)) / (n * (n - 1))
        ktt = (Ktt.sum() - np.trace(Ktt)) / (m * (m - 1))
    else:
        kss, ktt = Kss.mean(), Ktt.mean()
    return kss + ktt - 2 * Kst.mean()


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_jmmd_loss_equals_dense_joint_kernel_mmd(estimator):
    f_s, f_t, l_s, l_t, _ = _batch(shift=0.3)
    loss = JMMDLoss(scales=(0.5, 2.0), bandwidth=4.0, prediction_bandwidth=0.3,
                    prediction_scales=(1.0,), estimator=estimator)
    value = loss(f_s, f_t, logits_s=l_s, logits_t=l_t)
    g_s, g_t = torch.softmax(l_s, 1).numpy(), torch.softmax(l_t, 1).numpy()
    ref = _dense_joint_mmd2(f_s.numpy(), f_t.numpy(), g_s, g_t, (2.0, 8.0), (0.3,),
                            estimator == "unbiased")
    assert float(value) == pytest.approx(ref, rel=1e-10)


def test_jmmd_reduces_to_mmd_when_the_predictions_are_constant():
    f_s, f_t, *_ = _batch(shift=0.5)
    const_s = torch.zeros(f_s.shape[0], 3, dtype=torch.float64)
    const_t = torch.zeros(f_t.shape[0], 3, dtype=torch.float64)
    jmmd = JMMDLoss(scales=DAN_SCALES)(f_s, f_t, logits_s=const_s, logits_t=const_t)
    torch.testing.assert_close(jmmd, MMDLoss(scales=DAN_SCALES)(f_s, f_t))


def test_discrepancy_losses_vanish_on_identical_batches_and_grow_with_shift():
    f, _, logits, *_ = _batch(n=40, d=4)
    g = torch.Generator().manual_seed(3)
    f_other = torch.randn(40, 4, generator=g, dtype=torch.float64)
    shifted = f + 1.5
    # V-statistic (biased) and CORAL: exactly 0 for the same batch
    assert float(MMDLoss(estimator="biased")(f, f)) == pytest.approx(0.0, abs=1e-12)
    assert float(CORALLoss()(f, f)) == pytest.approx(0.0, abs=1e-15)
    assert float(JMMDLoss(estimator="biased")(f, f, logits_s=logits, logits_t=logits)) == \
        pytest.approx(0.0, abs=1e-12)
    # U-statistic: about 0 for samples of one distribution, clearly positive under a shift
    same = float(MMDLoss()(f, f_other))
    moved = float(MMDLoss()(f, shifted))
    assert abs(same) < 0.1 * moved and moved > 0.05
    assert float(JMMDLoss()(f, shifted, logits_s=logits, logits_t=logits + 2.0)) > \
        abs(float(JMMDLoss()(f, f_other, logits_s=logits, logits_t=logits))) + 0.01
    scaled = f * torch.tensor([1.0, 3.0, 1.0, 0.3], dtype=torch.float64)
    assert float(CORALLoss()(f, scaled)) > 0.01
    assert float(CORALLoss()(f, f + 5.0)) == pytest.approx(0.0, abs=1e-12)  # means are ignored


def test_gradcheck_mmd_coral_jmmd():
    f_s, f_t, l_s, l_t, _ = _batch(n=5, m=4, d=3, shift=0.3)
    f_s.requires_grad_(True)
    f_t.requires_grad_(True)
    l_s.requires_grad_(True)
    l_t.requires_grad_(True)
    # fixed bandwidths: the median heuristic is a constant for autograd, not for finite differences
    mmd = MMDLoss(bandwidth=2.0)
    for est in ("unbiased", "biased", "linear"):
        mmd.estimator = est
        assert torch.autograd.gradcheck(lambda a, b: mmd(a, b), (f_s, f_t))
    assert torch.autograd.gradcheck(lambda a, b: CORALLoss()(a, b), (f_s, f_t))
    jmmd = JMMDLoss(bandwidth=2.0, prediction_bandwidth=0.5)
    assert torch.autograd.gradcheck(
        lambda a, b, c, d: jmmd(a, b, logits_s=c, logits_t=d), (f_s, f_t, l_s, l_t))


def test_median_heuristic_is_not_differentiated():
    f_s, f_t, *_ = _batch(n=6, m=6, d=2, shift=0.5)
    f_s.requires_grad_(True)
    MMDLoss(scales=(1.0,))(f_s, f_t).backward()
    from domadapt.kernels import median_sq_distance
    b = float(median_sq_distance(f_s, f_t))
    x = f_s.detach().clone().requires_grad_(True)
    MMDLoss(scales=(1.0,), bandwidth=b)(x, f_t).backward()
    torch.testing.assert_close(f_s.grad, x.grad)


# ------------------------------------------------------------------ DANN


def test_dann_builds_the_recipe_discriminator():
    loss = DomainAdversarialLoss()
    assert loss.discriminator is None and list(loss.parameters()) == []
    loss.build(16, 4)
    layers = list(loss.discriminator)
    linear = [m for m in layers if isinstance(m, nn.Linear)]
    shapes = [(m.in_features, m.out_features) for m in linear]
    assert shapes == [(16, 1024), (1024, 1024), (1024, 1)]
    assert sum(isinstance(m, nn.ReLU) for m in layers) == 2
    assert [m.p for m in layers if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert len(list(loss.parameters())) == 6
    given = nn.Linear(16, 1)
    loss2 = DomainAdversarialLoss(discriminator=given)
    loss2.build(16, 4)
    assert loss2.discriminator is given
    assert DomainAdversarialLoss.needs_logits is False


def test_dann_loss_is_log2_for_a_zero_discriminator():
    f_s, f_t, *_ = _batch(n=7, m=5)
    loss = DomainAdversarialLoss()
    loss.build(5, 3)
    loss.double()
    last = loss.discriminator[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    assert float(loss(f_s, f_t, progress=0.5).detach()) == pytest.approx(math.log(2.0), rel=1e-14)


def test_dann_reverses_feature_gradient_with_the_schedule():
    f_s, f_t, *_ = _batch(n=6, m=4, d=3)
    disc = nn.Linear(3, 1).double()
    loss = DomainAdversarialLoss(discriminator=disc, alpha=10.0, high=1.0)
    loss.build(3, 2)
    a = f_s.clone().requires_grad_(True)
    b = f_t.clone().requires_grad_(True)
    value = loss(a, b, progress=0.25)
    value.backward()
    # the same objective without reversal
    a2 = f_s.clone().requires_grad_(True)
    b2 = f_t.clone().requires_grad_(True)
    d_s, d_t = disc(a2).squeeze(1), disc(b2).squeeze(1)
    plain = 0.5 * (nn.functional.softplus(-d_s).mean() + nn.functional.softplus(d_t).mean())
    torch.testing.assert_close(value, plain)
    g_a, g_b = torch.autograd.grad(plain, (a2, b2))
    coeff = dann_coefficient(0.25)
    torch.testing.assert_close(a.grad, -coeff * g_a)
    torch.testing.assert_close(b.grad, -coeff * g_b)
    # the discriminator itself gets the ordinary (not reversed) gradient
    plain_detached = 0.5 * (nn.functional.softplus(-disc(f_s)).mean()
                            + nn.functional.softplus(disc(f_t)).mean())
    w_grad = torch.autograd.grad(plain_detached, disc.weight)[0]
    torch.testing.assert_close(disc.weight.grad, w_grad)


def test_adversarial_losses_need_build_and_check_inputs():
    f_s, f_t, l_s, l_t, _ = _batch()
    with pytest.raises(RuntimeError, match="build"):
        DomainAdversarialLoss()(f_s, f_t)
    with pytest.raises(RuntimeError, match="build"):
        ConditionalDomainAdversarialLoss()(f_s, f_t, logits_s=l_s, logits_t=l_t)
    loss = DomainAdversarialLoss()
    loss.build(5, 3)
    loss.double()
    with pytest.raises(ValueError, match="progress"):
        loss(f_s, f_t, progress=1.5)
    with pytest.raises(ValueError, match="f_s has 5 features but f_t has 4"):
        loss(f_s, f_t[:, :4])
    with pytest.raises(TypeError, match="discriminator"):
        DomainAdversarialLoss(discriminator="mlp")
    with pytest.raises(ValueError, match="dropout"):
        DomainAdversarialLoss(dropout=1.0)
    cdan = ConditionalDomainAdversarialLoss()
    cdan.build(5, 3)
    cdan.double()
    with pytest.raises(ValueError, match="logits_t"):
        cdan(f_s, f_t, logits_s=l_s)
    with pytest.raises(ValueError, match="built for"):
        cdan.multilinear_map(f_s, torch.softmax(torch.randn(12, 4, dtype=torch.float64), 1))


# ------------------------------------------------------------------ CDAN


def test_cdan_multilinear_and_randomized_maps():
    f = torch.randn(6, 4, dtype=torch.float64)
    g = torch.softmax(torch.randn(6, 3, dtype=torch.float64), 1)
    cdan = ConditionalDomainAdversarialLoss(randomized=False)
    cdan.build(4, 3)
    assert cdan.random_f is None
    h = cdan.multilinear_map(f, g)
    assert h.shape == (6, 12)
    torch.testing.assert_close(h.reshape(6, 4, 3), torch.einsum("nd,nc->ndc", f, g))
    assert cdan.discriminator[0].in_features == 12

    rnd = ConditionalDomainAdversarialLoss(randomized=True, randomized_dim=64)
    rnd.build(4, 3)
    rnd.double()
    assert rnd.random_f.shape == (4, 64) and rnd.random_g.shape == (3, 64)
    h = rnd.multilinear_map(f, g)
    assert h.shape == (6, 64)
    torch.testing.assert_close(h, (f @ rnd.random_f) * (g @ rnd.random_g) / 8.0)
    assert rnd.discriminator[0].in_features == 64
    assert {"random_f", "random_g"} <= set(rnd.state_dict())


def test_cdan_randomized_map_preserves_inner_products_on_average():
    torch.manual_seed(0)
    rnd = ConditionalDomainAdversarialLoss(randomized=True, randomized_dim=20000, hidden_dim=4)
    rnd.build(4, 3)
    rnd.double()
    f = torch.randn(2, 4, dtype=torch.float64)
    g = torch.softmax(torch.randn(2, 3, dtype=torch.float64), 1)
    h = rnd.multilinear_map(f, g)
    exact = (f[0] @ f[1]) * (g[0] @ g[1])
    scale = f.norm(dim=1).prod() * g.norm(dim=1).prod()
    assert abs(float(h[0] @ h[1] - exact)) < 0.1 * float(scale)


def test_cdan_auto_switches_to_randomized_above_4096():
    small = ConditionalDomainAdversarialLoss(randomized_dim=32, hidden_dim=8)
    small.build(64, 64)  # 4096: still the full map
    assert small.random_f is None and small.discriminator[0].in_features == 4096
    big = ConditionalDomainAdversarialLoss(randomized_dim=32, hidden_dim=8)
    big.build(256, 31)  # 7936 > 4096
    assert big.random_f is not None and big.discriminator[0].in_features == 32


@pytest.mark.parametrize("entropy_conditioning", [False, True])
def test_cdan_loss_with_entropy_weights_on_a_hand_example(entropy_conditioning):
    f_s = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    f_t = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    log3 = math.log(3.0)
    l_s = torch.tensor([[0.0, 0.0], [log3, 0.0]], dtype=torch.float64)          # p = .5/.5, .75/.25
    l_t = torch.tensor([[log3, 0.0], [0.0, 0.0], [0.0, log3]], dtype=torch.float64)
    d = [0.5, -1.0, 2.0, 0.0, -0.5]
    cdan = ConditionalDomainAdversarialLoss(discriminator=_FixedLogits(d),
                                            entropy_conditioning=entropy_conditioning,
                                            randomized=False)
    cdan.build(2, 2)
    value = float(cdan(f_s, f_t, logits_s=l_s, logits_t=l_t, progress=0.5))
    h_half = math.log(2.0)
    h_quarter = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    if entropy_conditioning:
        w_s = np.array([1 + math.exp(-h_half), 1 + math.exp(-h_quarter)])
        w_t = np.array([1 + math.exp(-h_quarter), 1 + math.exp(-h_half), 1 + math.exp(-h_quarter)])
    else:
        w_s, w_t = np.ones(2), np.ones(3)
    w_s, w_t = w_s / w_s.sum(), w_t / w_t.sum()

    def softplus(x):
        return math.log1p(math.exp(x))

    ref = 0.5 * (sum(w * softplus(-x) for w, x in zip(w_s, d[:2]))
                 + sum(w * softplus(x) for w, x in zip(w_t, d[2:])))
    assert value == pytest.approx(ref, rel=1e-13)


def test_cdan_zero_discriminator_gives_log2_and_features_get_gradients():
    f_s, f_t, l_s, l_t, _ = _batch(n=5, m=6, d=4)
    cdan = ConditionalDomainAdversarialLoss(entropy_conditioning=True)
    cdan.build(4, 3)
    cdan.double()
    nn.init.zeros_(cdan.discriminator[-1].weight)
    nn.init.zeros_(cdan.discriminator[-1].bias)
    value = cdan(f_s, f_t, logits_s=l_s, logits_t=l_t).detach()
    assert float(value) == pytest.approx(math.log(2.0))
    cdan2 = ConditionalDomainAdversarialLoss()
    cdan2.build(4, 3)
    cdan2.double()
    a = f_s.clone().requires_grad_(True)
    ls = l_s.clone().requires_grad_(True)
    cdan2(a, f_t, logits_s=ls, logits_t=l_t, progress=0.7).backward()
    assert a.grad is not None and float(a.grad.abs().sum()) > 0
    assert ls.grad is None  # the conditioning probabilities are detached, as in the paper


# ------------------------------------------------------------------ MCC, entropy


def test_mcc_on_a_hand_two_class_example():
    T = 2.5
    logits_t = torch.tensor([[T * math.log(3.0), 0.0], [0.0, 0.0]], dtype=torch.float64)
    # softmax(logits / T): p1 = (3/4, 1/4), p2 = (1/2, 1/2)
    h1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    h2 = math.log(2.0)
    w1, w2 = 1 + math.exp(-h1), 1 + math.exp(-h2)
    m11 = w1 * 0.75 * 0.75 + w2 * 0.25
    m12 = w1 * 0.75 * 0.25 + w2 * 0.25
    m22 = w1 * 0.25 * 0.25 + w2 * 0.25
    ref = (m12 / (m11 + m12) + m12 / (m12 + m22)) / 2
    f = torch.zeros(2, 3, dtype=torch.float64)
    value = MCCLoss(temperature=T)(f, f, logits_t=logits_t)
    assert float(value) == pytest.approx(ref, rel=1e-13)
    assert MCCLoss.needs_logits


def test_mcc_limits_and_gradient():
    f = torch.zeros(4, 2)
    confident = 50.0 * torch.eye(3)[[0, 1, 2, 0]]  # one-hot predictions
    value = MCCLoss(temperature=1.0)(f, f, logits_t=confident)
    assert float(value) == pytest.approx(0.0, abs=1e-12)
    uniform = torch.zeros(4, 3)  # every column spread over all classes: (C - 1) / C
    assert float(MCCLoss()(f, f, logits_t=uniform)) == pytest.approx(2.0 / 3.0)
    # a small gradient step on the logits lowers the confusion
    logits = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    before = MCCLoss()(torch.zeros(6, 1), torch.zeros(6, 1), logits_t=logits)
    before.backward()
    with torch.no_grad():
        after = MCCLoss()(torch.zeros(6, 1), torch.zeros(6, 1), logits_t=logits - 0.1 * logits.grad)
    assert torch.isfinite(logits.grad).all() and float(after) < float(before.detach())
    with pytest.raises(ValueError, match="temperature"):
        MCCLoss(temperature=0.0)
    with pytest.raises(ValueError, match="logits_t"):
        MCCLoss()(f, f)


def test_entropy_loss():
    f = torch.zeros(3, 2)
    assert float(EntropyLoss()(f, f, logits_t=torch.zeros(3, 4))) == pytest.approx(math.log(4))
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0], [1e4, 0.0]], dtype=torch.float64)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(EntropyLoss()(f, f, logits_t=logits)) == pytest.approx((h + math.log(2)) / 3)
    assert EntropyLoss.needs_logits


# ------------------------------------------------------------------ DeepJDOT


def _jdot_cost(f_s, f_t, l_t, y_s, alpha, lam):
    fs, ft = f_s.detach().numpy(), f_t.detach().numpy()
    logp = torch.log_softmax(l_t.detach(), 1).numpy()
    feat = ((fs[:, None] - ft[None]) ** 2).sum(-1)
    label = -logp[:, y_s.numpy()].T
    return alpha * feat + lam * label


def test_deepjdot_cost_plan_and_value_match_pot():
    f_s, f_t, l_s, l_t, y_s = _batch(n=10, m=8, d=4, shift=0.5)
    loss = DeepJDOTLoss(alpha=0.5, lambda_t=0.2, reg=0.05, num_iter=1000)
    C = loss.cost(f_s, f_t, l_t, y_s)
    C_ref = _jdot_cost(f_s, f_t, l_t, y_s, 0.5, 0.2)
    np.testing.assert_allclose(C.numpy(), C_ref, rtol=1e-12)
    plan = loss.plan(C)
    np.testing.assert_allclose(plan.sum(1).numpy(), np.full(10, 0.1), atol=1e-9)
    np.testing.assert_allclose(plan.sum(0).numpy(), np.full(8, 0.125), atol=1e-12)
    eps = 0.05 * C_ref.mean()
    P_pot = ot.sinkhorn(np.full(10, 0.1), np.full(8, 0.125), C_ref, eps, numItermax=10000,
                        stopThr=1e-13, method="sinkhorn_log")
    np.testing.assert_allclose(plan.numpy(), P_pot, atol=1e-9)
    value = loss(f_s, f_t, logits_t=l_t, y_s=y_s)
    assert float(value) == pytest.approx(float((P_pot * C_ref).sum()), rel=1e-7)


def test_deepjdot_emd_solver_and_default_sinkhorn():
    f_s, f_t, l_s, l_t, y_s = _batch(n=9, m=9, d=3, shift=0.3)
    C_ref = _jdot_cost(f_s, f_t, l_t, y_s, 0.001, 0.0001)
    P_emd = ot.emd(np.full(9, 1 / 9), np.full(9, 1 / 9), C_ref)
    value = DeepJDOTLoss(solver="emd")(f_s, f_t, logits_t=l_t, y_s=y_s)
    assert float(value) == pytest.approx(float((P_emd * C_ref).sum()), rel=1e-12)
    # the default entropic plan: uniform marginals, cost a little above the exact OT cost
    loss = DeepJDOTLoss()
    plan = loss.plan(loss.cost(f_s, f_t, l_t, y_s))
    assert float((plan.sum(1) - 1 / 9).abs().sum()) < 1e-3
    np.testing.assert_allclose(plan.sum(0).numpy(), np.full(9, 1 / 9), atol=1e-12)
    default = float(loss(f_s, f_t, logits_t=l_t, y_s=y_s))
    exact = float((P_emd * C_ref).sum())
    assert exact <= default <= 1.1 * exact


def test_deepjdot_gradient_treats_the_plan_as_constant():
    f_s, f_t, l_s, l_t, y_s = _batch(n=6, m=5, d=3)
    loss = DeepJDOTLoss(alpha=1.0, lambda_t=0.5, reg=0.1)
    inputs = [t.clone().requires_grad_(True) for t in (f_s, f_t, l_t)]
    loss(inputs[0], inputs[1], logits_t=inputs[2], y_s=y_s).backward()
    plan = loss.plan(loss.cost(f_s, f_t, l_t, y_s))
    ref_inputs = [t.clone().requires_grad_(True) for t in (f_s, f_t, l_t)]
    (plan * loss.cost(ref_inputs[0], ref_inputs[1], ref_inputs[2], y_s)).sum().backward()
    for got, ref in zip(inputs, ref_inputs):
        torch.testing.assert_close(got.grad, ref.grad)
        assert float(got.grad.abs().sum()) > 0


def test_deepjdot_checks_labels():
    f_s, f_t, l_s, l_t, y_s = _batch()
    with pytest.raises(ValueError, match="y_s"):
        DeepJDOTLoss()(f_s, f_t, logits_t=l_t)
    with pytest.raises(TypeError, match="y_s"):
        DeepJDOTLoss()(f_s, f_t, logits_t=l_t, y_s=y_s.double())
    with pytest.raises(ValueError, match="y_s"):
        DeepJDOTLoss()(f_s, f_t, logits_t=l_t, y_s=y_s[:3])
    with pytest.raises(ValueError, match="solver"):
        DeepJDOTLoss(solver="exact")


# ------------------------------------------------------------------ contract and host sync


def _all_losses():
    out = [MMDLoss(), MMDLoss(estimator="linear"), JMMDLoss(), CORALLoss(), DomainAdversarialLoss(),
           ConditionalDomainAdversarialLoss(entropy_conditioning=True),
           ConditionalDomainAdversarialLoss(randomized=True, randomized_dim=16), MCCLoss(),
           EntropyLoss(), DeepJDOTLoss()]
    for loss in out:
        loss.build(5, 3)
        loss.double()
    return out


def test_all_losses_are_alignment_losses_with_a_scalar_differentiable_output():
    f_s, f_t, l_s, l_t, y_s = _batch(shift=0.5)
    for loss in _all_losses():
        assert isinstance(loss, AlignmentLoss)
        a = f_s.clone().requires_grad_(True)
        b = f_t.clone().requires_grad_(True)
        la, lb = l_s.clone().requires_grad_(True), l_t.clone().requires_grad_(True)
        value = loss(a, b, logits_s=la, logits_t=lb, y_s=y_s, progress=0.5)
        assert value.ndim == 0 and torch.isfinite(value)
        value.backward()
        grads = [t.grad for t in (a, b, la, lb) if t.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0, type(loss).__name__
    with pytest.raises(TypeError):
        AlignmentLoss()


@contextlib.contextmanager
def _no_read_back(monkeypatch):
    """Make every way of turning a tensor into a Python value raise."""
    def fail(*args, **kwargs):
        raise AssertionError("a tensor value was read back to the host")

    with monkeypatch.context() as mp:
        for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__"):
            mp.setattr(torch.Tensor, name, fail)
        yield


def test_forward_and_backward_read_no_tensor_value(monkeypatch):
    f_s, f_t, l_s, l_t, y_s = _batch(shift=0.5)
    losses = _all_losses()
    with _no_read_back(monkeypatch):
        with pytest.raises(AssertionError, match="read back"):
            bool(torch.ones(()))  # the guard works
        for loss in losses:
            a = f_s.clone().requires_grad_(True)
            b = l_t.clone().requires_grad_(True)
            value = loss(a, f_t, logits_s=l_s, logits_t=b, y_s=y_s, progress=0.3)
            value.backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_synchronisation_on_cuda():
    f_s, f_t, l_s, l_t, y_s = (t.cuda() for t in _batch(shift=0.5))
    losses = [loss.cuda() for loss in _all_losses()]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for loss in losses:
            a = f_s.clone().requires_grad_(True)
            b = l_t.clone().requires_grad_(True)
            loss(a, f_t, logits_s=l_s, logits_t=b, y_s=y_s, progress=0.3).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_needs_logits_flags_and_bad_inputs():
    flags = {MMDLoss: False, CORALLoss: False, DomainAdversarialLoss: False, JMMDLoss: True,
             ConditionalDomainAdversarialLoss: True, MCCLoss: True, EntropyLoss: True,
             DeepJDOTLoss: True}
    for cls, flag in flags.items():
        assert cls.needs_logits is flag
    f_s, f_t, l_s, l_t, _ = _batch()
    with pytest.raises(TypeError, match="f_s"):
        MMDLoss()(f_s.numpy(), f_t)
    with pytest.raises(ValueError, match="at least 2 rows in f_t"):
        MMDLoss()(f_s, f_t[:1])
    with pytest.raises(TypeError, match="dtype|float"):
        CORALLoss()(f_s, f_t.float())
    with pytest.raises(ValueError, match="logits_s"):
        JMMDLoss()(f_s, f_t, logits_t=l_t)
    with pytest.raises(ValueError, match="logits_t"):
        JMMDLoss()(f_s, f_t, logits_s=l_s, logits_t=l_t[:3])
    with pytest.raises(ValueError, match="estimator"):
        MMDLoss(estimator="fast")
    with pytest.raises(ValueError, match="scales"):
        MMDLoss(scales=(1.0, -1.0))
    with pytest.raises(ValueError, match="bandwidth"):
        JMMDLoss(prediction_bandwidth="mean")
