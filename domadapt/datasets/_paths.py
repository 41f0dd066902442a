"""Where the data files live: an explicit argument, else the ``DOMADAPT_DATA`` environment variable.

The library never guesses a location and never downloads anything.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DOMADAPT_DATA"

DATA_LAYOUT = """\
  <root>/office_caltech10_surf/{amazon,Caltech10,dslr,webcam}_SURF_L10.mat
  <root>/office_caltech10_decaf6/{dslr,webcam}_decaf.mat   (amazon_decaf.mat, caltech_decaf.mat if you have them)
  <root>/office31/{amazon,dslr,webcam}.{npz,mat,csv}        (Office-31 features)
(the Office-Caltech-10 and Office-31 files may also sit directly in <root>; see docs/datasets.md)"""


def resolve_data_root(data_root: str | os.PathLike[str] | None, *, layout: str = DATA_LAYOUT) -> Path:
    """Return the data folder: ``data_root`` if given, else ``$DOMADAPT_DATA``.

    Parameters
    ----------
    data_root : str, path-like or None
        Folder that holds the data sets. ``None`` means: read the environment variable
        ``DOMADAPT_DATA``.
    layout : str, optional
        Description of the expected files, quoted in the error message.

    Returns
    -------
    pathlib.Path
        The folder, with ``~`` expanded.

    Raises
    ------
    FileNotFoundError
        When neither source names an existing folder; the message says what was tried and which
        layout is expected.
    """
    if data_root is not None:
        root, origin = Path(data_root).expanduser(), "the data_root argument"
    else:
        value = os.environ.get(ENV_VAR, "")
        if not value:
            raise FileNotFoundError(
                f"no data folder: data_root is None and the environment variable {ENV_VAR} is not set. "
                f"Pass data_root=... or set {ENV_VAR} to a folder laid out as\n{layout}"
            )
        root, origin = Path(value).expanduser(), f"the environment variable {ENV_VAR}"
    if not root.is_dir():
        raise FileNotFoundError(
            f"data folder {str(root)!r} (from {origin}) does not exist or is not a folder; "
            f"expected a folder laid out as\n{layout}"
        )
    return root


def find_file(root: Path, candidates: list[str], *, what: str, layout: str = DATA_LAYOUT) -> Path:
    """Return the first of ``candidates`` (paths relative to ``root``) that is a file.

    Raises
    ------
    FileNotFoundError
        Listing every path that was tried.
    """
    for relative in candidates:
        path = root / relative
        if path.is_file():
            return path
    tried = "\n".join(f"  {root / relative}" for relative in candidates)
    raise FileNotFoundError(f"{what}: none of these files exists:\n{tried}\nexpected layout:\n{layout}")
