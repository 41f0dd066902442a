"""The ``domadapt`` command: ``domadapt bench ...`` (``domadapt <command> --help`` for details)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from . import __version__
from .bench import available_methods, render, run_benchmark
from .bench.config import DEFAULT_METHODS, BenchConfig, import_method_modules, load_config, method_specs
from .bench.runner import CLASSIFIERS, RECORDS_FILE, BenchmarkError
from .bench.tables import FORMATS, METRICS
from .datasets import ENV_VAR

#: Files written to ``--out`` beside ``records.jsonl`` for the accuracy table: format → file name
#: (another ``--metric`` writes ``table_<metric>.md`` and so on).
OUTPUT_FILES: dict[str, str] = {"markdown": "table.md", "csv": "table.csv", "latex": "table.tex"}


def output_files(metric: str = "accuracy") -> dict[str, str]:
    """Format → file name of the tables of ``metric`` (:data:`OUTPUT_FILES` for accuracy)."""
    if metric == "accuracy":
        return dict(OUTPUT_FILES)
    return {fmt: name.replace("table.", f"table_{metric}.") for fmt, name in OUTPUT_FILES.items()}


def parse_seeds(text: str) -> list[int]:
    """``"3"`` → ``[0, 1, 2]``; ``"0,4,7"`` → ``[0, 4, 7]`` (a trailing comma makes one seed a list).

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            return list(range(count))
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a count N (seeds 0..N-1) or a comma list such as 0,1,2"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seeds must be non-negative integers")
    return seeds


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``domadapt`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="domadapt", description="Domain adaptation behind one sklearn-style interface."
    )
    parser.add_argument("--version", action="version", version=f"domadapt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    bench = commands.add_parser(
        "bench",
        help="run methods × tasks × seeds and print the accuracy table",
        description=(
            "Run every method on every task with every seed (transductive protocol: fit on the "
            "labelled source and the unlabelled target, score on the whole target), append one "
            "record per finished run to OUT/records.jsonl (a re-run resumes), and write "
            "table.md, table.csv, table.tex and results.json to OUT. Settings come from "
            "--config FILE (TOML), then from the flags, which override the file; defaults "
            "are shown for a run without a config."
        ),
    )
    bench.add_argument(
        "--config", type=Path, default=None, help="benchmark config file (TOML; see docs/benchmarks.md)"
    )
    bench.add_argument("--dataset", default=None, help="data set (default: digits)")
    bench.add_argument(
        "--data-root",
        default=None,
        help=f"folder of the data files (default: ${ENV_VAR}; not needed for digits)",
    )
    bench.add_argument(
        "--methods",
        type=_names,
        default=None,
        help=f"comma list of methods (default: {','.join(DEFAULT_METHODS)}; "
        "'all' for every available one)",
    )
    bench.add_argument(
        "--file-pattern", default=None,
        help="office31 only: feature file names, e.g. 'feats_{domain}' for the files of "
        "'domadapt extract-features --out feats.npz' (default: '{domain}')",
    )
    bench.add_argument(
        "--tasks", default=None, help="comma list of tasks such as 'A->W,D->W', or 'all' (default)"
    )
    bench.add_argument(
        "--seeds",
        type=parse_seeds,
        default=None,
        help="a count N (seeds 0..N-1) or a comma list (default: 3)",
    )
    bench.add_argument("--classifier", choices=list(CLASSIFIERS), default=None, help="default: 1nn")
    bench.add_argument("--out", type=Path, default=None, help="output folder (default: results/<dataset>)")
    bench.add_argument("--device", default=None, help="adapter device (default: auto)")
    bench.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1, which keeps the many small fits fast and their "
        "timings stable on a shared machine; 0 keeps torch's own default)",
    )
    bench.add_argument(
        "--method-module",
        action="append",
        default=None,
        metavar="MODULE",
        help="import this module (dotted name) or .py file first; it registers methods with "
        "domadapt.bench.register_method (repeatable; added to the config's method_modules)",
    )
    bench.add_argument(
        "--metric",
        choices=list(METRICS),
        default=None,
        help="metric of the tables (default: accuracy; others are written as table_<metric>.*)",
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.add_argument(
        "--format", choices=FORMATS, default="markdown", help="what to print (default: %(default)s)"
    )
    bench.add_argument(
        "--list-methods", action="store_true", help="print the available methods and exit"
    )
    bench.set_defaults(handler=_bench)
    _add_extract_features_parser(commands)
    _add_plot_parser(commands)
    return parser


def bench_config(args: argparse.Namespace) -> BenchConfig:
    """The settings of a ``domadapt bench`` invocation: its ``--config`` file, overridden by flags."""
    config = load_config(args.config) if args.config is not None else BenchConfig()
    config = config.updated(
        dataset=args.dataset,
        data_root=args.data_root,
        file_pattern=args.file_pattern,
        methods=args.methods,
        seeds=args.seeds,
        classifier=args.classifier,
        out=None if args.out is None else str(args.out),
        device=args.device,
        threads=args.threads,
        metric=args.metric,
        method_modules=args.method_module,
    )
    if args.tasks is not None:
        tasks = _names(args.tasks)
        config = dataclasses.replace(config, tasks=None if tasks == ["all"] else tasks)
    return config


def _bench(args: argparse.Namespace) -> int:
    config = bench_config(args)
    if args.list_methods:
        import_method_modules(config.method_modules)
        print("\n".join(available_methods()))
        return 0
    specs = method_specs(config)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    out = config.out_dir
    records = run_benchmark(
        specs,
        config.tasks,
        config.seeds,
        dataset=config.dataset,
        data_root=config.data_root,
        classifier=config.classifier,
        out=out,
        progress=not args.no_progress,
        device=config.device,
        file_pattern=config.file_pattern,
    )
    names = output_files(config.metric)
    texts = {fmt: render(records, fmt, metric=config.metric) for fmt in names}
    for fmt, name in names.items():
        _write_atomic(out / name, texts[fmt])
    _write_atomic(out / "results.json", json.dumps(records, ensure_ascii=False, indent=1))
    sys.stdout.write(texts[args.format])
    print(f"\nrecords: {out / RECORDS_FILE}; tables: {', '.join(names.values())}", file=sys.stderr)
    return 0


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers (and a killed
    run) see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:  # interrupted before the rename: no temporary file is left behind
        tmp.unlink(missing_ok=True)


def _add_extract_features_parser(commands: argparse._SubParsersAction) -> None:
    extract = commands.add_parser(
        "extract-features",
        help="run a backbone over image domains and cache the features (one .npz per domain)",
        description=(
            "Extract backbone features of every image of each domain (test transform, eval mode, "
            "batched, CUDA when available). --out DIR writes DIR/<domain>.npz; --out NAME.npz "
            "writes NAME_<domain>.npz beside it. A second run with the same backbone, weights, "
            "transform and image files reads the cached files instead of recomputing."
        ),
    )
    extract.add_argument("--backbone", required=True, help="e.g. resnet50, vgg16, efficientnet_lite0")
    extract.add_argument(
        "--weights",
        default=None,
        help="weights file, or DEFAULT / a torchvision weights name read from torchvision's local "
        "cache (never downloaded); omitted: random weights, for testing only",
    )
    extract.add_argument(
        "--data-root", default=None, help=f"image root holding the domain folders (default: ${ENV_VAR})"
    )
    extract.add_argument("--out", required=True, type=Path, help="output folder, or NAME.npz (see above)")
    extract.add_argument(
        "--domains", type=_names, default=None, help="comma list of domain folders (default: amazon,dslr,webcam)"
    )
    extract.add_argument(
        "--layout", choices=["auto", "images", "flat"], default="auto",
        help="ROOT/<domain>/images/<class> or ROOT/<domain>/<class> (default: %(default)s)",
    )
    extract.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    extract.add_argument("--device", default="auto", help="default: %(default)s (CUDA when available)")
    extract.add_argument(
        "--num-workers", type=int, default=min(4, os.cpu_count() or 1),
        help="image decoding processes (default: %(default)s)",
    )
    extract.add_argument("--image-size", type=int, default=224, help="centre crop side (default: %(default)s)")
    extract.add_argument("--resize-size", type=int, default=256, help="shorter side before the crop (default: %(default)s)")
    extract.add_argument("--amp", action="store_true", help="mixed precision (off by default: exact float32)")
    extract.add_argument("--skip-corrupt", action="store_true", help="leave out unreadable images (listed)")
    extract.add_argument(
        "--verify", choices=["header", "full", "none"], default="header",
        help="check images before extracting: header (fast), full decode, none (default: %(default)s)",
    )
    extract.add_argument("--force", action="store_true", help="recompute even when the cache is valid")
    extract.add_argument("--no-progress", action="store_true", help="no progress bar")
    extract.set_defaults(handler=_extract_features)


def _extract_features(args: argparse.Namespace) -> int:
    from .datasets.extract import extract_features
    from .datasets.images import CorruptImageError

    if args.weights is None:
        print("domadapt extract-features: warning: no --weights, so the backbone has random weights; "
              "such features are only good for testing", file=sys.stderr)
    try:
        results = extract_features(
            args.backbone,
            args.weights,
            args.data_root,
            args.out,
            domains=args.domains,
            layout=args.layout,
            batch_size=args.batch_size,
            device=args.device,
            num_workers=args.num_workers,
            progress=not args.no_progress,
            image_size=args.image_size,
            resize_size=args.resize_size,
            amp=args.amp,
            skip_corrupt=args.skip_corrupt,
            verify=args.verify,
            force=args.force,
        )
    except (ValueError, TypeError, ImportError, OSError) as exc:  # OSError: CorruptImageError too
        message = str(exc)
        if isinstance(exc, CorruptImageError) and "Traceback" in message:
            # re-raised from a loader worker with the worker's traceback: keep the error itself
            message = message.rsplit("CorruptImageError: ", 1)[-1]
        print(f"domadapt extract-features: error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    for item in results.values():
        state = "cached" if item.cached else "extracted"
        print(f"{item.domain}\t{item.path}\t{item.n_samples} x {item.dim}\t{state}")
    return 0


def _add_plot_parser(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser(
        "plot",
        help="embedding and per-class accuracy figures (PNG) of one method on one task",
        description=(
            "Fit METHOD (a name of 'domadapt bench --list-methods') on TASK and write two PNG "
            "files to OUT: a 2-D embedding of source and target before and after adaptation, "
            "coloured by domain and by class, and the per-class target accuracy of the method "
            "beside no adaptation. Target labels are used for colouring and scoring only."
        ),
    )
    plot.add_argument("--dataset", default="digits", help="data set (default: %(default)s)")
    plot.add_argument(
        "--data-root", default=None, help=f"folder of the data files (default: ${ENV_VAR}; not needed for digits)"
    )
    plot.add_argument(
        "--file-pattern", default=None,
        help="office31 only: feature file names, e.g. 'feats_{domain}' (default: '{domain}')",
    )
    plot.add_argument("--task", required=True, help="task such as 'O->R' or 'A->W'")
    plot.add_argument("--method", required=True, help="method name, e.g. CORAL")
    plot.add_argument("--classifier", choices=list(CLASSIFIERS), default="logreg", help="default: %(default)s")
    plot.add_argument("--embedding", choices=("pca", "tsne"), default="pca", help="default: %(default)s")
    plot.add_argument("--max-points", type=int, default=1000, help="rows drawn per domain (default: %(default)s)")
    plot.add_argument("--seed", type=int, default=0, help="seed of the method and the drawing (default: %(default)s)")
    plot.add_argument("--device", default="auto", help="adapter device (default: %(default)s)")
    plot.add_argument("--out", type=Path, required=True, help="output folder")
    plot.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> int:
    import re

    from .bench.methods import UnknownMethodError, get_method
    from .bench.runner import load_bench_task, make_classifier, resolve_tasks
    from .plot import plot_embedding, plot_per_class_accuracy

    try:
        spec, baseline = get_method(args.method), get_method("NoAdapt")
    except UnknownMethodError as exc:
        raise BenchmarkError(str(exc)) from None
    if args.max_points < 2:
        raise BenchmarkError(f"--max-points must be at least 2, got {args.max_points}")
    task_name = resolve_tasks(args.dataset, [args.task])[0]
    # a method's own classifier wins, as in bench; the baseline has no head: logreg stands in
    chosen = spec.classifier or args.classifier
    baseline_classifier = "logreg" if chosen == "head" else chosen
    if chosen == "head" and not spec.has_own_predictor():
        raise BenchmarkError(f"method {args.method!r} has no classification head of its own")
    if args.file_pattern is not None and args.dataset != "office31":
        raise BenchmarkError(f"--file-pattern is for the office31 feature files, not {args.dataset!r}")
    options = {} if args.file_pattern is None else {"file_pattern": args.file_pattern}
    task = load_bench_task(args.dataset, task_name, args.data_root, **options)
    Xs, ys, Xt, yt = task.arrays()

    def fitted(method_spec: Any, classifier: str) -> Any:
        estimator = make_classifier(classifier, args.seed)
        return method_spec.build(estimator, args.seed, device=args.device).fit(Xs, ys, Xt)

    adapter, source_only = fitted(spec, chosen), fitted(baseline, baseline_classifier)
    baseline_label = "no adaptation" + (f" ({baseline_classifier})" if chosen == "head" else "")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{args.dataset}_{task.name}_{args.method}")
    paths = [args.out / f"embedding_{stem}_{args.embedding}.png", args.out / f"per_class_{stem}.png"]
    try:
        plot_embedding(
            adapter, Xs, ys, Xt, yt, method=args.embedding, out=paths[0], class_names=task.class_names,
            max_points=args.max_points, random_state=args.seed,
            title=f"{args.method} on {task.dataset} {task.name}",
        )
        plot_per_class_accuracy(
            yt, {baseline_label: source_only.predict(Xt), args.method: adapter.predict(Xt)},
            task.class_names, paths[1], title=f"per-class target accuracy, {task.dataset} {task.name}",
        )
    except ImportError as exc:
        print(f"domadapt plot: error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``domadapt`` console script.

    User errors (unknown method, task or data set, missing data files) print one line on stderr
    and return 2; an interrupted benchmark returns 130 (its finished runs are kept).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args)
    except (BenchmarkError, FileNotFoundError) as exc:
        print(f"domadapt {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ndomadapt {args.command}: interrupted; finished runs are kept, run again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
