"""Tests of the discrepancy measures in domadapt.discrepancy."""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
import torch
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning

from domadapt.discrepancy import (
    coral_distance,
    mmd2,
    proxy_a_distance,
    sinkhorn,
    sinkhorn_divergence,
    wasserstein,
)
from domadapt.kernels import median_sq_distance


def _gauss(n, d, shift=0.0, seed=0, scale=1.0):
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


def _sqdist(A, B):
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)


def _mmd_brute(X, Y, sigma2, unbiased, w=None):
    """Textbook U- and V-statistics of MMD^2 (optionally with weights on X) in numpy."""
    Kxx = np.exp(-_sqdist(X, X) / (2 * sigma2))
    Kyy = np.exp(-_sqdist(Y, Y) / (2 * sigma2))
    Kxy = np.exp(-_sqdist(X, Y) / (2 * sigma2))
    n, m = len(X), len(Y)
    if w is None:
        w = np.full(n, 1.0 / n)
    w = w / w.sum()
    if unbiased:
        kxx = (np.outer(w, w) * Kxx)[~np.eye(n, dtype=bool)].sum() / (1 - (w**2).sum())
        kyy = Kyy[~np.eye(m, dtype=bool)].sum() / (m * (m - 1))
    else:
        kxx = w @ Kxx @ w
        kyy = Kyy.sum() / m**2
    return kxx + kyy - 2 * (w @ Kxy).sum() / m


# ------------------------------------------------------------------------------------ mmd2


@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd2_matches_brute_force_statistics(unbiased):
    X, Y = _gauss(30, 3), _gauss(25, 3, shift=0.4, seed=1)
    est = "unbiased" if unbiased else "biased"
    ref = _mmd_brute(X, Y, 2.5, unbiased)
    assert mmd2(X, Y, bandwidth=2.5, estimator=est) == pytest.approx(ref, rel=1e-10, abs=1e-13)
    w = np.random.default_rng(3).random(30)
    ref_w = _mmd_brute(X, Y, 2.5, unbiased, w)
    got = mmd2(X, Y, bandwidth=2.5, estimator=est, weights=w, chunk_size=6)
    assert got == pytest.approx(ref_w, rel=1e-10, abs=1e-13)


def test_mmd2_same_sample_and_same_distribution():
    X, X2 = _gauss(300, 4), _gauss(300, 4, seed=1)
    assert mmd2(X, X, estimator="biased") == 0.0
    u = mmd2(X, X2)
    b = mmd2(X, X2, estimator="biased")
    assert abs(u) < 5e-3
    assert 0 < b < 0.02 and b > u
    # U-statistic of a sample against itself: (2/n) (mean off-diagonal kernel - 1), just below 0
    med = float(median_sq_distance(torch.as_tensor(X), torch.as_tensor(X)))  # pooled X, X
    K = np.exp(-_sqdist(X, X) / (2 * med))
    ref = 2 / 300 * (K[~np.eye(300, dtype=bool)].mean() - 1)
    assert mmd2(X, X) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd2_grows_with_mean_shift(estimator):
    X = _gauss(200, 3)
    shifts = (0, 0.3, 0.6, 1, 2)
    values = [mmd2(X, _gauss(200, 3, shift=s, seed=1), estimator=estimator) for s in shifts]
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_mmd2_chunked_equals_unchunked():
    X, Y = _gauss(40, 5), _gauss(33, 5, shift=0.5, seed=1)
    for est in ("unbiased", "biased"):
        full = mmd2(X, Y, estimator=est, chunk_size=10_000)
        assert mmd2(X, Y, estimator=est, chunk_size=7) == pytest.approx(full, rel=1e-10)
        assert mmd2(X, Y, estimator=est, chunk_size=1) == pytest.approx(full, rel=1e-10)


def test_multi_kernel_is_mean_of_single_kernels():
    X, Y = _gauss(40, 3), _gauss(35, 3, shift=0.5, seed=1)
    scales = (0.25, 0.5, 1.0, 2.0, 4.0)
    multi = mmd2(X, Y, bandwidth=1.7, scales=scales)
    singles = [mmd2(X, Y, bandwidth=1.7 * s) for s in scales]
    assert multi == pytest.approx(np.mean(singles), rel=1e-10)
    # with the median heuristic, sigma2_l = median * scales_l
    med = float(median_sq_distance(torch.as_tensor(X), torch.as_tensor(Y)))
    multi = mmd2(X, Y, scales=scales)
    assert multi == pytest.approx(np.mean([mmd2(X, Y, bandwidth=med * s) for s in scales]))
    assert mmd2(X, Y) == pytest.approx(mmd2(X, Y, bandwidth=med), rel=1e-9)


def test_uniform_weights_equal_unweighted():
    X, Y = _gauss(40, 3), _gauss(30, 3, shift=0.5, seed=1)
    w = np.full(40, 3.0)
    for kernel in ("gaussian", "linear"):
        for est in ("unbiased", "biased"):
            ref = mmd2(X, Y, kernel=kernel, estimator=est)
            got = mmd2(X, Y, kernel=kernel, estimator=est, weights=w)
            assert got == pytest.approx(ref, rel=1e-10, abs=1e-14)


def test_density_ratio_weights_reduce_mmd():
    mu = np.array([1.0, -0.5])
    X = _gauss(600, 2)  # p = N(0, I); q = N(mu, I); q/p(x) = exp(mu.x - |mu|^2/2)
    Y = _gauss(600, 2, seed=1) + mu
    ratio = np.exp(X @ mu - mu @ mu / 2)
    for est in ("unbiased", "biased"):
        plain = mmd2(X, Y, estimator=est, bandwidth=2.0)
        weighted = mmd2(X, Y, estimator=est, bandwidth=2.0, weights=ratio)
        assert weighted < 0.2 * plain


def test_linear_time_estimator_averages_to_u_statistic():
    X, Y = _gauss(40, 2), _gauss(40, 2, shift=0.7, seed=1)
    u = mmd2(X, Y, bandwidth=1.0)
    lin = np.array(
        [mmd2(X, Y, bandwidth=1.0, estimator="linear", random_state=s) for s in range(600)]
    )
    # over shuffles, E[linear] is exactly the U-statistic when n == m is even
    assert abs(lin.mean() - u) < 4 * lin.std() / np.sqrt(len(lin))
    assert lin.std() > 0.01  # it does shuffle
    again = [mmd2(X, Y, estimator="linear", random_state=5) for _ in range(2)]
    assert again[0] == again[1]
    # unequal sizes: the first 2 * (min(n, m) // 2) shuffled rows of each
    assert np.isfinite(mmd2(X, Y[:17], estimator="linear"))


def test_linear_kernel_closed_forms():
    X, Y = _gauss(30, 4, shift=2.0), _gauss(20, 4, shift=2.5, seed=1)
    mean_diff = ((X.mean(0) - Y.mean(0)) ** 2).sum()
    assert mmd2(X, Y, kernel="linear", estimator="biased") == pytest.approx(mean_diff, rel=1e-10)
    Kxx, Kyy, Kxy = X @ X.T, Y @ Y.T, X @ Y.T
    off = lambda K: K[~np.eye(len(K), dtype=bool)].sum()  # noqa: E731
    u = off(Kxx) / (30 * 29) + off(Kyy) / (20 * 19) - 2 * Kxy.mean()
    assert mmd2(X, Y, kernel="linear") == pytest.approx(u, rel=1e-9)
    n2 = 20
    lin_ref_terms = []
    got = mmd2(X, Y, kernel="linear", estimator="linear", random_state=0)
    g = torch.Generator().manual_seed(0)
    px, py = torch.randperm(30, generator=g).numpy(), torch.randperm(20, generator=g).numpy()
    for i in range(0, n2, 2):
        x1, x2, y1, y2 = X[px[i]], X[px[i + 1]], Y[py[i]], Y[py[i + 1]]
        lin_ref_terms.append(x1 @ x2 + y1 @ y2 - x1 @ y2 - x2 @ y1)
    assert got == pytest.approx(np.mean(lin_ref_terms), rel=1e-9)


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
def test_mmd2_gradcheck(estimator):
    torch.manual_seed(0)
    X = torch.randn(7, 2, dtype=torch.float64, requires_grad=True)
    Y = (torch.randn(6, 2, dtype=torch.float64) + 0.5).requires_grad_()
    kw = dict(bandwidth=1.3, estimator=estimator, chunk_size=3)
    assert torch.autograd.gradcheck(lambda x, y: mmd2(x, y, scales=(0.5, 2.0), **kw), (X, Y))
    if estimator != "linear":
        w = torch.rand(7, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, y, w: mmd2(x, y, weights=w, **kw), (X, Y, w))
        kw["kernel"] = "linear"
        assert torch.autograd.gradcheck(lambda x, y, w: mmd2(x, y, weights=w, **kw), (X, Y, w))


def test_mmd2_median_bandwidth_gradient_flows():
    X = torch.randn(20, 3, requires_grad=True)
    Y = torch.randn(15, 3) + 1
    v = mmd2(X, Y)
    v.backward()
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0


def test_mmd2_rejects_bad_arguments():
    X, Y = _gauss(10, 3), _gauss(8, 3, seed=1)
    with pytest.raises(ValueError, match="kernel"):
        mmd2(X, Y, kernel="laplace")
    with pytest.raises(ValueError, match="estimator"):
        mmd2(X, Y, estimator="fast")
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2(X, Y, bandwidth="mean")
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2(X, Y, bandwidth=-1.0)
    with pytest.raises(ValueError, match="scales"):
        mmd2(X, Y, scales=())
    with pytest.raises(ValueError, match="scales"):
        mmd2(X, Y, scales=(1.0, 0.0))
    with pytest.raises(ValueError, match="weights"):
        mmd2(X, Y, weights=np.ones(9))
    with pytest.raises(ValueError, match="weights"):
        mmd2(X, Y, weights=-np.ones(10))
    with pytest.raises(ValueError, match="weights"):
        mmd2(X, Y, weights=np.zeros(10))
    with pytest.raises(ValueError, match="weights"):
        mmd2(X, Y, weights=np.eye(10)[0])  # all mass on one row: no U-statistic
    assert np.isfinite(mmd2(X, Y, weights=np.eye(10)[0], estimator="biased"))
    with pytest.raises(ValueError, match="weights"):
        mmd2(X, Y, weights=np.ones(10), estimator="linear")
    with pytest.raises(ValueError, match="at least 2 rows"):
        mmd2(X[:1], Y)
    with pytest.raises(ValueError, match="chunk_size"):
        mmd2(X, Y, chunk_size=0)
    with pytest.raises(ValueError, match="random_state"):
        mmd2(X, Y, random_state="seed")


# ------------------------------------------------------------------------------------ CORAL


def test_coral_distance_closed_form():
    X = _gauss(50, 3)
    assert coral_distance(X, X) == 0.0
    assert coral_distance(X, X + 5.0) == pytest.approx(0.0, abs=1e-20)  # means do not matter
    # hand-built: cov(Xh) = diag(2, 8) / 3, cov(Yh) = diag(18, 0)
    Xh = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    Yh = np.array([[3.0, 0.0], [-3.0, 0.0]])
    ref = ((2 / 3 - 18) ** 2 + (8 / 3) ** 2) / (4 * 2**2)
    assert coral_distance(Xh, Yh) == pytest.approx(ref, rel=1e-12)
    Y = _gauss(40, 3, seed=1, scale=2.0)
    ref = ((np.cov(X, rowvar=False) - np.cov(Y, rowvar=False)) ** 2).sum() / 36
    assert coral_distance(X, Y) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2 rows"):
        coral_distance(X[:1], Y)


# ------------------------------------------------------------------------------------ OT


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_wasserstein_matches_pot(metric):
    X, Y = _gauss(30, 3), _gauss(25, 3, shift=0.5, seed=1)
    rng = np.random.default_rng(2)
    a, b = rng.random(30), rng.random(25)
    M = ot.dist(X, Y, metric=metric)
    ref = ot.emd2(np.full(30, 1 / 30), np.full(25, 1 / 25), M)
    assert wasserstein(X, Y, metric=metric) == pytest.approx(ref, rel=1e-9)
    ref_w = ot.emd2(a / a.sum(), b / b.sum(), M)
    assert wasserstein(X, Y, a, b, metric=metric) == pytest.approx(ref_w, rel=1e-9)
    tensors = [torch.as_tensor(v) for v in (X, Y, a, b)]
    out = wasserstein(*tensors, metric=metric)
    assert isinstance(out, torch.Tensor) and out.ndim == 0
    assert float(out) == pytest.approx(ref_w, rel=1e-9)


def test_wasserstein_one_dimensional_closed_form():
    x, y = _gauss(40, 1), _gauss(40, 1, shift=0.8, seed=1, scale=2.0)
    diff = np.sort(x[:, 0]) - np.sort(y[:, 0])
    assert wasserstein(x, y) == pytest.approx(np.mean(diff**2), rel=1e-9)
    assert wasserstein(x, y, metric="euclidean") == pytest.approx(np.mean(np.abs(diff)), rel=1e-9)
    assert wasserstein(np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])) == pytest.approx(4.0)


def test_wasserstein_gradient_flows():
    X = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
    Y = torch.randn(6, 2, dtype=torch.float64) + 1
    assert torch.autograd.gradcheck(lambda x: wasserstein(x, Y), (X,))


def _pot_plan(X, Y, a, b, eps, metric="sqeuclidean"):
    M = ot.dist(X, Y, metric=metric)
    G = ot.bregman.sinkhorn_log(a, b, M, eps, numItermax=100_000, stopThr=1e-12)
    return M, G


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sinkhorn_matches_pot(metric, weighted):
    X, Y = _gauss(35, 2), _gauss(28, 2, shift=0.6, seed=1)
    rng = np.random.default_rng(4)
    a = rng.random(35) + 0.1 if weighted else np.ones(35)
    b = rng.random(28) + 0.1 if weighted else np.ones(28)
    a, b = a / a.sum(), b / b.sum()
    eps = 0.3
    M, G = _pot_plan(X, Y, a, b, eps, metric)
    kw = dict(reg=eps, relative_reg=False, metric=metric, tol=1e-10, max_iter=20_000)
    if weighted:
        kw.update(a=a, b=b)
    val, f, g = sinkhorn(X, Y, return_potentials=True, **kw)
    P = a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - M) / eps)
    np.testing.assert_allclose(P, G, atol=1e-9)
    # the transport cost <P, C> is what ot.sinkhorn2 returns ...
    pot = ot.sinkhorn2(a, b, M, eps, method="sinkhorn_log", stopThr=1e-12, numItermax=100_000)
    assert (P * M).sum() == pytest.approx(pot, rel=1e-7)
    # ... and the value returned is the entropic objective <P, C> + eps KL(P | a x b)
    entropic = (G * M).sum() + eps * (G * np.log(G / np.outer(a, b))).sum()
    assert val == pytest.approx(entropic, rel=1e-7)


def test_sinkhorn_relative_reg_scales_by_median_cost():
    X, Y = _gauss(30, 4), _gauss(30, 4, shift=0.5, seed=1)
    med = float(median_sq_distance(torch.as_tensor(X), torch.as_tensor(Y)))
    rel = sinkhorn(X, Y, reg=0.1, tol=1e-9, max_iter=5000)
    absolute = sinkhorn(X, Y, reg=0.1 * med, relative_reg=False, tol=1e-9, max_iter=5000)
    assert rel == pytest.approx(absolute, rel=1e-7)


def test_sinkhorn_chunked_equals_unchunked():
    X, Y = _gauss(40, 3), _gauss(31, 3, shift=0.5, seed=1)
    kw = dict(tol=1e-9, max_iter=5000)
    dense, f_d, g_d = sinkhorn(X, Y, return_potentials=True, **kw)
    chunked, f_c, g_c = sinkhorn(X, Y, chunk_size=7, return_potentials=True, **kw)
    assert chunked == pytest.approx(dense, rel=1e-10)
    np.testing.assert_allclose(f_c, f_d, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(g_c, g_d, rtol=1e-8, atol=1e-10)
    s_dense = sinkhorn_divergence(X, Y, **kw)
    assert sinkhorn_divergence(X, Y, chunk_size=7, **kw) == pytest.approx(s_dense, rel=1e-8)


def test_sinkhorn_divergence_zero_on_equal_and_positive_otherwise():
    X = _gauss(50, 3)
    assert sinkhorn_divergence(X, X) == 0.0
    assert sinkhorn_divergence(X, X.copy(), metric="euclidean") == 0.0
    Xt = torch.as_tensor(X, dtype=torch.float32)
    assert float(sinkhorn_divergence(Xt, Xt.clone())) == 0.0
    values = [sinkhorn_divergence(X, _gauss(45, 3, shift=s, seed=1)) for s in (0.1, 0.5, 1, 2)]
    assert 0 < values[0] and all(a < b for a, b in zip(values, values[1:])), values
    for seed in range(3):  # same distribution, other sample: positive, well below a shift of 1
        assert 0 < sinkhorn_divergence(X, _gauss(45, 3, seed=10 + seed)) < 0.5 * values[2]


def test_sinkhorn_divergence_tends_to_exact_ot_as_reg_shrinks():
    X, Y = _gauss(30, 2), _gauss(30, 2, shift=1.0, seed=1)
    W = wasserstein(X, Y)
    regs = (0.1, 0.02, 0.005)
    errors = [abs(sinkhorn_divergence(X, Y, reg=r, max_iter=20_000) - W) / W for r in regs]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.03


def test_sinkhorn_gradcheck():
    torch.manual_seed(0)
    X = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    Y = (torch.randn(5, 2, dtype=torch.float64) + 0.5).requires_grad_()
    kw = dict(reg=0.3, relative_reg=False, tol=1e-12, max_iter=10_000)
    assert torch.autograd.gradcheck(lambda x, y: sinkhorn_divergence(x, y, **kw), (X, Y), atol=1e-6)
    a = torch.rand(6, dtype=torch.float64, requires_grad=True)
    # chunked (checkpointed blocks) and with masses
    f = lambda x, a: sinkhorn(x, Y.detach(), a=a, chunk_size=4, **kw)  # noqa: E731
    assert torch.autograd.gradcheck(f, (X, a), atol=1e-6)


def test_sinkhorn_warns_when_not_converged():
    X, Y = _gauss(30, 2), _gauss(30, 2, shift=1.0, seed=1)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        sinkhorn(X, Y, reg=0.001, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn(X, Y)  # the default converges
        sinkhorn_divergence(X, Y)


def test_ot_rejects_bad_arguments():
    X, Y = _gauss(10, 2), _gauss(8, 2, seed=1)
    with pytest.raises(ValueError, match="metric"):
        wasserstein(X, Y, metric="cosine")
    with pytest.raises(ValueError, match="a has"):
        wasserstein(X, Y, a=np.ones(3))
    with pytest.raises(ValueError, match="b has negative"):
        sinkhorn(X, Y, b=-np.ones(8))
    with pytest.raises(ValueError, match="reg"):
        sinkhorn(X, Y, reg=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        sinkhorn_divergence(X, Y, max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        sinkhorn_divergence(X, Y, tol=-1.0)


# ------------------------------------------------------------------------------------ PAD


def test_proxy_a_distance():
    same = proxy_a_distance(_gauss(400, 5), _gauss(400, 5, seed=1))
    far = proxy_a_distance(_gauss(400, 5), _gauss(400, 5, shift=3.0, seed=1))
    assert abs(same) < 0.3
    assert far > 1.9
    assert isinstance(same, float)
    assert proxy_a_distance(torch.randn(100, 5), torch.randn(100, 5) + 3) > 1.8
    # the estimator is used: a constant classifier errs on half of a balanced test split
    dummy = DummyClassifier(strategy="most_frequent")
    assert proxy_a_distance(_gauss(100, 3), _gauss(100, 3, shift=3.0), estimator=dummy) == 0.0
    a = proxy_a_distance(_gauss(200, 3), _gauss(200, 3, shift=0.3, seed=1), random_state=3)
    b = proxy_a_distance(_gauss(200, 3), _gauss(200, 3, shift=0.3, seed=1), random_state=3)
    assert a == b


def test_proxy_a_distance_does_not_reward_naming_the_larger_domain():
    # one distribution, samples of 800 and 200: a classifier that always says "X" errs on a
    # fifth of the rows, but on half of the balanced error, so the distance stays about 0
    dummy = DummyClassifier(strategy="most_frequent")
    assert proxy_a_distance(_gauss(800, 5), _gauss(200, 5, seed=1), estimator=dummy) == 0.0
    for seed in range(3):
        value = proxy_a_distance(_gauss(800, 5, seed=2 + seed), _gauss(200, 5, seed=9 + seed), random_state=seed)
        assert abs(value) < 0.35, value
    assert proxy_a_distance(_gauss(800, 5), _gauss(200, 5, shift=3.0, seed=1)) > 1.9
    with pytest.raises(ValueError, match="no held-out row of X"):  # not a NaN
        proxy_a_distance(_gauss(2, 3), _gauss(998, 3, shift=3.0), test_size=0.1)


# ------------------------------------------------------------------------------------ I/O


MEASURES = {
    "mmd2": mmd2,
    "mmd2_linear": lambda X, Y: mmd2(X, Y, kernel="linear"),
    "coral": coral_distance,
    "wasserstein": wasserstein,
    "sinkhorn": sinkhorn,
    "sinkhorn_divergence": sinkhorn_divergence,
}


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_numpy_and_torch_inputs_agree(name):
    fn = MEASURES[name]
    X, Y = _gauss(40, 3), _gauss(30, 3, shift=0.5, seed=1)
    ref = fn(X, Y)
    assert type(ref) is float
    v32 = fn(X.astype(np.float32), Y.astype(np.float32))
    assert type(v32) is float and v32 == pytest.approx(ref, rel=1e-4, abs=1e-6)
    for dtype in (torch.float64, torch.float32):
        out = fn(torch.as_tensor(X, dtype=dtype), torch.as_tensor(Y, dtype=dtype))
        assert isinstance(out, torch.Tensor) and out.ndim == 0 and out.dtype == dtype
        assert float(out) == pytest.approx(ref, rel=1e-4, abs=1e-6)
    mixed = fn(X, torch.as_tensor(Y))  # one tensor is enough for a tensor out
    assert isinstance(mixed, torch.Tensor) and float(mixed) == pytest.approx(ref, rel=1e-10)
    # float32 numpy is computed in float32 (not silently upcast): identical to torch float32
    t32 = fn(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(Y, dtype=torch.float32))
    assert v32 == float(t32)


@pytest.mark.parametrize("name", sorted(MEASURES) + ["pad"])
def test_bad_inputs_name_the_argument(name):
    fn = proxy_a_distance if name == "pad" else MEASURES[name]
    X, Y = _gauss(10, 3), _gauss(8, 3, seed=1)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="^X contains NaN"):
        fn(Xn, Y)
    with pytest.raises(ValueError, match="^Y contains NaN"):
        fn(X, torch.as_tensor(Xn))
    with pytest.raises(ValueError, match="X has 3 features but Y has 2"):
        fn(X, Y[:, :2])
    with pytest.raises(ValueError, match="^Y is empty"):
        fn(X, np.empty((0, 3)))
    with pytest.raises(ValueError, match="^X must be 2-dimensional"):
        fn(X[0], Y)
