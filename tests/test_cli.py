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
    assert cells[0] == ["Method", "O→R", "Avg"]
    assert [row[0] for row in cells[2:]] == ["NoAdapt", "CORAL"]
    for row in cells[2:]:
        assert all(re.fullmatch(r"\d{1,3}\.\d\d", c) for c in row[1:]), row
        assert row[1] == row[2]  # one task: Avg is that task

    assert (out / "table.md").read_text(encoding="utf-8") == stdout
    records = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [(r["method"], r["task"], r["seed"], r["dataset"]) for r in records] == [
        ("NoAdapt", "O→R", 0, "digits"), ("CORAL", "O→R", 0, "digits")
    ]
    assert f"{100 * records[1]['accuracy']:.2f}" == cells[3][1]
    rows = list(csv.reader((out / "table.csv").open(encoding="utf-8")))
    assert rows[0][:3] == ["Method", "O→R", "O→R std"] and len(rows) == 3
    assert r"\begin{tabular}" in (out / "table.tex").read_text(encoding="utf-8")

    # a second invocation resumes: nothing is appended
    before = (out / RECORDS_FILE).read_bytes()
    assert main(argv + ["--format", "csv"]) == 0
    assert (out / RECORDS_FILE).read_bytes() == before
    assert capsys.readouterr().out.startswith("Method,O→R,O→R std")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--methods", "Nope"], "unknown method 'Nope'"),
        (["bench", "--tasks", "O->X"], "unknown task 'O->X'"),
        (["bench", "--dataset", "nope"], "unknown dataset 'nope'"),
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
