"""TCA and JDA: the eigenproblems they solve, their transforms and their effect on discrepancy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import Normalizer

from domadapt import config_context
from domadapt._linalg import generalized_eigh
from domadapt.base import make_da_pipeline
from domadapt.discrepancy import mmd2
from domadapt.feature import _eigen
from domadapt.feature.tca import JDA, TCA, transfer_components
from domadapt.kernels import pairwise_kernel


def _shifted(n_s=70, n_t=80, d=6, shift=2.0, seed=0, dtype=np.float64):
    """Three anisotropic Gaussian classes; the target is shifted along the first two features."""
    rng = np.random.default_rng(seed)
    centers = 3.0 * rng.normal(size=(3, d))
    scales = rng.uniform(0.3, 1.5, size=d)

    def draw(n):
        y = np.arange(n) % 3
        return centers[y] + scales * rng.normal(size=(n, d)), y

    Xs, ys = draw(n_s)
    Xt, yt = draw(n_t)
    Xt[:, :2] += shift
    return Xs.astype(dtype), ys, Xt.astype(dtype), yt


def _pencil(adapter, Xs, Xt, E=None):
    """Dense S and B = F Fᵀ + μ I of the fitted problem, built the textbook way (small n only)."""
    X = torch.as_tensor(np.concatenate([Xs, Xt]), dtype=torch.float64)
    n_s, n = Xs.shape[0], X.shape[0]
    if E is None:
        e = np.concatenate([np.full(n_s, 1.0 / n_s), np.full(n - n_s, -1.0 / (n - n_s))])
        E = torch.as_tensor(e)[:, None]
    H = torch.eye(n, dtype=torch.float64) - 1.0 / n
    M = E @ E.T  # the n x n MMD matrix, fine at test size
    if adapter.kernel == "primal":
        S, MMD = X.T @ H @ X, X.T @ M @ X
    else:
        K = pairwise_kernel(X, X, adapter.kernel, adapter.gamma_)
        S, MMD = K @ H @ K, K @ M @ K
    return S, MMD + adapter.mu * torch.eye(S.shape[0], dtype=torch.float64)


def _backward_error(S, B, w, V):
    """Largest normwise backward error ``||S v − λ B v|| / ((||S|| + |λ| ||B||) ||v||)``."""
    r = torch.linalg.vector_norm(S @ V - B @ V * w, dim=0)
    scale = torch.linalg.matrix_norm(S, 2) + w.abs() * torch.linalg.matrix_norm(B, 2)
    return float((r / (scale * torch.linalg.vector_norm(V, dim=0))).max())


def _solution(adapter):
    V = adapter.components_ if adapter.kernel == "primal" else adapter.dual_coef_
    return adapter.eigenvalues_.double(), V.double()


@pytest.mark.parametrize(
    "kernel, d",
    [("primal", 6), ("primal", 120), ("linear", 6), ("linear", 120), ("rbf", 6)],
    ids=["primal", "primal-wide", "linear-feature-space", "linear-kernel-matrix", "rbf"],
)
def test_tca_solves_its_generalised_eigenproblem(kernel, d):
    Xs, ys, Xt, _ = _shifted(n_s=40, n_t=45, d=d)
    tca = TCA(n_components=4, mu=0.5, kernel=kernel).fit(Xs, ys, Xt)
    S, B = _pencil(tca, Xs, Xt)
    w, V = _solution(tca)
    assert V.shape == (S.shape[0], 4)
    assert _backward_error(S, B, w, V) < 1e-12
    assert torch.allclose(V.T @ B @ V, torch.eye(4, dtype=torch.float64), atol=1e-8)
    w_ref, _ = generalized_eigh(S, B, 4)  # the dense reference solver: same leading spectrum
    assert torch.allclose(w, w_ref, rtol=1e-7)


def test_krylov_path_matches_the_dense_solver(monkeypatch):
    """A problem large enough for the block Krylov solver gives the dense solution."""
    rng = np.random.default_rng(1)
    n, r = 400, 3
    G = torch.as_tensor(rng.normal(size=(n, 40)) * np.linspace(3, 0.1, 40), dtype=torch.float64)
    S = G @ G.T
    F = torch.as_tensor(rng.normal(size=(n, r)), dtype=torch.float64)
    monkeypatch.setattr(_eigen, "DENSE_MAX", 0)
    monkeypatch.setattr(_eigen, "_dense_top", _fail)  # the Krylov iteration must converge
    w, V, U = transfer_components(lambda X: S @ X, F, 0.7, 5)
    B = F @ F.T + 0.7 * torch.eye(n, dtype=torch.float64)
    w_ref, V_ref = generalized_eigh(S, B, 5)
    assert torch.allclose(w, w_ref, rtol=1e-8)
    assert _backward_error(S, B, w, V) < 1e-9
    assert torch.allclose(U.T @ U, torch.eye(5, dtype=torch.float64), atol=1e-10)
    # same subspace as the dense eigenvectors (both B-orthonormal; signs may differ)
    assert torch.allclose((V.T @ B @ V_ref).abs(), torch.eye(5, dtype=torch.float64), atol=1e-6)


def _fail(*args, **kwargs):
    raise AssertionError("fell back to the dense solver")


def test_warm_start_from_the_solution_converges_at_once(monkeypatch):
    rng = np.random.default_rng(2)
    n = 500
    G = torch.as_tensor(rng.normal(size=(n, 30)) * np.linspace(3, 0.1, 30), dtype=torch.float64)
    F = torch.as_tensor(rng.normal(size=(n, 2)), dtype=torch.float64)
    monkeypatch.setattr(_eigen, "DENSE_MAX", 0)
    applied = []

    def scatter(X):
        applied.append(X.shape[1])
        return G @ (G.T @ X)

    w, _, U = transfer_components(scatter, F, 1.0, 4)
    cold = sum(applied)
    applied.clear()
    w_warm, _, _ = transfer_components(scatter, F, 1.0, 4, start=U)
    assert sum(applied) == 20 < cold  # one block: the start already holds the answer
    torch.testing.assert_close(w_warm, w)


def _normalised_mmd(Zs, Zt):
    """Linear-kernel MMD² (the squared gap of the domain means) over the pooled variance."""
    Zs, Zt = np.asarray(Zs), np.asarray(Zt)
    gap = mmd2(Zs, Zt, kernel="linear", estimator="biased")
    return gap / np.concatenate([Zs, Zt]).var(0).sum()


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_tca_lowers_the_domain_mismatch(kernel):
    Xs, ys, Xt, _ = _shifted(d=6, shift=4.0)
    tca = TCA(n_components=3, mu=0.1, kernel=kernel).fit(Xs, ys, Xt)
    before = _normalised_mmd(Xs, Xt)
    after = _normalised_mmd(tca.transform(Xs, "source"), tca.transform(Xt))
    assert after < 0.2 * before


def test_tca_improves_nearest_neighbour_accuracy():
    Xs, ys, Xt, yt = _shifted(d=6, shift=6.0, seed=1)
    base = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    tca = TCA(n_components=3, mu=0.1, estimator=KNeighborsClassifier(1)).fit(Xs, ys, Xt)
    assert tca.score(Xt, yt) > base + 0.3


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_out_of_sample_transform_reproduces_the_fitted_embedding(kernel):
    Xs, ys, Xt, _ = _shifted()
    tca = TCA(n_components=3, kernel=kernel).fit(Xs, ys, Xt)
    X = torch.as_tensor(np.concatenate([Xs, Xt]))
    K = pairwise_kernel(X, X, kernel, tca.gamma_)
    embedding = (K @ tca.dual_coef_).numpy()
    with config_context(chunk_size=25):  # the RBF transform works in row blocks
        Zs, Zt = tca.transform(Xs, domain="source"), tca.transform(Xt)
    np.testing.assert_allclose(np.concatenate([Zs, Zt]), embedding, rtol=1e-9, atol=1e-9)
    assert (tca.X_fit_ is None) == (kernel == "linear")


def test_rank_deficient_linear_kernel_falls_back_to_the_kernel_matrix():
    Xs, ys, Xt, _ = _shifted(d=6)
    Xs, Xt = (np.concatenate([X, X[:, :2] @ [[1.0], [2.0]]], axis=1) for X in (Xs, Xt))
    tca = TCA(n_components=4, mu=0.5, kernel="linear").fit(Xs, ys, Xt)
    S, B = _pencil(tca, Xs, Xt)
    assert _backward_error(S, B, *_solution(tca)) < 1e-12
    np.testing.assert_allclose(tca.transform(Xt), Xt @ tca.components_.numpy())


def test_primal_projection_and_linear_dual_are_different_problems():
    Xs, ys, Xt, _ = _shifted()
    primal = TCA(n_components=3, kernel="primal").fit(Xs, ys, Xt)
    dual = TCA(n_components=3, kernel="linear").fit(Xs, ys, Xt)
    assert primal.components_.shape == dual.components_.shape == (6, 3)
    assert primal.dual_coef_ is None and primal.X_fit_ is None
    assert not torch.allclose(primal.eigenvalues_, dual.eigenvalues_)


def test_rbf_bandwidth_is_resolved_once():
    Xs, ys, Xt, _ = _shifted()
    assert TCA(kernel="rbf", gamma=0.3).fit(Xs, ys, Xt).gamma_ == 0.3
    auto = TCA(kernel="rbf").fit(Xs, ys, Xt)
    assert auto.gamma_ > 0 and TCA().fit(Xs, ys, Xt).gamma_ is None


def test_float32_and_tensor_input_agree_with_float64():
    Xs, ys, Xt, _ = _shifted()
    ref = TCA(n_components=3).fit(Xs, ys, Xt).transform(Xt)
    Xs32, Xt32 = (torch.as_tensor(X, dtype=torch.float32) for X in (Xs, Xt))
    tca = TCA(n_components=3).fit(Xs32, ys, Xt32)
    Z = tca.transform(Xt32)
    assert isinstance(Z, torch.Tensor) and Z.dtype == torch.float32
    np.testing.assert_allclose(Z.numpy(), ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())


def test_float32_rbf_embedding_does_not_depend_on_where_the_data_sit():
    Xs, ys, Xt, _ = _shifted()
    Xs32, Xt32 = Xs.astype(np.float32), Xt.astype(np.float32)
    ref = TCA(n_components=3, kernel="rbf").fit(Xs32, ys, Xt32)
    far = TCA(n_components=3, kernel="rbf").fit(Xs32 + 1000, ys, Xt32 + 1000)
    np.testing.assert_allclose(far.eigenvalues_, ref.eigenvalues_, rtol=1e-3)
    Z, Z_far = ref.transform(Xt32), far.transform(Xt32 + 1000)
    np.testing.assert_allclose(np.abs(Z_far), np.abs(Z), atol=1e-3 * np.abs(Z).max())


def test_n_components_is_capped_and_params_are_checked():
    Xs, ys, Xt, _ = _shifted(d=4)
    assert TCA(n_components=50).fit(Xs, ys, Xt).n_components_ == 4
    assert TCA(n_components=50, kernel="linear").fit(Xs, ys, Xt).n_components_ == 4
    assert TCA(n_components=500, kernel="rbf").fit(Xs, ys, Xt).n_components_ == 149  # rank of H
    wide = np.concatenate([Xs, Xs @ np.ones((4, 300))], axis=1)  # d > n, rank 4
    assert TCA(n_components=50, kernel="primal").fit(wide, ys, wide[::-1].copy()).n_components_ == 4
    for bad in (dict(n_components=0), dict(mu=0.0), dict(kernel="poly"), dict(gamma=-1.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TCA(**bad).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="n_iter"):
        JDA(n_iter=-1).fit(Xs, ys, Xt)


# ---------------------------------------------------------------------------------------- JDA


@pytest.mark.parametrize("kernel", ["primal", "rbf"])
def test_jda_without_rounds_is_tca(kernel):
    Xs, ys, Xt, _ = _shifted()
    params = dict(n_components=4, mu=0.3, kernel=kernel)
    jda = JDA(n_iter=0, **params).fit(Xs, ys, Xt)
    tca = TCA(**params).fit(Xs, ys, Xt)
    assert jda.n_iter_ == 0 and jda.pseudo_labels_ is None
    torch.testing.assert_close(jda.eigenvalues_, tca.eigenvalues_)
    np.testing.assert_allclose(jda.transform(Xt), tca.transform(Xt))


def _rotated_classes(n=90, seed=0):
    """Three classes whose target clusters are rotated: marginals overlap, conditionals do not."""
    rng = np.random.default_rng(seed)
    angles = np.array([0.0, 2.1, 4.2])

    def draw(offset):
        y = np.arange(n) % 3
        centre = 3.0 * np.stack([np.cos(angles[y] + offset), np.sin(angles[y] + offset)], 1)
        X = np.concatenate([centre, np.zeros((n, 3))], 1) + 0.5 * rng.normal(size=(n, 5))
        return X, y

    Xs, ys = draw(0.0)
    Xt, yt = draw(0.7)
    return Xs, ys, Xt, yt


def _class_mismatch(Zs, ys, Zt, yt):
    Zs, Zt = np.asarray(Zs), np.asarray(Zt)
    gaps = sum(np.sum((Zs[ys == c].mean(0) - Zt[yt == c].mean(0)) ** 2) for c in np.unique(ys))
    return gaps / np.concatenate([Zs, Zt]).var(0).sum()


def test_class_terms_reduce_the_class_conditional_mismatch():
    Xs, ys, Xt, yt = _rotated_classes()
    params = dict(n_components=2, mu=0.1)
    tca = JDA(n_iter=0, **params).fit(Xs, ys, Xt)
    jda = JDA(n_iter=5, **params).fit(Xs, ys, Xt)
    assert jda.n_iter_ >= 1
    before = _class_mismatch(tca.transform(Xs, "source"), ys, tca.transform(Xt), yt)
    after = _class_mismatch(jda.transform(Xs, "source"), ys, jda.transform(Xt), yt)
    assert after < 0.5 * before


def test_class_terms_enter_the_eigenproblem():
    """The final solve is TCA's pencil plus one rank-one term per pseudo-labelled class."""
    Xs, ys, Xt, _ = _shifted()
    jda = JDA(n_components=3, mu=0.2, n_iter=2).fit(Xs, ys, Xt)
    n_s, n = Xs.shape[0], Xs.shape[0] + Xt.shape[0]
    columns = [np.concatenate([np.full(n_s, 1 / n_s), np.full(n - n_s, -1 / (n - n_s))])]
    for c in np.intersect1d(ys, jda.pseudo_labels_):
        col = np.zeros(n)
        col[:n_s][ys == c] = 1 / np.sum(ys == c)
        col[n_s:][jda.pseudo_labels_ == c] = -1 / np.sum(jda.pseudo_labels_ == c)
        columns.append(col)
    S, B = _pencil(jda, Xs, Xt, E=torch.as_tensor(np.stack(columns, 1)))
    w, V = _solution(jda)
    assert _backward_error(S, B, w, V) < 1e-12


def test_known_target_labels_replace_pseudo_labels():
    Xs, ys, Xt, yt = _rotated_classes()
    full = JDA(n_components=2, n_iter=4).fit(Xs, ys, Xt, yt)
    np.testing.assert_array_equal(full.pseudo_labels_, yt)
    assert full.n_iter_ == 1  # the labels cannot change, so one round suffices
    partial = np.where(np.arange(yt.size) % 2 == 0, yt, -1)
    half = JDA(n_components=2, n_iter=4).fit(Xs, ys, Xt, partial)
    known = partial != -1
    np.testing.assert_array_equal(half.pseudo_labels_[known], yt[known])


def test_pseudo_label_estimator_is_used_and_labels_are_original_classes():
    Xs, ys, Xt, _ = _shifted()
    labels = np.array(["cat", "dog", "eel"])
    constant = DummyClassifier(strategy="constant", constant=1)
    jda = JDA(n_components=2, n_iter=3, pseudo_label_estimator=constant).fit(Xs, labels[ys], Xt)
    assert set(jda.pseudo_labels_) == {"dog"}
    assert jda.n_iter_ == 1  # constant predictions never change


def test_jda_pipeline_is_cloneable_and_predicts():
    Xs, ys, Xt, yt = _rotated_classes()
    pipe = make_da_pipeline(Normalizer(), JDA(n_components=2, mu=0.1), KNeighborsClassifier(1))
    assert clone(pipe).fit(Xs, ys, Xt).predict(Xt).shape == yt.shape


# ----------------------------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.parametrize("task, floor", [("D→W", 85.0), ("W→D", 85.0)])
def test_office_caltech_surf(data_root, task, floor):
    """JDA with its defaults on two Office-Caltech-10 SURF tasks, protocol of Long et al. (2013):
    unit-norm rows in and out, 1-NN. Published JDA: D→W 89.49, W→D 89.17; 1-NN 63.39, 59.24."""
    from domadapt.datasets import office_caltech10_task

    Xs, ys, Xt, yt = office_caltech10_task(*task.split("→"), data_root=data_root).arrays()
    nn = 100 * KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    jda = make_da_pipeline(Normalizer(), JDA(), Normalizer(), KNeighborsClassifier(1))
    acc = 100 * jda.fit(Xs, ys, Xt).score(Xt, yt)
    assert acc > floor > nn + 10
