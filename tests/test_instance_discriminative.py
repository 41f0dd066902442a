"""DiscriminativeWeighting: Bayes-rule ratio, cross-fitting, calibration, clipping, scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import LinearSVC

from domadapt.datasets import make_gaussian_covariate_shift
from domadapt.discrepancy import mmd2
from domadapt.instance import DiscriminativeWeighting


def quadratic_logistic():
    """Gaussian domains with different spreads have a quadratic log-ratio: a model that has it."""
    return make_pipeline(PolynomialFeatures(2), StandardScaler(), LogisticRegression(max_iter=1000))


class Recorder(ClassifierMixin, BaseEstimator):
    """A classifier that remembers its training rows; P(target | x) = sigmoid(x_0)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.rows_ = {tuple(r) for r in np.asarray(X)}
        return self

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-np.asarray(X)[:, 0]))
        return np.column_stack([1 - p, p])


@pytest.fixture(scope="module")
def shift():
    return make_gaussian_covariate_shift(2000, 2, random_state=1)


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
def test_weights_rank_like_the_true_ratio_and_lower_mmd(shift, calibration):
    a = DiscriminativeWeighting(classifier=quadratic_logistic(), calibration=calibration,
                                random_state=0)
    w = a.fit(shift.X_source, shift.y_source, shift.X_target).sample_weight_
    assert spearmanr(w, shift.source_weights)[0] >= 0.8
    before = float(mmd2(shift.X_source, shift.X_target))
    assert float(mmd2(shift.X_source, shift.X_target, weights=w)) < 0.2 * before
    assert w.mean() == pytest.approx(1.0)  # normalize=True


@pytest.mark.parametrize("cv", [None, 3])
def test_prior_only_classifier_gives_unit_weights(cv):
    """P(target | x) = n_t / n: the Bayes-rule ratio (n_s / n_t) · odds is exactly 1."""
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(70, 2)), rng.normal(size=(40, 2)) + 1
    a = DiscriminativeWeighting(classifier=DummyClassifier(strategy="prior"), calibration=None,
                                cv=cv, normalize=False, random_state=0)
    a.fit(Xs, rng.normal(size=70), Xt)
    np.testing.assert_allclose(a.sample_weight_, 1.0, rtol=1e-12)
    np.testing.assert_allclose(a.compute_weights(Xt), 1.0, rtol=1e-12)


def test_each_source_weight_comes_from_a_classifier_that_did_not_see_it():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(50, 2)), rng.normal(size=(30, 2))
    a = DiscriminativeWeighting(classifier=Recorder(), calibration=None, cv=5, normalize=False,
                                random_state=0).fit(Xs, rng.normal(size=50), Xt)
    assert len(a.classifiers_) == 5
    for x, w in zip(Xs, a.sample_weight_):
        pairs = zip(a.classifiers_, a.prior_ratios_)
        unseen = [(c, p) for c, p in pairs if tuple(x) not in c.rows_]
        assert len(unseen) == 1  # in exactly one held-out fold
        clf, prior = unseen[0]
        assert prior == pytest.approx(40 / 24)  # training folds hold 40 source, 24 target rows
        assert w == pytest.approx(prior * np.exp(x[0]))  # prior · p / (1 − p), p = sigmoid(x_0)


def test_in_sample_option_and_compute_weights():
    rng = np.random.default_rng(1)
    Xs, Xt = rng.normal(size=(60, 2)), rng.normal(size=(40, 2)) + 0.5
    a = DiscriminativeWeighting(classifier=LogisticRegression(), calibration=None, cv=None,
                                normalize=False).fit(Xs, rng.normal(size=60), Xt)
    clf = a.classifiers_[0]
    expected = 1.5 * clf.predict_proba(Xs)[:, 1] / clf.predict_proba(Xs)[:, 0]
    np.testing.assert_allclose(a.sample_weight_, expected, rtol=1e-10)
    np.testing.assert_allclose(a.compute_weights(Xs), a.sample_weight_, rtol=1e-12)
    t = a.compute_weights(torch.tensor(Xs[:4], dtype=torch.float32))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32


def test_clip_and_normalize():
    rng = np.random.default_rng(2)
    Xs, Xt = rng.normal(size=(200, 2)), 0.5 * rng.normal(size=(150, 2)) + 1.0
    args = (Xs, rng.normal(size=200), Xt)
    raw = DiscriminativeWeighting(calibration=None, normalize=False, random_state=0).fit(*args)
    r = raw.sample_weight_
    capped = DiscriminativeWeighting(calibration=None, normalize=False, clip=2.0,
                                     random_state=0).fit(*args)
    np.testing.assert_allclose(capped.sample_weight_, np.minimum(r, 2.0), rtol=1e-12)
    q = DiscriminativeWeighting(calibration=None, clip_quantile=0.9, clip=100.0,
                                random_state=0).fit(*args)
    assert q.clip_value_ == pytest.approx(np.quantile(r, 0.9))
    expected = np.minimum(r, q.clip_value_) * q.scale_
    np.testing.assert_allclose(q.sample_weight_, expected, rtol=1e-12)
    assert q.sample_weight_.mean() == pytest.approx(1.0)
    # new rows get the same cap and scale
    new = q.compute_weights(Xs)
    assert new.max() <= q.clip_value_ * q.scale_ * (1 + 1e-12)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"calibration": "platt"}, "calibration"),
        ({"cv": 1}, "cv"),
        ({"cv": 2.5}, "cv"),
        ({"clip": 0.0}, "clip"),
        ({"clip_quantile": 1.5}, "clip_quantile"),
        ({"normalize": "yes"}, "normalize"),
        ({"random_state": 1.5}, "random_state"),
    ],
)
def test_bad_params(params, match):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        DiscriminativeWeighting(**params).fit(rng.normal(size=(30, 2)), rng.normal(size=30),
                                              rng.normal(size=(30, 2)))


def test_a_margin_classifier_is_calibrated_into_probabilities():
    # LinearSVC has only decision_function: Platt scaling gives it probabilities; the weights
    # are those of sklearn's CalibratedClassifierCV on the same folds
    data = make_gaussian_covariate_shift(300, 2, random_state=0)
    X = np.concatenate([data.X_source, data.X_target])
    # the domains differ in scale too: the log-ratio is quadratic, so quadratic features
    margin = make_pipeline(PolynomialFeatures(2), StandardScaler(), LinearSVC())
    svc = DiscriminativeWeighting(classifier=margin, calibration="sigmoid", cv=None)
    w = svc.fit(data.X_source, data.y_source, data.X_target).sample_weight_
    clf = CalibratedClassifierCV(margin, method="sigmoid", cv=5).fit(X, np.r_[np.zeros(300), np.ones(300)])
    p = clf.predict_proba(data.X_source)[:, 1]
    expected = p / (1 - p)
    np.testing.assert_allclose(w, expected / expected.mean(), rtol=1e-10)
    assert spearmanr(w, data.density_ratio(data.X_source)).statistic > 0.8


def test_classifier_without_proba_and_too_few_rows():
    rng = np.random.default_rng(0)
    Xs, ys = rng.normal(size=(30, 2)), rng.normal(size=30)
    with pytest.raises(TypeError, match="predict_proba"):
        DiscriminativeWeighting(classifier=StandardScaler()).fit(Xs, ys, Xs)
    with pytest.raises(TypeError, match="predict_proba"):  # no calibration: probabilities needed
        DiscriminativeWeighting(classifier=LinearSVC(), calibration=None).fit(Xs, ys, Xs)
    with pytest.raises(ValueError, match="cv=5"):
        DiscriminativeWeighting(calibration=None).fit(Xs, ys, Xs[:3])
    with pytest.raises(ValueError, match="calibration"):
        DiscriminativeWeighting().fit(Xs, ys, Xs[:6])
