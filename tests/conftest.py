"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Run the suite on one intra-op thread.

    The tests use small tensors; on a shared 2-core machine a second thread only adds
    contention (small ops measured 20-50x slower with 2 threads under load).
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# --- real data -------------------------------------------------------------------------------------
# The library only reads an explicit data_root or $DOMADAPT_DATA; the tests also look next to the
# repository, where the project's shared data folder sits (<repo>/../shared/data). Nothing is copied.
_REPO = Path(__file__).resolve().parents[1]
_SURF_FILES = [
    f"office_caltech10_surf/{name}_SURF_L10.mat" for name in ("amazon", "Caltech10", "dslr", "webcam")
]


def _find_data_root() -> tuple[Path | None, str]:
    env = os.environ.get("DOMADAPT_DATA", "")
    candidates = ([Path(env).expanduser()] if env else []) + [_REPO.parent / "shared" / "data"]
    for root in candidates:
        if all((root / name).is_file() for name in _SURF_FILES):
            return root, ""
    tried = ", ".join(str(root) for root in candidates)
    return None, f"Office-Caltech-10 SURF files not found (tried DOMADAPT_DATA={env or '<unset>'}, {tried})"


@pytest.fixture(scope="session")
def data_root_or_none() -> Path | None:
    """The folder holding ``office_caltech10_surf/*.mat``, or None when it is absent."""
    return _find_data_root()[0]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real-data folder; skips the test (saying what was tried) when the files are absent."""
    root, reason = _find_data_root()
    if root is None:
        pytest.skip(reason)
    return root


@pytest.fixture
def named_office31_features(tmp_path) -> Path:
    """``feats_amazon.npz`` and ``feats_webcam.npz`` (62 rows, 4 features, labels 0..30), as
    ``domadapt extract-features --out feats.npz`` names its files; returns their folder."""
    import numpy as np

    rng = np.random.default_rng(0)
    for domain in ("amazon", "webcam"):
        y = np.arange(62) % 31
        np.savez(tmp_path / f"feats_{domain}.npz", X=rng.normal(size=(62, 4)) + y[:, None], y=y)
    return tmp_path
