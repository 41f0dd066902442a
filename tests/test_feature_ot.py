"""OTMapping: transport plans, barycentric map, out-of-sample map, class regularisers (Courty et al.)."""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier

from domadapt import config_context
import domadapt.feature.ot as ot_module
from domadapt.feature.ot import OTMapping, _median, _sinkhorn

ALL_METHODS = ("emd", "sinkhorn", "lpl1", "l1l2")
ENTROPIC = ("sinkhorn", "lpl1", "l1l2")


@pytest.fixture(params=["dense", "column_generation"])
def emd_path(request, monkeypatch) -> str:
    """Run an "emd" test through both network-simplex paths (column generation forced on)."""
    if request.param == "column_generation":
        monkeypatch.setattr(ot_module, "_EMD_DENSE_MAX_PAIRS", 0)
    return request.param


@pytest.fixture(autouse=True)
def _no_discrepancy_report():
    """The report's MMD/CORAL measures are tested elsewhere; skip them to keep these tests fast."""
    with config_context(report_discrepancy=False):
        yield


def blobs(n_s: int = 90, n_t: int = 75, spread: float = 1.0, seed: int = 0):
    """Three 2-D classes; the target is stretched by 1.2 and shifted by (2, 1)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]])
    ys, yt = np.arange(n_s) % 3, np.arange(n_t) % 3
    Xs = centres[ys] + spread * rng.normal(size=(n_s, 2))
    Xt = 1.2 * centres[yt] + spread * rng.normal(size=(n_t, 2)) + np.array([2.0, 1.0])
    return Xs, ys, Xt, yt


def scaled_cost(Xs: np.ndarray, Xt: np.ndarray, norm: str | None = "median") -> np.ndarray:
    C = ot.dist(Xs, Xt)
    if norm == "median":
        return C / np.median(C)
    return C / C.max() if norm == "max" else C


def class_purity(plan: np.ndarray, ys: np.ndarray, yt: np.ndarray) -> float:
    """Mass sent between points of the same (true) class."""
    return float((plan * (ys[:, None] == yt[None, :])).sum())


# ----------------------------------------------------------------------------- the plan
@pytest.mark.parametrize("method", ALL_METHODS)
def test_plan_marginals_are_the_uniform_weights(method):
    Xs, ys, Xt, _ = blobs(60, 45)
    a = OTMapping(method=method, reg_e=0.3, tol=1e-7, max_iter=20000).fit(Xs, ys, Xt)
    plan = a.coupling_.numpy()
    assert plan.shape == (60, 45) and (plan >= 0).all()
    rows, cols = plan.sum(axis=1), plan.sum(axis=0)
    if method == "emd":
        np.testing.assert_allclose(rows, 1 / 60, rtol=0, atol=1e-15)
        np.testing.assert_allclose(cols, 1 / 45, rtol=0, atol=1e-15)
    else:  # the source marginal is exact after the last scaling, the target one within tol
        np.testing.assert_allclose(rows, 1 / 60, rtol=0, atol=1e-15)
        assert np.abs(cols - 1 / 45).sum() < 1e-7
    assert a.marginal_error_ == pytest.approx(np.abs(rows - 1 / 60).sum() + np.abs(cols - 1 / 45).sum())


def test_emd_square_plan_is_an_optimal_permutation(emd_path):
    rng = np.random.default_rng(3)
    n = 40
    Xs, Xt = rng.normal(size=(n, 5)), rng.normal(size=(n, 5)) + 1.0
    a = OTMapping(method="emd").fit(Xs, np.arange(n) % 2, Xt)
    P = a.coupling_.numpy() * n
    np.testing.assert_allclose(P, np.round(P), atol=1e-12)
    assert ((np.round(P) == 1).sum(axis=1) == 1).all() and ((np.round(P) == 1).sum(axis=0) == 1).all()
    perm = P.argmax(axis=1)
    C = ot.dist(Xs, Xt)
    rows, cols = linear_sum_assignment(C)
    assert C[np.arange(n), perm].sum() == pytest.approx(C[rows, cols].sum(), rel=1e-12)
    # each source point lands exactly on its assigned target point
    np.testing.assert_array_equal(a.transform(Xs, domain="source"), Xt[perm])


def test_emd_is_optimal_on_the_full_cost_matrix(emd_path):
    """Both paths (column generation above all) end at the plan of the dense network simplex."""
    rng = np.random.default_rng(4)
    Xs, Xt = rng.normal(size=(230, 3)), rng.normal(size=(170, 3)) * 1.5 + 0.5
    a = OTMapping(method="emd").fit(Xs, np.arange(230) % 2, Xt)
    C = scaled_cost(Xs, Xt)
    reference, log = ot.emd(np.full(230, 1 / 230), np.full(170, 1 / 170), C, numItermax=10**8, log=True)
    plan = a.coupling_.numpy()
    assert (plan * C).sum() == pytest.approx(log["cost"], rel=1e-12)
    np.testing.assert_allclose(plan, reference, atol=1e-12)
    if emd_path == "column_generation":
        assert a.n_iter_ >= 2  # the first sparse candidate set was not enough: the loop ran


@pytest.mark.parametrize(
    "method, norm, reg_e",
    [("emd", "median", 0.1), ("emd", "max", 0.1), ("emd", None, 0.1),
     ("sinkhorn", "median", 0.1), ("sinkhorn", "max", 0.02), ("sinkhorn", None, 2.0)],
)
def test_barycentric_map_matches_pot(method, norm, reg_e):
    Xs, ys, Xt, _ = blobs(50, 40, seed=1)
    ours = OTMapping(method=method, norm=norm, reg_e=reg_e, tol=1e-12, max_iter=20000).fit(Xs, ys, Xt)
    if method == "emd":
        ref = ot.da.EMDTransport(norm=norm)
    else:
        ref = ot.da.SinkhornTransport(
            reg_e=reg_e, norm=norm, tol=1e-14, max_iter=20000, out_of_sample_map="ferradans"
        )
    ref.fit(Xs=Xs, Xt=Xt)
    np.testing.assert_allclose(ours.coupling_.numpy(), ref.coupling_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.transform(Xs, domain="source"), ref.transform(Xs=Xs), rtol=1e-7, atol=1e-9)


@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge")  # POT's own inner solver
def test_lpl1_matches_pot():
    Xs, ys, Xt, _ = blobs(45, 36, seed=2)
    ours = OTMapping(method="lpl1", reg_e=0.1, reg_cl=0.5, tol=1e-12, max_iter=20000).fit(Xs, ys, Xt)
    ref = ot.da.SinkhornLpl1Transport(
        reg_e=0.1, reg_cl=0.5, norm="median", tol=1e-14, max_inner_iter=20000
    ).fit(Xs=Xs, ys=ys, Xt=Xt)
    np.testing.assert_allclose(ours.coupling_.numpy(), ref.coupling_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.transform(Xs, domain="source"), ref.transform(Xs=Xs), rtol=1e-6, atol=1e-8)


def test_l1l2_reaches_a_stationary_point_of_the_group_lasso_problem():
    """At the optimum γ, the Sinkhorn plan of the linearised cost C + η ∇Ω(γ) is γ itself."""
    Xs, ys, Xt, _ = blobs(45, 36, seed=2)
    reg, eta = 0.1, 1.0
    a = OTMapping(method="l1l2", reg_e=reg, reg_cl=eta, tol=1e-10, max_outer_iter=60, max_iter=20000)
    a.fit(Xs, ys, Xt)
    G = a.coupling_
    C = torch.as_tensor(scaled_cost(Xs, Xt))
    members = torch.as_tensor(np.eye(3)[ys].T)
    linear = C + eta * G / (members @ (G * G)).sqrt()[torch.as_tensor(ys)]
    again = _sinkhorn(linear, reg, 20000, 1e-12).plan
    assert float((again - G).abs().sum()) < 1e-5

    def objective(P):
        P = np.asarray(P)
        group = np.sqrt(members.numpy() @ (P * P)).sum()
        return (P * C.numpy()).sum() + eta * group + reg * (P * np.log(P)).sum()

    # POT's solver line-searches without the entropy term: it cannot end lower than we do
    pot = ot.da.SinkhornL1l2Transport(reg_e=reg, reg_cl=eta, norm="median", tol=1e-14, max_inner_iter=20000)
    assert objective(G) <= objective(pot.fit(Xs=Xs, ys=ys, Xt=Xt).coupling_) + 1e-12


@pytest.mark.parametrize("method", ("lpl1", "l1l2"))
def test_class_regulariser_keeps_classes_apart(method):
    Xs, ys, Xt, yt_true = blobs()
    plain = OTMapping(method="sinkhorn", reg_e=0.3).fit(Xs, ys, Xt)
    regularised = OTMapping(method=method, reg_e=0.3, reg_cl=1.0).fit(Xs, ys, Xt)
    before = class_purity(plain.coupling_.numpy(), ys, yt_true)
    after = class_purity(regularised.coupling_.numpy(), ys, yt_true)
    margin = 0.1 if method == "lpl1" else 0.01  # group lasso is the milder of the two
    assert after > before + margin, (before, after)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_known_target_labels_forbid_cross_class_transport(method, monkeypatch):
    if method == "emd":  # the sparse path must keep the label costs too
        monkeypatch.setattr(ot_module, "_EMD_DENSE_MAX_PAIRS", 0)
    Xs, ys, Xt, yt_true = blobs(60, 45, spread=1.5)
    labelled = np.random.default_rng(7).random(45) < 0.35
    yt = np.where(labelled, yt_true, -1)
    assert set(yt[labelled]) == {0, 1, 2}
    plan = OTMapping(method=method, reg_e=0.3, max_iter=5000).fit(Xs, ys, Xt, yt).coupling_.numpy()
    forbidden = (ys[:, None] != yt[None, :]) & (yt[None, :] != -1)
    assert plan[forbidden].max() == 0.0
    unlabelled = OTMapping(method=method, reg_e=0.3, max_iter=5000).fit(Xs, ys, Xt).coupling_.numpy()
    assert unlabelled[forbidden].sum() > 1e-3  # the constraint changed something
    np.testing.assert_allclose(plan.sum(axis=0), 1 / 45, atol=1e-6)


def test_infeasible_label_constraint_still_gives_a_plan(emd_path):
    """Every target point labelled 0 or 1: class-2 source mass has to cross, as little as possible."""
    Xs, ys, Xt, yt_true = blobs(60, 45)
    yt = np.where(yt_true == 2, 0, yt_true)
    plan = OTMapping(method="emd").fit(Xs, ys, Xt, yt).coupling_.numpy()
    np.testing.assert_allclose(plan.sum(axis=1), 1 / 60, atol=1e-15)
    forbidden = ys[:, None] != yt[None, :]
    # the class-2 source rows (a third of the mass) have no target of their class: exactly their
    # mass crosses, nothing more
    assert plan[forbidden].sum() == pytest.approx(1 / 3, abs=1e-12)


# ----------------------------------------------------------------------- the transform
def test_out_of_sample_source_points_follow_their_nearest_fitted_point():
    Xs, ys, Xt, _ = blobs(60, 45)
    a = OTMapping(method="sinkhorn").fit(Xs, ys, Xt)
    fitted = a.transform(Xs, domain="source")
    np.testing.assert_array_equal(fitted, a.X_source_mapped_.numpy())
    np.testing.assert_allclose(fitted, a.coupling_.numpy() @ Xt * 60, rtol=1e-12)
    order = np.random.default_rng(0).permutation(60)[:25]
    delta = np.random.default_rng(1).normal(scale=1e-3, size=(25, 2))
    with config_context(chunk_size=7):  # several blocks
        np.testing.assert_allclose(a.transform(Xs[order], domain="source"), fitted[order], atol=1e-12)
        np.testing.assert_allclose(
            a.transform(Xs[order] + delta, domain="source"), fitted[order] + delta, atol=1e-12
        )
    far = np.array([[100.0, -50.0]])
    nearest = np.argmin(((Xs - far) ** 2).sum(axis=1))
    np.testing.assert_allclose(a.transform(far, domain="source"), fitted[[nearest]] + far - Xs[[nearest]])
    np.testing.assert_array_equal(a.transform(Xt), Xt)


def test_transform_does_not_expose_fitted_state():
    Xs, ys, Xt, _ = blobs(30, 30)
    a = OTMapping(method="emd").fit(Xs, ys, Xt)
    Z = a.transform(Xs, domain="source")
    Z[...] = 0.0
    assert np.abs(a.transform(Xs, domain="source")).sum() > 0
    Xs_tensor = torch.tensor(Xs)
    b = OTMapping(method="emd").fit(Xs_tensor, ys, Xt)
    Xs_tensor.add_(1.0)  # the caller edits its tensor after fit
    np.testing.assert_array_equal(b.X_source_.numpy(), Xs)


@pytest.mark.parametrize("method", ("emd", "sinkhorn"))
def test_adaptation_improves_accuracy_on_shifted_blobs(method):
    Xs, ys, Xt, yt = blobs(150, 120, seed=5)
    baseline = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    adapted = OTMapping(method=method, estimator=KNeighborsClassifier(1)).fit(Xs, ys, Xt).score(Xt, yt)
    assert baseline < 0.8 and adapted > baseline + 0.15, (baseline, adapted)


# --------------------------------------------------------------- dtypes and array types
@pytest.mark.parametrize("method", ("emd", "sinkhorn"))
def test_float32_float64_numpy_and_torch(method, monkeypatch):
    monkeypatch.setattr(ot_module, "_EMD_DENSE_MAX_PAIRS", 0)  # float32 reduced costs
    Xs, ys, Xt, _ = blobs(40, 30)
    z64 = OTMapping(method=method).fit(Xs, ys, Xt).transform(Xs, domain="source")
    a32 = OTMapping(method=method).fit(Xs.astype(np.float32), ys, Xt.astype(np.float32))
    assert a32.coupling_.dtype == torch.float32
    z32 = a32.transform(Xs.astype(np.float32), domain="source")
    assert z32.dtype == np.float32
    np.testing.assert_allclose(z32, z64, rtol=1e-4, atol=1e-4)
    T = torch.tensor(Xs, dtype=torch.float32)
    t = OTMapping(method=method).fit(T, torch.tensor(ys), torch.tensor(Xt, dtype=torch.float32))
    zt = t.transform(T, domain="source")
    assert isinstance(zt, torch.Tensor) and zt.dtype == torch.float32
    np.testing.assert_allclose(zt.numpy(), z32, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        t.transform(T[:5] + 0.01, domain="source").numpy(), z32[:5] + 0.01, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("method", ("emd", "sinkhorn"))
def test_float32_map_does_not_depend_on_where_the_data_sit(method):
    # a common offset changes no distance; in float32 the raw norm expansion would lose the
    # costs to cancellation at offset 1000 (plan and map then depend on the offset)
    rng = np.random.default_rng(0)
    ys = np.arange(60) % 3
    Xs = rng.normal(size=(60, 10)).astype(np.float32)
    Xt = (rng.normal(size=(50, 10)) + 0.5).astype(np.float32)
    ref = OTMapping(method=method).fit(Xs, ys, Xt)
    far = OTMapping(method=method).fit(Xs + 1000, ys, Xt + 1000)
    np.testing.assert_allclose(far.coupling_.numpy(), ref.coupling_.numpy(), atol=1e-5)
    np.testing.assert_allclose(far.transform(Xs + 1000, domain="source") - 1000,
                               ref.transform(Xs, domain="source"), atol=2e-3)
    new = (rng.normal(size=(7, 10)) * 0.3).astype(np.float32)  # out of sample: nearest rows
    np.testing.assert_allclose(far.transform(new + 1000, domain="source") - 1000,
                               ref.transform(new, domain="source"), atol=2e-3)


# ------------------------------------------------------------------ options and errors
@pytest.mark.parametrize("norm", ("median", "max", None))
def test_cost_scale(norm):
    Xs, ys, Xt, _ = blobs(31, 20)  # 620 pairs: an even count, the median averages two values
    C = ot.dist(Xs, Xt)
    expected = {"median": np.median(C), "max": C.max(), None: 1.0}[norm]
    assert OTMapping(method="emd", norm=norm).fit(Xs, ys, Xt).cost_scale_ == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", [(1300, 1000), (1001, 999), (7, 1)])
def test_median_is_exact(shape):
    C = torch.rand(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 3
    assert _median(C) == np.median(C.numpy())
    ties = torch.randint(0, 4, shape, generator=torch.Generator().manual_seed(1)).double()
    assert _median(ties) == np.median(ties.numpy())


@pytest.mark.parametrize(
    "params, match",
    [
        ({"method": "gw"}, "method"),
        ({"norm": "log"}, "norm"),
        ({"reg_e": 0.0}, "reg_e"),
        ({"reg_cl": -1.0}, "reg_cl"),
        ({"tol": float("nan")}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_outer_iter": 2.5}, "max_outer_iter"),
    ],
)
def test_invalid_parameters(params, match):
    Xs, ys, Xt, _ = blobs(12, 9)
    with pytest.raises(ValueError, match=match):
        OTMapping(**params).fit(Xs, ys, Xt)


def test_class_regularisers_need_class_labels():
    Xs, _, Xt, _ = blobs(30, 20)
    y_real = np.linspace(0.0, 1.0, 30) + 0.05
    with pytest.raises(ValueError, match="needs class labels"):
        OTMapping(method="lpl1").fit(Xs, y_real, Xt)
    a = OTMapping(method="sinkhorn").fit(Xs, y_real, Xt)  # a regression target is fine
    assert a.coupling_.shape == (30, 20)


def test_unconverged_sinkhorn_warns():
    Xs, ys, Xt, _ = blobs(30, 20)
    with pytest.warns(ConvergenceWarning, match="Sinkhorn stopped after 2 iterations"):
        OTMapping(method="sinkhorn", max_iter=2).fit(Xs, ys, Xt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OTMapping(method="sinkhorn").fit(Xs, ys, Xt)  # the default budget suffices
