"""Metrics, unsupervised model-selection scorers and the domain-aware splitter."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score

from domadapt import CORAL, SubspaceAlignment, make_da_pipeline
from domadapt.datasets import load_task, make_gaussian_covariate_shift, make_shifted_blobs
from domadapt.evaluation import (
    SCORERS,
    DeepEmbeddedValidationScorer,
    DomainAwareSplit,
    ImportanceWeightedScorer,
    PredictionEntropyScorer,
    ReverseValidationScorer,
    SoftNeighborhoodDensityScorer,
    StackedAdapter,
    classification_metrics,
    deep_embedded_validation_score,
    density_ratio_weights,
    get_scorer,
    importance_weighted_score,
    per_class_accuracy,
    prediction_entropy_score,
    reverse_validation_score,
    select_by_score,
    soft_neighborhood_density,
    stack_domains,
)


# ------------------------------------------------------------------------------------- metrics


def test_metrics_match_hand_computed_values():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    # class 0: P=2/2, R=2/3, F1=0.8; class 1: P=1/2, R=1/2, F1=1/2; class 2: P=1/2, R=1, F1=2/3
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert math.isnan(m["auc_ovr"])  # no probabilities
    assert list(m) == ["accuracy", "macro_f1", "macro_precision", "macro_recall", "auc_ovr"]


def test_metrics_count_an_unpredicted_class_as_zero():
    m = classification_metrics([0, 0, 1, 1], [0, 0, 0, 0])
    assert m["macro_precision"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["macro_recall"] == pytest.approx((1.0 + 0.0) / 2)
    assert m["macro_f1"] == pytest.approx((2 * 0.5 * 1.0 / 1.5 + 0.0) / 2)


def test_binary_auc_by_hand_and_ovr_parity_with_sklearn():
    # positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of 4 pairs ordered -> AUC 0.75
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    proba = np.c_[1 - scores, scores]
    assert classification_metrics([0, 0, 1, 1], [0, 1, 0, 1], proba)["auc_ovr"] == pytest.approx(0.75)

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    P = rng.dirichlet(np.ones(4), 200)
    P[np.arange(200), y] += 0.3
    P /= P.sum(1, keepdims=True)
    expected = roc_auc_score(y, P, multi_class="ovr", average="macro")
    assert classification_metrics(y, P.argmax(1), P)["auc_ovr"] == pytest.approx(expected)
    # columns follow `classes`: permuting both leaves the AUC unchanged
    perm = [2, 0, 3, 1]
    assert classification_metrics(y, P.argmax(1), P[:, perm], classes=perm)["auc_ovr"] == pytest.approx(expected)


def test_auc_is_nan_when_a_class_is_absent_from_y_true():
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    m = classification_metrics([0, 1, 0], [0, 1, 0], P, classes=[0, 1, 2])
    assert math.isnan(m["auc_ovr"])
    assert m["accuracy"] == 1.0


def test_metrics_accept_tensors_and_reject_bad_input():
    m = classification_metrics(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    assert m["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="y_true has 3 labels but y_pred has 2"):
        classification_metrics([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="proba has 3 columns"):
        classification_metrics([0, 1], [0, 1], np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="not in classes"):  # a prediction outside the classes
        classification_metrics([0, 1, 1], [0, 1, 5], classes=[0, 1])
    # a true label the classifier never saw (partial or open-set adaptation): the other metrics
    # are computed, the AUC is undefined
    P = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    m = classification_metrics([0, 1, 5], [0, 1, 0], P, classes=[0, 1])
    assert m["accuracy"] == pytest.approx(2 / 3) and math.isnan(m["auc_ovr"])
    assert m["macro_recall"] == pytest.approx(2 / 3)  # classes 0, 1 found, 5 missed
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics([0, 1], [0, 1], np.array([[np.nan, 1.0], [0.5, 0.5]]))


def test_per_class_accuracy():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 0])
    acc = per_class_accuracy(y_true, y_pred)
    np.testing.assert_allclose(acc, [0.5, 2 / 3, 0.0])
    assert acc.mean() == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    out = per_class_accuracy(y_true, y_pred, classes=[2, 1, 0, 3])
    np.testing.assert_allclose(out[:3], [0.0, 2 / 3, 0.5])
    assert math.isnan(out[3])


# ---------------------------------------------------------------------- stacking and splitting


def _stacked(n_s=40, n_t=30, seed=0):
    task = make_shifted_blobs(n_s, n_t, random_state=seed)
    return (*stack_domains(task.source.X, task.source.y, task.target.X), task)


def test_stack_domains_marks_target_rows():
    X, y, domain, _ = _stacked()
    assert X.shape == (70, 2) and np.all(y[40:] == -1) and np.all(y[:40] >= 0)
    np.testing.assert_array_equal(domain, np.r_[np.ones(40), -np.ones(30)])
    Xr, yr, _ = stack_domains(np.zeros((3, 2)), [0.5, 1.5, 2.25], np.ones((2, 2)))
    assert np.isnan(yr[3:]).all() and yr[0] == 0.5  # real labels are masked with NaN
    with pytest.raises(ValueError, match="-1"):
        stack_domains(np.zeros((2, 2)), [-1, 1], np.ones((2, 2)))
    with pytest.raises(TypeError, match="LabelEncoder"):
        stack_domains(np.zeros((2, 2)), ["a", "b"], np.ones((2, 2)))


def test_integer_source_features_do_not_truncate_the_target():
    rng = np.random.default_rng(0)
    Xs = rng.integers(0, 3, (90, 3))
    ys = (Xs[:, 0] >= 1).astype(np.uint8)  # unsigned labels, as image data sets often store them
    Xt = rng.random((60, 3)) * 2 + 0.3
    X, y, _ = stack_domains(Xs, ys, Xt)
    np.testing.assert_array_equal(X[90:], Xt)  # not cast to the source's integer dtype
    assert y.dtype.kind == "i" and np.all(y[90:] == -1)
    np.testing.assert_allclose(density_ratio_weights(Xs, Xt), density_ratio_weights(Xs.astype(float), Xt))
    candidates = {"a": LogisticRegression(), "b": LogisticRegression(C=0.01)}
    as_int = select_by_score(candidates, "entropy", Xs, ys, Xt, refit=False)
    as_float = select_by_score(candidates, "entropy", Xs.astype(float), ys, Xt, refit=False)
    assert [r["mean_score"] for r in as_int.table] == pytest.approx([r["mean_score"] for r in as_float.table])
    # float32 stays float32
    assert stack_domains(Xs.astype(np.float32), ys, Xt.astype(np.float32))[0].dtype == np.float32


def test_log_loss_scorers_take_an_adapter_that_predicts_with_its_own_head():
    from domadapt.deep import DeepAdapter

    task = make_shifted_blobs(60, 40, random_state=0)
    Xs, ys, Xt, _ = task.arrays()
    deep = DeepAdapter(hidden=(4,), epochs=2, verbose=False, random_state=0).fit(Xs[:40], ys[:40], Xt)
    value = deep_embedded_validation_score(deep, Xs[40:], ys[40:], Xt, loss="log_loss", random_state=0)
    proba = deep.predict_proba(Xs[40:])
    columns = np.searchsorted(deep.classes_, ys[40:])
    losses = -np.log(np.clip(proba[np.arange(20), columns], 1e-15, None))
    assert np.isfinite(value) and value <= 0.0
    plain = importance_weighted_score(deep, Xs[40:], ys[40:], Xt, loss="log_loss",
                                      weights=np.ones(20))
    assert plain == pytest.approx(-losses.mean(), rel=1e-6)


@pytest.mark.parametrize("use_groups", [False, True])
def test_source_holdout_never_trains_on_held_out_rows(use_groups):
    X, y, domain, _ = _stacked()
    source, target = np.flatnonzero(y != -1), np.flatnonzero(y == -1)
    cv = DomainAwareSplit(n_splits=4, random_state=0)
    folds = list(cv.split(X, y, domain if use_groups else None))
    assert len(folds) == cv.get_n_splits() == 4
    held = []
    for train, test in folds:
        test_source = np.intersect1d(test, source)
        assert np.intersect1d(train, test_source).size == 0
        assert np.isin(target, train).all() and np.isin(target, test).all()
        assert np.union1d(train, test_source).size == X.shape[0]
        # stratified: each class keeps its share of the held-out fold (up to one row)
        counts = np.bincount(y[test_source], minlength=3)
        assert counts.max() - counts.min() <= 1
        held.append(test_source)
    np.testing.assert_array_equal(np.sort(np.concatenate(held)), source)  # each row held out once


def test_target_holdout_splits_only_the_target():
    X, y, _, _ = _stacked()
    for train, test in DomainAwareSplit(n_splits=3, holdout="target", random_state=1).split(X, y):
        assert np.all(y[test] == -1)
        assert np.intersect1d(train, test).size == 0
        assert np.isin(np.flatnonzero(y != -1), train).all()


def test_splitter_rejects_inconsistent_domains():
    X, y, domain, _ = _stacked()
    with pytest.raises(ValueError, match="disagree"):
        list(DomainAwareSplit().split(X, y, -domain))
    with pytest.raises(ValueError, match="needs the domains"):
        list(DomainAwareSplit().split(X))
    with pytest.raises(ValueError, match="n_splits"):
        list(DomainAwareSplit(n_splits=1).split(X, y))
    with pytest.raises(ValueError, match="holdout"):
        list(DomainAwareSplit(holdout="both").split(X, y))


def test_cross_val_score_and_grid_search_run_with_the_splitter():
    X, y, domain, task = _stacked(60, 60)
    est = StackedAdapter(CORAL(estimator=LogisticRegression()))
    cv = DomainAwareSplit(n_splits=3, random_state=0)
    for scorer in SCORERS.values():
        scores = cross_val_score(est, X, y, groups=domain, cv=cv, scoring=scorer(), error_score="raise")
        assert scores.shape == (3,) and np.all(np.isfinite(scores))
    search = GridSearchCV(
        StackedAdapter(make_da_pipeline(CORAL(), LogisticRegression())),
        {"estimator__coral__reg": [0.1, 1.0]},
        cv=cv,
        scoring=ReverseValidationScorer(),
        error_score="raise",
    ).fit(X, y)
    assert search.best_params_["estimator__coral__reg"] in (0.1, 1.0)
    assert search.best_estimator_.estimator_.steps_[0][1].reg == search.best_params_["estimator__coral__reg"]


def test_stacked_adapter_fits_on_the_right_rows_and_scores_the_source():
    X, y, _, task = _stacked()
    wrapped = StackedAdapter(CORAL(estimator=LogisticRegression())).fit(X, y)
    direct = CORAL(estimator=LogisticRegression()).fit(task.source.X, task.source.y, task.target.X)
    np.testing.assert_allclose(wrapped.transform(task.target.X), direct.transform(task.target.X))
    assert wrapped.estimator_.report_["n_source"] == 40 and wrapped.estimator_.report_["n_target"] == 30
    expected = np.mean(direct.predict(task.source.X, domain="source") == task.source.y)
    assert wrapped.score(X, y) == pytest.approx(expected)  # target rows (-1) are ignored


# ---------------------------------------------------------------------------------------- IWV


def _regression_models(seed):
    data = make_gaussian_covariate_shift(
        n=400, d=1, n_target=2000, mean_shift=0.5, source_std=1.0, target_std=0.5, random_state=seed
    )
    Xs, ys = data.X_source, data.y_source
    fit, val = slice(0, 200), slice(200, 400)
    w = data.source_weights
    plain = LinearRegression().fit(Xs[fit], ys[fit])
    weighted = LinearRegression().fit(Xs[fit], ys[fit], sample_weight=w[fit])
    return data, Xs[val], ys[val], plain, weighted


@pytest.mark.parametrize("seed", range(4))
def test_iwv_prefers_the_importance_weighted_fit_under_covariate_shift(seed):
    # misspecified linear model of sinc(x): weighting by p_t/p_s lowers the target error, plain
    # source validation cannot see it, IWV with the true ratio can (Sugiyama et al. 2007, Sec. 5)
    data, Xv, yv, plain, weighted = _regression_models(seed)
    target_mse = [np.mean((m.predict(data.X_target) - data.y_target) ** 2) for m in (plain, weighted)]
    assert target_mse[1] < target_mse[0]
    ratio = lambda Xs, Xt: data.density_ratio(Xs)  # noqa: E731
    iwv = [importance_weighted_score(m, Xv, yv, data.X_target, loss="squared_error", weights=ratio)
           for m in (plain, weighted)]
    source_val = [importance_weighted_score(m, Xv, yv, data.X_target, loss="squared_error",
                                            weights=np.ones(len(yv))) for m in (plain, weighted)]
    assert iwv[1] > iwv[0]
    assert source_val[0] > source_val[1]
    # the IWV estimate is close to the real target error of the weighted model
    assert -iwv[1] == pytest.approx(target_mse[1], rel=0.5)


def test_iwv_normalized_is_the_self_normalised_mean():
    data, Xv, yv, plain, _ = _regression_models(0)
    w = data.density_ratio(Xv)
    loss = (plain.predict(Xv) - yv) ** 2
    got = importance_weighted_score(plain, Xv, yv, data.X_target, loss="squared_error", weights=w, normalize=True)
    assert got == pytest.approx(-np.sum(w * loss) / np.sum(w))
    got = importance_weighted_score(plain, Xv, yv, data.X_target, loss="squared_error", weights=w)
    assert got == pytest.approx(-np.mean(w * loss))


def test_domain_classifier_weights_recover_a_log_linear_ratio():
    # equal covariances: log p_t/p_s is linear, so a logistic domain classifier is well specified
    data = make_gaussian_covariate_shift(n=800, d=3, mean_shift=1.0, source_std=1.0, target_std=1.0, random_state=0)
    w = density_ratio_weights(data.X_source, data.X_target)
    assert spearmanr(w, data.source_weights)[0] > 0.95
    assert np.median(w / data.source_weights) == pytest.approx(1.0, abs=0.2)
    assert w.mean() == pytest.approx(1.0, abs=0.15)


class _TrueRatioWeighting(BaseEstimator):
    """An instance-based adapter's weight interface, with the closed-form ratio of a toy shift."""

    def __init__(self, data=None):
        self.data = data

    def fit(self, X, y, X_target):
        self.sample_weight_ = self.data.density_ratio(X)
        return self

    def compute_weights(self, X):
        if not hasattr(self, "sample_weight_"):
            raise NotFittedError("not fitted")
        return self.data.density_ratio(X)


def test_iwv_takes_any_object_with_compute_weights():
    data, Xv, yv, plain, _ = _regression_models(1)
    expected = importance_weighted_score(plain, Xv, yv, data.X_target, loss="squared_error",
                                         weights=data.density_ratio(Xv))
    for weighting in (_TrueRatioWeighting(data), _TrueRatioWeighting(data).fit(Xv, yv, data.X_target)):
        got = importance_weighted_score(plain, Xv, yv, data.X_target, loss="squared_error", weights=weighting)
        assert got == pytest.approx(expected)
    with pytest.raises(ValueError, match="shape"):
        importance_weighted_score(plain, Xv, yv, data.X_target, loss="squared_error", weights=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        importance_weighted_score(plain, Xv, yv, data.X_target, loss="squared_error", weights=-np.ones(len(yv)))
    with pytest.raises(ValueError, match="loss"):
        importance_weighted_score(plain, Xv, yv, data.X_target, loss="hinge")


# ---------------------------------------------------------------------------------------- DEV


def test_dev_recovers_a_constant_loss_exactly():
    # a classifier that is always wrong has loss 1 on every row: the control variate removes
    # the weight noise completely, plain IWV does not
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(50, 2)), rng.normal(1.0, 1.0, size=(40, 2))
    wrong = DummyClassifier(strategy="constant", constant=1).fit(Xs, np.r_[np.zeros(49), 1])
    ys = np.zeros(50, dtype=int)
    w = rng.gamma(0.5, 2.0, size=50)
    assert deep_embedded_validation_score(wrong, Xs, ys, Xt, weights=w) == pytest.approx(-1.0)
    assert importance_weighted_score(wrong, Xs, ys, Xt, weights=w) == pytest.approx(-w.mean())


def test_dev_is_unbiased_with_lower_variance_than_iwv():
    rng = np.random.default_rng(0)
    mean_t, std_t = np.array([1.0, 0.0]), 0.6

    def draw(n, source, gen):
        X = gen.normal(size=(n, 2)) if source else mean_t + std_t * gen.normal(size=(n, 2))
        y = ((X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5) ^ (gen.random(n) < 0.1)).astype(int)
        return X, y

    def ratio(X):
        return np.exp(2 * np.log(1 / std_t) - ((X - mean_t) ** 2).sum(1) / (2 * std_t**2) + (X**2).sum(1) / 2)

    model = LogisticRegression().fit(*draw(2000, True, rng))
    Xb, yb = draw(100_000, False, rng)
    true_risk = np.mean(-np.log(model.predict_proba(Xb)[np.arange(len(yb)), yb]))
    iwv, dev = [], []
    for r in range(300):
        gen = np.random.default_rng(1000 + r)
        Xs, ys = draw(100, True, gen)
        Xt, _ = draw(10, False, gen)
        w = ratio(Xs)
        iwv.append(-importance_weighted_score(model, Xs, ys, Xt, loss="log_loss", weights=w))
        dev.append(-deep_embedded_validation_score(model, Xs, ys, Xt, loss="log_loss", weights=w))
    iwv, dev = np.array(iwv), np.array(dev)
    se = dev.std() / np.sqrt(len(dev))
    assert abs(dev.mean() - true_risk) < 4 * se + 0.01
    assert abs(iwv.mean() - true_risk) < 4 * iwv.std() / np.sqrt(len(iwv)) + 0.01
    assert dev.var() < 0.9 * iwv.var()


def test_dev_estimates_the_ratio_on_the_adapted_features():
    task = make_shifted_blobs(60, 50, n_features=3, random_state=0)
    Xs, ys, Xt, _ = task.arrays()
    adapter = CORAL(estimator=LogisticRegression()).fit(Xs, ys, Xt)
    seen = {}

    def weights(Zs, Zt):
        seen["Zs"], seen["Zt"] = Zs, Zt
        return np.ones(len(Zs))

    deep_embedded_validation_score(adapter, Xs, ys, Xt, weights=weights)
    np.testing.assert_allclose(seen["Zs"], adapter.transform(Xs, domain="source"))
    np.testing.assert_allclose(seen["Zt"], adapter.transform(Xt, domain="target"))
    assert not np.allclose(seen["Zs"], Xs)
    # a DA pipeline: the features are what its final classifier sees
    pipe = make_da_pipeline(CORAL(), LogisticRegression()).fit(Xs, ys, Xt)
    deep_embedded_validation_score(pipe, Xs, ys, Xt, weights=weights)
    np.testing.assert_allclose(seen["Zs"], pipe.named_steps["coral"].transform(Xs, domain="source"))
    # an estimator that is a pipeline (the benchmark's unit-norm specs): its normaliser too
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    normed = CORAL(estimator=make_pipeline(Normalizer(), LogisticRegression())).fit(Xs, ys, Xt)
    deep_embedded_validation_score(normed, Xs, ys, Xt, weights=weights)
    Zs = normed.transform(Xs, domain="source")
    np.testing.assert_allclose(seen["Zs"], Zs / np.linalg.norm(Zs, axis=1, keepdims=True))


# ---------------------------------------------------------------------------------------- SND


class _FixedProba:
    """A fitted 'classifier' returning given probabilities (to check SND's closed forms)."""

    def __init__(self, P):
        self.P = np.asarray(P, dtype=float)
        self.classes_ = np.arange(self.P.shape[1])

    def predict_proba(self, X):
        return self.P[: len(X)]


def _snd_brute_force(P, tau):
    Z = P / np.linalg.norm(P, axis=1, keepdims=True)
    S = Z @ Z.T / tau
    np.fill_diagonal(S, -np.inf)
    S = S - S.max(1, keepdims=True)
    E = np.exp(S)
    Q = E / E.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.where(Q > 0, Q * np.log(Q), 0.0).sum(1)
    return H.mean()


def test_snd_closed_forms():
    n = 30
    X = np.zeros((n, 1))
    same = _FixedProba(np.tile([0.2, 0.5, 0.3], (n, 1)))
    assert soft_neighborhood_density(same, X) == pytest.approx(np.log(n - 1))
    # K one-hot clusters of m rows: m-1 neighbours at similarity 1/tau, n-m at 0
    K, m, tau = 3, 10, 0.05
    onehot = _FixedProba(np.eye(K)[np.repeat(np.arange(K), m)])
    a = np.exp(1 / tau)
    Z = (m - 1) * a + (n - m)
    expected = -((m - 1) * (a / Z) * np.log(a / Z) + (n - m) * (1 / Z) * np.log(1 / Z))
    assert soft_neighborhood_density(onehot, X, temperature=tau) == pytest.approx(expected)


def test_snd_matches_brute_force_for_every_chunk_size():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), 57)
    model, X = _FixedProba(P), np.zeros((57, 1))
    expected = _snd_brute_force(P, 0.05)
    for chunk in (1, 7, 57, 1000):
        assert soft_neighborhood_density(model, X, chunk_size=chunk) == pytest.approx(expected, rel=1e-10)
    assert soft_neighborhood_density(model, X, temperature=0.5) == pytest.approx(_snd_brute_force(P, 0.5))


class _RandomProba:
    def __init__(self, n_classes, seed, noise_of=None, mix=1.0):
        self.n_classes, self.seed, self.noise_of, self.mix = n_classes, seed, noise_of, mix
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, X):
        noise = np.random.default_rng(self.seed).dirichlet(np.ones(self.n_classes), size=len(X))
        if self.noise_of is None:
            return noise
        return (1 - self.mix) * self.noise_of.predict_proba(X) + self.mix * noise


@pytest.mark.parametrize("n_classes,seed", [(3, 0), (3, 1), (5, 0), (5, 2)])
def test_snd_and_entropy_rank_a_cluster_separating_classifier_first(n_classes, seed):
    task = make_shifted_blobs(300, 300, n_features=5, n_classes=n_classes, rotation=0, shift=0.0,
                              cluster_std=0.5, center_spread=4.0, random_state=seed)
    Xt, yt = task.target.X, task.target.y
    good = LogisticRegression().fit(Xt, yt)
    assert good.score(Xt, yt) == 1.0
    random = _RandomProba(n_classes, seed)
    noisy = _RandomProba(n_classes, seed, noise_of=good, mix=0.5)
    uniform = DummyClassifier(strategy="uniform").fit(Xt, yt)
    snd = {name: soft_neighborhood_density(m, Xt) for name, m in
           [("good", good), ("random", random), ("noisy", noisy)]}
    assert snd["good"] > snd["random"] and snd["good"] > snd["noisy"]
    ent = {name: prediction_entropy_score(m, Xt) for name, m in
           [("good", good), ("random", random), ("noisy", noisy), ("uniform", uniform)]}
    assert ent["good"] == max(ent.values())
    assert ent["uniform"] == pytest.approx(-np.log(n_classes))


def test_prediction_entropy_closed_form():
    X = np.zeros((4, 1))
    P = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    h = [0.0, np.log(2), np.log(2), -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))]
    assert prediction_entropy_score(_FixedProba(P), X) == pytest.approx(-np.mean(h))
    with pytest.raises(ValueError, match="outside"):
        prediction_entropy_score(_FixedProba(P * 2), X)


# ----------------------------------------------------------------------------------------- RV


@pytest.fixture(scope="module")
def digits_tasks():
    out = {}
    for name in ("O→R", "O→B"):
        task = load_task("digits", name, random_state=0)
        Xs, ys, Xt, _ = task.arrays()
        rng = np.random.default_rng(0)
        i, j = rng.choice(len(Xs), 300, replace=False), rng.choice(len(Xt), 300, replace=False)
        out[name] = (Xs[i], ys[i], Xt[j], task.target.y[j])
    return out


@pytest.mark.parametrize("task_name", ["O→R", "O→B"])
def test_reverse_validation_rejects_a_broken_subspace_alignment(digits_tasks, task_name):
    # one principal axis cannot carry ten digit classes (target accuracy ~0.2 against ~0.8 for
    # 20 axes); RV, picking on source labels and the unlabelled target only, must see it
    Xs, ys, Xt, yt = digits_tasks[task_name]
    lr = LogisticRegression(max_iter=500)
    candidates = {"k=1": SubspaceAlignment(n_components=1, estimator=lr),
                  "k=20": SubspaceAlignment(n_components=20, estimator=lr)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy = {k: c.fit(Xs, ys, Xt).score(Xt, yt) for k, c in candidates.items()}
        result = select_by_score(candidates, "rv", Xs, ys, Xt, cv=2, random_state=0)
    assert accuracy["k=20"] > accuracy["k=1"] + 0.3
    scores = {row["name"]: row["mean_score"] for row in result.table}
    assert result.table[result.best_index]["name"] == "k=20"
    assert scores["k=20"] > scores["k=1"] + 0.3
    assert result.best_estimator.n_components == 20 and result.best_estimator.report_["n_source"] == 300


def test_reverse_validation_with_one_pseudo_class_scores_that_class():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(20, 2)), rng.normal(size=(10, 2))
    ys = np.r_[np.zeros(15, dtype=int), np.ones(5, dtype=int)]
    constant = DummyClassifier(strategy="constant", constant=1).fit(Xs, ys)
    assert reverse_validation_score(constant, Xs, ys, Xt) == pytest.approx(5 / 20)


def test_reverse_validation_swaps_the_domains():
    # on identical domains with separable classes, going there and back keeps every label
    task = make_shifted_blobs(80, 80, rotation=0, shift=0.0, cluster_std=0.3, random_state=3)
    Xs, ys, Xt, _ = task.arrays()
    adapter = CORAL(estimator=LogisticRegression()).fit(Xs[:40], ys[:40], Xt)
    assert reverse_validation_score(adapter, Xs[40:], ys[40:], Xt) == 1.0


# ---------------------------------------------------------------------------- select_by_score


def test_select_by_score_expands_a_grid_and_picks_the_maximum():
    task = make_shifted_blobs(60, 60, random_state=0)
    Xs, ys, Xt, _ = task.arrays()
    calls = []

    def scorer(estimator, X, y):
        reg = estimator.estimator_.reg
        calls.append(reg)
        return -abs(np.log10(reg))  # best at reg = 1

    result = select_by_score(CORAL(estimator=LogisticRegression()), scorer, Xs, ys, Xt,
                             param_grid={"reg": [0.01, 1.0, 100.0]}, cv=DomainAwareSplit(2, random_state=0))
    assert [row["params"] for row in result.table] == [{"reg": 0.01}, {"reg": 1.0}, {"reg": 100.0}]
    assert len(calls) == 6
    assert result.best_params == {"reg": 1.0} and result.best_estimator.reg == 1.0
    assert result.best_estimator.report_["n_source"] == 60  # refitted on every source row
    assert "| reg=1.0 * |" in result.to_markdown()


def test_select_by_score_rejects_bad_arguments():
    task = make_shifted_blobs(30, 30, random_state=0)
    Xs, ys, Xt, _ = task.arrays()
    with pytest.raises(ValueError, match="unknown scorer"):
        select_by_score([CORAL()], "accuracy", Xs, ys, Xt)
    with pytest.raises(TypeError, match="candidates"):
        select_by_score("CORAL", "rv", Xs, ys, Xt)
    with pytest.raises(ValueError, match="unknown scorer"):
        get_scorer("oracle")
    assert isinstance(get_scorer("snd", temperature=0.1), SoftNeighborhoodDensityScorer)
    assert set(SCORERS) == {"source_val", "iwv", "dev", "snd", "entropy", "rv"}


def test_scorers_need_the_rows_they_use():
    X, y, _, _ = _stacked()
    model = StackedAdapter(CORAL(estimator=LogisticRegression())).fit(X, y)
    target_only = X[y == -1]
    assert np.isfinite(PredictionEntropyScorer()(model, target_only))  # y=None: all target
    with pytest.raises(ValueError, match="no source rows"):
        ImportanceWeightedScorer()(model, target_only)
    with pytest.raises(ValueError, match="no target rows"):
        DeepEmbeddedValidationScorer()(model, X[y != -1], y[y != -1])
    with pytest.raises(TypeError, match="not an array"):
        ImportanceWeightedScorer(weights=np.ones(3))(model, X, y)
