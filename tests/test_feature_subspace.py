"""Subspace Alignment: principal bases, alignment matrix, transforms, effect on a subspace shift."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from domadapt import config_context
from domadapt.feature import _eigen
from domadapt.feature.subspace import SubspaceAlignment, principal_axes


def _subspace_shift(n=150, d=12, latent=3, angle=60.0, seed=0):
    """Classes in a ``latent``-dimensional subspace U; the target's subspace is U turned by
    ``angle`` degrees towards an orthogonal V (each u_i towards v_i), plus isotropic noise."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, 2 * latent)))
    U, V = basis[:, :latent], basis[:, latent:]
    means = 3.0 * rng.normal(size=(3, latent))
    a = np.deg2rad(angle)
    Ut = np.cos(a) * U + np.sin(a) * V

    def draw(B):
        y = np.arange(n) % 3
        z = means[y] + 0.5 * rng.normal(size=(n, latent))
        return z @ B.T + 0.1 * rng.normal(size=(n, d)), y

    Xs, ys = draw(U)
    Xt, yt = draw(Ut)
    return Xs, ys, Xt, yt


def _projector(P):
    P = np.asarray(P)
    return P @ P.T


def test_bases_alignment_and_transforms():
    Xs, ys, Xt, _ = _subspace_shift()
    sa = SubspaceAlignment(n_components=3).fit(Xs, ys, Xt)
    Ps, Pt, M = (t.numpy() for t in (sa.components_source_, sa.components_target_, sa.M_))
    assert Ps.shape == Pt.shape == (12, 3) and M.shape == (3, 3)
    np.testing.assert_allclose(Ps.T @ Ps, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(Pt.T @ Pt, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(M, Ps.T @ Pt, atol=1e-12)
    # the bases are the leading eigenvectors of each domain's covariance
    for X, P in ((Xs, Ps), (Xt, Pt)):
        _, vecs = np.linalg.eigh(np.cov(X, rowvar=False))
        np.testing.assert_allclose(_projector(P), _projector(vecs[:, -3:]), atol=1e-8)
    Zs, Zt = sa.transform(Xs, domain="source"), sa.transform(Xt)
    np.testing.assert_allclose(Zs, (Xs - Xs.mean(0)) @ Ps @ M, atol=1e-10)
    np.testing.assert_allclose(Zt, (Xt - Xt.mean(0)) @ Pt, atol=1e-10)
    assert Zs.shape == (150, 3) and Zt.shape == (150, 3)


def test_gram_route_for_wide_data_gives_the_same_axes():
    rng = np.random.default_rng(2)
    X = torch.as_tensor(rng.normal(size=(40, 300)) * np.linspace(2.0, 0.1, 300))
    wide = principal_axes(X, 5)  # d > n: eigenvectors of the 40 x 40 Gram matrix
    Xc = (X - X.mean(0)).numpy()
    _, vecs = np.linalg.eigh(Xc.T @ Xc)
    np.testing.assert_allclose(_projector(wide), _projector(vecs[:, -5:]), atol=1e-8)
    np.testing.assert_allclose(wide.T @ wide, np.eye(5), atol=1e-10)


def test_gram_route_beyond_the_rank_keeps_orthonormal_axes_and_the_exact_map():
    # 20 rows that are 4 copies of 5 points: the centred source has rank 4 < k = 10 < d = 50
    rng = np.random.default_rng(0)
    Xs = np.repeat(rng.normal(size=(5, 50)), 4, axis=0)
    Xt = rng.normal(size=(40, 50))
    sa = SubspaceAlignment(10).fit(Xs, np.arange(20) % 2, Xt)
    Ps, Pt = sa.components_source_.numpy(), sa.components_target_.numpy()
    np.testing.assert_allclose(Ps.T @ Ps, np.eye(10), atol=1e-10)
    # the axes beyond the rank carry no source variance, so the source map does not depend on
    # them: Ps Psᵀ acts on the source rows as the projector onto their span
    Xc = Xs - Xs.mean(0)
    Vr = np.linalg.svd(Xc)[2][:4].T  # the rank-4 row space
    np.testing.assert_allclose(sa.transform(Xs, domain="source"), Xc @ Vr @ Vr.T @ Pt, atol=1e-10)


def test_krylov_route_gives_the_same_axes(monkeypatch):
    rng = np.random.default_rng(3)
    X = torch.as_tensor(rng.normal(size=(500, 400)) * np.geomspace(5.0, 0.1, 400))
    dense = principal_axes(X, 4)
    monkeypatch.setattr(_eigen, "DENSE_MAX", 0)
    monkeypatch.setattr(_eigen, "_dense_top", _fail)  # 400 > 2 * DEPTH * block: Krylov runs
    krylov = principal_axes(X, 4)
    np.testing.assert_allclose(_projector(krylov), _projector(dense), atol=1e-8)


def test_randomized_route_finds_the_axes_behind_a_spectral_gap():
    rng = np.random.default_rng(4)
    scale = np.r_[np.geomspace(20.0, 5.0, 6), np.full(294, 0.5)]  # gap after the 6th axis
    X = torch.as_tensor(rng.normal(size=(400, 300)) * scale)
    exact = principal_axes(X, 6)
    rand = principal_axes(X, 6, "randomized", seed=1)
    np.testing.assert_allclose(_projector(rand), _projector(exact), atol=1e-6)
    np.testing.assert_allclose(rand.T @ rand, np.eye(6), atol=1e-10)
    assert not torch.equal(rand, principal_axes(X, 6, "randomized", seed=2))  # seeded block


def test_auto_solver_is_randomized_only_for_large_problems():
    rng = np.random.default_rng(5)
    small = rng.normal(size=(60, 8))
    assert SubspaceAlignment(2).fit(small, np.arange(60) % 2, small + 1).solver_ == "exact"
    big = rng.normal(size=(1100, 1030)).astype(np.float32)
    with config_context(report_discrepancy=False):
        sa = SubspaceAlignment(4, random_state=0).fit(big, np.arange(1100) % 2, big[::-1])
    assert sa.solver_ == "randomized"
    with pytest.raises(ValueError, match="solver"):
        SubspaceAlignment(solver="lobpcg").fit(small, np.arange(60) % 2, small)


def _fail(*args, **kwargs):
    raise AssertionError("fell back to the dense solver")


def test_alignment_beats_no_adaptation_on_a_rotated_subspace():
    Xs, ys, Xt, yt = _subspace_shift(angle=80.0, seed=1)
    base = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    sa = SubspaceAlignment(n_components=3, estimator=KNeighborsClassifier(1)).fit(Xs, ys, Xt)
    assert base < 0.5 and sa.score(Xt, yt) > 0.9


def test_dtype_device_and_capping():
    Xs, ys, Xt, _ = _subspace_shift(n=20, d=12)
    Xs32, Xt32 = (torch.as_tensor(X, dtype=torch.float32) for X in (Xs, Xt))
    sa = SubspaceAlignment().fit(Xs32, ys, Xt32[:8])
    assert sa.n_components_ == 7  # min(d, n_s - 1, n_t - 1)
    Z = sa.transform(Xt32)
    assert isinstance(Z, torch.Tensor) and Z.dtype == torch.float32 and Z.shape == (20, 7)
    assert sa.transform(Xs.astype(np.float32), domain="source").dtype == np.float32


def test_invalid_input():
    Xs, ys, Xt, _ = _subspace_shift(n=20)
    with pytest.raises(ValueError, match="n_components"):
        SubspaceAlignment(n_components=0).fit(Xs, ys, Xt)
    with config_context(report_discrepancy=False), pytest.raises(ValueError, match="two rows"):
        SubspaceAlignment().fit(Xs, ys, Xt[:1])


@pytest.mark.realdata
def test_office_caltech_surf(data_root):
    """D→W, the protocol of Fernando et al. (2013) on z-scored SURF: 1-NN on aligned features."""
    from domadapt.datasets import office_caltech10_task

    Xs, ys, Xt, yt = office_caltech10_task("D", "W", data_root=data_root).arrays()
    nn = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    sa = SubspaceAlignment(n_components=30, estimator=KNeighborsClassifier(1)).fit(Xs, ys, Xt)
    assert sa.score(Xt, yt) > nn + 0.1
