"""Covariate-shift regression (Shimodaira, 2000): importance weights fix a misspecified model.

``x_s ~ N(0.5, 0.5²)``, ``x_t ~ N(0, 0.3²)``, ``y = −x + x³ + N(0, 0.3²)`` and a straight line as
the model. Unweighted least squares fits the line where the source is; weighted by
``p_t/p_s`` it fits it where the target is, and its target error falls to the noise level.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from domadapt.instance import KLIEP, KMM, ULSIF, DiscriminativeWeighting

SEED = 0  # the gains below hold for seeds 0, 1 and 2 (checked); one is kept to stay fast


def shimodaira(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def truth(x):
        return -x + x**3

    xs, xt, xtest = rng.normal(0.5, 0.5, n), rng.normal(0.0, 0.3, n), rng.normal(0.0, 0.3, 20000)
    return {
        "xs": xs[:, None], "ys": truth(xs) + rng.normal(0, 0.3, n), "xt": xt[:, None],
        "xtest": xtest[:, None], "ytest": truth(xtest) + rng.normal(0, 0.3, 20000),
        "ratio": norm.pdf(xs, 0.0, 0.3) / norm.pdf(xs, 0.5, 0.5),
    }


def target_mse(model, d) -> float:
    return float(np.mean((model.predict(d["xtest"]) - d["ytest"]) ** 2))


ADAPTERS = {
    "KMM": lambda: KMM(),
    "KLIEP": lambda: KLIEP(random_state=0),
    "ULSIF": lambda: ULSIF(random_state=0),
    # the log-ratio of two Gaussians with different spreads is quadratic in x
    "DiscriminativeWeighting": lambda: DiscriminativeWeighting(
        classifier=make_pipeline(PolynomialFeatures(2), StandardScaler(), LogisticRegression()),
        random_state=0),
}


@pytest.fixture(scope="module")
def data():
    d = shimodaira(300, SEED)
    d["mse_plain"] = target_mse(LinearRegression().fit(d["xs"], d["ys"]), d)
    true_fit = LinearRegression().fit(d["xs"], d["ys"], sample_weight=d["ratio"])
    d["mse_true"] = target_mse(true_fit, d)
    return d


def test_true_ratio_is_a_sound_reference(data):
    assert data["mse_true"] < 0.5 * data["mse_plain"]
    assert data["mse_true"] < 0.11  # the noise variance is 0.09


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_weighted_least_squares_lowers_target_error(name, data):
    adapter = ADAPTERS[name]()
    assert adapter._needs_classes is False
    adapter.set_params(estimator=LinearRegression()).fit(data["xs"], data["ys"], data["xt"])
    assert adapter.classes_ is None  # continuous y: a regression task
    w = adapter.sample_weight_
    # the estimator was fitted with these weights, not without
    ref = LinearRegression().fit(data["xs"], data["ys"], sample_weight=w)
    np.testing.assert_allclose(adapter.estimator_.coef_, ref.coef_, rtol=1e-10)
    mse = target_mse(adapter, data)
    assert mse < 0.5 * data["mse_plain"], (name, mse, data["mse_plain"])
    assert mse < 1.25 * data["mse_true"], (name, mse, data["mse_true"])
