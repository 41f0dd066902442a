"""The contract every adapter keeps (DESIGN.md §1), checked for all of them at once."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import domadapt
from domadapt import Adapter
from domadapt.deep import DeepAdapter

# small, fast settings per adapter; every exported adapter must appear here
FAST_PARAMS: dict[str, dict] = {
    "CORAL": {},
    "SubspaceAlignment": {"n_components": 3},
    "TCA": {"n_components": 3},
    "JDA": {"n_components": 3, "n_iter": 2},
    "OTMapping": {},
    "ULSIF": {"n_centers": 20},
    "RuLSIF": {"n_centers": 20},
    "DiscriminativeWeighting": {},
    "KMM": {},
    "KLIEP": {"n_centers": 20, "cv": 3, "random_state": 0},
    "NearestNeighborWeighting": {},
    "RelationalDistillation": {
        "hidden": (16,), "epochs": 2, "batch_size": 16, "random_state": 0, "verbose": False
    },
    "DeepAdapter": {"hidden": (16,), "epochs": 2, "batch_size": 16, "random_state": 0, "verbose": False},
}


class OneNN(KNeighborsClassifier):
    """1-nearest-neighbour whose ``fit`` takes ``sample_weight`` (recorded, not used).

    Instance-based adapters refuse estimators without ``sample_weight``; this one lets the
    1-NN checks below run for every adapter and shows which weights reached the estimator.
    """

    def __init__(self):
        super().__init__(n_neighbors=1)

    def fit(self, X, y, sample_weight=None):
        self.sample_weight_ = sample_weight
        return super().fit(X, y)


def exported_adapters() -> list[type[Adapter]]:
    """Every public Adapter subclass reachable from the top-level package."""
    found = {
        obj
        for name in domadapt.__all__
        if isinstance(obj := getattr(domadapt, name), type)
        and issubclass(obj, Adapter)
        and obj is not Adapter
    }
    return sorted(found, key=lambda c: c.__name__)


ADAPTERS = exported_adapters()


def make(cls: type[Adapter], **extra) -> Adapter:
    params = dict(FAST_PARAMS.get(cls.__name__, {}))
    params.update(extra)
    return cls(**params)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n_s, n_t, d = 60, 50, 6
    ys = np.repeat([0, 1, 2], n_s // 3)
    yt = np.repeat([0, 1, 2], [17, 17, 16])
    centers = rng.normal(scale=3.0, size=(3, d))
    Xs = centers[ys] + rng.normal(size=(n_s, d))
    R = np.linalg.qr(rng.normal(size=(d, d)))[0]
    Xt = (centers[yt] + rng.normal(size=(n_t, d))) @ R * 1.5 + 0.5
    return {"Xs": Xs, "ys": ys, "Xt": Xt, "yt": yt}


def test_every_adapter_has_fast_params() -> None:
    assert ADAPTERS, "no adapter exported"
    missing = [c.__name__ for c in ADAPTERS if c.__name__ not in FAST_PARAMS]
    assert not missing, f"add {missing} to FAST_PARAMS"


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__name__)
class TestContract:
    def test_params_and_clone(self, cls):
        a = make(cls)
        params = a.get_params()
        b = clone(a)
        assert b.get_params().keys() == params.keys()
        for k, v in params.items():
            assert b.get_params()[k] is v or b.get_params()[k] == v
        a.set_params(device="cpu")
        assert a.get_params()["device"] == "cpu"
        assert "estimator" in params and "device" in params

    def test_init_stores_params_untouched(self, cls):
        import inspect

        sig = inspect.signature(cls.__init__)
        a = make(cls)
        for name in sig.parameters:
            if name == "self":
                continue
            assert hasattr(a, name), f"__init__ must store {name} as an attribute"

    def test_numpy_scalar_hyper_parameters_fit_like_python_ones(self, cls, data):
        """Grids built with np.arange / np.logspace hand numpy scalars to every parameter."""
        plain = make(cls)
        # np.float64 subclasses float: float32 where it holds the value exactly tests more
        as_numpy = {
            name: (np.int64(value) if isinstance(value, int)
                   else np.float32(value) if float(np.float32(value)) == value else np.float64(value))
            for name, value in plain.get_params(deep=False).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        converted = make(cls, **as_numpy)
        for name, value in as_numpy.items():
            assert type(converted.get_params()[name]).__module__ == "numpy", name
        Z = converted.fit(data["Xs"], data["ys"], data["Xt"]).transform(data["Xs"], domain="source")
        reference = plain.fit(data["Xs"], data["ys"], data["Xt"]).transform(data["Xs"], domain="source")
        np.testing.assert_allclose(Z, reference, rtol=1e-6, atol=1e-8)

    def test_fit_returns_self_and_report(self, cls, data):
        a = make(cls)
        assert a.fit(data["Xs"], data["ys"], data["Xt"]) is a
        rep = a.report_
        for key in ("method", "device", "dtype", "n_source", "n_target", "fit_time_s"):
            assert key in rep
        assert rep["n_source"] == 60 and rep["n_target"] == 50
        for key in ("discrepancy_before", "discrepancy_after"):
            assert set(rep[key]) == {"mmd2", "coral"}
            assert all(np.isfinite(v) for v in rep[key].values())

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_numpy_in_numpy_out(self, cls, data, dtype):
        a = make(cls).fit(data["Xs"].astype(dtype), data["ys"], data["Xt"].astype(dtype))
        for domain, X in (("source", data["Xs"]), ("target", data["Xt"])):
            Z = a.transform(X.astype(dtype), domain=domain)
            assert isinstance(Z, np.ndarray) and Z.dtype == dtype
            assert Z.shape[0] == X.shape[0] and np.isfinite(Z).all()

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_tensor_in_tensor_out(self, cls, data, dtype):
        Xs, Xt = torch.tensor(data["Xs"], dtype=dtype), torch.tensor(data["Xt"], dtype=dtype)
        a = make(cls).fit(Xs, torch.tensor(data["ys"]), Xt)
        Z = a.transform(Xt)
        assert isinstance(Z, torch.Tensor) and Z.dtype == dtype and Z.device == Xt.device
        assert a.transform(Xs, domain="source").shape[0] == Xs.shape[0]

    def test_numpy_and_torch_agree(self, cls, data):
        a = make(cls).fit(data["Xs"], data["ys"], data["Xt"])
        b = make(cls).fit(torch.tensor(data["Xs"]), torch.tensor(data["ys"]), torch.tensor(data["Xt"]))
        for domain in ("source", "target"):
            X = data["Xs"] if domain == "source" else data["Xt"]
            np.testing.assert_allclose(
                a.transform(X, domain=domain),
                b.transform(torch.tensor(X), domain=domain).numpy(),
                rtol=1e-6,
                atol=1e-8,
            )

    def test_deterministic(self, cls, data):
        Z1 = make(cls, random_state=0) if "random_state" in make(cls).get_params() else make(cls)
        Z2 = clone(Z1)
        z1 = Z1.fit(data["Xs"], data["ys"], data["Xt"]).transform(data["Xs"], domain="source")
        z2 = Z2.fit(data["Xs"], data["ys"], data["Xt"]).transform(data["Xs"], domain="source")
        np.testing.assert_array_equal(z1, z2)

    def test_fit_transform_is_source_transform(self, cls, data):
        a = make(cls)
        Z = a.fit_transform(data["Xs"], data["ys"], data["Xt"])
        np.testing.assert_allclose(Z, a.transform(data["Xs"], domain="source"), rtol=1e-10, atol=1e-12)

    def test_output_does_not_alias_input(self, cls, data):
        Xt = data["Xt"].copy()
        a = make(cls).fit(data["Xs"], data["ys"], Xt)
        Z = a.transform(Xt)
        Z[...] = 12345.0
        np.testing.assert_array_equal(Xt, data["Xt"])

    def test_estimator_predict_score(self, cls, data):
        a = make(cls, estimator=LogisticRegression(max_iter=500)).fit(data["Xs"], data["ys"], data["Xt"])
        pred = a.predict(data["Xt"])
        assert pred.shape == (50,) and set(np.unique(pred)) <= {0, 1, 2}
        assert 0.0 <= a.score(data["Xt"], data["yt"]) <= 1.0
        assert np.isclose(a.score(data["Xt"], data["yt"]), np.mean(pred == data["yt"]))
        proba = a.predict_proba(data["Xt"])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        tpred = a.predict(torch.tensor(data["Xt"]))
        assert isinstance(tpred, torch.Tensor)
        np.testing.assert_array_equal(tpred.numpy(), pred)

    def test_estimator_is_a_fitted_clone(self, cls, data):
        est = OneNN()
        a = make(cls, estimator=est).fit(data["Xs"], data["ys"], data["Xt"])
        assert a.estimator_ is not est and not hasattr(est, "classes_")
        Zs = a.transform(data["Xs"], domain="source")
        # 1-NN on the adapted source predicts its own training points exactly
        np.testing.assert_array_equal(a.predict(data["Xs"], domain="source"), data["ys"])
        assert Zs.shape[0] == 60
        weight = getattr(a, "sample_weight_", None)
        if weight is not None:  # instance-based: the weights reached the estimator
            np.testing.assert_array_equal(a.estimator_.sample_weight_, weight)

    def test_no_estimator_predict_raises(self, cls, data):
        a = make(cls).fit(data["Xs"], data["ys"], data["Xt"])
        if issubclass(cls, DeepAdapter):  # deep adapters classify with their own head
            pred = a.predict(data["Xt"])
            assert pred.shape == (50,) and set(np.unique(pred)) <= {0, 1, 2}
            np.testing.assert_allclose(a.predict_proba(data["Xt"]).sum(axis=1), 1.0, rtol=1e-5)
            return
        with pytest.raises(AttributeError, match="estimator"):
            a.predict(data["Xt"])

    def test_semi_supervised_target_labels(self, cls, data):
        yt = np.full(50, -1)
        yt[:6] = data["yt"][:6]
        a = make(cls, estimator=OneNN()).fit(data["Xs"], data["ys"], data["Xt"], yt)
        # the labelled target rows are in the estimator's training set: 1-NN recovers them
        np.testing.assert_array_equal(a.predict(data["Xt"][:6]), data["yt"][:6])

    def test_pickle_and_torch_save(self, cls, data):
        a = make(cls, estimator=LogisticRegression(max_iter=500)).fit(data["Xs"], data["ys"], data["Xt"])
        b = pickle.loads(pickle.dumps(a))
        np.testing.assert_array_equal(a.transform(data["Xt"]), b.transform(data["Xt"]))
        np.testing.assert_array_equal(a.predict(data["Xt"]), b.predict(data["Xt"]))
        buf = io.BytesIO()
        torch.save(a, buf)
        buf.seek(0)
        c = torch.load(buf, weights_only=False)
        np.testing.assert_array_equal(a.transform(data["Xs"], domain="source"), c.transform(data["Xs"], domain="source"))

    def test_not_fitted(self, cls, data):
        a = make(cls)
        with pytest.raises(NotFittedError):
            a.transform(data["Xt"])
        with pytest.raises(NotFittedError):
            a.predict(data["Xt"])

    @pytest.mark.parametrize(
        "case, match",
        [
            ("nan_source", "X contains NaN"),
            ("inf_target", "X_target contains NaN or inf"),
            ("empty_target", "X_target is empty"),
            ("feature_mismatch", "features"),
            ("one_class", "single class"),
            ("y_length", "y has 59 labels"),
            ("y_target_length", "y_target has 3 labels"),
            ("one_dim", "X must be 2-dimensional"),
        ],
    )
    def test_bad_input(self, cls, data, case, match):
        Xs, ys, Xt = data["Xs"].copy(), data["ys"].copy(), data["Xt"].copy()
        kwargs = {}
        if case == "nan_source":
            Xs[3, 2] = np.nan
        elif case == "inf_target":
            Xt[0, 0] = np.inf
        elif case == "empty_target":
            Xt = Xt[:0]
        elif case == "feature_mismatch":
            Xt = Xt[:, :4]
        elif case == "one_class":
            ys = np.zeros_like(ys)
        elif case == "y_length":
            ys = ys[:-1]
        elif case == "y_target_length":
            kwargs["y_target"] = np.array([0, 1, -1])
        elif case == "one_dim":
            Xs = Xs[:, 0]
        with pytest.raises(ValueError, match=match):
            make(cls).fit(Xs, ys, Xt, **kwargs)

    def test_bad_types(self, cls, data):
        with pytest.raises(TypeError, match="X_target"):
            make(cls).fit(data["Xs"], data["ys"], None)
        with pytest.raises(TypeError, match="X"):
            make(cls).fit(np.array([["a", "b"], ["c", "d"]]), [0, 1], data["Xt"][:, :2])

    def test_tensors_on_two_devices(self, cls, data):
        Xs = torch.tensor(data["Xs"])
        Xt = torch.empty(data["Xt"].shape, device="meta")
        with pytest.raises(ValueError, match="different devices"):
            make(cls).fit(Xs, torch.tensor(data["ys"]), Xt)

    def test_unknown_domain_and_feature_count(self, cls, data):
        a = make(cls).fit(data["Xs"], data["ys"], data["Xt"])
        with pytest.raises(ValueError, match="domain="):
            a.transform(data["Xt"], domain="tgt")
        with pytest.raises(ValueError, match="features"):
            a.transform(data["Xt"][:, :3])

    def test_unseen_target_label(self, cls, data):
        yt = np.full(50, -1)
        yt[0] = 7
        with pytest.raises(ValueError, match="y_target holds labels absent from y"):
            make(cls).fit(data["Xs"], data["ys"], data["Xt"], yt)
