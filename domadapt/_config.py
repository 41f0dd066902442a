"""Process-wide options, in the manner of :func:`sklearn.set_config`."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

_CONFIG: dict[str, Any] = {
    # measure source-target discrepancy before and after every fit and store it in report_
    "report_discrepancy": True,
    # rows per domain drawn (seeded) for the report's measures; keeps reports cheap on big data
    "report_max_samples": 1000,
    # rows per block in chunked kernel and distance reductions
    "chunk_size": 2048,
    # show progress bars on long work
    "progress": True,
}


def get_config() -> dict[str, Any]:
    """Return a copy of the current options."""
    return dict(_CONFIG)


def set_config(**options: Any) -> None:
    """Set options; unknown names raise ``ValueError``.

    Options
    -------
    report_discrepancy : bool
        Measure discrepancy before and after each ``fit`` (default True).
    report_max_samples : int
        Rows per domain used for the report's measures (default 1000).
    chunk_size : int
        Rows per block in chunked reductions (default 2048).
    progress : bool
        Show progress bars (default True).
    """
    unknown = set(options) - set(_CONFIG)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(_CONFIG)}")
    _CONFIG.update(options)


@contextlib.contextmanager
def config_context(**options: Any) -> Iterator[None]:
    """Temporarily set options inside a ``with`` block."""
    old = get_config()
    set_config(**options)
    try:
        yield
    finally:
        _CONFIG.clear()
        _CONFIG.update(old)
