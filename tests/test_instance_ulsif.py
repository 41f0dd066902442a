"""uLSIF and RuLSIF: the closed-form leave-one-out score, the fitted model, the ratio estimates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from domadapt.datasets import make_gaussian_covariate_shift
from domadapt.discrepancy import mmd2
from domadapt.instance import RuLSIF, ULSIF
from domadapt.instance.ulsif import loo_scores
from domadapt.kernels import gaussian_kernel


def brute_force_loo(Ps: np.ndarray, Pt: np.ndarray, lam: float, alpha: float) -> float:
    """Leave-one-out by n refits: drop source row i and target row i, solve, score the pair."""
    n_s, n_t, b = Ps.shape[0], Pt.shape[0], Ps.shape[1]
    values = []
    for i in range(min(n_s, n_t)):
        ks, kt = np.delete(np.arange(n_s), i), np.delete(np.arange(n_t), i)
        H = alpha * Pt[kt].T @ Pt[kt] / (n_t - 1) + (1 - alpha) * Ps[ks].T @ Ps[ks] / (n_s - 1)
        theta = np.maximum(0.0, np.linalg.solve(H + lam * np.eye(b), Pt[kt].mean(axis=0)))
        gt, gs = Pt[i] @ theta, Ps[i] @ theta
        values.append(alpha / 2 * gt**2 + (1 - alpha) / 2 * gs**2 - gt)
    return float(np.mean(values))


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("n_s, n_t", [(9, 7), (6, 8)])
@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_loo_closed_form_equals_refits(alpha, n_s, n_t, sigma):
    rng = np.random.default_rng(0)
    Xs = torch.tensor(rng.normal(size=(n_s, 2)))
    Xt = torch.tensor(0.5 * rng.normal(size=(n_t, 2)) + 0.3)
    centers = Xt[:5]
    Ps, Pt = gaussian_kernel(Xs, centers, sigma**2), gaussian_kernel(Xt, centers, sigma**2)
    lambdas = torch.tensor([1e-3, 0.1, 1.0], dtype=torch.float64)
    closed = loo_scores(Ps, Pt, lambdas, alpha).numpy()
    brute = [brute_force_loo(Ps.numpy(), Pt.numpy(), float(lam), alpha) for lam in lambdas]
    # the small-λ case clips some held-out θ to zero: the clipping is reproduced too
    np.testing.assert_allclose(closed, brute, rtol=1e-9, atol=1e-9)


def test_loo_needs_two_rows():
    P = torch.ones(1, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="two rows per domain"):
        loo_scores(P, torch.ones(4, 3, dtype=torch.float64), torch.ones(1, dtype=torch.float64))


@pytest.fixture(scope="module")
def shift():
    return make_gaussian_covariate_shift(2000, 2, random_state=1)


@pytest.fixture(scope="module")
def fitted(shift):
    ulsif = ULSIF(random_state=0).fit(shift.X_source, shift.y_source, shift.X_target)
    rulsif = RuLSIF(alpha=0.1, random_state=0).fit(shift.X_source, shift.y_source, shift.X_target)
    return ulsif, rulsif


def test_weights_rank_like_the_true_ratio(shift, fitted):
    w = shift.source_weights
    alpha = 0.1
    relative = w / (alpha * w + 1 - alpha)  # the quantity RuLSIF estimates, increasing in w
    ulsif, rulsif = fitted
    assert spearmanr(ulsif.sample_weight_, w)[0] >= 0.8
    assert spearmanr(rulsif.sample_weight_, relative)[0] >= 0.8
    # a monotone transform: the rank correlation with p_t/p_s is the same
    assert spearmanr(rulsif.sample_weight_, w)[0] == pytest.approx(
        spearmanr(rulsif.sample_weight_, relative)[0], abs=1e-12)


def test_weighted_mmd_drops(shift, fitted):
    before = float(mmd2(shift.X_source, shift.X_target))
    for adapter in fitted:
        after = float(mmd2(shift.X_source, shift.X_target, weights=adapter.sample_weight_))
        assert after < 0.2 * before
        report = adapter.report_
        assert report["discrepancy_after"]["mmd2"] < report["discrepancy_before"]["mmd2"]


def test_rulsif_estimates_the_relative_ratio(shift):
    """With α = 0.5 the estimate is close to r_α (≤ 1/α = 2), far from p_t/p_s."""
    w = shift.source_weights
    relative = w / (0.5 * w + 0.5)
    est = RuLSIF(alpha=0.5, random_state=0).fit(shift.X_source, shift.y_source,
                                                 shift.X_target).sample_weight_
    err_relative, err_plain = np.abs(est - relative).mean(), np.abs(est - w).mean()
    assert err_relative < 0.1 and err_relative < 0.25 * err_plain
    assert est.max() < 2.0 * 1.1


def test_selection_and_closed_form_solution(fitted, shift):
    for adapter in fitted:
        scores = adapter.loo_scores_.numpy()
        assert scores.shape == (9, 9) and np.isfinite(scores).all()
        i, j = np.unravel_index(np.argmin(scores), scores.shape)
        assert adapter.sigma_ == pytest.approx(float(adapter.sigmas_[i]))
        assert adapter.lambda_ == pytest.approx(float(adapter.lambdas_[j]))
        # θ = max(0, (Ĥ + λI)⁻¹ ĥ) recomputed in numpy from the fitted centres and (σ, λ)
        C, s2, a = adapter.centers_.numpy(), adapter.sigma_**2, adapter.alpha_

        def basis(X):
            return np.exp(-((X[:, None, :] - C[None]) ** 2).sum(-1) / (2 * s2))

        Ps, Pt = basis(shift.X_source), basis(shift.X_target)
        H = a * Pt.T @ Pt / len(Pt) + (1 - a) * Ps.T @ Ps / len(Ps)
        theta = np.maximum(0, np.linalg.solve(H + adapter.lambda_ * np.eye(len(C)), Pt.mean(0)))
        np.testing.assert_allclose(adapter.theta_.numpy(), theta, rtol=1e-6, atol=1e-10)
        assert (adapter.theta_ >= 0).all() and len(C) == 100
        # the centres are target rows
        assert all(np.any(np.all(shift.X_target == c, axis=1)) for c in C[:10])
        np.testing.assert_allclose(adapter.compute_weights(shift.X_source), adapter.sample_weight_,
                                   rtol=1e-10)


def test_rulsif_with_alpha_zero_is_ulsif():
    data = make_gaussian_covariate_shift(300, 2, random_state=3)
    args = (data.X_source, data.y_source, data.X_target)
    a = ULSIF(random_state=5).fit(*args)
    b = RuLSIF(alpha=0.0, random_state=5).fit(*args)
    np.testing.assert_array_equal(a.sample_weight_, b.sample_weight_)
    np.testing.assert_array_equal(a.loo_scores_.numpy(), b.loo_scores_.numpy())


def test_explicit_grids_tensor_io_and_float32():
    data = make_gaussian_covariate_shift(200, 3, random_state=0)
    Xs = torch.tensor(data.X_source, dtype=torch.float32)
    Xt = torch.tensor(data.X_target, dtype=torch.float32)
    a = RuLSIF(alpha=0.2, sigmas=[0.5, 1.0], lambdas=0.1, n_centers=30, random_state=0)
    a.fit(Xs, torch.tensor(data.y_source), Xt)
    assert isinstance(a.sample_weight_, torch.Tensor) and a.sample_weight_.dtype == torch.float32
    assert a.loo_scores_.shape == (2, 1) and a.centers_.shape == (30, 3)
    b = RuLSIF(alpha=0.2, sigmas=[0.5, 1.0], lambdas=0.1, n_centers=30, random_state=0)
    b.fit(data.X_source, data.y_source, data.X_target)
    np.testing.assert_allclose(a.sample_weight_.numpy(), b.sample_weight_, rtol=1e-3, atol=1e-4)
    new = a.compute_weights(Xs[:5])
    assert isinstance(new, torch.Tensor) and new.shape == (5,)


def test_one_row_domain_needs_a_single_candidate():
    rng = np.random.default_rng(0)
    Xs, ys, Xt = rng.normal(size=(20, 2)), rng.normal(size=20), rng.normal(size=(1, 2))
    with pytest.raises(ValueError, match="two rows per domain"):
        ULSIF().fit(Xs, ys, Xt)
    a = ULSIF(sigmas=1.0, lambdas=0.1).fit(Xs, ys, Xt)
    assert np.isnan(a.loo_scores_.numpy()).all() and a.sample_weight_.shape == (20,)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"sigmas": -1.0}, "sigmas"),
        ({"sigmas": [1.0, 0.0]}, "sigmas"),
        ({"lambdas": []}, "lambdas"),
        ({"lambdas": "big"}, "lambdas"),
        ({"n_centers": 0}, "n_centers"),
        ({"random_state": "x"}, "random_state"),
    ],
)
def test_bad_params(params, match):
    data = make_gaussian_covariate_shift(30, 2, random_state=0)
    with pytest.raises(ValueError, match=match):
        RuLSIF(**params).fit(data.X_source, data.y_source, data.X_target)
