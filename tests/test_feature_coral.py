"""CORAL: closed-form invariants of the re-colouring map (Sun et al., AAAI 2016)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from domadapt import CORAL


def _spd_sqrt(C: np.ndarray, p: float) -> np.ndarray:
    w, V = np.linalg.eigh(C)
    return (V * w**p) @ V.T


@pytest.fixture(scope="module")
def shifted() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    d = 8
    Xs = rng.normal(size=(400, d)) @ rng.normal(size=(d, d))
    Xt = rng.normal(size=(300, d)) @ rng.normal(size=(d, d)) + 2.0
    return Xs, Xt


def test_source_covariance_becomes_target_covariance(shifted):
    Xs, Xt = shifted
    reg = 1e-8
    a = CORAL(reg=reg).fit(Xs, np.arange(400) % 2, Xt)
    Zs = a.transform(Xs, domain="source")
    np.testing.assert_allclose(np.cov(Zs.T), np.cov(Xt.T), rtol=1e-5, atol=1e-6)


def test_covariance_matches_closed_form_with_regulariser(shifted):
    Xs, Xt = shifted
    reg = 1.0
    a = CORAL(reg=reg).fit(Xs, np.arange(400) % 2, Xt)
    eye = np.eye(Xs.shape[1])
    Cs, Ct = np.cov(Xs.T) + reg * eye, np.cov(Xt.T) + reg * eye
    A = _spd_sqrt(Cs, -0.5) @ _spd_sqrt(Ct, 0.5)
    np.testing.assert_allclose(a.A_.numpy(), A, rtol=1e-8, atol=1e-10)
    expected = Ct - eye * 0 - reg * _spd_sqrt(Ct, 0.5) @ np.linalg.inv(Cs) @ _spd_sqrt(Ct, 0.5)
    np.testing.assert_allclose(np.cov(a.transform(Xs, domain="source").T), expected, rtol=1e-6, atol=1e-8)


def test_numpy_lapack_route_meets_the_closed_form():
    """float64 with at least LAPACK_MIN_DIM features takes numpy's syrk and syevd (the other
    tests, with few features, the torch route): the map is the closed form."""
    from domadapt import _linalg

    rng = np.random.default_rng(6)
    d = _linalg.LAPACK_MIN_DIM
    Xs = rng.normal(size=(d + 100, d)) * np.linspace(2.0, 0.5, d)
    Xt = rng.normal(size=(d + 50, d)) * np.linspace(0.5, 2.0, d) + 1.0
    assert _linalg._lapack_ready(torch.as_tensor(Xs))
    a = CORAL(reg=1.0).fit(Xs, np.arange(d + 100) % 2, Xt)
    eye = np.eye(d)
    A = _spd_sqrt(np.cov(Xs.T) + eye, -0.5) @ _spd_sqrt(np.cov(Xt.T) + eye, 0.5)
    np.testing.assert_allclose(a.A_.numpy(), A, rtol=1e-8, atol=1e-10)


def test_target_is_identity(shifted):
    Xs, Xt = shifted
    a = CORAL().fit(Xs, np.arange(400) % 2, Xt)
    np.testing.assert_array_equal(a.transform(Xt), Xt)


def test_float32_tensor_close_to_float64(shifted):
    Xs, Xt = shifted
    y = np.arange(400) % 2
    z64 = CORAL().fit(Xs, y, Xt).transform(Xs, domain="source")
    z32 = CORAL().fit(torch.tensor(Xs, dtype=torch.float32), torch.tensor(y), torch.tensor(Xt, dtype=torch.float32))
    out = z32.transform(torch.tensor(Xs, dtype=torch.float32), domain="source")
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), z64, rtol=2e-3, atol=2e-3)


def test_improves_accuracy_under_covariance_shift():
    rng = np.random.default_rng(3)
    d, n = 5, 600
    signal = np.array([1.0, 1.0, 0.0, 0.0, 0.0])  # two informative features, three of noise
    y = rng.integers(0, 2, n)
    Xs = rng.normal(size=(n, d)) + np.outer(2 * y - 1, signal)
    yt = rng.integers(0, 2, n)
    # the target shrinks the informative features and inflates the noise: the source classifier's
    # small noise weights now dominate, and re-colouring undoes exactly this scaling
    scale = np.array([0.2, 0.2, 5.0, 5.0, 5.0])
    Xt = (rng.normal(size=(n, d)) + np.outer(2 * yt - 1, signal)) * scale
    base = LogisticRegression().fit(Xs, y).score(Xt, yt)
    adapted = CORAL(reg=1e-3, estimator=LogisticRegression()).fit(Xs, y, Xt).score(Xt, yt)
    assert base < 0.8 and adapted > base + 0.1


def test_center_matches_means_and_keeps_the_covariance_map(shifted):
    # centre, map, add the target mean: (x − μ_s) A + μ_t; the source mean becomes the
    # target's (the data are shifted by 2 in every coordinate) and the covariance is unchanged
    Xs, Xt = shifted
    y = np.arange(400) % 2
    plain = CORAL().fit(Xs, y, Xt)
    centred = CORAL(center=True).fit(Xs, y, Xt)
    A = plain.A_.numpy()
    np.testing.assert_array_equal(centred.A_.numpy(), A)
    Z = centred.transform(Xs, domain="source")
    np.testing.assert_allclose(Z, (Xs - Xs.mean(0)) @ A + Xt.mean(0), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(Z.mean(0), Xt.mean(0), atol=1e-10)
    assert np.abs(plain.transform(Xs, domain="source").mean(0) - Xt.mean(0)).max() > 0.5
    np.testing.assert_allclose(np.cov(Z.T), np.cov(plain.transform(Xs, domain="source").T), rtol=1e-10)
    np.testing.assert_array_equal(centred.transform(Xt), Xt)
    assert plain.offset_ is None


def test_invalid_center(shifted):
    Xs, Xt = shifted
    with pytest.raises(TypeError, match="center"):
        CORAL(center="yes").fit(Xs, np.arange(400) % 2, Xt)


@pytest.mark.parametrize("reg", [0.0, -1.0, "1"])
def test_invalid_reg(shifted, reg):
    Xs, Xt = shifted
    with pytest.raises(ValueError, match="reg"):
        CORAL(reg=reg).fit(Xs, np.arange(400) % 2, Xt)


@pytest.mark.parametrize("power", [-0.5, 0.5])
def test_gram_route_for_fewer_rows_than_features_is_the_dense_power(power):
    """n < d: the n x n Gram route gives the d x d decomposition's matrix power."""
    from domadapt._linalg import covariance, ridge_covariance_power, sym_power

    rng = np.random.default_rng(3)
    X = torch.as_tensor(rng.normal(size=(30, 80)) * np.linspace(3.0, 0.2, 80) + 1.0)
    dense = sym_power(covariance(X) + 0.7 * torch.eye(80, dtype=X.dtype), power)
    np.testing.assert_allclose(ridge_covariance_power(X, 0.7, power), dense, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("power", [-0.5, 0.5, 1.0])
def test_sym_power_is_the_closed_form_and_exactly_symmetric(power, dtype):
    """C = Q diag(lam) Qᵀ with known Q and lam: C ** p = Q diag(lam ** p) Qᵀ, and symmetric (the
    product B Bᵀ of the scaled eigenvectors)."""
    from domadapt._linalg import sym_power

    rng = np.random.default_rng(5)
    Q = np.linalg.qr(rng.normal(size=(60, 60)))[0]
    lam = np.geomspace(1e-2, 1e2, 60)
    C = torch.as_tensor((Q * lam) @ Q.T, dtype=dtype)
    C = (C + C.T) / 2
    got = sym_power(C, power)
    want = (Q * lam**power) @ Q.T
    error = np.linalg.norm(got.double().numpy() - want) / np.linalg.norm(want)
    assert error < (1e-11 if dtype == torch.float64 else 1e-4)
    scale = float(torch.finfo(dtype).eps * got.abs().max())
    torch.testing.assert_close(got, got.T, rtol=0.0, atol=scale)


def test_wide_domains_still_meet_the_closed_form():
    """DeCAF-like shapes (fewer rows than features): the CORAL invariant holds exactly."""
    rng = np.random.default_rng(4)
    Xs = rng.normal(size=(40, 120))
    Xt = rng.normal(size=(55, 120)) @ np.diag(np.linspace(2.0, 0.5, 120)) + 0.3
    reg = 1.0
    A = CORAL(reg=reg).fit(Xs, np.arange(40) % 2, Xt).A_.numpy()
    Cs = np.cov(Xs, rowvar=False) + reg * np.eye(120)
    Ct = np.cov(Xt, rowvar=False) + reg * np.eye(120)
    np.testing.assert_allclose(A.T @ Cs @ A, Ct, rtol=1e-8, atol=1e-9)  # Aᵀ C_s A = C_t
