"""Benchmark configuration files (TOML): what ``domadapt bench --config FILE`` runs.

A config names the data set, tasks, methods, seeds, classifier and output folder; it can change
a registered method's parameters, derive new methods with a grid of candidate values and a
selection rule, and import Python modules that register methods of their own. Command-line
flags override the file. Example (``benchmarks/office_caltech10/surf.toml`` is a real one)::

    dataset = "office_caltech10_surf"
    tasks = "all"                      # or ["C->A", "D->W"]
    methods = ["NoAdapt", "CORAL", "SA", "SA-srcval"]   # or "all"
    seeds = 3                          # seeds 0, 1, 2; or a list [0, 4, 7]
    classifier = "1nn"
    out = "surf"                       # relative paths are relative to this file
    method_modules = ["my_methods.py"] # modules (or files) that call register_method

    [method.CORAL]                     # change a registered method's parameters
    params = { reg = 0.5 }

    [method.SA-srcval]                 # a new method derived from a registered one
    base = "SA"
    grid = { n_components = [10, 20, 50, 100] }
    selection = "source-val"

Relative paths in the file (``out``, ``data_root``, ``method_modules`` entries that name a
``.py`` file) are resolved against the folder of the file, so a config runs the same from any
working directory. Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from ..datasets import DEFAULT_DATASET
from .methods import MethodSpec, UnknownMethodError, available_methods, get_method
from .runner import BenchmarkError
from .tables import METRICS

#: Methods of a plain ``domadapt bench``: fast enough for the default run to stay well under a
#: minute on two CPU cores (digits, three tasks, three seeds); every method stays selectable.
DEFAULT_METHODS: tuple[str, ...] = ("NoAdapt", "CORAL", "SA", "TCA", "JDA", "OT-EMD")
#: Top-level keys of a config file.
CONFIG_KEYS: tuple[str, ...] = (
    "dataset", "data_root", "tasks", "methods", "seeds", "classifier", "out", "device", "threads",
    "metric", "method_modules", "method", "file_pattern",
)
#: Keys of a ``[method.NAME]`` table.
METHOD_KEYS: tuple[str, ...] = ("base", "params", "grid", "selection", "setting")


@dataclass(frozen=True)
class BenchConfig:
    """Everything one ``domadapt bench`` invocation runs; see the module docstring for the file.

    Parameters
    ----------
    dataset : str, default="digits"
    data_root : str or None
        Data folder (``None``: ``$DOMADAPT_DATA``).
    file_pattern : str or None
        Office-31 feature file names, e.g. ``"feats_{domain}"`` for the files that
        ``domadapt extract-features --out feats.npz`` writes (``None``: ``"{domain}"``).
    tasks : list of str or None
        Task names; ``None`` for all the data set's tasks.
    methods : list of str or None
        Method names (registered, or defined in ``method_settings``); ``["all"]`` for every
        available and every defined one; ``None`` for :data:`DEFAULT_METHODS`.
    seeds : list of int, default=[0, 1, 2]
    classifier : str, default="1nn"
    out : str or None
        Output folder (``None``: ``results/<dataset>``).
    device : str, default="auto"
    threads : int, default=1
        torch CPU threads (0 keeps torch's default).
    metric : str, default="accuracy"
        Metric of the printed table (:data:`domadapt.bench.tables.METRICS`).
    method_modules : list of str
        Modules (``"pkg.mod"``) or Python files (``"x/y.py"``) imported before the methods are
        looked up; they register methods with :func:`domadapt.bench.register_method`.
    method_settings : dict of str to dict
        ``[method.NAME]`` tables: ``base`` (registered method to start from; default ``NAME``),
        ``params`` (replace parameter values), ``grid`` (candidate values), ``selection``,
        ``setting`` (a description for the docs and records).
    source : str or None
        The file the config was read from.
    """

    dataset: str = DEFAULT_DATASET
    data_root: str | None = None
    file_pattern: str | None = None
    tasks: list[str] | None = None
    methods: list[str] | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    classifier: str = "1nn"
    out: str | None = None
    device: str = "auto"
    threads: int = 1
    metric: str = "accuracy"
    method_modules: list[str] = field(default_factory=list)
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise BenchmarkError(f"threads must be a non-negative integer (0: torch's default), got {self.threads!r}")

    def updated(self, **values: Any) -> "BenchConfig":
        """A copy with the given fields replaced; ``None`` values are ignored (a flag not given).

        ``method_modules`` given here are added after the file's own.
        """
        changes = {k: v for k, v in values.items() if v is not None}
        if "method_modules" in changes:
            changes["method_modules"] = [*self.method_modules, *changes["method_modules"]]
        return dataclasses.replace(self, **changes)

    @property
    def out_dir(self) -> Path:
        """The output folder: ``out``, or ``results/<dataset>``."""
        return Path(self.out) if self.out is not None else Path("results") / self.dataset


def load_config(path: str | Path) -> BenchConfig:
    """Read a benchmark config file (TOML).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    BenchConfig

    Raises
    ------
    BenchmarkError
        For a missing or malformed file, an unknown key, or a value of the wrong type, naming
        the key.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchmarkError(f"config file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"config file {path} is not valid TOML: {exc}") from None
    where = str(path)
    _check_keys(data, CONFIG_KEYS, where)
    base = path.resolve().parent
    values: dict[str, Any] = {"source": str(path)}
    for key in ("dataset", "classifier", "device", "metric", "file_pattern"):
        if key in data:
            values[key] = _typed(data[key], str, f"{where}: {key}")
    for key in ("out", "data_root"):
        if key in data:
            values[key] = str(base / Path(_typed(data[key], str, f"{where}: {key}")).expanduser())
    if values.get("metric", "accuracy") not in METRICS:
        raise BenchmarkError(f"{where}: unknown metric {values['metric']!r}; use one of {', '.join(METRICS)}")
    if "threads" in data:
        values["threads"] = _typed(data["threads"], int, f"{where}: threads")
    if "tasks" in data:
        values["tasks"] = _names_or_all(data["tasks"], f"{where}: tasks")
    if "methods" in data:
        methods = _names_or_all(data["methods"], f"{where}: methods")
        values["methods"] = ["all"] if methods is None else methods
    if "seeds" in data:
        values["seeds"] = parse_seeds_value(data["seeds"], f"{where}: seeds")
    if "method_modules" in data:
        modules = _string_list(data["method_modules"], f"{where}: method_modules")
        values["method_modules"] = [str(base / m) if m.endswith(".py") else m for m in modules]
    if "method" in data:
        values["method_settings"] = _method_settings(data["method"], where)
    return BenchConfig(**values)


def parse_seeds_value(value: Any, where: str = "seeds") -> list[int]:
    """A count ``N`` (seeds ``0..N-1``) or a list of distinct non-negative integers.

    Raises
    ------
    BenchmarkError
        Naming ``where``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise BenchmarkError(f"{where}: a seed count must be at least 1, got {value}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if min(value) < 0 or len(set(value)) != len(value):
            raise BenchmarkError(f"{where}: seeds must be distinct non-negative integers, got {value}")
        return list(value)
    raise BenchmarkError(f"{where}: give a count N or a list of integers, got {value!r}")


def import_method_modules(modules: Sequence[str]) -> None:
    """Import the modules or ``.py`` files that register benchmark methods.

    A dotted name is imported with :func:`importlib.import_module`; a path ending in ``.py`` is
    executed once per process as module ``domadapt_bench_plugin_<stem>``.

    Raises
    ------
    BenchmarkError
        When a module cannot be found or fails to import, naming it.
    """
    for name in modules:
        try:
            if name.endswith(".py"):
                _import_file(Path(name))
            else:
                importlib.import_module(name)
        except BenchmarkError:
            raise
        except (ImportError, OSError) as exc:
            raise BenchmarkError(f"method module {name!r} could not be imported: {exc}") from None


def _import_file(path: Path) -> None:
    if not path.is_file():
        raise BenchmarkError(f"method module file {path} not found")
    module_name = f"domadapt_bench_plugin_{path.stem}"
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise


def method_specs(config: BenchConfig) -> list[MethodSpec]:
    """The methods ``config`` runs, after importing its ``method_modules``.

    Names with a ``[method.NAME]`` table become specs derived from their ``base`` (or from the
    registered method of the same name); other names are looked up in the registry.

    Returns
    -------
    list of MethodSpec

    Raises
    ------
    BenchmarkError
        For an unknown method or base, a table of settings that no listed method uses, or a
        grid without a selection.
    """
    import_method_modules(config.method_modules)
    settings = config.method_settings
    if config.methods is None:
        names = [m for m in DEFAULT_METHODS if m in available_methods()]
    elif config.methods == ["all"]:
        names = available_methods() + [n for n in settings if n not in available_methods()]
    else:
        names = list(config.methods)
    unused = [n for n in settings if n not in names]
    if unused:
        raise BenchmarkError(
            f"[method.{unused[0]}] is defined but not run: add {unused[0]!r} to methods"
        )
    specs = []
    for name in names:
        try:
            specs.append(_derive(name, settings[name]) if name in settings else get_method(name))
        except UnknownMethodError as exc:
            raise BenchmarkError(str(exc)) from None
    return specs


def _derive(name: str, table: Mapping[str, Any]) -> MethodSpec:
    base = get_method(table.get("base", name))
    params = dict(table.get("params", {}))
    grid = {k: list(v) for k, v in table.get("grid", {}).items()}
    if grid and "selection" not in table:
        raise BenchmarkError(
            f"[method.{name}]: a grid needs a selection (source-val, an unsupervised scorer, or "
            "oracle-target, which uses target labels)"
        )
    selection = table.get("selection", base.selection)
    changes = ", ".join(
        f"{key}={value}" for key, value in (("params", params), ("grid", grid)) if value
    )
    setting = table.get("setting") or (
        f"{base.name} changed by the config: {changes}; selection {selection}" if changes else base.setting
    )
    return dataclasses.replace(
        base,
        name=name,
        params={**base.params, **params},
        grid=grid,
        selection=selection,
        setting=setting,
    )


def _method_settings(tables: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(tables, dict):
        raise BenchmarkError(f"{where}: 'method' must be tables [method.NAME]")
    out = {}
    for name, table in tables.items():
        here = f"{where}: [method.{name}]"
        if not isinstance(table, dict):
            raise BenchmarkError(f"{here} must be a table")
        _check_keys(table, METHOD_KEYS, here)
        for key in ("base", "selection", "setting"):
            if key in table:
                _typed(table[key], str, f"{here} {key}")
        for key in ("params", "grid"):
            if key in table:
                _typed(table[key], dict, f"{here} {key}")
        for key, values in table.get("grid", {}).items():
            if not isinstance(values, list) or not values:
                raise BenchmarkError(f"{here} grid {key!r} must be a non-empty list of values")
        out[name] = dict(table)
    return out


def _check_keys(data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise BenchmarkError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _typed(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BenchmarkError(f"{where} must be a {kind.__name__}, got {value!r}")
    return value


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BenchmarkError(f"{where} must be a list of strings, got {value!r}")
    return list(value)


def _names_or_all(value: Any, where: str) -> list[str] | None:
    """``"all"`` → None; a list of names as is."""
    if value == "all":
        return None
    names = _string_list(value, where)
    if not names:
        raise BenchmarkError(f"{where} must not be empty (use \"all\")")
    return names


__all__ = [
    "BenchConfig",
    "CONFIG_KEYS",
    "DEFAULT_METHODS",
    "METHOD_KEYS",
    "import_method_modules",
    "load_config",
    "method_specs",
    "parse_seeds_value",
]
