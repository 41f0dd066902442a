"""Benchmark tables from run records: accuracy per task, discrepancy per method, and a footnote.

Conventions
-----------
- Accuracy cells are percentages: the mean over seeds ± the **sample** standard deviation over
  seeds (``ddof=1``); with a single seed the cell shows the mean only. Seeds 50 %, 60 %, 70 %
  give ``60.00 ± 10.00``.
- ``Avg`` is the mean of the task means; its ± is the sample standard deviation over seeds of
  the per-seed average over tasks, shown when every task has the same seeds. A row that misses a
  task has no ``Avg`` (averages over different task sets are not comparable).
- Published numbers (:mod:`domadapt.bench.reference`) are added as rows
  ``"<method> (published, <first author> et al. <year>)"`` under our row of the same method,
  for every method we ran that has them on this data set (our ``NoAdapt`` is their ``NN``).
- The discrepancy table gives, per method, the mean over tasks and seeds of the squared MMD and
  the CORAL distance between the domains before and after adaptation (from ``report_``).
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from . import reference
from .runner import CLASSIFIERS

#: Our method name → the method name in :mod:`domadapt.bench.reference` where they differ.
REFERENCE_NAMES: dict[str, str] = {"NoAdapt": "NN"}
FORMATS: tuple[str, ...] = ("markdown", "csv", "latex")

Record = dict[str, Any]


@dataclass(frozen=True)
class Cell:
    """One table entry: a mean, and a standard deviation when there is one."""

    mean: float | None
    std: float | None = None


@dataclass(frozen=True)
class Row:
    """A labelled row of cells, one per column."""

    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    """Columns, rows and the number format of the cells (e.g. ``"{:.2f}"``)."""

    title: str
    corner: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    number: str = "{:.2f}"

    def text(self, cell: Cell) -> str:
        """The cell as text: ``"60.00 ± 10.00"``, ``"60.00"`` or ``"—"`` when empty."""
        if cell.mean is None:
            return "—"
        text = self.number.format(cell.mean)
        return text if cell.std is None else f"{text} ± {self.number.format(cell.std)}"


# --------------------------------------------------------------------------- building
def accuracy_table(records: Sequence[Record], *, published: bool = True) -> Table:
    """Per-task accuracy (%) table: rows = methods, columns = tasks + ``"Avg"``.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set (:func:`domadapt.bench.run_benchmark`).
    published : bool, default=True
        Add the published rows recorded for this data set.

    Returns
    -------
    Table

    Raises
    ------
    ValueError
        When ``records`` is empty or mixes data sets.
    """
    dataset = _dataset_of(records)
    tasks = _unique(r["task"] for r in records)
    rows = []
    for method, groups in _by_method(records).items():
        rows.extend(_accuracy_row(label, mine, tasks) for label, mine in groups)
        if published:
            rows.extend(_published_rows(dataset, method, tasks))
    return Table(
        title=f"Target accuracy (%) on {dataset}", corner="Method", columns=(*tasks, "Avg"), rows=tuple(rows)
    )


def _accuracy_row(label: str, records: Sequence[Record], tasks: Sequence[str]) -> Row:
    per_task = {t: {r["seed"]: 100.0 * r["accuracy"] for r in records if r["task"] == t} for t in tasks}
    cells = [_mean_std(per_task[t].values()) for t in tasks]
    if any(not per_task[t] for t in tasks):
        return Row(label, (*cells, Cell(None)))
    avg = statistics.fmean(c.mean for c in cells)
    seed_sets = {frozenset(per_task[t]) for t in tasks}
    std = None
    if len(seed_sets) == 1 and len(seeds := sorted(seed_sets.pop())) > 1:
        std = statistics.stdev(statistics.fmean(per_task[t][s] for t in tasks) for s in seeds)
    return Row(label, (*cells, Cell(avg, std)))


def _published_rows(dataset: str, method: str, tasks: Sequence[str]) -> list[Row]:
    rows = []
    for ref in reference.find_references(dataset, REFERENCE_NAMES.get(method, method)):
        cells = [Cell(ref.accuracy.get(t)) for t in tasks]
        complete = all(c.mean is not None for c in cells)
        avg = Cell(statistics.fmean(c.mean for c in cells) if complete else None)
        rows.append(Row(published_label(ref), (*cells, avg)))
    return rows


def published_label(ref: reference.Reference) -> str:
    """Row label of a published result, e.g. ``"JDA (published, Long et al. 2013)"``."""
    author = re.match(r"\s*(?:[A-Z][a-z]*\.\s*)+([^\s,.]+)", ref.source)
    year = re.search(r"\b(?:19|20)\d\d\b", ref.source)
    if author and year:
        return f"{ref.method} (published, {author.group(1)} et al. {year.group(0)})"
    return f"{ref.method} (published)"


def discrepancy_table(records: Sequence[Record]) -> Table:
    """Mean squared MMD and CORAL distance before → after adaptation, per method.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set.

    Returns
    -------
    Table
        Rows = methods (with the classifier when records hold several), columns ``MMD² before``,
        ``MMD² after``, ``CORAL before``, ``CORAL after``; cells are means over tasks and seeds.
    """
    dataset = _dataset_of(records)
    rows = []
    for groups in _by_method(records).values():
        for label, mine in groups:
            cells = tuple(
                Cell(statistics.fmean(r[f"discrepancy_{when}"][measure] for r in mine))
                for measure in ("mmd2", "coral")
                for when in ("before", "after")
            )
            rows.append(Row(label, cells))
    return Table(
        title=f"Mean source–target discrepancy on {dataset} (over tasks and seeds)",
        corner="Method",
        columns=("MMD² before", "MMD² after", "CORAL before", "CORAL after"),
        rows=tuple(rows),
        number="{:.4g}",
    )


def footnote(records: Sequence[Record], *, published: bool = True) -> list[str]:
    """The notes under the tables, one sentence group per item.

    Protocol, classifier, seeds and statistics, machine (platform, CPU count, torch version,
    device) and versions, dates of the runs; with ``published``, the citation, provenance and
    protocol of every published row shown.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set.
    published : bool, default=True

    Returns
    -------
    list of str
    """
    dataset = _dataset_of(records)
    seeds = sorted(_unique(r["seed"] for r in records))
    dates = sorted(r["finished_at"][:10] for r in records)
    machines = _unique(
        f"{r['platform']}, {r['cpu_count']} CPUs, torch {r['torch_version']} "
        f"(threads={r['torch_threads']}), device {r['device']}"
        for r in records
    )
    notes = [
        f"Protocol: {'; '.join(_unique(r['protocol'] for r in records))}.",
        "Classifier: " + "; ".join(
            f"{c}: {CLASSIFIERS.get(c, c)}" for c in _unique(r["classifier"] for r in records)
        ) + ".",
        f"Seeds: {', '.join(map(str, seeds))}; cells are mean ± sample standard deviation over "
        "seeds (ddof=1); Avg is the mean over tasks.",
        f"Machine: {'; '.join(machines)}; domadapt "
        f"{', '.join(_unique(r['domadapt_version'] for r in records))}.",
        f"Date: {dates[0] if dates[0] == dates[-1] else f'{dates[0]} to {dates[-1]}'} (UTC).",
    ]
    if published:
        for method in _unique(r["method"] for r in records):
            for ref in reference.find_references(dataset, REFERENCE_NAMES.get(method, method)):
                read = f" Numbers read from {ref.transcribed_from}." if ref.transcribed_from else ""
                notes.append(f"{published_label(ref)}: {ref.source}{read} Protocol: {ref.protocol}")
    return notes


def _dataset_of(records: Sequence[Record]) -> str:
    datasets = _unique(r["dataset"] for r in records)
    if len(datasets) != 1:
        raise ValueError(
            "records must come from exactly one data set; got "
            + (", ".join(map(repr, datasets)) if datasets else "no records")
        )
    return datasets[0]


def _by_method(records: Sequence[Record]) -> dict[str, list[tuple[str, list[Record]]]]:
    """Method → [(row label, records)], one pair per classifier (named when there are several)."""
    several = len(_unique(r["classifier"] for r in records)) > 1
    groups: dict[str, list[tuple[str, list[Record]]]] = {}
    for method, classifier in _unique((r["method"], r["classifier"]) for r in records):
        mine = [r for r in records if r["method"] == method and r["classifier"] == classifier]
        groups.setdefault(method, []).append((f"{method} ({classifier})" if several else method, mine))
    return groups


def _unique(values: Iterable[Any]) -> list[Any]:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(values))


def _mean_std(values: Iterable[float]) -> Cell:
    values = list(values)
    if not values:
        return Cell(None)
    return Cell(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None)


# -------------------------------------------------------------------------- rendering
def to_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown pipe table under a ``###`` title."""
    header = [table.corner, *table.columns]
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in table.columns) + " |",
    ]
    for row in table.rows:
        lines.append("| " + " | ".join([row.label, *(table.text(c) for c in row.cells)]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV with one row per table row: the label, then ``<column>`` and ``<column> std`` numbers.

    Empty fields stand for missing values; numbers are written in full precision.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([table.corner] + [h for c in table.columns for h in (c, f"{c} std")])
    for row in table.rows:
        writer.writerow(
            [row.label]
            + ["" if v is None else repr(v) for c in row.cells for v in (c.mean, c.std)]
        )
    return buffer.getvalue()


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "→": r"$\rightarrow$", "±": r"$\pm$", "²": r"$^2$", "–": "--", "—": "---",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters and write ``→``, ``±``, ``²`` in math mode."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(table: Table, note: str = "") -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``).

    Parameters
    ----------
    table : Table
    note : str, optional
        Text set in small type under the tabular (e.g. the :func:`footnote`).
    """
    header = [table.corner, *table.columns]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        r"\begin{tabular}{l" + "r" * len(table.columns) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        cells = [row.label, *(table.text(c) for c in row.cells)]
        lines.append(" & ".join(latex_escape(t) for t in cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if note:
        lines.append(rf"\par\smallskip{{\footnotesize {latex_escape(note)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def render(records: Sequence[Record], fmt: str = "markdown", *, published: bool = True) -> str:
    """The benchmark report in one format.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set.
    fmt : {"markdown", "csv", "latex"}
        Markdown and LaTeX hold the accuracy table, the discrepancy table and the footnote; CSV
        holds the accuracy table only (the records themselves are in ``results.json``).
    published : bool, default=True
        Include published rows (and their citations in the footnote).

    Returns
    -------
    str
    """
    accuracy = accuracy_table(records, published=published)
    if fmt == "csv":
        return to_csv(accuracy)
    notes = footnote(records, published=published)
    discrepancy = discrepancy_table(records)
    if fmt == "markdown":
        bullets = "".join(f"- {note}\n" for note in notes)
        return f"{to_markdown(accuracy)}\n{to_markdown(discrepancy)}\nNotes:\n\n{bullets}"
    if fmt == "latex":
        return f"{to_latex(accuracy, ' '.join(notes))}\n{to_latex(discrepancy)}"
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


__all__ = [
    "Cell",
    "FORMATS",
    "REFERENCE_NAMES",
    "Row",
    "Table",
    "accuracy_table",
    "discrepancy_table",
    "footnote",
    "latex_escape",
    "published_label",
    "render",
    "to_csv",
    "to_latex",
    "to_markdown",
]
