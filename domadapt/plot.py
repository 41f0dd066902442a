"""Figures: 2-D embeddings of both domains before and after adaptation, per-class accuracy bars.

matplotlib is an optional dependency (``pip install "domadapt[plot]"``), imported only when a
function here is called. Figures are drawn on their own ``matplotlib.figure.Figure`` with the Agg
canvas, so nothing touches pyplot's global state or the user's backend.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.manifold import TSNE

from ._array import ArrayLike, to_numpy
from ._validation import check_array, check_same_features
from .base import Adapter, DAPipeline
from .evaluation import _features, per_class_accuracy

__all__ = ["EMBEDDINGS", "plot_embedding", "plot_per_class_accuracy"]

#: Embedding methods of :func:`plot_embedding`.
EMBEDDINGS: tuple[str, ...] = ("pca", "tsne")

_SOURCE_COLOR, _TARGET_COLOR = "#1f77b4", "#d62728"


def _figure(n_rows: int, n_cols: int, size: tuple[float, float]) -> tuple[Any, Any]:
    """A Figure on its own Agg canvas and its axes grid (2-D array)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "domadapt.plot needs matplotlib, an optional dependency: pip install \"domadapt[plot]\" "
            "(or pip install \"matplotlib>=3.6\")"
        ) from None
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(np.asarray(fig.subplots(n_rows, n_cols, squeeze=False)))
    return fig, axes


def _save(fig: Any, out: str | os.PathLike[str] | None, dpi: int) -> None:
    if out is not None:
        fig.savefig(os.fspath(out), dpi=dpi)


def _embed(Z: np.ndarray, method: str, random_state: int | None) -> np.ndarray:
    if Z.shape[1] == 1:
        return np.c_[Z[:, 0], np.zeros(Z.shape[0])]
    if method == "pca":
        return PCA(n_components=2, random_state=random_state).fit_transform(Z)
    perplexity = float(min(30.0, max(2.0, (Z.shape[0] - 1) / 3.0)))
    return TSNE(
        n_components=2, init="pca", perplexity=perplexity, random_state=random_state
    ).fit_transform(Z)


def _subsample(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, cap, replace=False))


def _fitted_adapter(adapter: Any, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> Any:
    """``adapter`` if fitted, else a fitted clone (the caller's object is never changed)."""
    if not isinstance(adapter, (Adapter, DAPipeline)):
        raise TypeError(
            f"adapter must be a domadapt Adapter, a DAPipeline or None, got {type(adapter).__name__}"
        )
    try:
        _features(adapter, Xt[:1], "target")
    except NotFittedError:
        return clone(adapter).fit(Xs, ys, Xt)
    return adapter


def plot_embedding(
    adapter: Any,
    X_source: ArrayLike,
    y_source: ArrayLike,
    X_target: ArrayLike,
    y_target: ArrayLike | None = None,
    *,
    method: str = "pca",
    out: str | os.PathLike[str] | None = None,
    class_names: Sequence[str] | None = None,
    max_points: int | None = 1000,
    random_state: int | None = 0,
    title: str | None = None,
    dpi: int = 100,
) -> Any:
    """Source and target in 2-D, before and (with an adapter) after adaptation.

    Each row is one stage: the input features, then the adapted features
    (``adapter.transform(X, domain=...)`` of each domain; for a :class:`~domadapt.DAPipeline`,
    what its final classifier sees). The left panel colours the rows by domain (source circles,
    target crosses), the right one by class (target rows in grey when ``y_target`` is None).
    Each stage is embedded on its own: PCA of the pooled rows (Pearson, 1901), or t-SNE (van
    der Maaten & Hinton, 2008) from scikit-learn.

    Parameters
    ----------
    adapter : Adapter, DAPipeline or None
        None: one row (before only). A fitted adapter is used as it is; an unfitted one is
        cloned and fitted on ``(X_source, y_source, X_target)``.
    X_source, y_source : source features and labels
    X_target : target features
    y_target : target labels, optional
        Only to colour the target by class; never used for fitting.
    method : {"pca", "tsne"}, default="pca"
    out : str or path-like, optional
        Write the figure there as PNG.
    class_names : sequence of str, optional
        Legend names of the labels ``0..K-1``.
    max_points : int or None, default=1000
        At most this many rows per domain are drawn (seeded subsample; t-SNE is quadratic).
    random_state : int or None, default=0
        Seed of the subsample, PCA's solver and t-SNE.
    title : str, optional
        Figure title.
    dpi : int, default=100

    Returns
    -------
    matplotlib.figure.Figure
        Axes ``fig.axes`` in row order (``[before-domain, before-class, after-domain,
        after-class]``).

    References
    ----------
    K. Pearson. *On lines and planes of closest fit to systems of points in space.*
    Philosophical Magazine 2(11), 1901.
    L. van der Maaten, G. Hinton. *Visualizing Data using t-SNE.* JMLR 9, 2008.

    Examples
    --------
    >>> from domadapt import CORAL
    >>> from domadapt.datasets import make_shifted_blobs
    >>> task = make_shifted_blobs(50, 50, random_state=0)
    >>> fig = plot_embedding(CORAL(), *task.arrays())
    >>> len(fig.axes)
    4
    """
    if method not in EMBEDDINGS:
        raise ValueError(f"method must be one of {EMBEDDINGS}, got {method!r}")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2):
        raise ValueError(f"max_points must be an integer of at least 2 or None, got {max_points!r}")
    Xs = to_numpy(check_array(X_source, "X_source"))
    Xt = to_numpy(check_array(X_target, "X_target"))
    check_same_features(Xs, Xt, ("X_source", "X_target"))
    ys = to_numpy(y_source).ravel()
    if ys.shape[0] != Xs.shape[0]:
        raise ValueError(f"y_source has {ys.shape[0]} labels but X_source has {Xs.shape[0]} rows")
    yt = None if y_target is None else to_numpy(y_target).ravel()
    if yt is not None and yt.shape[0] != Xt.shape[0]:
        raise ValueError(f"y_target has {yt.shape[0]} labels but X_target has {Xt.shape[0]} rows")

    stages = [("before adaptation", Xs, Xt)]
    if adapter is not None:
        fitted = _fitted_adapter(adapter, Xs, ys, Xt)
        name = type(fitted).__name__ if isinstance(fitted, Adapter) else "pipeline"
        stages.append((f"after {name}", _features(fitted, Xs, "source"), _features(fitted, Xt, "target")))

    rng = np.random.default_rng(random_state)
    i_s, i_t = _subsample(Xs.shape[0], max_points, rng), _subsample(Xt.shape[0], max_points, rng)
    classes = np.unique(ys if yt is None else np.concatenate([ys, yt]))
    palette = _class_colors(len(classes))
    fig, axes = _figure(len(stages), 2, (9.0, 4.2 * len(stages)))
    for row, (label, Zs, Zt) in enumerate(stages):
        E = _embed(np.concatenate([Zs[i_s], Zt[i_t]]).astype(np.float64), method, random_state)
        Es, Et = E[: i_s.size], E[i_s.size:]
        ax_dom, ax_cls = axes[row]
        ax_dom.scatter(Es[:, 0], Es[:, 1], s=10, c=_SOURCE_COLOR, marker="o", alpha=0.6, label="source")
        ax_dom.scatter(Et[:, 0], Et[:, 1], s=14, c=_TARGET_COLOR, marker="x", alpha=0.6, label="target")
        ax_dom.set_title(f"{label}: by domain")
        ax_dom.legend(loc="best", fontsize="small")
        cs = palette[np.searchsorted(classes, ys[i_s])]
        ax_cls.scatter(Es[:, 0], Es[:, 1], s=10, c=cs, marker="o", alpha=0.6)
        ct = "#9e9e9e" if yt is None else palette[np.searchsorted(classes, yt[i_t])]
        ax_cls.scatter(Et[:, 0], Et[:, 1], s=14, c=ct, marker="x", alpha=0.6)
        ax_cls.set_title(f"{label}: by class (o source, x target)")
        if len(classes) <= 12:
            for k, c in enumerate(classes):
                ax_cls.scatter([], [], s=10, c=[palette[k]], label=_class_name(c, class_names))
            ax_cls.legend(loc="best", fontsize="x-small", ncol=2)
        for ax in (ax_dom, ax_cls):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{method.upper()} 1")
            ax.set_ylabel(f"{method.upper()} 2")
    if title:
        fig.suptitle(title)
    _save(fig, out, dpi)
    return fig


def _class_colors(k: int) -> np.ndarray:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return np.array([cmap(i % cmap.N) for i in range(k)])


def _class_name(label: Any, class_names: Sequence[str] | None) -> str:
    if class_names is not None and isinstance(label, (int, np.integer)) and 0 <= label < len(class_names):
        return str(class_names[int(label)])
    return str(label)


def plot_per_class_accuracy(
    y_true: ArrayLike,
    y_pred: ArrayLike | Mapping[str, ArrayLike],
    class_names: Sequence[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Any:
    """Bars of the accuracy within each class (its recall), for one or several predictors.

    Parameters
    ----------
    y_true : array or tensor of shape (n,)
        True labels.
    y_pred : array or tensor of shape (n,), or dict name → array
        Predictions; a dict draws grouped bars, one colour per predictor (e.g. before and
        after adaptation), with each predictor's macro recall as a dashed line.
    class_names : sequence of str, optional
        Names of the labels ``0..K-1``; every one of them gets a bar (NaN, drawn empty, for a
        class absent from ``y_true``). Default: the labels of ``y_true``.
    out : str or path-like, optional
        Write the figure there as PNG.
    title : str, optional
    dpi : int, default=100

    Returns
    -------
    matplotlib.figure.Figure
        One axes; ``fig.axes[0].patches`` holds one bar per (predictor, class).

    References
    ----------
    K. H. Brodersen, C. S. Ong, K. E. Stephan, J. M. Buhmann. *The balanced accuracy and its
    posterior distribution.* ICPR 2010.

    Examples
    --------
    >>> fig = plot_per_class_accuracy([0, 0, 1, 1], {"a": [0, 1, 1, 1], "b": [0, 0, 1, 0]})
    >>> len(fig.axes[0].patches)
    4
    """
    truth = to_numpy(y_true).ravel()
    predictions = dict(y_pred) if isinstance(y_pred, Mapping) else {"": y_pred}
    if not predictions:
        raise ValueError("y_pred is an empty dict")
    classes = np.arange(len(class_names)) if class_names is not None else np.unique(truth)
    names = [_class_name(c, class_names) for c in classes]
    scores = {label: per_class_accuracy(truth, pred, classes=classes) for label, pred in predictions.items()}

    fig, axes = _figure(1, 1, (max(5.0, 0.45 * len(classes) * len(scores) + 2.0), 3.8))
    ax = axes[0, 0]
    width = 0.8 / len(scores)
    x = np.arange(len(classes))
    for j, (label, acc) in enumerate(scores.items()):
        bars = ax.bar(x + (j - (len(scores) - 1) / 2) * width, np.nan_to_num(acc, nan=0.0), width,
                      label=label or None)
        mean = float(np.nanmean(acc))
        ax.axhline(mean, linestyle="--", linewidth=1, color=bars.patches[0].get_facecolor())
    ax.set_xticks(x, names, rotation=45 if len(classes) > 8 else 0, ha="right" if len(classes) > 8 else "center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy within the class")
    if len(scores) > 1:
        ax.legend(loc="lower right", fontsize="small")
    overall = {label: float(np.mean(to_numpy(pred).ravel() == truth)) for label, pred in predictions.items()}
    summary = ", ".join(f"{label + ' ' if label else ''}{v:.3f}" for label, v in overall.items())
    ax.set_title(f"{title or 'per-class accuracy'}\n(dashed: mean over classes; overall accuracy {summary})",
                 fontsize="medium")
    _save(fig, out, dpi)
    return fig
