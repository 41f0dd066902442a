"""Benchmarks: methods × tasks × seeds, resumable JSONL records, tables beside published numbers.

``run_benchmark`` runs the grid and appends one record per finished run to
``<out>/records.jsonl``; ``render`` turns records into Markdown, CSV or LaTeX tables. The
``domadapt bench`` command does both; see ``docs/benchmarks.md``.
"""

from .methods import MethodSpec, SourceOnly, available_methods, get_method, register_method, unregister_method
from .runner import PROTOCOL, BenchmarkError, read_records, run_benchmark
from .tables import accuracy_table, discrepancy_table, footnote, render

__all__ = [
    "BenchmarkError",
    "MethodSpec",
    "PROTOCOL",
    "SourceOnly",
    "accuracy_table",
    "available_methods",
    "discrepancy_table",
    "footnote",
    "get_method",
    "read_records",
    "register_method",
    "render",
    "run_benchmark",
    "unregister_method",
]
