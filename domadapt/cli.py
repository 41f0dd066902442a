"""The ``domadapt`` command: ``domadapt bench ...`` (``domadapt <command> --help`` for details)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from . import __version__
from .bench import available_methods, render, run_benchmark
from .bench.runner import CLASSIFIERS, RECORDS_FILE, BenchmarkError
from .bench.tables import FORMATS
from .datasets import DEFAULT_DATASET, ENV_VAR

#: Methods of a plain ``domadapt bench``: fast enough for the default run to stay well under a
#: minute on two CPU cores (digits, three tasks, three seeds); every method stays selectable.
DEFAULT_METHODS: tuple[str, ...] = ("NoAdapt", "CORAL", "SA", "TCA", "JDA", "OT-EMD")

#: Files written to ``--out`` beside ``records.jsonl``: format → file name.
OUTPUT_FILES: dict[str, str] = {"markdown": "table.md", "csv": "table.csv", "latex": "table.tex"}


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
            "table.md, table.csv, table.tex and results.json to OUT."
        ),
    )
    bench.add_argument("--dataset", default=DEFAULT_DATASET, help="data set (default: %(default)s)")
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
        "--tasks", default="all", help="comma list of tasks such as 'A->W,D->W', or 'all' (default)"
    )
    bench.add_argument(
        "--seeds",
        type=parse_seeds,
        default=parse_seeds("3"),
        help="a count N (seeds 0..N-1) or a comma list (default: 3)",
    )
    bench.add_argument("--classifier", choices=list(CLASSIFIERS), default="1nn", help="default: %(default)s")
    bench.add_argument("--out", type=Path, default=None, help="output folder (default: results/<dataset>)")
    bench.add_argument("--device", default="auto", help="adapter device (default: %(default)s)")
    bench.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default: 1, which keeps the many small fits fast and their "
        "timings stable on a shared machine; 0 keeps torch's own default)",
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.add_argument(
        "--format", choices=FORMATS, default="markdown", help="what to print (default: %(default)s)"
    )
    bench.add_argument(
        "--list-methods", action="store_true", help="print the available methods and exit"
    )
    bench.set_defaults(handler=_bench)
    return parser


def _bench(args: argparse.Namespace) -> int:
    if args.list_methods:
        print("\n".join(available_methods()))
        return 0
    if args.methods is None:
        methods = [m for m in DEFAULT_METHODS if m in available_methods()]
    elif args.methods == ["all"]:
        methods = available_methods()
    else:
        methods = args.methods
    tasks = None if args.tasks.strip() == "all" else _names(args.tasks)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    out = args.out if args.out is not None else Path("results") / args.dataset
    records = run_benchmark(
        methods,
        tasks,
        args.seeds,
        dataset=args.dataset,
        data_root=args.data_root,
        classifier=args.classifier,
        out=out,
        progress=not args.no_progress,
        device=args.device,
    )
    texts = {fmt: render(records, fmt) for fmt in OUTPUT_FILES}
    for fmt, name in OUTPUT_FILES.items():
        (out / name).write_text(texts[fmt], encoding="utf-8")
    (out / "results.json").write_text(
        json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    sys.stdout.write(texts[args.format])
    print(f"\nrecords: {out / RECORDS_FILE}; tables: {', '.join(OUTPUT_FILES.values())}", file=sys.stderr)
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
