"""The benchmark runner (records, resuming) and the tables made from its records."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier

from domadapt.bench import reference, runner
from domadapt.bench.methods import (
    MethodSpec,
    SourceOnly,
    available_methods,
    get_method,
    register_method,
    unregister_method,
)
from domadapt.bench.runner import RECORDS_FILE, BenchmarkError, read_records, run_benchmark
from domadapt.bench.tables import accuracy_table, discrepancy_table, footnote, render, to_csv, to_latex
from domadapt.datasets import Domain, DomainTask

TASKS = ["A→B", "B→A"]


def _tiny_task(task: str) -> DomainTask:
    """Two small shifted Gaussian domains, so a run takes milliseconds."""
    rng = np.random.default_rng(len(task))
    centers = rng.normal(scale=3.0, size=(3, 5))
    ys, yt = np.repeat([0, 1, 2], 12), np.repeat([0, 1, 2], 9)
    Xs = centers[ys] + rng.normal(size=(36, 5))
    Xt = centers[yt] + rng.normal(size=(27, 5)) + 1.0
    return DomainTask(
        Domain(Xs, ys, task[0]), Domain(Xt, yt, task[-1]), ("a", "b", "c"), name=task, dataset="tiny"
    )


class Counting(SourceOnly):
    """Source-only adapter that counts its fits and remembers whether target labels reached it."""

    fits = 0
    saw_target_labels = False

    def fit(self, X, y, X_target, y_target=None):
        Counting.fits += 1
        Counting.saw_target_labels |= y_target is not None
        return super().fit(X, y, X_target, y_target)


@pytest.fixture
def tiny(monkeypatch):
    """A fake data set "tiny" with tasks A→B, B→A, and a registered method "Count"."""
    loads = []

    def load_task(dataset, task, *, data_root=None):
        loads.append(task)
        return _tiny_task(task)

    monkeypatch.setattr(runner, "list_tasks", lambda dataset: list(TASKS))
    monkeypatch.setattr(runner, "load_task", load_task)
    Counting.fits, Counting.saw_target_labels = 0, False
    register_method(MethodSpec("Count", Counting, {}, "test double"))
    yield loads
    unregister_method("Count")


def _run(out=None, methods=("Count",), tasks=None, seeds=(0,), **kw):
    return run_benchmark(list(methods), tasks, list(seeds), dataset="tiny", out=out, progress=False, **kw)


# ---------------------------------------------------------------------------- runner
def test_records_hold_every_field_and_the_right_scores(tiny):
    records = _run(methods=["NoAdapt", "Count"], seeds=[0, 1])
    assert [(r["task"], r["method"], r["seed"]) for r in records] == [
        (t, m, s) for t in TASKS for m in ("NoAdapt", "Count") for s in (0, 1)
    ]
    fields = {
        "dataset", "task", "method", "seed", "classifier", "accuracy", "macro_f1",
        "discrepancy_before", "discrepancy_after", "fit_time_s", "run_time_s", "n_source",
        "n_target", "params", "device", "domadapt_version", "torch_version", "platform",
        "cpu_count", "torch_threads", "protocol", "finished_at",
    }
    for record in records:
        assert fields <= set(record), fields - set(record)
        assert set(record["discrepancy_before"]) == {"mmd2", "coral"}
        json.dumps(record)  # JSON-serialisable as written to records.jsonl
    # source-only + 1-NN is exactly a 1-NN fitted on the source and scored on the whole target
    Xs, ys, Xt, yt = _tiny_task("A→B").arrays()
    pred = KNeighborsClassifier(1).fit(Xs, ys).predict(Xt)
    first = records[0]
    assert first["accuracy"] == pytest.approx(np.mean(pred == yt))
    assert first["macro_f1"] == pytest.approx(f1_score(yt, pred, average="macro"))
    assert (first["n_source"], first["n_target"], first["dataset"]) == (36, 27, "tiny")
    assert first["discrepancy_before"] == first["discrepancy_after"]  # identity map
    assert first["protocol"] == runner.PROTOCOL and "transductive" in first["protocol"]
    assert tiny == TASKS  # data loaded once per task
    assert not Counting.saw_target_labels


def test_logreg_classifier_and_seed_reach_the_run(tiny):
    (record,) = _run(methods=["NoAdapt"], tasks=["A->B"], seeds=[4], classifier="logreg")
    assert record["classifier"] == "logreg" and record["task"] == "A→B"
    assert "LogisticRegression" in record["params"]["estimator"]
    assert "random_state=4" in record["params"]["estimator"]


def test_resume_skips_finished_runs(tiny, tmp_path):
    first = _run(tmp_path, seeds=[0, 1])
    assert Counting.fits == 4
    lines = (tmp_path / RECORDS_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and all(json.loads(line)["method"] == "Count" for line in lines)

    again = _run(tmp_path, seeds=[0, 1])
    assert Counting.fits == 4, "finished runs were run again"
    assert again == first
    assert tiny == TASKS  # nothing to run: no task was loaded again

    _run(tmp_path, seeds=[0, 1, 2])
    assert Counting.fits == 6  # only seed 2, on both tasks
    assert len(read_records(tmp_path / RECORDS_FILE)) == 6

    _run(tmp_path, seeds=[0], classifier="logreg")
    assert Counting.fits == 8  # another classifier is another run


def test_half_written_last_line_is_ignored_and_run_again(tiny, tmp_path):
    _run(tmp_path, seeds=[0, 1], tasks=["A→B"])
    path = tmp_path / RECORDS_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # the second record is cut, with its newline
    assert [r["seed"] for r in read_records(path)] == [0]

    records = _run(tmp_path, seeds=[0, 1], tasks=["A→B"])
    assert Counting.fits == 3  # two first, then only the cut one again
    assert [r["seed"] for r in records] == [0, 1]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [0, 1]  # the fragment is gone


def test_a_broken_line_inside_the_file_is_skipped_with_a_warning(tmp_path):
    good = {"dataset": "d", "task": "A→B", "method": "M", "seed": 0, "classifier": "1nn"}
    path = tmp_path / RECORDS_FILE
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"seed": 1}) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="not a complete run record"):
        assert read_records(path) == [good]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"methods": ["Nope"]}, "unknown method 'Nope'"),
        ({"tasks": ["A→C"]}, "unknown task 'A→C'"),
        ({"tasks": ["AB"]}, "not of the form"),
        ({"seeds": [0, 0]}, "seeds"),
        ({"seeds": [-1]}, "seeds"),
        ({"classifier": "svm"}, "unknown classifier"),
    ],
)
def test_bad_requests_fail_before_anything_runs(tiny, tmp_path, kwargs, message):
    with pytest.raises(BenchmarkError, match=message):
        _run(tmp_path / "out", **kwargs)
    assert Counting.fits == 0 and not (tmp_path / "out").exists()


def test_missing_data_fails_before_the_output_folder_is_made(tiny, monkeypatch, tmp_path):
    def missing(dataset, task, *, data_root=None):
        raise FileNotFoundError("no data folder")

    monkeypatch.setattr(runner, "load_task", missing)
    with pytest.raises(FileNotFoundError):
        _run(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_registry_lists_only_methods_that_import():
    names = available_methods()
    assert names[:2] == ["NoAdapt", "CORAL"]
    for name in names:  # every listed method builds with its fixed settings
        adapter = get_method(name).build(KNeighborsClassifier(1), random_state=0)
        assert adapter.get_params()["estimator"] is not None
    register_method(MethodSpec("Ghost", "domadapt.feature:NoSuchAdapter"))
    try:
        assert "Ghost" not in available_methods()
        with pytest.raises(BenchmarkError, match="does not export"):
            _run(methods=["Ghost"])
    finally:
        unregister_method("Ghost")


# ---------------------------------------------------------------------------- tables
def _record(method, task, seed, accuracy, *, dataset="d", mmd=(0.5, 0.1), classifier="1nn"):
    return {
        "dataset": dataset, "task": task, "method": method, "seed": seed, "classifier": classifier,
        "accuracy": accuracy, "macro_f1": accuracy,
        "discrepancy_before": {"mmd2": mmd[0], "coral": 2.0},
        "discrepancy_after": {"mmd2": mmd[1], "coral": 1.0},
        "fit_time_s": 0.1, "run_time_s": 0.2, "device": "cpu", "domadapt_version": "0.1.0",
        "torch_version": "2.13.0", "platform": "Linux-test_x86", "cpu_count": 2,
        "torch_threads": 1,
        "protocol": runner.PROTOCOL, "finished_at": f"2025-01-0{seed + 1}T10:00:00+00:00",
    }


HAND = [
    *(_record("M", "A→B", s, a) for s, a in enumerate([0.5, 0.6, 0.7])),
    *(_record("M", "B→A", s, a, mmd=(0.3, 0.3)) for s, a in enumerate([0.7, 0.8, 0.9])),
    _record("K", "A→B", 0, 0.25),
]


def _markdown_rows(text: str) -> dict[str, list[str]]:
    table = text.split("\n\n")[1]  # the first table, after its title
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()]
    assert all(re.fullmatch(r"-+:?", c) for c in rows[1][1:])
    return {row[0]: row[1:] for row in [rows[0], *rows[2:]]}


def test_mean_and_sample_std_over_seeds():
    rows = _markdown_rows(render(HAND))
    assert rows["Method"] == ["A→B", "B→A", "Avg"]
    # 50/60/70 → mean 60, sample std 10; Avg: per-seed averages 60/70/80 → 70 ± 10
    assert rows["M"] == ["60.00 ± 10.00", "80.00 ± 10.00", "70.00 ± 10.00"]
    # one seed: no ±; a missing task: no Avg
    assert rows["K"] == ["25.00", "—", "—"]


def test_discrepancy_table_means_over_tasks_and_seeds():
    table = discrepancy_table(HAND)
    assert table.columns == ("MMD² before", "MMD² after", "CORAL before", "CORAL after")
    m = table.rows[0]
    assert m.label == "M"
    assert [c.mean for c in m.cells] == pytest.approx([0.4, 0.2, 2.0, 1.0])


def test_footnote_names_protocol_classifier_seeds_machine_and_dates():
    text = " ".join(footnote(HAND))
    for part in (runner.PROTOCOL, "1-nearest neighbour", "Seeds: 0, 1, 2", "ddof=1", "Linux-test_x86",
                 "2 CPUs", "torch 2.13.0 (threads=1)", "device cpu", "2025-01-01 to 2025-01-03"):
        assert part in text


def test_published_rows_sit_under_ours_with_the_paper_numbers():
    dataset = "office_caltech10_surf"
    records = [_record("NoAdapt", t, 0, 0.3, dataset=dataset) for t in ("C→A", "D→W")]
    records += [_record("JDA", t, 0, 0.4, dataset=dataset) for t in ("C→A", "D→W")]
    table = accuracy_table(records)
    labels = [row.label for row in table.rows]
    assert labels == [
        "NoAdapt", "NN (published, Long et al. 2013)", "JDA", "JDA (published, Long et al. 2013)"
    ]
    (jda,) = reference.find_references(dataset, "JDA")
    published = table.rows[3]
    assert [c.mean for c in published.cells[:2]] == [jda.accuracy["C→A"], jda.accuracy["D→W"]]
    assert published.cells[2].mean == pytest.approx((jda.accuracy["C→A"] + jda.accuracy["D→W"]) / 2)
    assert all(c.std is None for c in published.cells)
    assert "Long" in " ".join(footnote(records))
    assert len(accuracy_table(records, published=False).rows) == 2


def test_two_classifiers_get_two_rows():
    records = [_record("M", "A→B", 0, 0.5), _record("M", "A→B", 0, 0.7, classifier="logreg")]
    assert [r.label for r in accuracy_table(records).rows] == ["M (1nn)", "M (logreg)"]


def test_records_of_two_data_sets_are_refused():
    with pytest.raises(ValueError, match="one data set"):
        render([_record("M", "A→B", 0, 0.5), _record("M", "A→B", 0, 0.5, dataset="e")])


def test_csv_is_well_formed_and_numeric():
    rows = list(csv.reader(io.StringIO(to_csv(accuracy_table(HAND)))))
    assert rows[0] == ["Method", "A→B", "A→B std", "B→A", "B→A std", "Avg", "Avg std"]
    assert all(len(row) == 7 for row in rows)
    m = dict(zip(rows[0], rows[1]))
    assert float(m["A→B"]) == pytest.approx(60.0) and float(m["Avg std"]) == pytest.approx(10.0)
    k = dict(zip(rows[0], rows[2]))
    assert k["A→B std"] == "" and k["B→A"] == ""


def test_latex_is_well_formed_and_escaped():
    records = HAND + [_record("OT_x&y", "A→B", 0, 0.5)]
    text = to_latex(accuracy_table(records), note="50% of runs on x_86")
    assert text.count(r"\begin{table}") == text.count(r"\end{table}") == 1
    assert text.count(r"\begin{tabular}{lrrr}") == 1 and r"\end{tabular}" in text
    body = text[text.index(r"\toprule"):text.index(r"\bottomrule")]
    rows = [line for line in body.splitlines() if line.endswith(r"\\")]
    assert len(rows) == 4 and all(len(re.findall(r"(?<!\\)&", row)) == 3 for row in rows)
    assert r"OT\_x\&y" in text and r"A$\rightarrow$B" in text and r"$\pm$" in text
    assert r"50\% of runs on x\_86" in text
    assert "→" not in text and "±" not in text
    # every brace opened is closed
    assert text.replace(r"\{", "").count("{") == text.replace(r"\}", "").count("}")
