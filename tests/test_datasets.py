"""domadapt.datasets and domadapt.bench.reference: loaders on generated files, the digit shifts,
the toys, and (marked realdata) the published 1-NN baselines on the real Office-Caltech-10 files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.io
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeClassifier
from sklearn.neighbors import KNeighborsClassifier

from domadapt.bench.reference import REFERENCES, find_references, reference_table
from domadapt.datasets import (
    DATASETS,
    DIGITS_DOMAINS,
    DIGITS_TASKS,
    OFFICE31_CLASSES,
    OFFICE31_TASKS,
    OFFICE_CALTECH10_CLASSES,
    OFFICE_CALTECH10_DECAF_TASKS,
    OFFICE_CALTECH10_TASKS,
    l1_normalize,
    list_tasks,
    load_digits_shift,
    load_feature_file,
    load_office31_features,
    load_office_caltech10,
    load_task,
    make_gaussian_covariate_shift,
    make_shifted_blobs,
    office31_task,
    office_caltech10_task,
    resolve_data_root,
    zscore,
)

SURF_NAMES = {"amazon": "amazon", "caltech": "Caltech10", "dslr": "dslr", "webcam": "webcam"}
# Per-class counts (labels 1..10) of the real files, from shared/data/README.md.
REAL_COUNTS = {
    "amazon": [92, 82, 94, 99, 100, 100, 99, 100, 94, 98],
    "caltech": [151, 110, 100, 138, 85, 128, 133, 94, 87, 97],
    "dslr": [12, 21, 12, 13, 10, 24, 22, 12, 8, 23],
    "webcam": [29, 21, 31, 27, 27, 30, 43, 30, 27, 30],
}
DECAF_1NN = {"D→W": 83.7, "W→D": 93.0}  # shared/data/README.md, section 3


def _manual_standard(raw: np.ndarray, l1: bool) -> np.ndarray:
    X = raw.astype(np.float64)
    if l1:
        X = X / X.sum(axis=1, keepdims=True)
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


@pytest.fixture
def fake_surf(tmp_path):
    """SURF-like files laid out like the real set: uint8 counts (sums well above 255), labels 1..10 as (n, 1)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "office_caltech10_surf"
    folder.mkdir()
    raw = {}
    for i, (domain, stem) in enumerate(SURF_NAMES.items()):
        n = 30 + 5 * i
        fts = rng.integers(0, 256, size=(n, 12), dtype=np.uint8)
        labels = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(folder / f"{stem}_SURF_L10.mat", {"fts": fts, "labels": labels})
        raw[domain] = (fts, labels.ravel())
    return tmp_path, raw


@pytest.fixture
def fake_decaf(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "office_caltech10_decaf6"
    folder.mkdir()
    raw = {}
    for domain, n in (("dslr", 20), ("webcam", 25)):
        feas = np.abs(rng.normal(size=(n, 16)))
        feas[:, 3] = 0.0  # a dead unit, as in the real DeCAF files
        labels = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)
        scipy.io.savemat(folder / f"{domain}_decaf.mat", {"feas": feas, "labels": labels})
        raw[domain] = (feas, labels.ravel())
    return tmp_path, raw


# --- data root -------------------------------------------------------------------------------------


def test_resolve_data_root_argument_env_and_errors(tmp_path, monkeypatch):
    other = tmp_path / "env"
    other.mkdir()
    monkeypatch.setenv("DOMADAPT_DATA", str(other))
    assert resolve_data_root(tmp_path) == tmp_path  # the argument wins over the variable
    assert resolve_data_root(str(tmp_path)) == tmp_path
    assert resolve_data_root(None) == other
    with pytest.raises(FileNotFoundError, match=r"data_root argument[\s\S]*office_caltech10_surf"):
        resolve_data_root(tmp_path / "missing")
    monkeypatch.setenv("DOMADAPT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="environment variable DOMADAPT_DATA"):
        resolve_data_root(None)
    monkeypatch.delenv("DOMADAPT_DATA")
    with pytest.raises(FileNotFoundError, match="DOMADAPT_DATA is not set"):
        resolve_data_root(None)


# --- generic feature files -------------------------------------------------------------------------


def test_load_feature_file_npz_mat_csv(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    y = np.array([2, 0, 1, 2])
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.savez(tmp_path / "b.npz", features=X, labels=y)
    scipy.io.savemat(tmp_path / "c.mat", {"fts": X.astype(np.float32), "labels": y.reshape(-1, 1)})
    scipy.io.savemat(tmp_path / "d.mat", {"X": X, "y": y.reshape(1, -1)})
    for name in ("a.npz", "b.npz", "c.mat", "d.mat"):
        Xr, yr = load_feature_file(tmp_path / name)
        assert Xr.dtype == np.float64 and Xr.flags.c_contiguous
        np.testing.assert_allclose(Xr, X, rtol=1e-6)
        np.testing.assert_array_equal(yr, y)
        assert yr.dtype == np.int64 and yr.ndim == 1

    rows = [",".join(f"{v:.17g}" for v in row) for row in X]
    (tmp_path / "plain.csv").write_text("\n".join(f"{r},{lab}" for r, lab in zip(rows, y)) + "\n")
    header = "f0,label,f1,f2\n"
    body = "".join(f"{row[0]!r},{lab},{row[1]!r},{row[2]!r}\n" for row, lab in zip(X.tolist(), y))
    (tmp_path / "named.csv").write_text(header + body)
    (tmp_path / "text.csv").write_text("a,b,c,y\n" + "".join(f"{r},mug\n" for r in rows))
    for name in ("plain.csv", "named.csv"):
        Xr, yr = load_feature_file(tmp_path / name)
        np.testing.assert_allclose(Xr, X)
        np.testing.assert_array_equal(yr, y)
    Xr, yr = load_feature_file(tmp_path / "text.csv")
    np.testing.assert_allclose(Xr, X)
    assert yr.tolist() == ["mug"] * 4


def test_text_labels_of_every_format_and_headerless_class_names(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    names = ["back_pack", "mug", "bike", "mug"]
    rows = [",".join(f"{v:.17g}" for v in row) for row in X]
    # headerless, class names in the last column: the first row is a sample, not a header
    (tmp_path / "names.csv").write_text("".join(f"{r},{n}\n" for r, n in zip(rows, names)))
    # Excel's "CSV UTF-8" starts with a byte-order mark, with or without a header
    (tmp_path / "bom.csv").write_bytes(("".join(f"{r},{k}\n" for r, k in zip(rows, range(4)))).encode("utf-8-sig"))
    (tmp_path / "bom_header.csv").write_bytes(
        ("label,a,b,c\n" + "".join(f"{k},{r}\n" for r, k in zip(rows, range(4)))).encode("utf-8-sig")
    )
    # DataFrame(X).assign(target=y).to_csv(index=False): numeric feature names, a named label
    (tmp_path / "target.csv").write_text("0,1,2,target\n" + "".join(f"{r},{k}\n" for r, k in zip(rows, range(4))))
    Xr, yr = load_feature_file(tmp_path / "target.csv")
    np.testing.assert_allclose(Xr, X)
    assert yr.tolist() == [0, 1, 2, 3]
    # pandas' DataFrame(np.c_[X, y]).to_csv(index=False) names the columns 0..d
    (tmp_path / "pandas.csv").write_text("0,1,2,3\n" + "".join(f"{r},{k}.0\n" for r, k in zip(rows, range(4))))
    for name, labels in (("names.csv", names), ("bom.csv", [0, 1, 2, 3]),
                         ("bom_header.csv", [0, 1, 2, 3]), ("pandas.csv", [0, 1, 2, 3])):
        Xr, yr = load_feature_file(tmp_path / name)
        np.testing.assert_allclose(Xr, X, err_msg=name)
        assert yr.tolist() == labels, name
    # MATLAB: a char matrix (rows padded with spaces) and a cell array of strings; npz bytes
    scipy.io.savemat(tmp_path / "char.mat", {"X": X, "y": np.array([n.ljust(9) for n in names])})
    cell = np.empty((4, 1), dtype=object)
    for i, n in enumerate(names):
        cell[i, 0] = n
    scipy.io.savemat(tmp_path / "cell.mat", {"X": X, "y": cell})
    np.savez(tmp_path / "bytes.npz", X=X, y=np.array([n.encode() for n in names]))
    for name in ("char.mat", "cell.mat", "bytes.npz"):
        assert load_feature_file(tmp_path / name)[1].tolist() == names, name
    # whole numbers written as text are numbers in every format, as in CSV
    np.savez(tmp_path / "digits.npz", X=X, y=np.array(["1", "2", "3", "1"]))
    yr = load_feature_file(tmp_path / "digits.npz")[1]
    assert yr.dtype == np.int64 and yr.tolist() == [1, 2, 3, 1]


def test_damaged_feature_files_are_value_errors_naming_the_file(tmp_path):
    X = np.ones((30, 20))
    scipy.io.savemat(tmp_path / "whole.mat", {"X": X, "y": np.arange(30)})
    np.savez(tmp_path / "whole.npz", X=X, y=np.arange(30))
    for name in ("whole.mat", "whole.npz"):
        data = (tmp_path / name).read_bytes()
        for cut in (40, 200, len(data) // 2, len(data) - 8):
            damaged = tmp_path / f"cut{cut}{name[-4:]}"
            damaged.write_bytes(data[:cut])
            with pytest.raises(ValueError, match=rf"cut{cut}.*not a readable|cut{cut}.*cannot read"):
                load_feature_file(damaged)
    (tmp_path / "garbled.mat").write_bytes(b"MATLAB 5.0 MAT-file garbage")
    with pytest.raises(ValueError, match=r"garbled\.mat.*not a readable \.mat"):
        load_feature_file(tmp_path / "garbled.mat")


def test_load_feature_file_errors_name_file_and_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_feature_file(tmp_path / "nope.npz")
    np.savez(tmp_path / "bad.npz", data=np.ones((3, 2)), labels=np.arange(3))
    with pytest.raises(ValueError, match=r"bad\.npz.*feature matrix.*'data', 'labels'"):
        load_feature_file(tmp_path / "bad.npz")
    scipy.io.savemat(tmp_path / "nolabels.mat", {"fts": np.ones((3, 2))})
    with pytest.raises(ValueError, match=r"nolabels\.mat.*no labels.*\['fts'\]"):
        load_feature_file(tmp_path / "nolabels.mat")
    np.savez(tmp_path / "short.npz", X=np.ones((3, 2)), y=np.arange(2))
    with pytest.raises(ValueError, match=r"short\.npz.*3 feature rows"):
        load_feature_file(tmp_path / "short.npz")
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(ValueError, match="unsupported suffix"):
        load_feature_file(tmp_path / "x.txt")
    (tmp_path / "junk.csv").write_text("1,2,3\n4,five,6\n")
    with pytest.raises(ValueError, match=r"junk\.csv"):
        load_feature_file(tmp_path / "junk.csv")
    (tmp_path / "junk.npz").write_text("not an archive")
    with pytest.raises(ValueError, match=r"junk\.npz.*not a readable \.npz"):
        load_feature_file(tmp_path / "junk.npz")
    (tmp_path / "junk.mat").write_text("not matlab")
    with pytest.raises(ValueError, match=r"junk\.mat.*not a readable \.mat"):
        load_feature_file(tmp_path / "junk.mat")
    (tmp_path / "empty.csv").write_text("a,b,label\n")
    with pytest.raises(ValueError, match=r"empty\.csv.*at least one row"):
        load_feature_file(tmp_path / "empty.csv")


def test_normalisations_guard_zero_rows_and_columns():
    X = np.array([[1.0, 3.0, 5.0], [0.0, 0.0, 5.0], [2.0, 2.0, 5.0]])
    L = l1_normalize(X)
    np.testing.assert_allclose(L.sum(axis=1), 1.0)
    np.testing.assert_allclose(l1_normalize(np.zeros((2, 3))), 0.0)
    Z = zscore(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z[:, 2], 0.0)  # constant column: centred only
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1.0)  # population std (ddof=0)


# --- Office-Caltech-10 on generated files ----------------------------------------------------------


def test_office_caltech10_surf_generated(fake_surf):
    root, raw = fake_surf
    assert OFFICE_CALTECH10_CLASSES[0] == "back_pack" and OFFICE_CALTECH10_CLASSES[-1] == "projector"
    assert len(OFFICE_CALTECH10_CLASSES) == 10
    for domain, (fts, labels) in raw.items():
        d = load_office_caltech10(domain, data_root=root)
        assert d.name == domain and d.X.shape == fts.shape and d.X.dtype == np.float64
        np.testing.assert_array_equal(d.y, labels.astype(np.int64) - 1)  # 1..10 → 0..9
        np.testing.assert_allclose(d.X, _manual_standard(fts, l1=True), atol=1e-12)
        np.testing.assert_allclose(d.X.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(d.X.std(axis=0), 1.0)
        none = load_office_caltech10(domain, data_root=root, preprocess="none")
        np.testing.assert_array_equal(none.X, fts.astype(np.float64))
        # the rows are L1-normalised before the z-score, on float counts (sums exceed uint8)
        assert fts.sum(axis=1, dtype=np.int64).max() > 255
        np.testing.assert_allclose(l1_normalize(none.X).sum(axis=1), 1.0)


def test_office_caltech10_domain_aliases_env_and_flat_layout(fake_surf, tmp_path, monkeypatch):
    root, raw = fake_surf
    a = load_office_caltech10("amazon", data_root=root)
    for alias in ("A", "a", " Amazon "):
        np.testing.assert_array_equal(load_office_caltech10(alias, data_root=root).X, a.X)
    assert load_office_caltech10("Caltech10", data_root=root).name == "caltech"
    with pytest.raises(ValueError, match="unknown Office-Caltech-10 domain 'X'"):
        load_office_caltech10("X", data_root=root)
    monkeypatch.setenv("DOMADAPT_DATA", str(root))
    np.testing.assert_array_equal(load_office_caltech10("A").X, a.X)
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "amazon_SURF_L10.mat").write_bytes((root / "office_caltech10_surf" / "amazon_SURF_L10.mat").read_bytes())
    np.testing.assert_array_equal(load_office_caltech10("A", data_root=flat).X, a.X)
    with pytest.raises(FileNotFoundError, match=r"webcam_SURF_L10\.mat"):
        load_office_caltech10("W", data_root=flat)


def test_office_caltech10_task_and_bad_arguments(fake_surf):
    root, raw = fake_surf
    task = office_caltech10_task("C", "amazon", data_root=root)
    assert task.name == "C→A" and task.dataset == "office_caltech10_surf"
    assert task.source.name == "caltech" and task.target.name == "amazon"
    assert list(task.class_names) == list(OFFICE_CALTECH10_CLASSES)
    with pytest.raises(ValueError, match="same domain"):
        office_caltech10_task("A", "amazon", data_root=root)
    with pytest.raises(ValueError, match="features='sift'"):
        load_office_caltech10("A", features="sift", data_root=root)
    with pytest.raises(ValueError, match="preprocess='l2'"):
        load_office_caltech10("A", preprocess="l2", data_root=root)
    scipy.io.savemat(
        root / "office_caltech10_surf" / "dslr_SURF_L10.mat",
        {"fts": np.ones((3, 12), np.uint8), "labels": np.array([[0], [1], [2]])},
    )
    with pytest.raises(ValueError, match=r"dslr_SURF_L10\.mat.*labels 1\.\.10"):
        load_office_caltech10("D", data_root=root)


def test_office_caltech10_decaf_generated(fake_decaf):
    root, raw = fake_decaf
    for domain, (feas, labels) in raw.items():
        d = load_office_caltech10(domain, features="decaf", data_root=root)
        np.testing.assert_allclose(d.X, _manual_standard(feas, l1=False), atol=1e-12)  # z-score only
        np.testing.assert_allclose(d.X[:, 3], 0.0)
        np.testing.assert_array_equal(d.y, labels - 1)
    task = office_caltech10_task("D", "W", features="decaf", data_root=root)
    assert task.name == "D→W" and task.dataset == "office_caltech10_decaf"
    for domain in ("A", "caltech"):
        with pytest.raises(FileNotFoundError, match="holds only dslr and webcam"):
            load_office_caltech10(domain, features="decaf", data_root=root)


# --- Office-31 features ----------------------------------------------------------------------------


@pytest.fixture
def fake_office31(tmp_path):
    """amazon.npz (0-based ints), dslr.mat (1-based, (n, 1)), webcam.csv (class names, header)."""
    rng = np.random.default_rng(2)
    folder = tmp_path / "office31"
    folder.mkdir()
    truth = {}
    for domain in ("amazon", "dslr", "webcam"):
        y = rng.permutation(np.arange(62) % 31)
        X = rng.normal(size=(62, 5)) + y[:, None]
        truth[domain] = (X, y)
    np.savez(folder / "amazon.npz", X=truth["amazon"][0], y=truth["amazon"][1])
    scipy.io.savemat(folder / "dslr.mat", {"feas": truth["dslr"][0], "labels": truth["dslr"][1].reshape(-1, 1) + 1})
    X, y = truth["webcam"]
    lines = ["f0,f1,f2,f3,f4,label"] + [
        ",".join(repr(v) for v in row) + f",{OFFICE31_CLASSES[k]}" for row, k in zip(X.tolist(), y)
    ]
    (folder / "webcam.csv").write_text("\n".join(lines) + "\n")
    return tmp_path, truth


def test_office31_features_three_formats(fake_office31):
    root, truth = fake_office31
    assert len(OFFICE31_CLASSES) == 31 and OFFICE31_CLASSES == tuple(sorted(OFFICE31_CLASSES))
    assert OFFICE31_CLASSES[2] == "bike_helmet" and OFFICE31_CLASSES[-1] == "trash_can"
    assert OFFICE31_TASKS == ("A→W", "D→W", "W→D", "A→D", "D→A", "W→A")
    for domain, (X, y) in truth.items():
        d = load_office31_features(root, domain[0].upper())
        assert d.name == domain
        np.testing.assert_allclose(d.X, X)
        np.testing.assert_array_equal(d.y, y)
    z = load_office31_features(root, "amazon", preprocess="zscore")
    np.testing.assert_allclose(z.X.std(axis=0), 1.0)
    task = office31_task("A", "W", data_root=root)
    assert task.name == "A→W" and task.dataset == "office31" and task.n_classes == 31
    assert load_task("office31", "D->W", data_root=root).name == "D→W"


def test_office31_file_pattern_flat_layout_and_errors(fake_office31, tmp_path):
    root, truth = fake_office31
    flat = tmp_path / "flat"
    flat.mkdir()
    X, y = truth["amazon"]
    np.savez(flat / "amazon_resnet50.npz", features=X, labels=y + 1)
    d = load_office31_features(flat, "amazon", file_pattern="{domain}_resnet50")
    np.testing.assert_array_equal(d.y, y)
    with pytest.raises(FileNotFoundError, match=r"office31/webcam_resnet50\.npz[\s\S]*webcam_resnet50\.csv"):
        load_office31_features(flat, "W", file_pattern="{domain}_resnet50")
    np.savez(flat / "dslr.npz", X=X[:5], y=np.array([3, 4, 5, 6, 7]))
    with pytest.raises(ValueError, match=r"dslr\.npz.*span 3\.\.7"):
        load_office31_features(flat, "dslr")
    np.savez(flat / "webcam.npz", X=X[:2], y=np.array(["mug", "teapot"]))
    with pytest.raises(ValueError, match="teapot"):
        load_office31_features(flat, "webcam")
    with pytest.raises(ValueError, match="unknown Office-31 domain"):
        load_office31_features(flat, "caltech")


# --- digits shift ----------------------------------------------------------------------------------


def test_digits_shift_split_is_seeded_disjoint_and_stratified():
    a = load_digits_shift("O→R", random_state=0, preprocess="none")
    b = load_digits_shift("O->R", random_state=0, preprocess="none")
    c = load_digits_shift("O→R", random_state=1, preprocess="none")
    for x, y in zip(a.arrays(), b.arrays()):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.meta["source_indices"], c.meta["source_indices"])
    src, tgt = a.meta["source_indices"], a.meta["target_indices"]
    assert np.intersect1d(src, tgt).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([src, tgt])), np.arange(1797))
    assert np.abs(np.bincount(a.source.y) - np.bincount(a.target.y)).max() <= 1
    digits = load_digits()
    np.testing.assert_array_equal(a.source.X, digits.data[src] / 16.0)  # source half untouched
    np.testing.assert_array_equal(a.target.y, digits.target[tgt])
    assert a.name == "O→R" and a.dataset == "digits" and a.source.X.shape[1] == 64


def test_digits_shift_transformations():
    digits = load_digits()
    for task in DIGITS_TASKS:
        t = load_digits_shift(task, preprocess="none")
        original = digits.data[t.meta["target_indices"]] / 16.0
        assert t.target.X.shape == original.shape
        assert np.abs(t.target.X - original).mean() > 0.05, task
    blurred = load_digits_shift("O→B", preprocess="none").target.X
    assert blurred.min() >= 0.3 - 1e-12 and blurred.max() <= 0.8 + 1e-12  # 0.5·blur + 0.3
    zoomed = load_digits_shift("O→Z", preprocess="none").target.X.reshape(-1, 8, 8)
    assert np.abs(zoomed[:, [0, -1], :]).max() < 1e-12  # shrunk digits leave an empty border
    reverse = load_digits_shift("R→O", preprocess="none")  # the transformation follows the letter, not the side
    src, tgt = reverse.meta["source_indices"], reverse.meta["target_indices"]
    rotate = DIGITS_DOMAINS["R"][1]
    np.testing.assert_array_equal(reverse.source.X, rotate(digits.images[src] / 16.0).reshape(len(src), 64))
    np.testing.assert_array_equal(reverse.target.X, digits.data[tgt] / 16.0)
    assert reverse.source.name == "rotated" and reverse.target.name == "original"
    for bad in ("O→O", "O→X", "OR"):
        with pytest.raises(ValueError):
            load_digits_shift(bad)
    with pytest.raises(ValueError, match="preprocess"):
        load_digits_shift("O→R", preprocess="l2")


def test_digits_standard_preprocessing_zscores_each_domain():
    raw = load_digits_shift("O→B", preprocess="none")
    std = load_digits_shift("O→B")
    assert std.meta["preprocess"] == "standard"
    for r, z in ((raw.source.X, std.source.X), (raw.target.X, std.target.X)):
        np.testing.assert_allclose(z, zscore(r))
        varying = r.std(axis=0) > 0
        np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(z.std(axis=0)[varying], 1.0)


def _coral(Xs: np.ndarray, Xt: np.ndarray, eps: float = 1.0) -> np.ndarray:
    """Whiten the source with its covariance + eps·I, recolour with the target's (Sun et al., 2016)."""
    eye = np.eye(Xs.shape[1])
    ws, Vs = np.linalg.eigh(np.cov(Xs, rowvar=False) + eps * eye)
    wt, Vt = np.linalg.eigh(np.cov(Xt, rowvar=False) + eps * eye)
    return Xs @ (Vs / np.sqrt(ws)) @ Vs.T @ (Vt * np.sqrt(wt)) @ Vt.T


@pytest.mark.parametrize("task", DIGITS_TASKS)
def test_digits_shift_hurts_and_linear_adaptation_helps(task):
    t = load_digits_shift(task, random_state=0, preprocess="none")
    Xs, ys, Xt, yt = t.arrays()
    original = load_digits().data[t.meta["target_indices"]] / 16.0
    clf = RidgeClassifier(alpha=1.0)
    in_domain = clf.fit(Xs, ys).score(original, yt)
    no_adaptation = clf.score(Xt, yt)
    Zs, Zt = zscore(Xs), zscore(Xt)
    adapted = RidgeClassifier(alpha=1.0).fit(_coral(Zs, Zt), ys).score(Zt, yt)
    assert in_domain - no_adaptation > 0.20, (task, in_domain, no_adaptation)
    assert adapted - no_adaptation > 0.10, (task, no_adaptation, adapted)


# --- dispatch --------------------------------------------------------------------------------------


def test_list_tasks_and_load_task(fake_surf):
    root, _ = fake_surf
    assert list_tasks() == list(DIGITS_TASKS) == ["O→R", "O→B", "O→Z"]
    assert list_tasks("office_caltech10_surf") == list(OFFICE_CALTECH10_TASKS)
    assert OFFICE_CALTECH10_TASKS[:3] == ("C→A", "C→W", "C→D") and len(set(OFFICE_CALTECH10_TASKS)) == 12
    assert list_tasks("office_caltech10_decaf") == ["D→W", "W→D"] == list(OFFICE_CALTECH10_DECAF_TASKS)
    assert list_tasks("office31") == list(OFFICE31_TASKS)
    assert set(DATASETS) == {"digits", "office_caltech10_surf", "office_caltech10_decaf", "office31"}
    t = load_task("digits", "O→B", random_state=3)
    np.testing.assert_array_equal(t.target.X, load_digits_shift("O→B", random_state=3).target.X)
    s = load_task("office_caltech10_surf", "caltech->A", data_root=root, preprocess="none")
    assert s.name == "C→A" and s.meta["preprocess"] == "none"
    with pytest.raises(ValueError, match="unknown dataset 'office'"):
        load_task("office", "A→W")
    with pytest.raises(ValueError, match="unknown dataset"):
        list_tasks("mnist")


# --- toys ------------------------------------------------------------------------------------------


def test_make_shifted_blobs_known_transform():
    t = make_shifted_blobs(600, 450, n_features=3, n_classes=4, shift=[1.0, -2.0, 0.5], rotation=90.0,
                           scale=1.5, random_state=0)
    assert t.source.X.shape == (600, 3) and t.target.X.shape == (450, 3) and t.n_classes == 4
    assert set(np.unique(t.target.y)) == {0, 1, 2, 3}
    R, shift, scale = t.meta["rotation_matrix"], t.meta["shift"], t.meta["scale"]
    np.testing.assert_allclose(R[:2, :2], [[0.0, -1.0], [1.0, 0.0]], atol=1e-12)
    back = (t.target.X - shift) @ R / scale  # exact inverse map
    for k, centre in enumerate(t.meta["centers"]):
        assert np.linalg.norm(back[t.target.y == k].mean(axis=0) - centre) < 0.2
        assert np.linalg.norm(t.source.X[t.source.y == k].mean(axis=0) - centre) < 0.2
    again = make_shifted_blobs(600, 450, n_features=3, n_classes=4, shift=[1.0, -2.0, 0.5], rotation=90.0,
                               scale=1.5, random_state=0)
    np.testing.assert_array_equal(again.target.X, t.target.X)
    with pytest.raises(ValueError, match="shift has 2 entries"):
        make_shifted_blobs(n_features=3, shift=[1.0, 2.0])


def test_gaussian_covariate_shift_density_ratio():
    data = make_gaussian_covariate_shift(20000, 2, n_target=500, mean_shift=1.0, random_state=0)
    assert data.X_source.shape == (20000, 2) and data.X_target.shape == (500, 2)
    pt = stats.multivariate_normal(data.target_mean, data.target_std**2 * np.eye(2))
    ps = stats.multivariate_normal(np.zeros(2), data.source_std**2 * np.eye(2))
    X = data.X_target[:50]
    np.testing.assert_allclose(data.density_ratio(X), pt.pdf(X) / ps.pdf(X), rtol=1e-10)
    w = data.source_weights
    assert abs(w.mean() - 1.0) < 0.05  # E_s[p_t/p_s] = 1
    # importance weighting turns a source average into a target average
    assert abs(np.average(data.y_source, weights=w) - data.y_target.mean()) < 0.05
    assert pickle.loads(pickle.dumps(data)).density_ratio(X).shape == (50,)


# --- published references --------------------------------------------------------------------------


def test_reference_records_are_complete():
    table = reference_table("office_caltech10_surf")
    assert list(table) == ["NN", "PCA", "GFK", "TCA", "TSL", "JDA"]
    assert table["NN"] == dict(zip(OFFICE_CALTECH10_TASKS, (
        23.70, 25.76, 25.48, 26.00, 29.83, 25.48, 19.86, 22.96, 59.24, 26.27, 28.50, 63.39)))
    for ref in REFERENCES:
        assert list(ref.accuracy) == list(OFFICE_CALTECH10_TASKS)
        assert all(0.0 < v <= 100.0 for v in ref.accuracy.values())
        assert "Long" in ref.source and "ICCV" in ref.source and "1-NN" in ref.protocol
        assert ref.transcribed_from
    assert round(find_references("office_caltech10_surf", "JDA")[0].average, 2) == 46.31
    assert reference_table("office_caltech10_surf", "JDA").keys() == {"JDA"}
    assert reference_table("digits") == {}


# --- real data -------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_surf_counts_and_preprocessing(data_root):
    for domain, counts in REAL_COUNTS.items():
        d = load_office_caltech10(domain, data_root=data_root)
        assert d.X.shape == (sum(counts), 800)
        np.testing.assert_array_equal(np.bincount(d.y, minlength=10), counts)
        np.testing.assert_allclose(d.X.mean(axis=0), 0.0, atol=1e-10)
        std = d.X.std(axis=0)
        assert np.all((np.abs(std - 1.0) < 1e-10) | (std == 0.0))
    assert [sum(c) for c in REAL_COUNTS.values()] == [958, 1123, 157, 295]


@pytest.mark.realdata
@pytest.mark.parametrize("task", OFFICE_CALTECH10_TASKS)
def test_real_surf_1nn_reproduces_published_baseline(data_root, task):
    t = load_task("office_caltech10_surf", task, data_root=data_root)
    Xs, ys, Xt, yt = t.arrays()
    accuracy = 100.0 * KNeighborsClassifier(n_neighbors=1).fit(Xs, ys).score(Xt, yt)
    published = reference_table("office_caltech10_surf", "NN")["NN"][task]
    assert abs(accuracy - published) <= 0.01 + 1e-9, (task, accuracy, published)


@pytest.mark.realdata
@pytest.mark.parametrize("task", OFFICE_CALTECH10_DECAF_TASKS)
def test_real_decaf_counts_and_1nn(data_root, task):
    if not (data_root / "office_caltech10_decaf6" / "dslr_decaf.mat").is_file():
        pytest.skip("office_caltech10_decaf6/ is not in the data folder")
    t = load_task("office_caltech10_decaf", task, data_root=data_root)
    for d in (t.source, t.target):
        assert d.X.shape == (sum(REAL_COUNTS[d.name]), 4096)
        np.testing.assert_array_equal(np.bincount(d.y, minlength=10), REAL_COUNTS[d.name])
    Xs, ys, Xt, yt = t.arrays()
    accuracy = 100.0 * KNeighborsClassifier(n_neighbors=1).fit(Xs, ys).score(Xt, yt)
    assert abs(accuracy - DECAF_1NN[task]) <= 0.1, (task, accuracy)
