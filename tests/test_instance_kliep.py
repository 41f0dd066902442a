"""KLIEP: the certified maximiser of its program, likelihood cross-validation, and the ratio."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning

from domadapt import KLIEP
from domadapt.datasets import make_gaussian_covariate_shift
from domadapt.discrepancy import mmd2
from domadapt.instance.kliep import kliep_coefficients


@pytest.fixture(scope="module")
def shift():
    return make_gaussian_covariate_shift(2000, random_state=0)


@pytest.fixture(scope="module")
def small():
    data = make_gaussian_covariate_shift(150, 2, n_target=120, random_state=3)
    return data.X_source, data.y_source, data.X_target


def gauss(X, C, sigma):
    return np.exp(-((X[:, None] - C[None]) ** 2).sum(-1) / (2 * sigma**2))


def test_weights_track_the_true_ratio_and_lower_the_mmd(shift):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        kliep = KLIEP(random_state=0).fit(shift.X_source, shift.y_source, shift.X_target)
    w = kliep.sample_weight_
    rho = spearmanr(w, shift.source_weights)[0]
    assert rho >= 0.8, rho  # 0.998 measured
    assert mmd2(shift.X_source, shift.X_target, weights=w) < 0.05 * mmd2(shift.X_source, shift.X_target)
    assert w.mean() == pytest.approx(1.0, abs=1e-12)
    # the default grid is the median distance times 2^-3 .. 2^2
    assert kliep.sigmas_.shape == (6,)
    np.testing.assert_allclose(kliep.sigmas_[1:] / kliep.sigmas_[:-1], 2.0)
    assert kliep.alpha_.shape == (100,) and kliep.centers_.shape == (100, 1)
    assert np.isin(kliep.centers_.numpy(), shift.X_target).all()


def test_coefficients_maximise_the_program():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(80, 2)), rng.normal(0.4, 0.6, size=(70, 2))
    C, sigma = Xt[:15], 0.5
    A, b = gauss(Xt, C, sigma), gauss(Xs, C, sigma).mean(axis=0)
    alpha, n_iter, gap = kliep_coefficients(torch.tensor(A), torch.tensor(b), tol=1e-9)
    alpha = alpha.numpy()
    assert gap <= 1e-9 and alpha.min() >= 0 and b @ alpha == pytest.approx(1.0, abs=1e-12)

    def loglik(a):
        return np.log(A @ a).mean()

    res = minimize(
        lambda a: -loglik(a), np.full(15, 1 / b.sum()), jac=lambda a: -(A.T @ (1 / (A @ a))) / len(A),
        method="SLSQP", bounds=[(0, None)] * 15,
        constraints=[{"type": "eq", "fun": lambda a: b @ a - 1, "jac": lambda a: b}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert res.success
    ref = loglik(np.clip(res.x, 0, None) / (b @ np.clip(res.x, 0, None)))
    assert loglik(alpha) >= ref - 1e-9  # at least as high as scipy's
    assert loglik(alpha) <= ref + gap + 1e-9  # and the certificate bounds the distance


def frank_wolfe_gap(A, b, alpha):
    """The certificate, recomputed in numpy: ``max_l g_l / b_l − gᵀα`` bounds the suboptimality."""
    grad = A.T @ (1 / np.maximum(A @ alpha, np.finfo(float).tiny)) / len(A)
    return (grad[b > 0] / b[b > 0]).max() - grad @ alpha


def test_certified_on_nearly_collinear_kernels():
    # the 1-D shift, 100 centres: kernel columns with a condition number around 1e17
    data = make_gaussian_covariate_shift(2000, random_state=0)
    Xs, Xt = data.X_source, data.X_target
    C = Xt[np.random.default_rng(0).choice(len(Xt), 100, replace=False)]
    for sigma in (0.05, 0.2, 1.0):
        A, b = gauss(Xt, C, sigma), gauss(Xs, C, sigma).mean(axis=0)
        for tol in (1e-6, 1e-9):
            alpha, n_iter, gap = kliep_coefficients(torch.tensor(A), torch.tensor(b), tol=tol)
            alpha = alpha.numpy()
            assert alpha.min() >= 0 and b @ alpha == pytest.approx(1.0, abs=1e-12)
            assert gap <= tol and frank_wolfe_gap(A, b, alpha) <= tol * (1 + 1e-6), (sigma, tol)
            assert n_iter <= 30


def test_coefficients_edge_cases():
    rng = np.random.default_rng(1)
    Xs, Xt = rng.normal(size=(60, 2)), rng.normal(0.5, 0.8, size=(50, 2))
    A, b = gauss(Xt, Xt[:8], 0.7), gauss(Xs, Xt[:8], 0.7).mean(axis=0)
    alpha = kliep_coefficients(torch.tensor(A), torch.tensor(b), tol=1e-10)[0].numpy()
    # rescaled columns (α scales inversely) with a source mass spanning 1e-170 .. 1e150, beyond
    # the float range of the ratios b_max / b_l; rows rescaled (no effect on α)
    c = np.array([1e150, 1, 1e-170, 1, 1, 1e-30, 1, 1])
    scaled, n_iter, gap = kliep_coefficients(
        torch.tensor(A * c * rng.uniform(1e-5, 1, size=(50, 1))), torch.tensor(b * c), tol=1e-10
    )
    np.testing.assert_allclose(scaled.numpy() * c, alpha, rtol=1e-5, atol=1e-12)
    # a target row that underflows at every centre stays a constant of the mean log-likelihood,
    # a centre without source mass gets no weight
    A2, b2 = np.vstack([A, np.zeros((1, 8))]), b.copy()
    b2[3] = 0.0
    alpha2, _, gap2 = kliep_coefficients(torch.tensor(A2), torch.tensor(b2), tol=1e-10)
    alpha2 = alpha2.numpy()
    assert alpha2[3] == 0 and b2 @ alpha2 == pytest.approx(1.0, abs=1e-12)
    assert gap2 <= 1e-10 and frank_wolfe_gap(A2, b2, alpha2) <= 1e-10 * (1 + 1e-6)
    with pytest.raises(ValueError, match="no kernel centre has source mass"):
        kliep_coefficients(torch.tensor(A), torch.zeros(8, dtype=torch.float64))


def test_not_converged_warns(small):
    Xs, ys, Xt = small
    with pytest.warns(ConvergenceWarning, match="stopped after 1 Newton steps"):
        KLIEP(n_centers=20, cv=3, max_iter=1, random_state=0).fit(Xs, ys, Xt)


def test_cross_validation_scores_are_the_held_out_likelihoods(small):
    Xs, ys, Xt = small
    sigmas = [0.1, 0.4, 1.0, 3.0]
    kliep = KLIEP(sigmas=sigmas, n_centers=30, cv=3, random_state=7).fit(Xs, ys, Xt)
    assert kliep.sigma_ == sigmas[int(np.argmax(kliep.cv_scores_))]
    assert len(set(np.round(kliep.cv_scores_, 6))) == 4
    # recompute every score by hand: the documented folds, a one-width KLIEP on each training
    # part, the mean log-weight on the held-out part
    folds = torch.randperm(len(Xt), generator=torch.Generator().manual_seed(7)).tensor_split(3)
    for sigma, score in zip(sigmas, kliep.cv_scores_):
        held = []
        for fold in folds:
            test = np.sort(fold.numpy())
            train = np.setdiff1d(np.arange(len(Xt)), test)
            part = KLIEP(sigmas=[sigma], n_centers=30, cv=3, random_state=7).fit(Xs, ys, Xt[train])
            held.append(np.log(np.maximum(part.compute_weights(Xt[test]), np.finfo(float).tiny)).mean())
        assert np.mean(held) == pytest.approx(score, rel=1e-9, abs=1e-9)
    # the refit on all rows with the chosen width is a one-width KLIEP
    single = KLIEP(sigmas=[kliep.sigma_], n_centers=30, cv=3, random_state=7).fit(Xs, ys, Xt)
    np.testing.assert_allclose(single.sample_weight_, kliep.sample_weight_, rtol=1e-12)


def test_weight_function_and_normalisation(small):
    Xs, ys, Xt = small
    kliep = KLIEP(n_centers=25, cv=3, random_state=0).fit(Xs, ys, Xt)
    w = kliep.sample_weight_
    assert w.mean() == pytest.approx(1.0, abs=1e-12) and (w >= 0).all()
    centers, alpha = kliep.centers_.numpy(), kliep.alpha_.numpy()
    np.testing.assert_allclose(kliep.compute_weights(Xs), w, rtol=1e-12)
    new = np.random.default_rng(1).normal(size=(5, 2))
    expected = gauss(new, centers, kliep.sigma_) @ alpha
    np.testing.assert_allclose(kliep.compute_weights(new), expected, rtol=1e-10)
    assert kliep.n_iter_ > 0 and centers.shape == (25, 2)


def test_deterministic_with_a_seed_and_different_centres_across_seeds(small):
    Xs, ys, Xt = small
    a = KLIEP(n_centers=20, cv=3, random_state=1).fit(Xs, ys, Xt)
    b = KLIEP(n_centers=20, cv=3, random_state=1).fit(Xs, ys, Xt)
    c = KLIEP(n_centers=20, cv=3, random_state=2).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(a.sample_weight_, b.sample_weight_)
    assert not torch.equal(a.centers_, c.centers_)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"sigmas": [0.5, -1.0]}, "sigmas must be"),
        ({"sigmas": []}, "sigmas must be"),
        ({"sigmas": float("nan")}, "sigmas must be"),
        ({"n_centers": 0}, "n_centers must be a positive integer"),
        ({"cv": 1}, "cv must be an integer >= 2"),
        ({"tol": -1.0}, "tol must be a positive number"),
        ({"max_iter": 0}, "max_iter must be a positive integer"),
        ({"random_state": 1.5}, "random_state must be None or an int"),
    ],
)
def test_bad_parameters(small, params, match):
    Xs, ys, Xt = small
    with pytest.raises(ValueError, match=match):
        KLIEP(**params).fit(Xs, ys, Xt)


def test_bad_data(small):
    Xs, ys, Xt = small
    with pytest.raises(ValueError, match="cv=5 folds need at least 5 target rows"):
        KLIEP().fit(Xs, ys, Xt[:4])
    # one given width: nothing to cross-validate, so a few target rows are enough
    few = KLIEP(sigmas=0.5, n_centers=3, random_state=0).fit(Xs, ys, Xt[:3])
    assert few.sigma_ == 0.5 and np.isnan(few.cv_scores_).all() and few.sample_weight_.mean() == pytest.approx(1.0)
    bad = Xt.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="X_target contains NaN or inf"):
        KLIEP().fit(Xs, ys, bad)
    with pytest.raises(ValueError, match="X_target is empty"):
        KLIEP().fit(Xs, ys, Xt[:0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_and_torch_round_trip(small, dtype):
    Xs, ys, Xt = small
    a = KLIEP(n_centers=20, cv=3, random_state=0).fit(Xs.astype(dtype), ys, Xt.astype(dtype))
    assert a.sample_weight_.dtype == dtype and a.compute_weights(Xs.astype(dtype)).dtype == dtype
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    b = KLIEP(n_centers=20, cv=3, random_state=0).fit(
        torch.tensor(Xs, dtype=tdtype), torch.tensor(ys), torch.tensor(Xt, dtype=tdtype)
    )
    assert isinstance(b.sample_weight_, torch.Tensor) and b.sample_weight_.dtype == tdtype
    np.testing.assert_allclose(b.sample_weight_.numpy(), a.sample_weight_, rtol=1e-6)
