"""The ``domadapt`` command line."""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys

import pytest
import torch

from domadapt.bench.runner import RECORDS_FILE
from domadapt.cli import main, parse_seeds


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """``domadapt bench`` sets torch's thread count for its process; give it back after a test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_bench_end_to_end_on_digits(tmp_path, capsys):
    out = tmp_path / "res"
    argv = ["bench", "--methods", "NoAdapt,CORAL", "--tasks", "O->R", "--seeds", "1",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert torch.get_num_threads() == 1  # the default --threads
    stdout = capsys.readouterr().out

    table = stdout.split("\n\n")[1].splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table]
    assert cells[0] == ["Method", "Selection", "O→R", "Avg"]
    assert [row[:2] for row in cells[2:]] == [["NoAdapt", "none"], ["CORAL", "fixed"]]
    for row in cells[2:]:
        assert all(re.fullmatch(r"\d{1,3}\.\d\d", c) for c in row[2:]), row
        assert row[2] == row[3]  # one task: Avg is that task

    assert (out / "table.md").read_text(encoding="utf-8") == stdout
    records = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [(r["method"], r["task"], r["seed"], r["dataset"]) for r in records] == [
        ("NoAdapt", "O→R", 0, "digits"), ("CORAL", "O→R", 0, "digits")
    ]
    assert f"{100 * records[1]['accuracy']:.2f}" == cells[3][2]
    rows = list(csv.reader((out / "table.csv").open(encoding="utf-8")))
    assert rows[0][:5] == ["Method", "Selection", "Target labels used", "O→R", "O→R std"] and len(rows) == 3
    assert r"\begin{tabular}" in (out / "table.tex").read_text(encoding="utf-8")

    # a second invocation resumes: nothing is appended
    before = (out / RECORDS_FILE).read_bytes()
    assert main(argv + ["--format", "csv"]) == 0
    assert (out / RECORDS_FILE).read_bytes() == before
    assert capsys.readouterr().out.startswith("Method,Selection,Target labels used,O→R,O→R std")

    # another metric from the same records: nothing runs, its tables get their own files
    assert main(argv + ["--metric", "macro_f1"]) == 0
    assert (out / RECORDS_FILE).read_bytes() == before
    assert capsys.readouterr().out.startswith("### Target macro-F1 (%) on digits")
    assert (out / "table_macro_f1.md").exists() and (out / "table.md").read_text(encoding="utf-8") == stdout
    assert not list(out.glob(".*.tmp"))  # the atomic writes left no temporary file


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--methods", "Nope"], "unknown method 'Nope'"),
        (["bench", "--tasks", "O->X"], "unknown task 'O->X'"),
        (["bench", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["bench", "--tasks", ","], "no task given"),
        (["bench", "--classifier", "head", "--methods", "NoAdapt"], "no classification head"),
        (["bench", "--device", "nope"], "not a valid torch device"),
        (["bench", "--threads", "-3"], "threads must be a non-negative integer"),
    ],
)
def test_user_errors_give_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_data_root_gives_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DOMADAPT_DATA", raising=False)
    argv = ["bench", "--dataset", "office_caltech10_surf", "--methods", "NoAdapt", "--no-progress",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "DOMADAPT_DATA" in err and len(err.strip().splitlines()) == 1
    assert main(argv + ["--data-root", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err


def test_any_pair_of_domains_by_letter_or_name_is_a_task(tmp_path, capsys):
    argv = ["bench", "--methods", "NoAdapt", "--seeds", "1", "--no-progress", "--out", str(tmp_path / "d")]
    assert main(argv + ["--tasks", "rotated->original,r->o"]) == 0
    records = json.loads((tmp_path / "d" / "results.json").read_text(encoding="utf-8"))
    assert [r["task"] for r in records] == ["R→O"]  # one task, named by its letters
    capsys.readouterr()
    # DeCAF amazon is a task of the data set; without its file the error says why
    decaf = ["bench", "--dataset", "office_caltech10_decaf", "--tasks", "amazon->webcam",
             "--data-root", str(tmp_path), "--methods", "NoAdapt", "--out", str(tmp_path / "o")]
    assert main(decaf) == 2
    err = capsys.readouterr().err
    assert "amazon_decaf.mat" in err and "put them next to" in err and len(err.strip().splitlines()) == 1


def test_a_damaged_data_file_gives_one_line_and_exit_2(tmp_path, capsys):
    folder = tmp_path / "office_caltech10_surf"
    folder.mkdir()
    for name in ("Caltech10_SURF_L10.mat", "amazon_SURF_L10.mat"):
        (folder / name).write_bytes(b"MATLAB 5.0 MAT-file garbage")
    argv = ["bench", "--dataset", "office_caltech10_surf", "--tasks", "C->A", "--methods", "NoAdapt",
            "--data-root", str(tmp_path), "--no-progress", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Caltech10_SURF_L10.mat" in err and "not a readable .mat" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_file_pattern_reads_the_files_of_extract_features_named_output(named_office31_features, capsys):
    tmp_path = named_office31_features  # feats_<domain>.npz, as `extract-features --out feats.npz` writes
    argv = ["bench", "--dataset", "office31", "--data-root", str(tmp_path), "--tasks", "A->W",
            "--methods", "NoAdapt", "--seeds", "1", "--no-progress", "--out", str(tmp_path / "o")]
    assert main(argv + ["--file-pattern", "feats_{domain}"]) == 0
    assert "A→W" in capsys.readouterr().out
    assert main(argv) == 2  # without it the default names are looked for, and are missing
    assert "amazon" in capsys.readouterr().err
    assert main(["bench", "--file-pattern", "x_{domain}", "--out", str(tmp_path / "d")]) == 2
    assert "file_pattern is for the office31" in capsys.readouterr().err


def test_console_command_prints_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "domadapt.cli", "bench", "--methods", "Nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unknown method 'Nope'" in proc.stderr


@pytest.mark.parametrize("text, seeds", [("3", [0, 1, 2]), ("1", [0]), ("0,4,7", [0, 4, 7]), ("5,", [5])])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "-1", "a", "1,-2", ","])
def test_parse_seeds_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_seeds(text)


def test_bad_seeds_and_no_command_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--seeds", "x"])
    assert exc.value.code == 2
    assert main([]) == 2
    assert "bench" in capsys.readouterr().err


# ------------------------------------------------------------------------------- config files
CONFIG = """
dataset = "digits"
tasks = ["O->R"]
methods = ["NoAdapt", "SA", "SA-src"]
seeds = [0, 2]
classifier = "logreg"
out = "res"
threads = 1
metric = "macro_f1"

[method.SA]
params = { n_components = 8 }

[method.SA-src]
base = "SA"
grid = { n_components = [4, 16] }
selection = "source-val"
"""


def _args(*argv):
    from domadapt.cli import build_parser

    return build_parser().parse_args(["bench", *argv])


def test_config_file_is_read_and_flags_override_it(tmp_path):
    from domadapt.bench.config import method_specs
    from domadapt.cli import bench_config

    path = tmp_path / "sub" / "bench.toml"
    path.parent.mkdir()
    path.write_text(CONFIG, encoding="utf-8")
    config = bench_config(_args("--config", str(path)))
    assert (config.dataset, config.tasks, config.seeds, config.classifier) == ("digits", ["O->R"], [0, 2], "logreg")
    assert config.metric == "macro_f1" and config.threads == 1
    assert config.out_dir == path.parent.resolve() / "res"  # relative to the file, not the cwd
    sa, sa_src = method_specs(config)[1:]
    assert sa.name == "SA" and sa.params["n_components"] == 8 and sa.selection == "fixed" and not sa.grid
    assert (sa_src.grid, sa_src.selection) == ({"n_components": [4, 16]}, "source-val")
    assert sa_src.adapter == sa.adapter  # derived from the registered SA

    over = bench_config(_args("--config", str(path), "--seeds", "3", "--classifier", "1nn", "--tasks", "all",
                              "--out", str(tmp_path / "o"), "--methods", "NoAdapt", "--metric", "accuracy"))
    assert (over.seeds, over.classifier, over.tasks, over.methods) == ([0, 1, 2], "1nn", None, ["NoAdapt"])
    assert over.out_dir == tmp_path / "o" and over.metric == "accuracy"
    assert over.dataset == "digits"  # not given as a flag: the file's value stays
    plain = bench_config(_args())
    assert (plain.dataset, plain.seeds, plain.classifier, plain.tasks, plain.methods) == (
        "digits", [0, 1, 2], "1nn", None, None)


def test_a_config_run_records_its_selection(tmp_path, capsys):
    path = tmp_path / "bench.toml"
    path.write_text(CONFIG.replace("seeds = [0, 2]", "seeds = [0]"), encoding="utf-8")
    assert main(["bench", "--config", str(path), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("### Target macro-F1 (%) on digits")
    records = [json.loads(line) for line in (tmp_path / "res" / RECORDS_FILE).read_text(encoding="utf-8").splitlines()]
    by_name = {r["method"]: r for r in records}
    assert by_name["SA"]["params"]["n_components"] == 8 and by_name["SA"]["classifier"] == "logreg"
    src = by_name["SA-src"]
    assert src["selection"] == "source-val" and src["grid"] == {"n_components": [4, 16]}
    assert src["params"]["n_components"] == src["selected_params"]["n_components"]
    assert not any(r["uses_target_labels"] for r in records)
    assert (tmp_path / "res" / "table_macro_f1.csv").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ('datset = "digits"', "unknown key 'datset'"),
        ("seeds = -1", "seed count"),
        ('seeds = [1, 1]', "distinct"),
        ('metric = "f2"', "unknown metric 'f2'"),
        ('methods = ["SA-x"]\n[method.SA-x]\nbase = "SA"\ngrid = { n_components = [2, 4] }', "needs a selection"),
        ('methods = ["NoAdapt"]\n[method.SA-x]\nbase = "SA"', "defined but not run"),
        ('[method.SA]\nparms = { n_components = 2 }', "unknown key 'parms'"),
        ('methods = ["SA"]\n[method.SA]\ngrid = { n_components = 3 }', "non-empty list"),
        ('methods = ["SA"]\n[method.SA]\ngrid = { n_components = [2] }\nselection = "tuned"', "unknown selection"),
        ('methods = ["SA"]\n[method.SA]\nparams = { n_component = 2 }', "has no parameter 'n_component'"),
        ("method_modules = ['no_such_module_xyz']", "could not be imported"),
        ("method_modules = ['absent.py']", "not found"),
        ("dataset = ", "not valid TOML"),
    ],
)
def test_bad_config_gives_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n", encoding="utf-8")
    assert main(["bench", "--config", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_oracle_target_only_when_a_config_asks_for_it(tmp_path, capsys):
    from domadapt.bench.config import BenchConfig, method_specs

    assert all(s.selection != "oracle-target" for s in method_specs(BenchConfig(methods=["all"])))
    path = tmp_path / "oracle.toml"
    path.write_text(
        'tasks = ["O->R"]\nmethods = ["SA-oracle"]\nseeds = 1\nout = "o"\n'
        '[method.SA-oracle]\nbase = "SA"\ngrid = { n_components = [4, 16] }\nselection = "oracle-target"\n',
        encoding="utf-8",
    )
    assert main(["bench", "--config", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| SA-oracle † | oracle-target |" in out and "† Hyper-parameters chosen with target labels" in out
    (record,) = json.loads((tmp_path / "o" / "results.json").read_text(encoding="utf-8"))
    assert record["uses_target_labels"] is True


def test_method_module_registers_a_method(tmp_path, capsys):
    from domadapt.bench import unregister_method

    plugin = tmp_path / "plugin_half.py"
    plugin.write_text(
        "from domadapt import CORAL\n"
        "from domadapt.bench import MethodSpec, register_method\n"
        "register_method(MethodSpec('CORAL-half', CORAL, {'reg': 0.5}, 'plugin'), replace=True)\n",
        encoding="utf-8",
    )
    try:
        assert main(["bench", "--list-methods", "--method-module", str(plugin)]) == 0
        assert "CORAL-half" in capsys.readouterr().out.split()
        argv = ["bench", "--method-module", str(plugin), "--methods", "CORAL-half", "--tasks", "O->R",
                "--seeds", "1", "--out", str(tmp_path / "o"), "--no-progress"]
        assert main(argv) == 0
        (record,) = json.loads((tmp_path / "o" / "results.json").read_text(encoding="utf-8"))
        assert record["method"] == "CORAL-half" and record["params"]["reg"] == 0.5
    finally:
        unregister_method("CORAL-half")
        sys.modules.pop("domadapt_bench_plugin_plugin_half", None)
