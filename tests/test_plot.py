"""Figures: embeddings before/after adaptation, per-class accuracy bars, ``domadapt plot``."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

pytest.importorskip("matplotlib")

from domadapt import CORAL, make_da_pipeline  # noqa: E402
from domadapt.cli import main  # noqa: E402
from domadapt.datasets import make_shifted_blobs  # noqa: E402
from domadapt.evaluation import per_class_accuracy  # noqa: E402
from domadapt.plot import plot_embedding, plot_per_class_accuracy  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def task():
    return make_shifted_blobs(70, 50, n_features=4, n_classes=3, rotation=40.0, scale=2.0, random_state=0)


def _points(ax):
    """Point counts and coordinates of the scatter collections of an axes (legend proxies skipped)."""
    return [c.get_offsets() for c in ax.collections if len(c.get_offsets())]


def test_embedding_has_four_panels_with_every_point_and_writes_a_png(task, tmp_path):
    Xs, ys, Xt, yt = task.arrays()
    out = tmp_path / "embedding.png"
    fig = plot_embedding(CORAL(), Xs, ys, Xt, yt, out=out)
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    assert len(fig.axes) == 4
    for ax in fig.axes:
        source, target = _points(ax)
        assert source.shape == (70, 2) and target.shape == (50, 2)


def test_after_panel_embeds_the_adapters_transform(task):
    Xs, ys, Xt, yt = task.arrays()
    adapter = CORAL(estimator=LogisticRegression()).fit(Xs, ys, Xt)
    fig = plot_embedding(adapter, Xs, ys, Xt, yt, random_state=0)
    Zs, Zt = adapter.transform(Xs, domain="source"), adapter.transform(Xt, domain="target")
    assert not np.allclose(Zs, Xs)  # CORAL moves the source
    expected = PCA(n_components=2, random_state=0).fit_transform(np.concatenate([Zs, Zt]))
    source_after, target_after = _points(fig.axes[2])
    np.testing.assert_allclose(source_after, expected[:70], atol=1e-8)
    np.testing.assert_allclose(target_after, expected[70:], atol=1e-8)
    before = PCA(n_components=2, random_state=0).fit_transform(np.concatenate([Xs, Xt]))
    np.testing.assert_allclose(_points(fig.axes[0])[0], before[:70], atol=1e-8)
    assert not np.allclose(source_after, _points(fig.axes[0])[0])


def test_pipeline_embedding_uses_the_features_its_classifier_sees(task):
    Xs, ys, Xt, yt = task.arrays()
    pipe = make_da_pipeline(CORAL(), LogisticRegression()).fit(Xs, ys, Xt)
    fig = plot_embedding(pipe, Xs, ys, Xt)
    coral = pipe.named_steps["coral"]
    Z = np.concatenate([coral.transform(Xs, domain="source"), coral.transform(Xt, domain="target")])
    np.testing.assert_allclose(_points(fig.axes[2])[0], PCA(2, random_state=0).fit_transform(Z)[:70], atol=1e-8)


def test_unfitted_adapter_is_cloned_not_changed(task):
    Xs, ys, Xt, _ = task.arrays()
    adapter = CORAL()
    fig = plot_embedding(adapter, Xs, ys, Xt)
    assert not hasattr(adapter, "n_features_in_")
    fitted = CORAL().fit(Xs, ys, Xt)
    again = plot_embedding(fitted, Xs, ys, Xt)
    np.testing.assert_allclose(_points(fig.axes[2])[0], _points(again.axes[2])[0])


def test_no_adapter_gives_the_before_row_only_and_tsne_works(task):
    Xs, ys, Xt, yt = task.arrays()
    fig = plot_embedding(None, Xs, ys, Xt, yt)
    assert len(fig.axes) == 2
    fig = plot_embedding(CORAL(), Xs[:30], ys[:30], Xt[:30], method="tsne", random_state=0)
    assert len(fig.axes) == 4
    assert [len(p) for p in _points(fig.axes[3])] == [30, 30]


def test_max_points_subsamples_each_domain(task):
    Xs, ys, Xt, yt = task.arrays()
    fig = plot_embedding(None, Xs, ys, Xt, yt, max_points=20)
    assert [len(p) for p in _points(fig.axes[1])] == [20, 20]


def test_embedding_rejects_bad_arguments(task):
    Xs, ys, Xt, _ = task.arrays()
    with pytest.raises(ValueError, match="method"):
        plot_embedding(None, Xs, ys, Xt, method="umap")
    with pytest.raises(TypeError, match="adapter"):
        plot_embedding(LogisticRegression(), Xs, ys, Xt)
    with pytest.raises(ValueError, match="y_source"):
        plot_embedding(None, Xs, ys[:5], Xt)
    with pytest.raises(ValueError, match="features"):
        plot_embedding(None, Xs, ys, Xt[:, :2])


def test_per_class_bars_have_the_per_class_accuracies(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 80)
    a = np.where(rng.random(80) < 0.7, y, (y + 1) % 4)
    b = np.where(rng.random(80) < 0.4, y, (y + 2) % 4)
    out = tmp_path / "bars.png"
    fig = plot_per_class_accuracy(y, {"a": a, "b": b}, ["w", "x", "y", "z"], out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    heights = np.array([p.get_height() for p in fig.axes[0].patches])
    expected = np.concatenate([per_class_accuracy(y, a, classes=np.arange(4)),
                               per_class_accuracy(y, b, classes=np.arange(4))])
    np.testing.assert_allclose(heights, expected)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["w", "x", "y", "z"]
    single = plot_per_class_accuracy(y, a)
    assert len(single.axes[0].patches) == 4


def test_missing_matplotlib_names_the_extra(monkeypatch, task):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    Xs, ys, Xt, _ = task.arrays()
    with pytest.raises(ImportError, match=r"domadapt\[plot\]"):
        plot_embedding(None, Xs, ys, Xt)


def test_cli_plot_end_to_end_on_digits(tmp_path, capsys):
    status = main(["plot", "--dataset", "digits", "--task", "O->R", "--method", "CORAL",
                   "--out", str(tmp_path), "--max-points", "150"])
    assert status == 0
    written = sorted(tmp_path.iterdir())
    assert [p.name for p in written] == ["embedding_digits_O-R_CORAL_pca.png", "per_class_digits_O-R_CORAL.png"]
    for path in written:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    assert str(written[0]) in capsys.readouterr().out
    assert main(["plot", "--task", "O->R", "--method", "NoSuchMethod", "--out", str(tmp_path)]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["plot", "--task", "O->R", "--method", "CORAL", "--max-points", "1", "--out", str(tmp_path)]) == 2
    assert "--max-points must be at least 2" in capsys.readouterr().err
    assert main(["plot", "--task", "O->R", "--method", "CORAL", "--classifier", "head", "--out", str(tmp_path)]) == 2
    assert "no classification head" in capsys.readouterr().err


def test_cli_plot_reads_named_office31_feature_files(named_office31_features, capsys):
    tmp_path = named_office31_features
    argv = ["plot", "--dataset", "office31", "--data-root", str(tmp_path), "--task", "A->W",
            "--method", "CORAL", "--classifier", "1nn", "--out", str(tmp_path / "png")]
    assert main(argv + ["--file-pattern", "feats_{domain}"]) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 2
    assert main(["plot", "--task", "O->R", "--method", "CORAL", "--file-pattern", "x", "--out", str(tmp_path)]) == 2
    assert "office31" in capsys.readouterr().err


def test_cli_plot_keeps_a_methods_own_classifier(tmp_path, capsys):
    # KMM runs with logistic regression whatever --classifier says (1-NN takes no weights)
    assert main(["plot", "--task", "O->R", "--method", "KMM", "--classifier", "1nn",
                 "--max-points", "100", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.png"))) == 2
