"""RelationalDistillation: the teacher, the relation terms, and what they do on a shift."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_moons

from domadapt import RelationalDistillation
from domadapt.deep import DeepAdapter, Network
from domadapt.relation import LogitDistillationLoss, RKDAngleLoss, RKDDistanceLoss


def rotated_moons(seed: int, n: int = 200, angle: float = 35.0):
    """Two moons; the target is a fresh draw rotated by ``angle`` degrees about its mean."""
    Xs, ys = make_moons(n, noise=0.1, random_state=seed)
    Xt, yt = make_moons(n, noise=0.1, random_state=seed + 1000)
    a = np.deg2rad(angle)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = Xt.mean(0)
    return Xs.astype(np.float32), ys, ((Xt - c) @ R.T + c).astype(np.float32), yt


@pytest.fixture(scope="module")
def moons():
    return rotated_moons(0, n=60)


class FirstStep(RelationalDistillation):
    """Records the extra loss terms of the first training step."""

    def _extra_losses(self, *args):
        terms = super()._extra_losses(*args)
        if not hasattr(self, "first_step_"):
            self.first_step_ = {k: float(v.detach()) for k, v in terms.items()}
        return terms


def test_student_copy_of_teacher_has_zero_relation_terms_at_step_zero(moons):
    Xs, ys, Xt, _ = moons
    torch.manual_seed(0)
    teacher = Network.from_features(2, 2, hidden=(16,))  # no BatchNorm, no dropout
    rd = FirstStep(
        network=teacher, teacher=teacher, kd_weight=1.0, hidden=(16,), epochs=1, batch_size=16,
        random_state=0, verbose=False,
    ).fit(Xs, ys, Xt)
    assert set(rd.first_step_) == {"rkd_distance", "rkd_angle", "kd"}
    for name, value in rd.first_step_.items():
        assert abs(value) < 1e-6, (name, value)
    # ... and the student then moves away from the teacher (CE trains it), the teacher does not
    assert rd.history_["rkd_distance"][0] >= 0
    for p, q in zip(rd.teacher_.parameters(), teacher.parameters()):
        assert torch.equal(p, q) and not p.requires_grad
    assert not rd.teacher_.training
    assert all(p.requires_grad for p in teacher.parameters()) and teacher.training  # untouched
    assert any(not torch.equal(p, q) for p, q in zip(rd.network_.parameters(), teacher.parameters()))


def test_terms_are_the_weighted_relation_losses(moons):
    """_extra_losses equals the formula written with the loss modules, on both domains."""
    Xs, ys, Xt, _ = moons
    torch.manual_seed(1)
    teacher = Network.from_features(2, 2, hidden=(8,))
    rd = RelationalDistillation(
        teacher=teacher, distance_weight=3.0, angle_weight=5.0, kd_weight=0.5, temperature=2.0,
        hidden=(16,), epochs=1, batch_size=16, random_state=0, verbose=False,
    ).fit(Xs, ys, Xt)
    student = rd.network_
    x_s, x_t = torch.as_tensor(Xs[:10]), torch.as_tensor(Xt[:12])
    with torch.no_grad():
        f_s, z_s = student(x_s)
        f_t, z_t = student(x_t)
        u_s, v_s = teacher(x_s)
        u_t, v_t = teacher(x_t)
        terms = rd._extra_losses(x_s, x_t, f_s, f_t, z_s, z_t, torch.as_tensor(ys[:10]), 0.5)
    D, A, KD = RKDDistanceLoss(), RKDAngleLoss(), LogitDistillationLoss(2.0)
    torch.testing.assert_close(terms["rkd_distance"], 3.0 * 0.5 * (D(f_s, u_s) + D(f_t, u_t)))
    torch.testing.assert_close(terms["rkd_angle"], 5.0 * 0.5 * (A(f_s, u_s) + A(f_t, u_t)))
    torch.testing.assert_close(terms["kd"], 0.5 * KD(torch.cat([z_s, z_t]), torch.cat([v_s, v_t])))
    assert terms["rkd_distance"] > 0 and terms["rkd_angle"] > 0 and terms["kd"] > 0


def test_zero_weight_terms_are_not_computed(moons):
    Xs, ys, Xt, _ = moons
    rd = RelationalDistillation(
        teacher=Network.from_features(2, 2, hidden=(8,)), angle_weight=0.0, hidden=(8,),
        epochs=1, batch_size=16, random_state=0, verbose=False,
    ).fit(Xs, ys, Xt)
    assert "rkd_distance" in rd.history_ and "rkd_angle" not in rd.history_ and "kd" not in rd.history_


def test_default_teacher_is_the_source_only_adapter_with_the_same_settings(moons):
    Xs, ys, Xt, _ = moons
    params = dict(hidden=(16,), epochs=2, batch_size=16, random_state=3, verbose=False)
    rd = RelationalDistillation(**params).fit(Xs, ys, Xt)
    source_only = DeepAdapter(**params).fit(Xs, ys, Xt)
    for p, q in zip(rd.teacher_.parameters(), source_only.network_.parameters()):
        assert torch.equal(p, q)


def test_deep_adapter_teachers_fitted_or_not(moons):
    Xs, ys, Xt, _ = moons
    unfitted = DeepAdapter(hidden=(8,), epochs=1, batch_size=16, random_state=5, verbose=False)
    rd = RelationalDistillation(
        teacher=unfitted, hidden=(8,), epochs=1, batch_size=16, random_state=0, verbose=False
    ).fit(Xs, ys, Xt)
    assert not hasattr(unfitted, "network_")  # the object passed is not fitted in place
    fitted = clone(unfitted).fit(Xs, ys, Xt)
    for p, q in zip(rd.teacher_.parameters(), fitted.network_.parameters()):
        assert torch.equal(p, q)
    rd2 = RelationalDistillation(
        teacher=fitted, hidden=(8,), epochs=1, batch_size=16, random_state=0, verbose=False
    ).fit(Xs, ys, Xt)
    assert rd2.teacher_ is not fitted.network_
    for p, q in zip(rd2.teacher_.parameters(), fitted.network_.parameters()):
        assert torch.equal(p, q)
    # a module teacher survives sklearn's clone with its weights (deep copy)
    c = clone(RelationalDistillation(teacher=fitted.network_))
    for p, q in zip(c.teacher.parameters(), fitted.network_.parameters()):
        assert torch.equal(p, q)


def test_strong_teacher_improves_the_student_on_the_target():
    """Relations copied on the unlabelled target batch carry the teacher's target structure.

    The teacher (trained here with the target labels, standing in for a teacher that transfers
    well) is much better on the target than a source-only student. A student of the same size
    as the source-only one, that never sees a target label, gains target accuracy from the
    relation terms alone. Checked on seeds 0-7 (gains 0.02-0.10); seed 0 is fixed here.
    """
    Xs, ys, Xt, yt = rotated_moons(0)
    common = dict(hidden=(32, 32), epochs=30, batch_size=32, random_state=0, verbose=False)
    source_only = DeepAdapter(**common).fit(Xs, ys, Xt).score(Xt, yt)
    teacher = DeepAdapter(hidden=(64, 64), epochs=30, random_state=0, verbose=False).fit(
        np.vstack([Xs, Xt]), np.r_[ys, yt], Xt
    )
    assert teacher.score(Xt, yt) > source_only + 0.05
    rd = RelationalDistillation(teacher=teacher, distance_weight=10.0, angle_weight=20.0, **common)
    student = rd.fit(Xs, ys, Xt).score(Xt, yt)
    assert student >= source_only + 0.02, (source_only, student)
    assert rd.history_["rkd_angle"][-1] < rd.history_["rkd_angle"][0]


@pytest.mark.parametrize(
    "params, exc, match",
    [
        ({"distance_weight": -1.0}, ValueError, "distance_weight"),
        ({"angle_weight": float("nan")}, ValueError, "angle_weight"),
        ({"kd_weight": "1"}, TypeError, "kd_weight"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"distance_weight": 0.0, "angle_weight": 0.0}, ValueError, "nothing to distil"),
        ({"teacher": "resnet50"}, TypeError, "teacher must be"),
        ({"batch_size": 2}, ValueError, "angle loss needs 3 rows"),
        ({"batch_size": 1, "angle_weight": 0.0}, ValueError, "distance loss needs 2 rows"),
    ],
)
def test_invalid_parameters(moons, params, exc, match):
    Xs, ys, Xt, _ = moons
    with pytest.raises(exc, match=match):
        RelationalDistillation(hidden=(8,), epochs=1, verbose=False, **params).fit(Xs, ys, Xt)


def test_teacher_output_is_checked(moons):
    Xs, ys, Xt, _ = moons
    three = Network.from_features(2, 3, hidden=(8,))
    with pytest.raises(ValueError, match="teacher gives 3"):
        RelationalDistillation(teacher=three, kd_weight=1.0, hidden=(8,), epochs=1,
                               verbose=False).fit(Xs, ys, Xt)
    with pytest.raises(TypeError, match=r"teacher must return \(features, logits\)"):
        RelationalDistillation(teacher=torch.nn.Linear(2, 4), hidden=(8,), epochs=1,
                               verbose=False).fit(Xs, ys, Xt)


def test_pickle_keeps_the_teacher(moons):
    import pickle

    Xs, ys, Xt, _ = moons
    rd = RelationalDistillation(hidden=(8,), epochs=1, batch_size=16, random_state=0,
                                verbose=False).fit(Xs, ys, Xt)
    back = pickle.loads(pickle.dumps(rd))
    np.testing.assert_array_equal(back.transform(Xt), rd.transform(Xt))
    for p, q in zip(back.teacher_.parameters(), copy.deepcopy(rd.teacher_).parameters()):
        assert torch.equal(p, q)
