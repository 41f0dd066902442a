"""Reading pre-extracted feature files (``.npz``, ``.mat``, ``.csv``) and the usual normalisations.

A feature file holds one domain: a matrix of features, one row per sample, and a label per row.
"""

from __future__ import annotations

import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse

from ._task import as_float_array

#: Names under which ``.npz`` and ``.mat`` files store the feature matrix, tried in this order.
FEATURE_KEYS: tuple[str, ...] = ("X", "features", "fts", "feas", "fea")
#: Names under which ``.npz`` and ``.mat`` files store the labels, tried in this order.
LABEL_KEYS: tuple[str, ...] = ("y", "labels", "label", "gnd")
#: Header names that mark the label column of a ``.csv`` file (case-insensitive).
CSV_LABEL_COLUMNS: tuple[str, ...] = ("label", "y")
SUFFIXES: tuple[str, ...] = (".npz", ".mat", ".csv")


def load_feature_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read features and labels of one domain from a ``.npz``, ``.mat`` or ``.csv`` file.

    Parameters
    ----------
    path : str or path-like
        The file. Its suffix selects the format:

        - ``.npz``: arrays under one of the keys ``X``, ``features``, ``fts``, ``feas``, ``fea``
          and one of ``y``, ``labels``, ``label``, ``gnd`` (the first present key is used).
        - ``.mat`` (MATLAB v5/v7, read with :func:`scipy.io.loadmat`): the same keys.
        - ``.csv`` (comma-separated, UTF-8 with or without a byte-order mark): one sample per
          row. The first row is a header when one of its cells before the last is not a number,
          its last cell is ``label`` or ``y``, its cells before the last are pandas' default
          ``0,1,...`` (``DataFrame(X).assign(target=y).to_csv(index=False)``), or its last cell
          is text above a number; so a headerless file may carry class names in its last
          (label) column. The labels are the
          column named ``label`` or ``y`` when the header has one, else the last column; every
          other column is a feature.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        Features, cast to float64 (integer counts such as ``uint8`` histograms are cast before any
        arithmetic, so no normalisation sees wrapped integers).
    y : ndarray of shape (n_samples,)
        Labels: int64 when they are whole numbers (also when written as text), otherwise
        stripped ``str`` for text (``.csv`` cells, bytes, MATLAB char matrices and cell arrays
        of strings) or the stored dtype. Mapping them to classes is the caller's business.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        For an unsupported suffix, a damaged or truncated file, missing keys (the message lists
        the keys found), a non-2-D feature matrix, or a label count that differs from the row
        count.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feature file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        X, y = _read_npz(path)
    elif suffix == ".mat":
        X, y = _read_mat(path)
    elif suffix == ".csv":
        X, y = _read_csv(path)
    else:
        raise ValueError(f"feature file {str(path)!r}: unsupported suffix {suffix!r}; use one of {SUFFIXES}")
    return _check_arrays(X, y, path)


def l1_normalize(X: np.ndarray) -> np.ndarray:
    """Divide each row by its sum of absolute values (rows that sum to zero stay zero).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_features), float64
    """
    X = as_float_array(X)
    norms = np.abs(X).sum(axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def zscore(X: np.ndarray) -> np.ndarray:
    """Centre each column and divide it by its population standard deviation (``ddof=0``).

    Columns with zero variance are only centred (they become zero), as MATLAB's ``zscore(X, 1)``
    does; this is the per-domain standardisation of the GFK/JDA protocol.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_features), float64

    References
    ----------
    B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic Flow Kernel for Unsupervised Domain Adaptation.
    CVPR 2012. M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. Transfer Feature Learning with Joint
    Distribution Adaptation. ICCV 2013.
    """
    X = as_float_array(X)
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _pick(keys: list[str], wanted: tuple[str, ...], path: Path, what: str) -> str:
    for key in wanted:
        if key in keys:
            return key
    raise ValueError(
        f"feature file {str(path)!r}: no {what} found; looked for one of {list(wanted)}, "
        f"the file holds {sorted(keys)}"
    )


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:  # not a (whole) archive
        raise ValueError(f"feature file {str(path)!r} is not a readable .npz archive: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"feature file {str(path)!r} holds a single .npy array, not an .npz archive")
    with archive:
        keys = list(archive.files)
        x_key = _pick(keys, FEATURE_KEYS, path, "feature matrix")
        y_key = _pick(keys, LABEL_KEYS, path, "labels")
        try:
            return archive[x_key], archive[y_key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            # object arrays (pickle refused), damaged or truncated members
            raise ValueError(f"feature file {str(path)!r}: cannot read {x_key!r}/{y_key!r}: {exc}") from exc


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = scipy.io.loadmat(path)
    except NotImplementedError as exc:  # scipy raises this for MATLAB v7.3 (HDF5) files
        raise ValueError(
            f"feature file {str(path)!r} is a MATLAB v7.3 (HDF5) file, which scipy cannot read; "
            "save it with save(..., '-v7') or convert it to .npz"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - scipy's reader fails on a damaged file in many ways
        # (MatReadError, ValueError, OSError on a truncated stream, IndexError or struct.error
        # on a garbled header, zlib.error on a damaged compressed variable)
        raise ValueError(
            f"feature file {str(path)!r} is not a readable .mat file ({type(exc).__name__}: {exc})"
        ) from exc
    keys = [key for key in data if not key.startswith("__")]
    X = data[_pick(keys, FEATURE_KEYS, path, "feature matrix")]
    if scipy.sparse.issparse(X):  # a MATLAB sparse matrix
        X = X.toarray()
    return X, data[_pick(keys, LABEL_KEYS, path, "labels")]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first cell
    with path.open(newline="", encoding="utf-8-sig") as handle:
        first = handle.readline().strip()
        second = handle.readline().strip()
    if not first:
        raise ValueError(f"feature file {str(path)!r} is empty")
    cells = [cell.strip().strip('"') for cell in first.split(",")]
    if len(cells) < 2:
        raise ValueError(f"feature file {str(path)!r}: needs at least one feature column and one label column")
    last_below = second.split(",")[-1].strip().strip('"') if second else ""
    has_header = (
        # a feature cell that is not a number (a label may be a class name), a label column
        # named as such, pandas' default feature names 0, 1, ... (with any label name), or a
        # label cell that is text above a number (numeric labels under a named column)
        not all(_is_number(cell) for cell in cells[:-1])
        or cells[-1].lower() in CSV_LABEL_COLUMNS
        or cells[:-1] == [str(i) for i in range(len(cells) - 1)]
        or (not _is_number(cells[-1]) and _is_number(last_below))
    )
    label_col = len(cells) - 1
    if has_header:
        named = [i for i, cell in enumerate(cells) if cell.lower() in CSV_LABEL_COLUMNS]
        if named:
            label_col = named[0]
    feature_cols = [i for i in range(len(cells)) if i != label_col]
    skip = 1 if has_header else 0
    try:
        with warnings.catch_warnings():  # a header-only file: reported below as "no rows"
            warnings.filterwarnings("ignore", message=".*input contained no data", category=UserWarning)
            X = np.loadtxt(path, delimiter=",", skiprows=skip, usecols=feature_cols, dtype=np.float64,
                           ndmin=2, encoding="utf-8-sig")
            y = np.loadtxt(path, delimiter=",", skiprows=skip, usecols=[label_col], dtype=str, ndmin=1,
                           encoding="utf-8-sig")
    except ValueError as exc:
        raise ValueError(f"feature file {str(path)!r}: cannot parse as comma-separated numbers: {exc}") from exc
    return X, np.char.strip(np.char.strip(y), '"')


def _text_labels(y: np.ndarray, path: Path) -> np.ndarray:
    """Stored text labels as stripped ``str``: bytes decoded, MATLAB char matrices (padded
    with spaces) and cell arrays (an object array of 1-element string arrays) unpacked; whole
    numbers written as text become numbers (float64, made int64 by the caller)."""
    if y.dtype.kind == "O":
        values = []
        for item in y.ravel():
            item = np.asarray(item).ravel()
            if item.size != 1:
                raise ValueError(
                    f"feature file {str(path)!r}: a label cell holds {item.size} values, expected one"
                )
            values.append(item[0])
        y = np.asarray(values).reshape(y.shape)
        if y.dtype.kind not in "SU":
            return y
    if y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8")
    y = np.char.strip(y)
    if y.size and all(_is_number(value) for value in y.ravel()):
        return y.astype(np.float64)
    return y


def _check_arrays(X: np.ndarray, y: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(
            f"feature file {str(path)!r}: the feature matrix has shape {X.shape}, expected 2-D with at least one row"
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"feature file {str(path)!r}: the feature matrix has non-numeric dtype {X.dtype}")
    y = np.asarray(y)
    if y.dtype.kind in "SUO":
        y = _text_labels(y, path)
    if y.ndim == 2 and 1 in y.shape:  # MATLAB stores vectors as (n, 1) or (1, n)
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"feature file {str(path)!r}: {X.shape[0]} feature rows but labels of shape {y.shape}"
        )
    if y.dtype.kind in "iuf" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return as_float_array(X), y
