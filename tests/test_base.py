"""Adapter base behaviour not tied to one method: pipelines, weights, config, conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from domadapt import (
    CORAL, DAPipeline, NearestNeighborWeighting, config_context, get_config, make_da_pipeline, set_config,
)
from domadapt._array import resolve_device
from domadapt.base import fit_with_weights
from domadapt.deep import DeepAdapter


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(80, 4)) * [1, 2, 3, 4] + 1
    ys = (Xs[:, 0] > 1).astype(int)
    Xt = rng.normal(size=(70, 4)) * [2, 1, 1, 3] - 1
    yt = (Xt[:, 0] > -1).astype(int)
    return Xs, ys, Xt, yt


def test_pipeline_equals_manual_composition(data):
    Xs, ys, Xt, yt = data
    pipe = make_da_pipeline(StandardScaler(), CORAL(), LogisticRegression())
    assert isinstance(pipe, DAPipeline)
    assert [n for n, _ in pipe.steps] == ["standardscaler", "coral", "logisticregression"]
    pipe.fit(Xs, ys, Xt)

    sc = StandardScaler().fit(Xs)
    coral = CORAL().fit(sc.transform(Xs), ys, sc.transform(Xt))
    clf = LogisticRegression().fit(coral.transform(sc.transform(Xs), domain="source"), ys)
    expected = clf.predict(coral.transform(sc.transform(Xt)))
    np.testing.assert_array_equal(pipe.predict(Xt), expected)
    assert pipe.score(Xt, yt) == pytest.approx(np.mean(expected == yt))
    np.testing.assert_allclose(pipe.predict_proba(Xt), clf.predict_proba(coral.transform(sc.transform(Xt))))


def test_pipeline_params_and_unfitted(data):
    pipe = make_da_pipeline(CORAL(), LogisticRegression())
    pipe.set_params(coral__reg=0.5)
    assert pipe.get_params()["coral__reg"] == 0.5
    with pytest.raises(ValueError, match="invalid parameter"):
        pipe.set_params(nope__x=1)
    with pytest.raises(Exception, match="not fitted"):
        pipe.predict(data[2])
    # fitting clones the steps: the user's objects stay unfitted
    pipe.fit(*data[:3])
    assert not hasattr(pipe.steps[0][1], "A_")


def test_pipeline_keeps_tensors(data):
    Xs, ys, Xt, _ = data
    pipe = make_da_pipeline(StandardScaler(), CORAL()).fit(
        torch.tensor(Xs, dtype=torch.float32), torch.tensor(ys), torch.tensor(Xt, dtype=torch.float32)
    )
    Z = pipe.transform(torch.tensor(Xt, dtype=torch.float32))
    assert isinstance(Z, torch.Tensor) and Z.dtype == torch.float32
    # probabilities too, from a final estimator and from a final adapter with one
    T = torch.tensor(Xt)
    for last in (LogisticRegression(), CORAL(estimator=LogisticRegression())):
        pipe = make_da_pipeline(StandardScaler(), last).fit(torch.tensor(Xs), torch.tensor(ys), T)
        proba = pipe.predict_proba(T)
        assert isinstance(proba, torch.Tensor), type(last).__name__
        np.testing.assert_allclose(proba.numpy(), pipe.predict_proba(Xt), rtol=1e-6)
        np.testing.assert_allclose(proba.sum(dim=1).numpy(), 1.0, rtol=1e-6)


def test_upstream_importance_weights_reach_a_final_adapters_estimator():
    rng = np.random.default_rng(0)
    Xs, ys, Xt = rng.normal(size=(80, 3)), np.arange(80) % 2, rng.normal(0.5, 1.0, size=(60, 3))
    pipe = make_da_pipeline(NearestNeighborWeighting(), CORAL(estimator=LogisticRegression())).fit(Xs, ys, Xt)
    nnw, coral = pipe.steps_[0][1], pipe.steps_[1][1]
    weighted = LogisticRegression().fit(coral.transform(Xs, "source"), ys, sample_weight=nnw.sample_weight_)
    plain = LogisticRegression().fit(coral.transform(Xs, "source"), ys)
    np.testing.assert_allclose(coral.estimator_.coef_, weighted.coef_)
    assert not np.allclose(coral.estimator_.coef_, plain.coef_)  # the weights changed the fit
    # the same through fit(sample_weight=) directly
    direct = CORAL(estimator=LogisticRegression()).fit(Xs, ys, Xt, sample_weight=nnw.sample_weight_)
    np.testing.assert_allclose(direct.estimator_.coef_, weighted.coef_)
    # never a silent drop: an estimator or a head that cannot take them is an error
    with pytest.raises(TypeError, match="does not accept sample_weight"):
        make_da_pipeline(NearestNeighborWeighting(), CORAL(estimator=KNeighborsClassifier(1))).fit(Xs, ys, Xt)
    with pytest.raises(TypeError, match="cannot take the importance weights"):
        make_da_pipeline(NearestNeighborWeighting(), DeepAdapter(hidden=(4,), epochs=1, verbose=False)).fit(Xs, ys, Xt)
    with pytest.raises(TypeError, match="no estimator"):
        CORAL().fit(Xs, ys, Xt, sample_weight=np.ones(80))
    with pytest.raises(TypeError, match="computes its own source weights"):
        NearestNeighborWeighting(estimator=LogisticRegression()).fit(Xs, ys, Xt, sample_weight=np.ones(80))
    with pytest.raises(ValueError, match="sample_weight must hold 80"):
        CORAL(estimator=LogisticRegression()).fit(Xs, ys, Xt, sample_weight=np.ones(79))
    # a pipeline that only transforms has nothing for the weights to reach: no error
    only = make_da_pipeline(NearestNeighborWeighting(), CORAL()).fit(Xs, ys, Xt)
    assert only.transform(Xt).shape == Xt.shape


def test_score_counts_minus_one_as_a_class_when_it_is_one():
    from sklearn.dummy import DummyClassifier

    rng = np.random.default_rng(1)
    Xs, Xt = rng.normal(size=(60, 2)), rng.normal(size=(50, 2))
    ys, yt = np.where(Xs[:, 0] > 0, 1, -1), np.where(Xt[:, 0] > 0, 1, -1)  # {-1, +1} labels
    a = CORAL(estimator=DummyClassifier(strategy="constant", constant=1)).fit(Xs, ys, Xt)
    assert a.score(Xt, yt) == pytest.approx(np.mean(yt == 1))  # -1 rows count, as a class


def test_pipeline_duplicate_names():
    pipe = make_da_pipeline(CORAL(), CORAL(), KNeighborsClassifier(1))
    assert [n for n, _ in pipe.steps] == ["coral", "coral-2", "kneighborsclassifier"]


def test_weights_reach_the_estimator_or_raise():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    w = np.array([1.0, 1.0, 1.0, 1e-9])
    a = fit_with_weights(LogisticRegression(C=1e6), X, y, w)
    b = fit_with_weights(LogisticRegression(C=1e6), X, y, None)
    assert not np.allclose(a.coef_, b.coef_)
    with pytest.raises(TypeError, match="sample_weight"):
        fit_with_weights(KNeighborsClassifier(1), X, y, w)


def test_config_validation_and_context():
    before = get_config()
    with config_context(report_discrepancy=False):
        assert get_config()["report_discrepancy"] is False
    assert get_config() == before
    with pytest.raises(ValueError, match="unknown option"):
        set_config(colour=True)


def test_report_can_be_switched_off(data):
    with config_context(report_discrepancy=False):
        rep = CORAL().fit(*data[:3]).report_
    assert "discrepancy_before" not in rep and rep["fit_time_s"] >= 0


def test_report_shows_lower_discrepancy_after_coral(data):
    rep = CORAL(reg=1e-3).fit(*data[:3]).report_
    assert rep["discrepancy_after"]["coral"] < rep["discrepancy_before"]["coral"]


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto", np.zeros(2)).type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device="):
        resolve_device("gpu0")
    if not torch.cuda.is_available():  # a clear error, not torch's assertion deep inside a fit
        with pytest.raises(ValueError, match="asks for CUDA"):
            resolve_device("cuda:0")
    else:
        assert resolve_device("cuda").type == "cuda"


def test_string_labels_round_trip(data):
    Xs, ys, Xt, _ = data
    names = np.array(["cat", "dog"])[ys]
    a = CORAL(estimator=KNeighborsClassifier(1)).fit(Xs, names, Xt)
    assert set(a.predict(Xt)) <= {"cat", "dog"}
    assert list(a.classes_) == ["cat", "dog"]


def test_negative_strides_and_one_row_target(data):
    Xs, ys, Xt, _ = data
    a = CORAL().fit(Xs[::-1], ys[::-1], Xt)
    np.testing.assert_allclose(a.transform(Xs[::-1], domain="source"), a.transform(Xs.copy()[::-1].copy(), domain="source"))
    rep = CORAL().fit(Xs, ys, Xt[:1]).report_
    assert np.isnan(rep["discrepancy_before"]["mmd2"]) and np.isnan(rep["discrepancy_after"]["coral"])


@pytest.mark.parametrize("sizes", [(300, 200, 5), (700, 900, 64), (40, 60, 500)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_report_measures_equal_public_ones(sizes, dtype):
    # the report's one-Gram route must give mmd2 (plain and weighted) and coral_distance;
    # (700, 900) pools more rows than the median heuristic keeps, so its subsample is exercised
    from domadapt.discrepancy import _kernel_mmd2, _report_kernels, coral_distance, mmd2

    n, m, d = sizes
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(n, d, generator=gen, dtype=dtype)
    b = 1.3 * torch.randn(m, d, generator=gen, dtype=dtype) + 0.4
    w = torch.rand(n, generator=gen, dtype=dtype) ** 3
    w = w / w.sum()
    kernels = _report_kernels(a, b, seed=3)
    (plain, weighted), coral = _kernel_mmd2(kernels, [None, w]), kernels.coral
    tol = dict(rel=1e-9, abs=1e-12) if dtype == torch.float64 else dict(rel=1e-4, abs=1e-6)
    assert float(plain) == pytest.approx(float(mmd2(a, b, random_state=3)), **tol)
    assert float(weighted) == pytest.approx(float(mmd2(a, b, weights=w, random_state=3)), **tol)
    assert float(coral) == pytest.approx(float(coral_distance(a, b)), **tol)
    assert float(weighted) != pytest.approx(float(plain), rel=1e-3)


def test_report_equals_measures_on_its_subsample():
    # the report draws report_max_samples rows per domain with the adapter's seed; on the
    # fused route and on the chunked fallback it must equal the public measures on those rows
    from domadapt.base import _measures
    from domadapt.discrepancy import coral_distance, mmd2

    gen = torch.Generator().manual_seed(0)
    Xs = torch.randn(500, 8, generator=gen, dtype=torch.float64)
    Xt = torch.randn(400, 8, generator=gen, dtype=torch.float64) + 0.5
    w = torch.rand(500, generator=gen, dtype=torch.float64)
    with config_context(report_max_samples=300):
        g = torch.Generator().manual_seed(7)
        i, j = torch.randperm(500, generator=g)[:300], torch.randperm(400, generator=g)[:300]
        fused = _measures(Xs, Xt, 7, [None, w])
        with config_context(chunk_size=100):  # 600 pooled rows > 2 chunks: chunked route
            chunked = _measures(Xs, Xt, 7, [None, w])
    a, b = Xs[i], Xt[j]
    expected = [mmd2(a, b, random_state=7), mmd2(a, b, weights=w[i], random_state=7)]
    for got in (fused, chunked):
        for entry, value in zip(got, expected):
            assert entry["mmd2"] == pytest.approx(float(value), rel=1e-9)
            assert entry["coral"] == pytest.approx(float(coral_distance(a, b)), rel=1e-9)


def test_report_of_weights_on_one_row_is_nan():
    from domadapt.base import _measures

    X = torch.randn(50, 3, dtype=torch.float64)
    w = torch.zeros(50, dtype=torch.float64)
    w[4] = 1.0
    plain, one = _measures(X, X + 1.0, 0, [None, w])
    assert np.isfinite(plain["mmd2"]) and np.isnan(one["mmd2"]) and one["coral"] == plain["coral"]
