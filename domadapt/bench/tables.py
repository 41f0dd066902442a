"""Benchmark tables from run records: a metric per task, discrepancy per method, and the notes.

Conventions
-----------
- Cells are percentages: the mean over seeds ± the **sample** standard deviation over seeds
  (``ddof=1``); with a single seed the cell shows the mean only. Seeds 50 %, 60 %, 70 % give
  ``60.00 ± 10.00``. Accuracy is the default metric; any metric of :data:`METRICS` that the records
  hold can be tabulated the same way (a record without it, e.g. one written by an older version,
  leaves its cell empty).
- ``Avg`` is the mean of the task means; its ± is the sample standard deviation over seeds of
  the per-seed average over tasks, shown when every task has the same seeds. A row that misses a
  task has no ``Avg`` (averages over different task sets are not comparable).
- Every row says how its hyper-parameters were chosen (column ``Selection``); a row whose numbers
  used target labels to choose them — ours with ``oracle-target`` selection, or a published row
  whose source tuned on the target — is marked ``†``, and a note under the table says what that
  means.
- Published numbers (:mod:`domadapt.bench.reference`, accuracy only) are added as rows
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
from .runner import CLASSIFIERS, PROTOCOL

#: Our method name → the method name in :mod:`domadapt.bench.reference` where they differ.
REFERENCE_NAMES: dict[str, str] = {"NoAdapt": "NN"}
FORMATS: tuple[str, ...] = ("markdown", "csv", "latex")
#: Record field → how tables name it. Every value is a fraction in [0, 1], shown in percent.
METRICS: dict[str, str] = {
    "accuracy": "Target accuracy",
    "macro_f1": "Target macro-F1",
    "macro_precision": "Target macro precision",
    "macro_recall": "Target macro recall",
    "auc_ovr": "Target one-vs-rest AUC",
}
#: The mark of a row whose hyper-parameters were chosen with target labels.
DAGGER = "†"
DAGGER_NOTE = (
    f"{DAGGER} Hyper-parameters chosen with target labels (oracle-target selection): the best of "
    "several settings scored on the very target labels the table reports, an optimistic number "
    "that an unsupervised user cannot reproduce."
)
#: Selection name → what it means, for the notes (an unsupervised scorer's name is shown as is).
SELECTION_MEANINGS: dict[str, str] = {
    "none": "the method has no hyper-parameter",
    "fixed": "hyper-parameters fixed in advance (published settings where they exist)",
    "last-epoch": "the network after its last training epoch",
    "source-val": "the grid point with the best accuracy on a held-out part of the labelled source",
    "oracle-target": "the grid point with the best target accuracy (uses target labels)",
    "unsupervised": "chosen by a score that needs no target labels",
    "not stated": "the source does not say how",
}
#: Records written before these fields existed were produced under the fixed, transductive protocol.
_OLD_SELECTION = "fixed"
_OLD_EVALUATION = "target-all"

Record = dict[str, Any]


@dataclass(frozen=True)
class Cell:
    """One table entry: a mean, and a standard deviation when there is one."""

    mean: float | None
    std: float | None = None


@dataclass(frozen=True)
class Row:
    """A labelled row of cells, one per column, with how its hyper-parameters were chosen.

    ``selection`` is empty for tables without a selection column; ``target_labels`` marks a row
    whose numbers used target labels to choose hyper-parameters (rendered with :data:`DAGGER`).
    """

    label: str
    cells: tuple[Cell, ...]
    selection: str = ""
    target_labels: bool = False

    @property
    def shown_label(self) -> str:
        """The label with the :data:`DAGGER` mark when the row used target labels."""
        return f"{self.label} {DAGGER}" if self.target_labels else self.label


@dataclass(frozen=True)
class Table:
    """Columns, rows and the number format of the cells (e.g. ``"{:.2f}"``).

    With ``selection_column`` the rendered table has a ``Selection`` column after the labels.
    """

    title: str
    corner: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    number: str = "{:.2f}"
    selection_column: bool = False

    def text(self, cell: Cell) -> str:
        """The cell as text: ``"60.00 ± 10.00"``, ``"60.00"`` or ``"—"`` when empty."""
        if cell.mean is None:
            return "—"
        text = self.number.format(cell.mean)
        return text if cell.std is None else f"{text} ± {self.number.format(cell.std)}"

    def header(self) -> list[str]:
        """The header cells as rendered."""
        return [self.corner, *(["Selection"] if self.selection_column else []), *self.columns]

    def cells_of(self, row: Row) -> list[str]:
        """A row's cells as rendered (label with its mark, selection, numbers)."""
        lead = [row.shown_label, *([row.selection] if self.selection_column else [])]
        return lead + [self.text(c) for c in row.cells]

    @property
    def marked(self) -> bool:
        """Whether any row carries the :data:`DAGGER` mark."""
        return any(row.target_labels for row in self.rows)


# --------------------------------------------------------------------------- record fields
def selection_of(record: Record) -> str:
    """How a record's hyper-parameters were chosen (``"fixed"`` for records that predate the field)."""
    return record.get("selection") or _OLD_SELECTION


def uses_target_labels(record: Record) -> bool:
    """Whether a record's hyper-parameters were chosen with target labels."""
    return bool(record.get("uses_target_labels", selection_of(record) == "oracle-target"))


def versions_of(record: Record) -> dict[str, str]:
    """Package versions of a record: its ``versions`` field, or the older per-package fields."""
    if isinstance(record.get("versions"), dict):
        return dict(record["versions"])
    old = {"domadapt": record.get("domadapt_version"), "torch": record.get("torch_version")}
    return {name: v for name, v in old.items() if v is not None}


# --------------------------------------------------------------------------- building
def metric_table(records: Sequence[Record], metric: str = "accuracy", *, published: bool = True) -> Table:
    """Per-task table of one metric (%): rows = methods, columns = tasks + ``"Avg"``.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set (:func:`domadapt.bench.run_benchmark`).
    metric : str, default="accuracy"
        A key of :data:`METRICS`.
    published : bool, default=True
        Add the published rows recorded for this data set (accuracy only: the sources report
        nothing else).

    Returns
    -------
    Table
        With a ``Selection`` column; rows that used target labels are marked.

    Raises
    ------
    ValueError
        When ``records`` is empty or mixes data sets, or ``metric`` is unknown.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    dataset = _dataset_of(records)
    tasks = _unique(r["task"] for r in records)
    rows = []
    several = len(_unique(r["classifier"] for r in records)) > 1
    for method, groups in _by_method(records).items():
        for label, mine in groups:
            rows.append(_metric_row(label, mine, tasks, metric))
        if published and metric == "accuracy":
            used = {mine[0]["classifier"] for _, mine in groups}
            rows.extend(_published_rows(dataset, method, tasks, used, several))
    return Table(
        title=f"{METRICS[metric]} (%) on {dataset}",
        corner="Method",
        columns=(*tasks, "Avg"),
        rows=tuple(rows),
        selection_column=True,
    )


def accuracy_table(records: Sequence[Record], *, published: bool = True) -> Table:
    """Per-task target accuracy (%) table; :func:`metric_table` with ``metric="accuracy"``.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set.
    published : bool, default=True
        Add the published rows recorded for this data set.

    Returns
    -------
    Table
    """
    return metric_table(records, "accuracy", published=published)


def _metric_row(label: str, records: Sequence[Record], tasks: Sequence[str], metric: str) -> Row:
    per_task = {
        t: {r["seed"]: 100.0 * r[metric] for r in records if r["task"] == t and r.get(metric) is not None}
        for t in tasks
    }
    cells = [_mean_std(per_task[t].values()) for t in tasks]
    selection = ", ".join(_unique(selection_of(r) for r in records))
    marked = any(uses_target_labels(r) for r in records)
    if any(not per_task[t] for t in tasks):
        return Row(label, (*cells, Cell(None)), selection, marked)
    avg = statistics.fmean(c.mean for c in cells)
    seed_sets = {frozenset(per_task[t]) for t in tasks}
    std = None
    if len(seed_sets) == 1 and len(seeds := sorted(seed_sets.pop())) > 1:
        std = statistics.stdev(statistics.fmean(per_task[t][s] for t in tasks) for s in seeds)
    return Row(label, (*cells, Cell(avg, std)), selection, marked)


def _published_rows(
    dataset: str, method: str, tasks: Sequence[str], classifiers: set[str], several: bool
) -> list[Row]:
    """The published rows of ``method`` whose classifier is among ``classifiers`` (ours for that
    method), the classifier named in the label when the table has ``several``."""
    rows = []
    for ref in _references(dataset, method, classifiers):
        cells = [Cell(ref.accuracy.get(t)) for t in tasks]
        complete = all(c.mean is not None for c in cells)
        avg = Cell(statistics.fmean(c.mean for c in cells) if complete else None)
        label = published_label(ref)
        if several and ref.classifier is not None:
            label = f"{label[:-1]}; {ref.classifier})" if label.endswith(")") else f"{label} ({ref.classifier})"
        rows.append(Row(label, (*cells, avg), ref.selection, ref.uses_target_labels))
    return rows


def _references(dataset: str, method: str, classifiers: set[str]) -> list[reference.Reference]:
    """The recorded references of ``method`` on ``dataset`` run with one of ``classifiers``."""
    return [
        ref
        for ref in reference.find_references(dataset, REFERENCE_NAMES.get(method, method))
        if ref.classifier is None or ref.classifier in classifiers
    ]


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
        ``MMD² after``, ``CORAL before``, ``CORAL after``; cells are means over tasks and seeds
        of the records that hold the measure (empty when none does).
    """
    dataset = _dataset_of(records)
    rows = []
    for groups in _by_method(records).values():
        for label, mine in groups:
            cells = []
            for measure in ("mmd2", "coral"):
                for when in ("before", "after"):
                    values = [
                        v for r in mine
                        if (v := (r.get(f"discrepancy_{when}") or {}).get(measure)) is not None
                    ]
                    cells.append(Cell(statistics.fmean(values) if values else None))
            rows.append(Row(label, tuple(cells)))
    return Table(
        title=f"Mean source–target discrepancy on {dataset} (over tasks and seeds)",
        corner="Method",
        columns=("MMD² before", "MMD² after", "CORAL before", "CORAL after"),
        rows=tuple(rows),
        number="{:.4g}",
    )


def footnote(records: Sequence[Record], *, published: bool = True, metric: str = "accuracy") -> list[str]:
    """The notes under the tables, one sentence group per item.

    Protocol, evaluation split, model selection (with the :data:`DAGGER` note when a row used
    target labels), classifier, seeds and statistics, machine (platform, CPU count, torch
    threads, device), package versions, run times and dates; with ``published`` (and the
    accuracy metric), the citation, provenance, protocol and selection of every published row
    shown.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set.
    published : bool, default=True
    metric : str, default="accuracy"
        The metric of the table the notes go with (published rows exist for accuracy only).

    Returns
    -------
    list of str
    """
    dataset = _dataset_of(records)
    seeds = sorted(_unique(r["seed"] for r in records))
    dates = sorted(r["finished_at"][:10] for r in records if r.get("finished_at"))
    machines = _unique(
        f"{r.get('platform', '?')}, {r.get('cpu_count', '?')} CPUs, "
        f"torch threads={r.get('torch_threads', '?')}, device {r.get('device', '?')}"
        for r in records
    )
    versions = _unique(
        ", ".join(f"{name} {v}" for name, v in versions_of(r).items()) for r in records
    )
    selections = _unique(selection_of(r) for r in records)
    refs = _shown_references(dataset, records) if published and metric == "accuracy" else []
    notes = [
        f"Protocol: {'; '.join(_unique(r.get('protocol', PROTOCOL) for r in records))}.",
        "Evaluation split: "
        + "; ".join(_unique(r.get("evaluation_split", _OLD_EVALUATION) for r in records))
        + " (the target samples the adapter saw unlabelled are the ones scored).",
        "Selection: " + "; ".join(
            f"{s}: {SELECTION_MEANINGS.get(s, 'the grid point with the best value of this unsupervised score')}"
            for s in selections
        ) + ".",
        "Classifier: " + "; ".join(
            f"{c}: {CLASSIFIERS.get(c, c)}" for c in _unique(r["classifier"] for r in records)
        ) + ".",
        f"Seeds: {', '.join(map(str, seeds))}; cells are mean ± sample standard deviation over "
        "seeds (ddof=1) in percent; Avg is the mean over tasks.",
        f"Machine: {'; '.join(machines)}.",
        f"Versions: {'; '.join(versions)}.",
    ]
    times = [r["run_time_s"] for r in records if r.get("run_time_s") is not None]
    if times:
        notes.append(
            f"Wall time per run (fit, selection and prediction): median {statistics.median(times):.3g} s, "
            f"total {sum(times):.4g} s over {len(times)} runs."
        )
    if dates:
        notes.append(f"Date: {dates[0] if dates[0] == dates[-1] else f'{dates[0]} to {dates[-1]}'} (UTC).")
    if any(uses_target_labels(r) for r in records) or any(ref.uses_target_labels for ref in refs):
        notes.append(DAGGER_NOTE)
    for ref in refs:
        read = f" Numbers read from {ref.transcribed_from}." if ref.transcribed_from else ""
        said = f" ({ref.selection_evidence})" if ref.selection_evidence else ""
        notes.append(
            f"{published_label(ref)}: {ref.source}{read} Protocol: {ref.protocol} "
            f"Selection: {ref.selection}{said}."
        )
    return notes


def _shown_references(dataset: str, records: Sequence[Record]) -> list[reference.Reference]:
    return [
        ref
        for method in _unique(r["method"] for r in records)
        for ref in _references(dataset, method, {r["classifier"] for r in records if r["method"] == method})
    ]


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
    """A GitHub-flavoured Markdown pipe table under a ``###`` title.

    ``|`` inside a label is escaped so that it cannot split a cell.
    """
    header = table.header()
    lead = 2 if table.selection_column else 1
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] * lead + ["---:"] * len(table.columns)) + " |",
    ]
    for row in table.rows:
        lines.append("| " + " | ".join(c.replace("|", r"\|") for c in table.cells_of(row)) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV with one row per table row: the label, then ``<column>`` and ``<column> std`` numbers.

    With a selection column, ``Selection`` and ``Target labels used`` (``yes``/``no``) follow the
    label, and the label carries no mark. Empty fields stand for missing values; numbers are
    written in full precision.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    lead = ["Selection", "Target labels used"] if table.selection_column else []
    writer.writerow([table.corner, *lead] + [h for c in table.columns for h in (c, f"{c} std")])
    for row in table.rows:
        info = [row.selection, "yes" if row.target_labels else "no"] if table.selection_column else []
        writer.writerow(
            [row.label, *info]
            + ["" if v is None else repr(v) for c in row.cells for v in (c.mean, c.std)]
        )
    return buffer.getvalue()


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "→": r"$\rightarrow$", "±": r"$\pm$", "²": r"$^2$", "–": "--", "—": "---", DAGGER: r"$^\dagger$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters and write ``→``, ``±``, ``²``, ``†`` in math mode."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(table: Table, note: str = "") -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``).

    Parameters
    ----------
    table : Table
    note : str, optional
        Text set in small type under the tabular (e.g. the :func:`footnote`).
    """
    header = table.header()
    lead = "ll" if table.selection_column else "l"
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        r"\begin{tabular}{" + lead + "r" * len(table.columns) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        lines.append(" & ".join(latex_escape(t) for t in table.cells_of(row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if note:
        lines.append(rf"\par\smallskip{{\footnotesize {latex_escape(note)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def render(
    records: Sequence[Record], fmt: str = "markdown", *, metric: str = "accuracy", published: bool = True
) -> str:
    """The benchmark report in one format.

    Parameters
    ----------
    records : sequence of dict
        Run records of one data set.
    fmt : {"markdown", "csv", "latex"}
        Markdown and LaTeX hold the metric table, the discrepancy table and the notes; CSV holds
        the metric table only (the records themselves are in ``results.json``).
    metric : str, default="accuracy"
        The metric of the main table, a key of :data:`METRICS`.
    published : bool, default=True
        Include published rows (and their citations in the notes).

    Returns
    -------
    str
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    main = metric_table(records, metric, published=published)
    if fmt == "csv":
        return to_csv(main)
    notes = footnote(records, published=published, metric=metric)
    discrepancy = discrepancy_table(records)
    if fmt == "markdown":
        bullets = "".join(f"- {note}\n" for note in notes)
        return f"{to_markdown(main)}\n{to_markdown(discrepancy)}\nNotes:\n\n{bullets}"
    return f"{to_latex(main, ' '.join(notes))}\n{to_latex(discrepancy)}"


__all__ = [
    "Cell",
    "DAGGER",
    "FORMATS",
    "METRICS",
    "REFERENCE_NAMES",
    "Row",
    "SELECTION_MEANINGS",
    "Table",
    "accuracy_table",
    "discrepancy_table",
    "footnote",
    "latex_escape",
    "metric_table",
    "published_label",
    "render",
    "selection_of",
    "to_csv",
    "to_latex",
    "to_markdown",
    "uses_target_labels",
    "versions_of",
]
