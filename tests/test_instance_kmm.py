"""KMM: the QP solved to its optimum under exact constraints, and weights that track the ratio.

Also the checks shared by the three adapters of this family written together (KMM, KLIEP,
NearestNeighborWeighting): the weights reach the estimator, directly and in a pipeline.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import Bounds, LinearConstraint, linprog, minimize
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from domadapt import KLIEP, KMM, NearestNeighborWeighting, config_context, make_da_pipeline
from domadapt.datasets import make_gaussian_covariate_shift
from domadapt.discrepancy import mmd2
from domadapt.kernels import sq_norms
import domadapt.instance.kmm as kmm_module
from domadapt.instance.kmm import (
    _dense_kernel, _metric, frank_wolfe_gap, project_box_sum, solve_kmm, solve_kmm_interior,
)


@pytest.fixture(scope="module")
def shift():
    return make_gaussian_covariate_shift(2000, random_state=0)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(60, 2))
    Xt = rng.normal(0.5, 0.6, size=(50, 2))
    return Xs, np.arange(60) % 2, Xt


def kmm_problem(Xs, Xt, gamma):
    """K and κ of the KMM program in numpy (the reference)."""
    K = np.exp(-gamma * ((Xs[:, None] - Xs[None]) ** 2).sum(-1))
    kappa = len(Xs) / len(Xt) * np.exp(-gamma * ((Xs[:, None] - Xt[None]) ** 2).sum(-1)).sum(1)
    return K, kappa


# ------------------------------------------------------------------------ the density ratio
def test_weights_track_the_true_ratio_and_lower_the_mmd(shift):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        kmm = KMM().fit(shift.X_source, shift.y_source, shift.X_target)
    w = kmm.sample_weight_
    rho = spearmanr(w, shift.source_weights)[0]
    assert rho >= 0.8, rho  # 0.995 measured
    plain = mmd2(shift.X_source, shift.X_target)
    weighted = mmd2(shift.X_source, shift.X_target, weights=w)
    assert weighted < 0.05 * plain
    rep = kmm.report_
    assert rep["discrepancy_after"]["mmd2"] < rep["discrepancy_before"]["mmd2"]
    assert kmm.n_iter_ < 1000 and kmm.duality_gap_ <= 1e-6 * abs(kmm.objective_)


# -------------------------------------------------------------------- the QP and its solver
@pytest.mark.parametrize("B, eps", [(1000.0, None), (2.0, 0.1), (1.5, 0.0), (1.0, 0.5)])
def test_constraints_hold_exactly(small, B, eps):
    Xs, ys, Xt = small
    kmm = KMM(B=B, eps=eps).fit(Xs, ys, Xt)
    w, n = kmm.sample_weight_, len(Xs)
    expected_eps = (np.sqrt(n) - 1) / np.sqrt(n) if eps is None else eps
    assert kmm.eps_ == pytest.approx(expected_eps, abs=0)
    assert w.dtype == np.float64 and w.min() >= 0.0 and w.max() <= B
    assert abs(w.sum() - n) <= n * expected_eps + 1e-9


@pytest.mark.parametrize("B, eps", [(1000.0, None), (2.0, 0.1), (1.5, 0.0)])
def test_objective_matches_a_scipy_qp_solve(small, B, eps):
    Xs, ys, Xt = small
    kmm = KMM(B=B, eps=eps).fit(Xs, ys, Xt)  # default tol=1e-6
    K, kappa = kmm_problem(Xs, Xt, kmm.gamma_)
    n, e = len(Xs), kmm.eps_

    def f(w):
        return 0.5 * w @ K @ w - kappa @ w

    w = kmm.sample_weight_
    assert kmm.objective_ == pytest.approx(f(w), rel=1e-12)
    refs = []
    for method in ("SLSQP", "trust-constr"):
        res = minimize(
            f, np.ones(n), jac=lambda v: K @ v - kappa, hess=(lambda v: K) if method != "SLSQP" else None,
            method=method, bounds=Bounds(0.0, B),
            constraints=[LinearConstraint(np.ones((1, n)), n * (1 - e), n * (1 + e))],
            options={"ftol": 1e-15, "maxiter": 2000} if method == "SLSQP"
            else {"gtol": 1e-12, "xtol": 1e-14, "maxiter": 20000},
        )
        v = np.clip(res.x, 0.0, B)
        assert abs(v.sum() - n) <= n * e + 1e-6  # the reference is feasible
        refs.append(f(v))
    best = min(refs)
    assert abs(kmm.objective_ - best) <= 1e-4 * abs(best)
    # the certified gap is an honest bound: no feasible point is lower than objective − gap
    assert best >= kmm.objective_ - kmm.duality_gap_ - 1e-12 * abs(best)
    # hence ours is at least as low as scipy's up to tol: f − f* <= gap <= tol |f| and f* <= best
    assert kmm.duality_gap_ <= 1e-6 * abs(kmm.objective_)
    assert kmm.objective_ <= best + 1e-6 * abs(kmm.objective_)


@pytest.mark.parametrize("beta", [0.0, 0.01, 1.0, 100.0])
def test_projection_is_exact_in_its_metric(beta):
    rng = np.random.default_rng(1)
    for trial in range(30):
        n = int(rng.integers(1, 40))
        v = torch.tensor(rng.normal(scale=rng.uniform(0.1, 5.0), size=n) + rng.uniform(-2, 3))
        upper = float(rng.uniform(1.0, 3.0))
        lo = float(rng.uniform(0.1, 0.9) * n)
        hi = min(lo + float(rng.uniform(0.0, 0.5) * n), n * upper)
        p = project_box_sum(v, upper, lo, hi, beta)
        assert float(p.min()) >= 0.0 and float(p.max()) <= upper
        assert lo - 1e-9 * n <= float(p.sum()) <= hi + 1e-9 * n
        # p minimises ½ (w − v)ᵀ (I + β 11ᵀ) (w − v) over the set iff the Frank–Wolfe gap of
        # that objective's gradient vanishes at p
        grad = (p - v) + beta * (p - v).sum()
        scale = (1 + float(v.abs().max())) * n * (1 + beta)
        assert float(frank_wolfe_gap(p, grad, upper, lo, hi)) <= 1e-12 * scale


def test_step_metric_bounds_the_kernel_matrix():
    rng = np.random.default_rng(4)
    for d in (100, 1):  # Gaussian kernel matrices: one eigenvalue along ≈ 1 dominates in high d
        X = torch.tensor(rng.normal(size=(300, d)))
        K = torch.exp(-torch.cdist(X, X) ** 2 / (2 * d))
        L, beta = _metric(lambda v: K @ v, 300, K[:, 0])
        M = torch.eye(300, dtype=K.dtype) + beta * torch.ones(300, 300, dtype=K.dtype)
        assert float(torch.linalg.eigvalsh(L * M - K)[0]) >= -1e-9 * L  # L M ⪰ K: safe steps
        if d == 100:  # the metric pays: L far below λ_max(K), long steps
            assert beta > 0 and L < float(torch.linalg.eigvalsh(K)[-1]) / 10


@pytest.mark.parametrize("beta", [0.0, 0.05])
def test_solver_survives_an_underestimated_step_bound(monkeypatch, beta):
    # steps three times too long (L = λ_max / 3): the curvature guard must raise L and the
    # solver still reach the optimum
    rng = np.random.default_rng(5)
    n = 60
    Q = torch.linalg.qr(torch.tensor(rng.normal(size=(n, n))))[0]
    K = Q @ torch.diag(torch.linspace(0.0, 5.0, n, dtype=Q.dtype)) @ Q.T
    monkeypatch.setattr(kmm_module, "_metric", lambda matvec, n, like: (5.0 / 3.0, beta))
    kappa = torch.tensor(rng.uniform(0.5, 3.0, size=n))
    sol = solve_kmm(lambda v: K @ v, kappa, 3.0, 0.5 * n, 1.5 * n, tol=1e-9, max_iter=20000)
    assert sol.converged
    Kn, kn = K.numpy(), kappa.numpy()
    res = minimize(
        lambda w: 0.5 * w @ Kn @ w - kn @ w, np.ones(n), jac=lambda w: Kn @ w - kn, method="SLSQP",
        bounds=[(0.0, 3.0)] * n, options={"ftol": 1e-15, "maxiter": 2000},
        constraints=[LinearConstraint(np.ones((1, n)), 0.5 * n, 1.5 * n)],
    )
    ref = 0.5 * res.x @ Kn @ res.x - kn @ res.x
    assert sol.objective <= ref + 1e-9 * abs(ref) and ref >= sol.objective - sol.gap - 1e-9


def gaussian_program(n, d, seed):
    """K, κ and the default sum bounds of a KMM program on Gaussian data in d dimensions."""
    rng = np.random.default_rng(seed)
    Xs, Xt = rng.normal(size=(n, d)), rng.normal(0.3, 0.8, size=(n, d))
    K, kappa = kmm_problem(Xs, Xt, 0.5 / (2 * d))
    eps = (np.sqrt(n) - 1) / np.sqrt(n)
    return torch.tensor(K), torch.tensor(kappa), n * (1 - eps), n * (1 + eps)


def exact_certificate(K, kappa, w, lo, hi):
    f = float(0.5 * w @ (K @ w) - kappa @ w)
    return f, float(frank_wolfe_gap(w, K @ w - kappa, 1000.0, lo, hi))


@pytest.mark.parametrize("tol", [1e-6, 1e-10])
def test_float32_products_reach_the_float64_optimum(tol):
    # the iterations multiply by a float32 copy of K, the checks by K: the solver must return
    # the float64 program's optimum with a float64 certificate, also at tol=1e-10 where an
    # iteration on float32 products alone stalls (its true gap stays near 7e-7 |f| here)
    K, kappa, lo, hi = gaussian_program(400, 20, seed=6)
    K32 = K.float()
    calls = {"float64": 0, "float32": 0}

    def exact(v):
        calls["float64"] += 1
        return K @ v

    def fast(v):
        calls["float32"] += 1
        return (K32 @ v.float()).double()

    mixed = solve_kmm(exact, kappa, 1000.0, lo, hi, tol=tol, max_iter=20000, fast_matvec=fast)
    plain = solve_kmm(lambda v: K @ v, kappa, 1000.0, lo, hi, tol=tol, max_iter=20000)
    assert mixed.converged and plain.converged
    f, gap = exact_certificate(K, kappa, mixed.weights, lo, hi)
    assert mixed.objective == pytest.approx(f, rel=1e-13)
    assert mixed.gap == pytest.approx(gap, rel=1e-6, abs=1e-13 * abs(f))  # computed on K, not K32
    assert gap <= tol * abs(f)
    assert abs(mixed.objective - plain.objective) <= tol * abs(f)  # both within tol of f*
    # the float32 copy did the work: one float64 product per check, every 10 iterations
    assert calls["float32"] >= mixed.n_iter
    assert calls["float64"] <= mixed.n_iter // 10 + 3


def test_a_rough_fast_product_changes_the_path_not_the_answer():
    # a "fast" operator off by 1e-3 relative per entry (indefinite, far beyond float32
    # rounding): the gradient is re-anchored on K at every check and the certificate taken on
    # K, so the solver still lands on the exact program's optimum, certified
    K, kappa, lo, hi = gaussian_program(400, 20, seed=6)
    noise = torch.tensor(np.random.default_rng(7).normal(size=K.shape))
    rough = K * (1.0 + 1e-3 * (noise + noise.T) / 2)
    assert float(torch.linalg.eigvalsh(rough)[0]) < 0
    sol = solve_kmm(lambda v: K @ v, kappa, 1000.0, lo, hi, tol=1e-10, max_iter=20000,
                    fast_matvec=lambda v: rough @ v)
    plain = solve_kmm(lambda v: K @ v, kappa, 1000.0, lo, hi, tol=1e-10, max_iter=20000)
    assert sol.converged
    f, gap = exact_certificate(K, kappa, sol.weights, lo, hi)
    assert sol.gap == pytest.approx(gap, rel=1e-6, abs=1e-13 * abs(f)) and gap <= 1e-10 * abs(f)
    assert abs(sol.objective - plain.objective) <= 1e-10 * abs(f)


@pytest.mark.parametrize("upper, eps", [(1000.0, None), (2.0, 0.1)])
def test_interior_point_reaches_the_first_order_optimum(upper, eps):
    K, kappa, lo, hi = gaussian_program(400, 20, seed=6)
    if eps is not None:
        lo, hi = 400 * (1 - eps), 400 * (1 + eps)
    ipm = solve_kmm_interior(K, kappa, upper, lo, hi, tol=1e-10)
    first_order = solve_kmm(lambda v: K @ v, kappa, upper, lo, hi, tol=1e-10, max_iter=20000)
    assert ipm.converged and first_order.converged and ipm.n_iter <= 40
    f, gap = exact_certificate(K, kappa, ipm.weights, lo, hi) if upper == 1000.0 else (ipm.objective, ipm.gap)
    assert ipm.objective == pytest.approx(f, rel=1e-13) and ipm.gap <= 1e-10 * abs(f)
    assert abs(ipm.objective - first_order.objective) <= 1e-10 * abs(f)
    w = ipm.weights
    assert float(w.min()) >= 0.0 and float(w.max()) <= upper and lo <= float(w.sum()) <= hi


def test_nearly_singular_kernels_of_low_dimensional_data_converge_fast():
    # 2-D rows: K is numerically of low rank; projected gradients took 10,000 iterations (6 s)
    # and a ConvergenceWarning here, the interior point a dozen steps, certified
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(100, 2)), rng.normal(0.5, 1.0, size=(80, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        kmm = KMM().fit(Xs, np.arange(100) % 2, Xt)
    assert kmm.n_iter_ <= 40 and kmm.duality_gap_ <= 1e-6 * abs(kmm.objective_)
    K, kappa = kmm_problem(Xs - Xs.mean(0), Xt - Xs.mean(0), kmm.gamma_)
    w = kmm.sample_weight_
    assert kmm.objective_ == pytest.approx(0.5 * w @ K @ w - kappa @ w, rel=1e-10)


@pytest.mark.parametrize("eps", [1e-8, 1e-12])
def test_a_very_narrow_sum_band_falls_back_instead_of_dividing_by_zero(eps):
    # the interior point walks 0.99 of the way to the band's edge at each step: its slack
    # rounds to 0 after a few steps; the first-order solver then finishes the job
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(50, 2)), rng.normal(size=(60, 2)) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmm = KMM(eps=eps).fit(Xs, np.arange(50) % 2, Xt)
    w = kmm.sample_weight_
    assert np.isfinite(kmm.objective_) and w.min() >= 0 and abs(w.sum() - 50) <= 50 * eps + 1e-9


def test_float32_copy_only_within_the_memory_budget(small, monkeypatch):
    Xs, ys, Xt = small
    n = len(Xs)
    used = []
    solve = kmm_module.solve_kmm

    def spy(*args, **kwargs):
        used.append(kwargs["fast_matvec"] is not None)
        return solve(*args, **kwargs)

    monkeypatch.setattr(kmm_module, "solve_kmm", spy)
    monkeypatch.setattr(kmm_module, "_IPM_MAX_N", 0)  # the first-order solver at this size too
    # K and its float32 copy (12 n² bytes), K alone (8 n²), blocks
    budgets = (12 * n * n, 12 * n * n - 1, 0)
    fits = [KMM(B=2.0, eps=0.1, tol=1e-10, max_kernel_bytes=b).fit(Xs, ys, Xt)
            for b in budgets]
    assert used == [True, False, False]
    objectives = [kmm.objective_ for kmm in fits]
    assert max(objectives) - min(objectives) <= 1e-10 * abs(objectives[0])
    assert all(kmm.duality_gap_ <= 1e-10 * abs(kmm.objective_) for kmm in fits)


@pytest.mark.parametrize("gamma", [0.3, None])
def test_dense_kernel_is_exactly_symmetric(gamma):
    # built from the blocks on and right of the diagonal and mirrored (the products use Kᵀ)
    X = torch.tensor(np.random.default_rng(8).normal(size=(150, 4)))
    with config_context(chunk_size=40):  # blocks of 10 rows
        K = _dense_kernel(X, sq_norms(X), gamma)
    reference = X @ X.T if gamma is None else torch.exp(-gamma * torch.cdist(X, X) ** 2)
    assert torch.equal(K, K.T)
    torch.testing.assert_close(K, reference, rtol=0, atol=1e-13)


def test_frank_wolfe_gap_solves_the_linear_program():
    rng = np.random.default_rng(2)
    for trial in range(10):
        n = 12
        g = rng.normal(size=n) + rng.uniform(-1, 1)
        w = rng.uniform(0, 2, size=n)
        upper, lo, hi = 2.0, float(rng.uniform(1, 8)), float(rng.uniform(8, 20))
        lp = linprog(g, A_ub=np.vstack([np.ones(n), -np.ones(n)]), b_ub=[hi, -lo], bounds=[(0, upper)] * n)
        gap = float(frank_wolfe_gap(torch.tensor(w), torch.tensor(g), upper, lo, hi))
        assert gap == pytest.approx(g @ w - lp.fun, abs=1e-9)


def test_blocked_kernel_products_give_the_dense_solution(small):
    Xs, ys, Xt = small
    # B and eps active: the solver lands on the exact (unique) optimum, gap at rounding level
    dense = KMM(B=2.0, eps=0.1, tol=1e-12).fit(Xs, ys, Xt)
    with config_context(chunk_size=16):  # blocks of 4 rows of K
        blocked = KMM(B=2.0, eps=0.1, tol=1e-12, max_kernel_bytes=0).fit(Xs, ys, Xt)
    assert dense.duality_gap_ <= 1e-12 * abs(dense.objective_)
    assert blocked.objective_ == pytest.approx(dense.objective_, rel=1e-12)
    np.testing.assert_allclose(blocked.sample_weight_, dense.sample_weight_, atol=1e-8)


def test_linear_kernel_matches_the_scaled_target_mean(small):
    Xs, ys, Xt = small
    kmm = KMM(kernel="linear", tol=1e-10).fit(Xs, ys, Xt)
    w = kmm.sample_weight_
    # ½‖Σ w_i x_i − (n_s/n_t) Σ_j x'_j‖² = objective + C reaches 0: the target mean is reachable
    residual = w @ Xs - len(Xs) / len(Xt) * Xt.sum(axis=0)
    assert np.linalg.norm(residual) <= 1e-3 * np.linalg.norm(len(Xs) * Xt.mean(axis=0))
    assert kmm.gamma_ is None


def test_explicit_gamma_and_median_heuristic(small):
    Xs, ys, Xt = small
    pooled = np.vstack([Xs, Xt])
    d2 = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)[np.triu_indices(len(pooled), 1)]
    assert KMM().fit(Xs, ys, Xt).gamma_ == pytest.approx(0.5 / np.median(d2), rel=1e-10)
    assert KMM(gamma=0.7).fit(Xs, ys, Xt).gamma_ == 0.7


def test_compute_weights_resolves_against_the_target(small):
    Xs, ys, Xt = small
    kmm = KMM(B=2.0, tol=1e-12).fit(Xs, ys, Xt)  # exact optimum (see above)
    state = (kmm.objective_, kmm.n_iter_)
    np.testing.assert_allclose(kmm.compute_weights(Xs), kmm.sample_weight_, atol=1e-8)
    new = kmm.compute_weights(Xs[:40])  # a new sample: its own program, its own default eps
    eps = (np.sqrt(40) - 1) / np.sqrt(40)
    assert new.shape == (40,) and abs(new.sum() - 40) <= 40 * eps + 1e-9
    fixed = KMM(B=2.0, gamma=kmm.gamma_, tol=1e-12).fit(Xs[:40], ys[:40], Xt)
    np.testing.assert_allclose(new, fixed.sample_weight_, atol=1e-8)
    assert (kmm.objective_, kmm.n_iter_) == state  # the fitted state is untouched


def test_convergence_warning(small):
    Xs, ys, Xt = small
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        kmm = KMM(tol=1e-12, max_iter=2).fit(Xs, ys, Xt)
    assert kmm.n_iter_ == 2


# ------------------------------------------------------------------------- input handling
@pytest.mark.parametrize(
    "params, match",
    [
        ({"B": 0.5}, "B must be a number >= 1"),
        ({"B": float("nan")}, "B must be"),
        ({"eps": 1.0}, "eps must be None or a number in"),
        ({"eps": -0.1}, "eps must be"),
        ({"gamma": -1.0}, "gamma must be None or a positive number"),
        ({"kernel": "poly"}, "kernel must be one of"),
        ({"tol": 0.0}, "tol must be a positive number"),
        ({"max_iter": 0}, "max_iter must be a positive integer"),
        ({"max_kernel_bytes": -1}, "max_kernel_bytes"),
    ],
)
def test_bad_parameters(small, params, match):
    Xs, ys, Xt = small
    with pytest.raises(ValueError, match=match):
        KMM(**params).fit(Xs, ys, Xt)


def test_bad_data(small):
    Xs, ys, Xt = small
    bad = Xs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        KMM().fit(bad, ys, Xt)
    with pytest.raises(ValueError, match="X_target is empty"):
        KMM().fit(Xs, ys, Xt[:0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_and_torch_round_trip(small, dtype):
    Xs, ys, Xt = small
    a = KMM().fit(Xs.astype(dtype), ys, Xt.astype(dtype))
    assert a.sample_weight_.dtype == dtype and a.compute_weights(Xs.astype(dtype)).dtype == dtype
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    b = KMM().fit(torch.tensor(Xs, dtype=tdtype), torch.tensor(ys), torch.tensor(Xt, dtype=tdtype))
    assert isinstance(b.sample_weight_, torch.Tensor) and b.sample_weight_.dtype == tdtype
    # the program is solved in float64 either way: float32 input differs only by its rounding
    np.testing.assert_allclose(b.sample_weight_.numpy(), a.sample_weight_, rtol=1e-4, atol=1e-4)


# ---------------------------------------------- the weights reach the estimator (all three)
class WeightRecorder(ClassifierMixin, BaseEstimator):
    """A classifier that keeps the sample_weight its fit received."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.seen_weight_ = None if sample_weight is None else np.array(sample_weight, copy=True)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


FAMILY = {
    "KMM": lambda **kw: KMM(**kw),
    "KLIEP": lambda **kw: KLIEP(n_centers=20, cv=3, random_state=0, **kw),
    "NearestNeighborWeighting": lambda **kw: NearestNeighborWeighting(**kw),
}


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_estimator_receives_the_weights(small, name):
    Xs, ys, Xt = small
    a = FAMILY[name](estimator=WeightRecorder()).fit(Xs, ys, Xt)
    assert a.estimator_.seen_weight_ is not None
    np.testing.assert_array_equal(a.estimator_.seen_weight_, a.sample_weight_)
    assert np.ptp(a.sample_weight_) > 0  # not the uniform weights a dropped argument would mean

    pipe = make_da_pipeline(StandardScaler(), FAMILY[name](), WeightRecorder()).fit(Xs, ys, Xt)
    adapter, final = pipe.steps_[1][1], pipe.steps_[-1][1]
    np.testing.assert_array_equal(final.seen_weight_, adapter.sample_weight_)
    # the weights of the pipeline are those of the scaled data, not of the raw one
    scaler = StandardScaler().fit(Xs)
    direct = FAMILY[name]().fit(scaler.transform(Xs), ys, scaler.transform(Xt))
    np.testing.assert_allclose(final.seen_weight_, direct.sample_weight_, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_estimator_without_sample_weight_is_refused(small, name):
    Xs, ys, Xt = small
    with pytest.raises(TypeError, match="sample_weight"):
        FAMILY[name](estimator=KNeighborsClassifier(1)).fit(Xs, ys, Xt)
    with pytest.raises(TypeError, match="sample_weight"):
        make_da_pipeline(FAMILY[name](), KNeighborsClassifier(1)).fit(Xs, ys, Xt)
