"""Benchmarks: methods × tasks × seeds, resumable JSONL records, tables beside published numbers.

``run_benchmark`` runs the grid and appends one record per finished run to
``<out>/records.jsonl``; ``render`` turns records into Markdown, CSV or LaTeX tables;
``load_config`` reads a TOML benchmark config. The ``domadapt bench`` command does all three;
see ``docs/benchmarks.md``.
"""

from .config import BenchConfig, load_config, method_specs
from .methods import MethodSpec, SourceOnly, available_methods, get_method, register_method, unregister_method
from .runner import PROTOCOL, BenchmarkError, read_records, run_benchmark
from .tables import METRICS, accuracy_table, discrepancy_table, footnote, metric_table, render

__all__ = [
    "BenchConfig",
    "BenchmarkError",
    "METRICS",
    "MethodSpec",
    "PROTOCOL",
    "SourceOnly",
    "accuracy_table",
    "available_methods",
    "discrepancy_table",
    "footnote",
    "get_method",
    "load_config",
    "method_specs",
    "metric_table",
    "read_records",
    "register_method",
    "render",
    "run_benchmark",
    "unregister_method",
]
