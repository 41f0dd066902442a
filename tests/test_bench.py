"""The benchmark runner (records, protocol, selection, resuming) and the tables made from its records."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from domadapt import SubspaceAlignment
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
from domadapt.bench.tables import (
    DAGGER,
    DAGGER_NOTE,
    accuracy_table,
    discrepancy_table,
    footnote,
    metric_table,
    render,
    to_csv,
    to_latex,
    to_markdown,
)
from domadapt.datasets import Domain, DomainTask, parse_task, task_name

TASKS = ["A→B", "B→A"]


def _tiny_task(task: str, permute_target_labels: bool = False) -> DomainTask:
    """Two small shifted Gaussian domains, so a run takes milliseconds."""
    rng = np.random.default_rng(len(task) + ord(task[0]))
    centers = rng.normal(scale=2.0, size=(3, 5))
    ys, yt = np.repeat([0, 1, 2], 12), np.repeat([0, 1, 2], 9)
    Xs = centers[ys] + rng.normal(size=(36, 5))
    Xt = centers[yt] + rng.normal(size=(27, 5)) + 1.5
    if permute_target_labels:
        yt = np.random.default_rng(1).permutation(yt)
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

    def canonical_task(dataset, name):
        source, target = parse_task(name)
        if not {source, target} <= {"A", "B"} or source == target:
            raise ValueError("unknown domain")
        return task_name(source, target)

    monkeypatch.setattr(runner, "canonical_task", canonical_task)
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
        "dataset", "task", "method", "seed", "classifier", "accuracy", "macro_f1", "macro_precision",
        "macro_recall", "auc_ovr", "protocol", "evaluation_split", "selection", "uses_target_labels",
        "params", "setting", "setting_digest", "discrepancy_before", "discrepancy_after", "fit_time_s",
        "run_time_s", "n_source", "n_target", "device", "platform", "cpu_count", "torch_threads",
        "versions", "finished_at",
    }
    for record in records:
        assert fields <= set(record), fields - set(record)
        assert set(record["discrepancy_before"]) == {"mmd2", "coral"}
        assert set(record["versions"]) == {"python", "domadapt", "torch", "numpy", "scipy", "scikit-learn", "POT"}
        assert record["evaluation_split"] == "target-all" and record["uses_target_labels"] is False
        assert record["run_time_s"] >= record["fit_time_s"] >= 0
        assert "grid" not in record  # fixed settings: nothing was selected
        json.dumps(record, allow_nan=False)  # strict JSON as written to records.jsonl
    assert {r["selection"] for r in records} == {"none", "fixed"}  # NoAdapt: none; Count: fixed
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


def test_every_metric_equals_sklearn_on_the_same_predictions(tiny):
    """logreg has predict_proba, so the record holds a real one-vs-rest AUC."""
    (record,) = _run(methods=["NoAdapt"], tasks=["A→B"], seeds=[3], classifier="logreg")
    Xs, ys, Xt, yt = _tiny_task("A→B").arrays()
    clf = LogisticRegression(max_iter=3000, random_state=3).fit(Xs, ys)
    pred, proba = clf.predict(Xt), clf.predict_proba(Xt)
    assert 0.3 < record["accuracy"] < 1.0  # a shift that leaves the metrics informative
    assert record["accuracy"] == pytest.approx(accuracy_score(yt, pred))
    assert record["macro_f1"] == pytest.approx(f1_score(yt, pred, average="macro"))
    assert record["macro_precision"] == pytest.approx(precision_score(yt, pred, average="macro", zero_division=0))
    assert record["macro_recall"] == pytest.approx(recall_score(yt, pred, average="macro"))
    assert record["auc_ovr"] == pytest.approx(roc_auc_score(yt, proba, multi_class="ovr", average="macro"))


def test_a_method_with_its_own_classifier_keeps_it_in_a_1nn_benchmark(tiny, tmp_path):
    """Weighting methods run with logistic regression (1-NN takes no weights), deep ones with
    their head; the record, its key and the table say so."""
    records = _run(tmp_path, methods=["NoAdapt", "NoAdapt-LR", "KMM", "MLP"], tasks=["A→B"])
    assert [r["classifier"] for r in records] == ["1nn", "logreg", "logreg", "head"]
    Xs, ys, Xt, yt = _tiny_task("A→B").arrays()
    lr = LogisticRegression(max_iter=3000, random_state=0).fit(Xs, ys)
    assert records[1]["accuracy"] == pytest.approx(accuracy_score(yt, lr.predict(Xt)))
    kmm = get_method("KMM").build(None, random_state=0).fit(Xs, ys, Xt)
    weighted = LogisticRegression(max_iter=3000, random_state=0).fit(Xs, ys, sample_weight=kmm.sample_weight_)
    assert records[2]["accuracy"] == pytest.approx(accuracy_score(yt, weighted.predict(Xt)))
    assert records[3]["params"]["estimator"] is None
    again = _run(tmp_path, methods=["NoAdapt", "NoAdapt-LR", "KMM", "MLP"], tasks=["A→B"])
    assert again == records  # keyed by the classifier actually used: nothing runs twice
    table = to_markdown(accuracy_table(records, published=False))
    assert "KMM (logreg)" in table and "MLP (head)" in table and "NoAdapt (1nn)" in table


def test_a_classifier_without_predict_proba_records_no_auc(tiny, monkeypatch):
    from sklearn.svm import LinearSVC

    monkeypatch.setattr(runner, "make_classifier", lambda name, random_state: LinearSVC())
    (record,) = _run(methods=["NoAdapt"], tasks=["A→B"])
    assert record["auc_ovr"] is None and record["accuracy"] is not None
    json.dumps(record, allow_nan=False)


# ---------------------------------------------------------------------------- selection
SA_GRID = {"n_components": [1, 2, 4]}


def _sa(selection: str, **grid) -> MethodSpec:
    return MethodSpec(f"SA-{selection}", SubspaceAlignment, {}, "test", grid=grid or SA_GRID, selection=selection)


def _sa_accuracy(task: DomainTask, n_components: int) -> float:
    Xs, ys, Xt, yt = task.arrays()
    adapter = SubspaceAlignment(n_components=n_components, estimator=KNeighborsClassifier(1), random_state=0)
    return float(accuracy_score(yt, adapter.fit(Xs, ys, Xt).predict(Xt)))


def test_oracle_target_picks_the_best_target_accuracy_and_is_flagged():
    task = _tiny_task("A→B")
    record = runner.run_one(_sa("oracle-target"), task, 0)
    expected = [_sa_accuracy(task, k) for k in SA_GRID["n_components"]]
    assert record["selection_scores"] == pytest.approx(expected)
    assert len(set(expected)) > 1  # the grid matters on this task
    best = SA_GRID["n_components"][int(np.argmax(expected))]
    assert record["selected_params"] == {"n_components": best} and record["params"]["n_components"] == best
    assert record["accuracy"] == pytest.approx(max(expected))
    assert record["uses_target_labels"] is True and record["selection"] == "oracle-target"
    assert record["grid"] == SA_GRID


@pytest.mark.parametrize("selection", ["source-val", "entropy"])
def test_label_free_selection_never_looks_at_target_labels(selection):
    """Permuting the target labels changes the oracle's choice data but not a label-free one."""
    spec = _sa(selection)
    plain = runner.run_one(spec, _tiny_task("A→B"), 0, classifier="logreg")
    permuted = runner.run_one(spec, _tiny_task("A→B", permute_target_labels=True), 0, classifier="logreg")
    assert len(set(plain["selection_scores"])) > 1  # the scorer tells the grid points apart
    assert plain["selection_scores"] == permuted["selection_scores"]
    assert plain["selected_params"] == permuted["selected_params"]
    assert plain["uses_target_labels"] is False and plain["selection"] == selection
    oracle = runner.run_one(_sa("oracle-target"), _tiny_task("A→B", permute_target_labels=True), 0)
    assert oracle["selection_scores"] != runner.run_one(_sa("oracle-target"), _tiny_task("A→B"), 0)["selection_scores"]


@pytest.mark.parametrize("selection", ["entropy", "snd"])
def test_probability_selections_are_refused_with_one_nn(selection, tiny, tmp_path):
    # 1-NN's probabilities are one-hot: every grid point would score the same
    with pytest.raises(BenchmarkError, match="0 or 1"):
        runner.run_one(_sa(selection), _tiny_task("A→B"), 0, classifier="1nn")
    register_method(_sa(selection))
    try:
        with pytest.raises(BenchmarkError, match="use --classifier logreg"):
            _run(tmp_path / "o", methods=(f"SA-{selection}",))
    finally:
        unregister_method(f"SA-{selection}")
    assert not (tmp_path / "o").exists()


def test_source_val_scores_are_the_evaluation_modules():
    from domadapt.evaluation import select_by_score

    task = _tiny_task("B→A")
    record = runner.run_one(_sa("source-val"), task, 5)
    Xs, ys, Xt, _ = task.arrays()
    base = SubspaceAlignment(estimator=KNeighborsClassifier(1), random_state=5)
    result = select_by_score(base, "source_val", Xs, ys, Xt, param_grid=SA_GRID, cv=runner.SELECTION_FOLDS,
                             refit=False, random_state=5)
    assert record["selection_scores"] == pytest.approx([row["mean_score"] for row in result.table])
    assert record["selected_params"] == result.best_params


@pytest.mark.parametrize(
    "spec, message",
    [
        (MethodSpec("X", SourceOnly, {}, selection="oracle-target"), "needs a grid"),
        (MethodSpec("X", SubspaceAlignment, {}, grid={"n_components": [1]}, selection="fixed"), "unknown selection"),
        (MethodSpec("X", SubspaceAlignment, {}, grid={"n_components": []}, selection="snd"), "non-empty"),
    ],
)
def test_selection_must_fit_the_grid(tiny, spec, message):
    with pytest.raises(BenchmarkError, match=message):
        _run(methods=[spec])
    assert Counting.fits == 0


def test_registered_methods_never_select_on_target_labels():
    for name in available_methods():
        spec = get_method(name)
        assert spec.selection in runner.FIXED_SELECTIONS and not spec.grid, name


def test_resume_refuses_a_method_whose_settings_changed(tiny, tmp_path):
    spec = MethodSpec("Mine", SubspaceAlignment, {"n_components": 2}, "test")
    _run(tmp_path, methods=[spec])
    _run(tmp_path, methods=[spec])  # same settings: resumes
    changed = dataclasses.replace(spec, params={"n_components": 3})
    assert changed.digest() != spec.digest()
    with pytest.raises(BenchmarkError, match="other settings"):
        _run(tmp_path, methods=[changed])


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
    assert tiny == TASKS * 2  # nothing to run: each task loaded once more, to check its data

    _run(tmp_path, seeds=[0, 1, 2])
    assert Counting.fits == 6  # only seed 2, on both tasks
    assert len(read_records(tmp_path / RECORDS_FILE)) == 6

    _run(tmp_path, seeds=[0], classifier="logreg")
    assert Counting.fits == 8  # another classifier is another run


def test_records_of_other_data_are_refused_not_reused(tiny, monkeypatch, tmp_path):
    first = _run(tmp_path, tasks=["A→B"])
    assert first[0]["data_digest"] == _tiny_task("A→B").digest()

    def other_data(dataset, task, *, data_root=None):  # the same task from another data folder
        shifted = _tiny_task(task)
        source = Domain(shifted.source.X + 1.0, shifted.source.y, shifted.source.name)
        return dataclasses.replace(shifted, source=source)

    monkeypatch.setattr(runner, "load_task", other_data)
    with pytest.raises(BenchmarkError, match="other data"):
        _run(tmp_path, tasks=["A→B"])  # nothing pending, yet the data are checked
    with pytest.raises(BenchmarkError, match="other data"):
        _run(tmp_path, tasks=["A→B"], seeds=[0, 1])  # before the new seed runs
    assert Counting.fits == 1 and len(read_records(tmp_path / RECORDS_FILE)) == 1

    def missing(dataset, task, *, data_root=None):
        raise FileNotFoundError("no data folder")

    monkeypatch.setattr(runner, "load_task", missing)
    with pytest.raises(FileNotFoundError):  # a wrong data root is not hidden by the records
        _run(tmp_path, tasks=["A→B"])


def test_records_without_a_digest_are_reused_with_a_warning(tiny, tmp_path):
    _run(tmp_path, tasks=["A→B"])
    path = tmp_path / RECORDS_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    del record["data_digest"]  # as an earlier domadapt wrote it
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="without a data digest: they are reused unchecked"):
        again = _run(tmp_path, tasks=["A→B"])
    assert "data_digest" not in again[0] and Counting.fits == 1


def test_unreadable_data_and_a_head_without_a_head_are_benchmark_errors(tiny, monkeypatch, tmp_path):
    with pytest.raises(BenchmarkError, match="no classification head"):
        _run(tmp_path / "o", classifier="head")

    def damaged(dataset, task, *, data_root=None):
        raise ValueError("feature file 'x.mat' is not a readable .mat file")

    monkeypatch.setattr(runner, "load_task", damaged)
    with pytest.raises(BenchmarkError, match="cannot load task A→B .*not a readable"):
        _run(tmp_path / "o")
    assert not (tmp_path / "o").exists()


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
        ({"tasks": []}, "no task given"),
        ({"device": "nope"}, "not a valid torch device"),
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
def _record(method, task, seed, accuracy, *, dataset="d", mmd=(0.5, 0.1), classifier="1nn", selection="fixed"):
    return {
        "dataset": dataset, "task": task, "method": method, "seed": seed, "classifier": classifier,
        "accuracy": accuracy, "macro_f1": accuracy / 2, "macro_precision": accuracy, "macro_recall": accuracy,
        "auc_ovr": None,
        "protocol": runner.PROTOCOL, "evaluation_split": "target-all", "selection": selection,
        "uses_target_labels": selection == "oracle-target",
        "discrepancy_before": {"mmd2": mmd[0], "coral": 2.0},
        "discrepancy_after": {"mmd2": mmd[1], "coral": 1.0},
        "fit_time_s": 0.1, "run_time_s": 0.2, "device": "cpu", "platform": "Linux-test_x86", "cpu_count": 2,
        "torch_threads": 1, "versions": {"python": "3.11.7", "domadapt": "0.1.0", "torch": "2.13.0"},
        "finished_at": f"2025-01-0{seed + 1}T10:00:00+00:00",
    }


HAND = [
    *(_record("M", "A→B", s, a) for s, a in enumerate([0.5, 0.6, 0.7])),
    *(_record("M", "B→A", s, a, mmd=(0.3, 0.3)) for s, a in enumerate([0.7, 0.8, 0.9])),
    _record("K", "A→B", 0, 0.25, selection="oracle-target"),
]


def _markdown_rows(text: str) -> dict[str, list[str]]:
    table = text.split("\n\n")[1]  # the first table, after its title
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()]
    assert all(re.fullmatch(r":?-+:?", c) for c in rows[1])
    return {row[0]: row[1:] for row in [rows[0], *rows[2:]]}


def test_mean_and_sample_std_over_seeds_with_the_selection_column():
    rows = _markdown_rows(render(HAND))
    assert rows["Method"] == ["Selection", "A→B", "B→A", "Avg"]
    # 50/60/70 → mean 60, sample std 10; Avg: per-seed averages 60/70/80 → 70 ± 10
    assert rows["M"] == ["fixed", "60.00 ± 10.00", "80.00 ± 10.00", "70.00 ± 10.00"]
    # one seed: no ±; a missing task: no Avg; target-label selection: marked
    assert rows[f"K {DAGGER}"] == ["oracle-target", "25.00", "—", "—"]


def test_other_metrics_are_tabulated_from_their_own_field():
    rows = _markdown_rows(render(HAND, metric="macro_f1"))
    assert rows["M"] == ["fixed", "30.00 ± 5.00", "40.00 ± 5.00", "35.00 ± 5.00"]
    assert "Target macro-F1 (%)" in render(HAND, metric="macro_f1")
    # no record holds an AUC (no predict_proba): every cell is empty, nothing is invented
    auc = metric_table(HAND, "auc_ovr")
    assert all(c.mean is None for row in auc.rows for c in row.cells)
    with pytest.raises(ValueError, match="unknown metric"):
        metric_table(HAND, "f2")


def test_dagger_note_only_when_a_row_used_target_labels():
    assert DAGGER_NOTE in footnote(HAND)
    fixed_only = [r for r in HAND if r["method"] == "M"]
    assert DAGGER_NOTE not in footnote(fixed_only)
    assert DAGGER not in render(fixed_only)


def test_records_written_before_the_protocol_fields_still_render():
    old = []
    for r in HAND[:3]:
        r = {k: v for k, v in r.items() if k not in {
            "selection", "uses_target_labels", "evaluation_split", "versions", "macro_precision",
            "macro_recall", "auc_ovr"}}
        old.append({**r, "domadapt_version": "0.0.9", "torch_version": "2.12.0"})
    rows = _markdown_rows(render(old))
    assert rows["M"] == ["fixed", "60.00 ± 10.00", "60.00 ± 10.00"]  # old runs used fixed settings
    text = " ".join(footnote(old))
    assert "domadapt 0.0.9, torch 2.12.0" in text and "target-all" in text
    assert all(c.mean is None for c in metric_table(old, "macro_recall").rows[0].cells)


def test_discrepancy_table_means_over_tasks_and_seeds():
    table = discrepancy_table(HAND)
    assert table.columns == ("MMD² before", "MMD² after", "CORAL before", "CORAL after")
    m = table.rows[0]
    assert m.label == "M"
    assert [c.mean for c in m.cells] == pytest.approx([0.4, 0.2, 2.0, 1.0])


def test_footnote_names_protocol_selection_classifier_seeds_machine_versions_and_dates():
    text = " ".join(footnote(HAND))
    for part in (runner.PROTOCOL, "Evaluation split: target-all", "fixed: hyper-parameters fixed in advance",
                 "oracle-target: the grid point with the best target accuracy", "1-nearest neighbour",
                 "Seeds: 0, 1, 2", "ddof=1", "Linux-test_x86", "2 CPUs", "torch threads=1", "device cpu",
                 "python 3.11.7, domadapt 0.1.0, torch 2.13.0", "median 0.2 s", "2025-01-01 to 2025-01-03"):
        assert part in text, part


def test_published_rows_sit_under_ours_with_their_selection_and_mark():
    dataset = "office_caltech10_surf"
    records = [_record("NoAdapt", t, 0, 0.3, dataset=dataset, selection="none") for t in ("C→A", "D→W")]
    records += [_record("JDA", t, 0, 0.4, dataset=dataset) for t in ("C→A", "D→W")]
    table = accuracy_table(records)
    labels = [row.shown_label for row in table.rows]
    assert labels == [
        "NoAdapt", "NN (published, Long et al. 2013)", "JDA", f"JDA (published, Long et al. 2013) {DAGGER}"
    ]
    (jda,) = reference.find_references(dataset, "JDA")
    published = table.rows[3]
    assert [c.mean for c in published.cells[:2]] == [jda.accuracy["C→A"], jda.accuracy["D→W"]]
    assert published.cells[2].mean == pytest.approx((jda.accuracy["C→A"] + jda.accuracy["D→W"]) / 2)
    assert all(c.std is None for c in published.cells)
    # the baseline has nothing to tune; the JDA paper tuned on the target labels
    assert (table.rows[1].selection, table.rows[1].target_labels) == ("none", False)
    assert (published.selection, published.target_labels) == ("oracle-target", True)
    notes = footnote(records)
    assert DAGGER_NOTE in notes
    jda_note = next(n for n in notes if n.startswith("JDA (published"))
    assert "Long" in jda_note and "Selection: oracle-target" in jda_note and "best result" in jda_note
    assert len(accuracy_table(records, published=False).rows) == 2
    # published numbers are accuracies: other metrics get no published rows
    assert len(metric_table(records, "macro_f1").rows) == 2


def test_published_rows_only_beside_runs_of_their_classifier():
    dataset = "office_caltech10_surf"
    logreg = [_record("NoAdapt", t, 0, 0.3, dataset=dataset, classifier="logreg") for t in ("C→A", "D→W")]
    assert [row.label for row in accuracy_table(logreg).rows] == ["NoAdapt"]  # Long et al. used 1-NN
    assert not any(note.startswith("NN (published") for note in footnote(logreg))
    both = logreg + [_record("NoAdapt", t, 0, 0.2, dataset=dataset) for t in ("C→A", "D→W")]
    assert [row.label for row in accuracy_table(both).rows] == [
        "NoAdapt (logreg)", "NoAdapt (1nn)", "NN (published, Long et al. 2013; 1nn)"
    ]


def test_every_reference_states_its_selection():
    for ref in reference.REFERENCES:
        assert ref.selection in reference.REFERENCE_SELECTIONS
        assert ref.uses_target_labels == (ref.selection == "oracle-target")
    with pytest.raises(ValueError, match="selection must be one of"):
        dataclasses.replace(reference.REFERENCES[0], selection="tuned")


def test_two_classifiers_get_two_rows():
    records = [_record("M", "A→B", 0, 0.5), _record("M", "A→B", 0, 0.7, classifier="logreg")]
    assert [r.label for r in accuracy_table(records).rows] == ["M (1nn)", "M (logreg)"]


def test_records_of_two_data_sets_are_refused():
    with pytest.raises(ValueError, match="one data set"):
        render([_record("M", "A→B", 0, 0.5), _record("M", "A→B", 0, 0.5, dataset="e")])


def test_csv_is_well_formed_numeric_and_says_which_rows_used_target_labels():
    rows = list(csv.reader(io.StringIO(to_csv(accuracy_table(HAND)))))
    assert rows[0] == ["Method", "Selection", "Target labels used", "A→B", "A→B std", "B→A", "B→A std",
                       "Avg", "Avg std"]
    assert all(len(row) == 9 for row in rows)
    m = dict(zip(rows[0], rows[1]))
    assert float(m["A→B"]) == pytest.approx(60.0) and float(m["Avg std"]) == pytest.approx(10.0)
    assert (m["Selection"], m["Target labels used"]) == ("fixed", "no")
    k = dict(zip(rows[0], rows[2]))
    assert k["Method"] == "K" and k["Target labels used"] == "yes"  # the mark is a column, not in the name
    assert k["A→B std"] == "" and k["B→A"] == ""
    # a comma or quote in a method name stays inside its field
    tricky = to_csv(accuracy_table([_record('OT, "v2"', "A→B", 0, 0.5)]))
    assert list(csv.reader(io.StringIO(tricky)))[1][0] == 'OT, "v2"'


def test_markdown_escapes_pipes_in_labels():
    text = to_markdown(accuracy_table([_record("a|b", "A→B", 0, 0.5)]))
    assert r"a\|b" in text
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 5 for line in text.splitlines()[2:])


def test_latex_is_well_formed_and_escaped():
    records = HAND + [_record("OT_x&y", "A→B", 0, 0.5)]
    text = to_latex(accuracy_table(records), note="50% of runs on x_86 " + DAGGER)
    assert text.count(r"\begin{table}") == text.count(r"\end{table}") == 1
    assert text.count(r"\begin{tabular}{llrrr}") == 1 and r"\end{tabular}" in text
    body = text[text.index(r"\toprule"):text.index(r"\bottomrule")]
    rows = [line for line in body.splitlines() if line.endswith(r"\\")]
    assert len(rows) == 4 and all(len(re.findall(r"(?<!\\)&", row)) == 4 for row in rows)
    assert r"OT\_x\&y" in text and r"A$\rightarrow$B" in text and r"$\pm$" in text
    assert r"K $^\dagger$ & oracle-target" in text and r"oracle\-target" not in text
    assert r"50\% of runs on x\_86 $^\dagger$" in text
    assert "→" not in text and "±" not in text and DAGGER not in text
    # every brace opened is closed
    assert text.replace(r"\{", "").count("{") == text.replace(r"\}", "").count("}")
