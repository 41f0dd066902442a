"""Relation and logit distillation losses: invariances, naive-loop references, hand KL."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from domadapt.relation.losses import LogitDistillationLoss, RKDAngleLoss, RKDDistanceLoss


def _emb(n=7, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


def _huber(a, b, delta=1.0):
    r = abs(a - b)
    return 0.5 * r * r if r <= delta else delta * (r - 0.5 * delta)


def _distance_reference(s, t, delta=1.0):
    """RKD-D by explicit loops over the ordered pairs i != j."""
    s, t = s.numpy(), t.numpy()
    n = len(s)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    ds = {p: np.linalg.norm(s[p[0]] - s[p[1]]) for p in pairs}
    dt = {p: np.linalg.norm(t[p[0]] - t[p[1]]) for p in pairs}
    mu_s, mu_t = np.mean(list(ds.values())), np.mean(list(dt.values()))
    return np.mean([_huber(ds[p] / mu_s, dt[p] / mu_t, delta) for p in pairs])


def _angle_reference(s, t, delta=1.0):
    """RKD-A by explicit loops over the ordered triplets of distinct rows."""
    s, t = s.numpy(), t.numpy()

    def cos(x, i, j, k):
        a, b = x[i] - x[j], x[k] - x[j]
        return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))

    trip = list(itertools.permutations(range(len(s)), 3))
    return np.mean([_huber(cos(s, i, j, k), cos(t, i, j, k), delta) for i, j, k in trip])


@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_rkd_distance_matches_the_loop_reference(delta):
    s, t = _emb(d=3), _emb(d=5, seed=1) * 4.0  # dimensions may differ
    value = RKDDistanceLoss(delta=delta)(s, t)
    assert float(value) == pytest.approx(_distance_reference(s, t, delta), rel=1e-12)
    assert float(value) > 0


@pytest.mark.parametrize("delta", [1.0, 0.05])
def test_rkd_angle_matches_the_loop_reference(delta):
    s, t = _emb(n=6, d=3), _emb(n=6, d=5, seed=1)
    value = RKDAngleLoss(delta=delta)(s, t)
    assert float(value) == pytest.approx(_angle_reference(s, t, delta), rel=1e-12)
    assert float(value) > 0


@pytest.mark.parametrize("cls", [RKDDistanceLoss, RKDAngleLoss])
def test_rkd_zero_for_equal_or_scaled_copies_and_scale_invariant(cls):
    loss = cls()
    t = _emb()
    s = _emb(seed=2)
    assert float(loss(t, t)) == pytest.approx(0.0, abs=1e-14)
    assert float(loss(3.7 * t, t)) == pytest.approx(0.0, abs=1e-14)
    assert float(loss(t, 0.2 * t)) == pytest.approx(0.0, abs=1e-14)
    base = float(loss(s, t))
    assert base > 1e-3
    for c in (0.01, 5.0, 1e3):
        assert float(loss(c * s, t)) == pytest.approx(base, rel=1e-12)
        assert float(loss(s, c * t)) == pytest.approx(base, rel=1e-12)
    # relations are also unchanged by a translation or a rotation of one embedding
    q, _ = torch.linalg.qr(_emb(n=4, d=4, seed=5))
    assert float(loss(s @ q + 2.0, t)) == pytest.approx(base, rel=1e-10)


@pytest.mark.parametrize("cls", [RKDDistanceLoss, RKDAngleLoss])
def test_rkd_gradcheck_and_float32(cls):
    s = _emb(n=5, d=3).requires_grad_(True)
    t = _emb(n=5, d=2, seed=1)
    assert torch.autograd.gradcheck(lambda x: cls()(x, t), (s,))
    x = _emb(n=5, d=3).float().requires_grad_(True)
    value = cls()(x, t.float())
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(x.grad).all()


def test_rkd_input_checks():
    s, t = _emb(), _emb(n=6)
    with pytest.raises(ValueError, match="rows"):
        RKDDistanceLoss()(s, t)
    with pytest.raises(ValueError, match="at least 3 rows"):
        RKDAngleLoss()(s[:2], s[:2])
    with pytest.raises(TypeError, match="student"):
        RKDDistanceLoss()(s.numpy(), s)
    with pytest.raises(ValueError, match="delta"):
        RKDAngleLoss(delta=0.0)


def test_logit_distillation_matches_a_hand_kl():
    student = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    teacher = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    T = 2.0

    def softmax(z):
        e = np.exp(np.asarray(z) / T)
        return e / e.sum()

    kl = [np.sum(softmax(t) * np.log(softmax(t) / softmax(s)))
          for s, t in zip(student.numpy(), teacher.numpy())]
    value = LogitDistillationLoss(temperature=T)(student, teacher)
    assert float(value) == pytest.approx(T * T * np.mean(kl), rel=1e-12)
    assert float(LogitDistillationLoss()(teacher, teacher)) == pytest.approx(0.0, abs=1e-15)
    # a constant added to a row of logits changes no probability
    assert float(LogitDistillationLoss()(teacher + 3.0, teacher)) == pytest.approx(0.0, abs=1e-14)


def test_logit_distillation_gradient_and_checks():
    s = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    t = torch.randn(4, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: LogitDistillationLoss(3.0)(x, t), (s,))
    # gradient wrt the student logits is T * (p_s - p_t) / N: the T^2 factor offsets 1/T^2
    LogitDistillationLoss(3.0)(s, t).backward()
    ref = 3.0 * (torch.softmax(s.detach() / 3, 1) - torch.softmax(t / 3, 1)) / 4
    torch.testing.assert_close(s.grad, ref)
    with pytest.raises(ValueError, match="columns"):
        LogitDistillationLoss()(s, t[:, :2])
    with pytest.raises(ValueError, match="temperature"):
        LogitDistillationLoss(temperature=-1.0)
    assert math.isfinite(float(LogitDistillationLoss()(s.detach() * 1e3, t)))
