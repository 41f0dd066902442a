"""Tests of domadapt.kernels: kernels, the median heuristic and chunked kernel sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from domadapt import config_context
from domadapt.kernels import (
    gaussian_kernel,
    kernel_sum,
    linear_kernel,
    median_sq_distance,
    pair_median,
    pairwise_kernel,
    gaussian_from_sq,
    sq_euclidean,
    sq_norms,
    upper_pairs,
)


def _data(n=23, m=17, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(0.5, 1.0, size=(m, d))


def _t(A):
    return torch.as_tensor(A, dtype=torch.float64)


def test_sq_euclidean_matches_brute_force_and_is_non_negative():
    X, Y = _data()
    D = sq_euclidean(_t(X), _t(Y)).numpy()
    ref = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(D, ref, rtol=1e-12, atol=1e-12)
    big = _t(X) + 1e4  # large offsets make the expansion round below zero without the clamp
    assert sq_euclidean(big, big).min() >= 0


def test_sq_euclidean_in_place_with_given_norms_equals_the_default():
    X, Y = _data()
    ref = sq_euclidean(_t(X), _t(Y))
    buffer = torch.full(ref.shape, float("nan"), dtype=torch.float64)
    got = sq_euclidean(_t(X), _t(Y), sq_x=sq_norms(_t(X)), sq_y=sq_norms(_t(Y)), out=buffer)
    assert got.data_ptr() == buffer.data_ptr()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    # the kernel from those distances is gaussian_kernel's, for one bandwidth and for several
    for sigma2 in (1.7, [0.5, 1.0, 4.0]):
        torch.testing.assert_close(gaussian_from_sq(got, sigma2), gaussian_kernel(_t(X), _t(Y), sigma2))


def test_median_sq_distance_is_the_median_over_distinct_pairs():
    X, Y = _data(n=10, m=9)
    Z = np.r_[X, Y]
    iu = np.triu_indices(len(Z), 1)
    ref = np.median(((Z[:, None] - Z[None]) ** 2).sum(-1)[iu])  # 171 pairs: odd count
    assert float(median_sq_distance(_t(X), _t(Y))) == pytest.approx(ref, rel=1e-12)
    # even number of pairs (X alone: 45): the mean of the two middle values
    iu = np.triu_indices(len(X), 1)
    ref = np.median(((X[:, None] - X[None]) ** 2).sum(-1)[iu])
    assert float(median_sq_distance(_t(X))) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 7, 8, 1001, 1000, 70001, 70000])
@pytest.mark.parametrize("ties", [False, True])
def test_pair_median_both_routes_equal_numpy(k, ties):
    # large inputs on the CPU are selected with numpy, the others (and every input taken here
    # through requires_grad) with torch.kthvalue and a masked minimum for the upper middle
    # value of an even count; both must give the median
    rng = np.random.default_rng(k)
    v = rng.integers(0, 3, size=k).astype(float) if ties else rng.exponential(size=k)
    expected = np.median(v)
    if expected == 0:  # the fallbacks: mean of the positive values, else 1
        expected = v[v > 0].mean() if (v > 0).any() else 1.0
    for values in (_t(v), _t(v).requires_grad_()):
        assert float(pair_median(values).detach()) == pytest.approx(expected, rel=1e-15)


def test_upper_pairs_of_a_submatrix():
    D = _t(np.arange(36.0).reshape(6, 6))
    rows = torch.tensor([4, 1, 5])
    sub = D[rows][:, rows].numpy()
    np.testing.assert_array_equal(upper_pairs(D, rows).numpy(), sub[np.triu_indices(3, 1)])
    np.testing.assert_array_equal(upper_pairs(D).numpy(), D.numpy()[np.triu_indices(6, 1)])


def test_median_sq_distance_subsample_is_seeded():
    X, Y = _data(n=400, m=300, d=4)
    a = median_sq_distance(_t(X), _t(Y), max_samples=100, seed=3)
    b = median_sq_distance(_t(X), _t(Y), max_samples=100, seed=3)
    c = median_sq_distance(_t(X), _t(Y), max_samples=100, seed=4)
    full = median_sq_distance(_t(X), _t(Y), max_samples=10_000)
    assert a == b and a != c
    assert float(a) == pytest.approx(float(full), rel=0.2)
    assert not median_sq_distance(_t(X).requires_grad_()).requires_grad


def test_median_sq_distance_fallbacks_for_discrete_and_constant_data():
    X = torch.zeros(10, 2, dtype=torch.float64)
    X[0, 0] = 2.0  # 9 of 45 pairs at distance 4, the rest 0: median 0
    assert float(median_sq_distance(X)) == pytest.approx(4.0)
    assert float(median_sq_distance(torch.ones(5, 3))) == 1.0
    with pytest.raises(ValueError, match="max_samples"):
        median_sq_distance(X, max_samples=1)


def test_gaussian_kernel_formula_and_multi_kernel_mean():
    X, Y = _data()
    D = ((X[:, None] - Y[None]) ** 2).sum(-1)
    K = gaussian_kernel(_t(X), _t(Y), 1.7).numpy()
    np.testing.assert_allclose(K, np.exp(-D / (2 * 1.7)), rtol=1e-12)
    s = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64)
    Km = gaussian_kernel(_t(X), _t(Y), s).numpy()
    ref = np.mean([np.exp(-D / (2 * v)) for v in (0.5, 1.0, 4.0)], axis=0)
    np.testing.assert_allclose(Km, ref, rtol=1e-12)


def test_linear_and_pairwise_kernel():
    X, Y = _data()
    np.testing.assert_allclose(linear_kernel(_t(X), _t(Y)).numpy(), X @ Y.T, rtol=1e-12)
    np.testing.assert_allclose(pairwise_kernel(_t(X), _t(Y), "linear").numpy(), X @ Y.T)
    D = ((X[:, None] - Y[None]) ** 2).sum(-1)
    K = pairwise_kernel(_t(X), _t(Y), "rbf", gamma=0.3).numpy()
    np.testing.assert_allclose(K, np.exp(-0.3 * D), rtol=1e-12)
    med = float(median_sq_distance(_t(X), _t(Y)))
    K = pairwise_kernel(_t(X), _t(Y), "rbf").numpy()
    np.testing.assert_allclose(K, np.exp(-D / med), rtol=1e-12)
    Xt = _t(X)  # Y is X: the median of X alone, not of X pooled with a copy of itself
    med_x = float(median_sq_distance(Xt))
    Dxx = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.testing.assert_allclose(pairwise_kernel(Xt, Xt, "rbf").numpy(), np.exp(-Dxx / med_x))
    with pytest.raises(ValueError, match="kernel"):
        pairwise_kernel(Xt, Xt, "poly")
    with pytest.raises(ValueError, match="gamma"):
        pairwise_kernel(Xt, Xt, "rbf", gamma=-1.0)


@pytest.mark.parametrize("chunk", [1, 4, 7, 1000])
@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_sum_equals_dense_sum(chunk, weighted):
    X, Y = _data()
    rng = np.random.default_rng(1)
    wx = _t(rng.random(len(X))) if weighted else None
    wy = _t(rng.random(len(Y))) if weighted else None
    kfn = lambda A, B: gaussian_kernel(A, B, 2.0)  # noqa: E731
    Kxy = kfn(_t(X), _t(Y))
    Kxx = kfn(_t(X), _t(X))
    ux = wx if weighted else torch.ones(len(X), dtype=torch.float64)
    uy = wy if weighted else torch.ones(len(Y), dtype=torch.float64)
    cross = kernel_sum(_t(X), _t(Y), kfn, wx=wx, wy=wy, chunk_size=chunk)
    assert float(cross) == pytest.approx(float(ux @ Kxy @ uy), rel=1e-12)
    Xt = _t(X)  # same object twice: the symmetric (upper-triangle) path
    full = kernel_sum(Xt, Xt, kfn, wx=wx, wy=wx, chunk_size=chunk)
    assert float(full) == pytest.approx(float(ux @ Kxx @ ux), rel=1e-12)
    off = kernel_sum(Xt, Xt, kfn, wx=wx, wy=wx, exclude_diagonal=True, chunk_size=chunk)
    ref = ux @ (Kxx - torch.diag(torch.diag(Kxx))) @ ux
    assert float(off) == pytest.approx(float(ref), rel=1e-12)
    # an equal copy (not the same object) takes the general path and agrees
    off2 = kernel_sum(Xt, Xt.clone(), kfn, wx=wx, wy=wx, exclude_diagonal=True, chunk_size=chunk)
    assert float(off2) == pytest.approx(float(ref), rel=1e-12)


def test_kernel_sum_never_builds_blocks_larger_than_chunk():
    X, Y = _data(n=50, m=31)
    shapes = []

    def kfn(A, B):
        shapes.append((A.shape[0], B.shape[0]))
        return linear_kernel(A, B)

    total = kernel_sum(_t(X), _t(Y), kfn, chunk_size=8)
    assert max(max(s) for s in shapes) <= 8
    assert sum(a * b for a, b in shapes) == 50 * 31
    assert float(total) == pytest.approx(float((X @ Y.T).sum()), rel=1e-12)
    shapes.clear()
    with config_context(chunk_size=5):  # the default comes from the configuration
        kernel_sum(_t(X), _t(Y), kfn)
    assert max(max(s) for s in shapes) == 5


def test_kernel_sum_gradients_match_dense_with_checkpointed_blocks():
    X, Y = _data(n=13, m=11)
    kfn = lambda A, B: gaussian_kernel(A, B, 1.5)  # noqa: E731
    w = _t(np.random.default_rng(2).random(13)).requires_grad_()

    def grads(chunk):
        Xt, Yt = _t(X).requires_grad_(), _t(Y).requires_grad_()
        s = kernel_sum(Xt, Xt, kfn, wx=w, wy=w, exclude_diagonal=True, chunk_size=chunk)
        s = s - 2 * kernel_sum(Xt, Yt, kfn, wx=w, chunk_size=chunk)
        return torch.autograd.grad(s, (Xt, Yt, w))

    for g_chunk, g_dense in zip(grads(4), grads(100)):
        torch.testing.assert_close(g_chunk, g_dense, rtol=1e-10, atol=1e-12)
    Xt = _t(X[:6]).requires_grad_()
    Yt = _t(Y[:5]).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: kernel_sum(a, b, kfn, wx=None, chunk_size=2), (Xt, Yt)
    )


def test_kernel_sum_rejects_bad_arguments():
    X, Y = _data()
    kfn = linear_kernel
    with pytest.raises(ValueError, match="exclude_diagonal"):
        kernel_sum(_t(X), _t(Y), kfn, exclude_diagonal=True)
    with pytest.raises(ValueError, match="chunk_size"):
        kernel_sum(_t(X), _t(Y), kfn, chunk_size=0)
    with pytest.raises(ValueError, match="wx"):
        kernel_sum(_t(X), _t(Y), kfn, wx=torch.ones(3, dtype=torch.float64))
