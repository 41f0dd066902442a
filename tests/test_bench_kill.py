"""A benchmark killed with SIGKILL loses nothing that had finished and never leaves half a record.

A plugin module (loaded with ``method_modules``, the public way to add methods) registers
``Sleepy``: a source-only method whose fit sleeps, so that a run can be killed while it works,
and which logs every fit (process id and seed) to a file. With ``SLEEPY_KILL_MIDWRITE=N`` it also
makes the process kill itself with SIGKILL halfway through writing its N-th record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from domadapt.bench import read_records, unregister_method
from domadapt.bench.runner import RECORDS_FILE
from domadapt.bench.tables import metric_table, to_markdown
from domadapt.cli import main

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

PLUGIN = '''
import json
import os
import signal
import time

from domadapt.bench import MethodSpec, SourceOnly, register_method
from domadapt.bench import runner


class Sleepy(SourceOnly):
    """No adaptation; sleeps in fit and logs "<pid> <seed>" for every fit (a test double)."""

    def __init__(self, estimator=None, device="auto", random_state=None):
        self.estimator = estimator
        self.device = device
        self.random_state = random_state

    def _fit(self, Xs, ys, Xt, yt):
        with open(os.environ["SLEEPY_LOG"], "a") as log:
            log.write(f"{os.getpid()} {self.random_state}\\n")
        time.sleep(float(os.environ.get("SLEEPY_SECONDS", "0.3")))


register_method(MethodSpec("Sleepy", Sleepy, {}, "test double", selection="none"), replace=True)

_kill_at = int(os.environ.get("SLEEPY_KILL_MIDWRITE", "0"))
if _kill_at:
    _write, _count = runner.RecordWriter.write, [0]

    def write(self, record):
        _count[0] += 1
        if _count[0] < _kill_at:
            return _write(self, record)
        line = (json.dumps(record, ensure_ascii=False) + "\\n").encode("utf-8")
        self._file.write(line[: len(line) // 2])
        self._file.flush()
        os.fsync(self._file.fileno())
        os.kill(os.getpid(), signal.SIGKILL)

    runner.RecordWriter.write = write
'''
SEEDS = [0, 1, 2, 3]
MODULE = "domadapt_bench_plugin_sleepy_plugin"
_CLEAN: dict[str, list[dict]] = {}  # the records of one uninterrupted run, shared by the tests


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A config running Sleepy on one digits task with five seeds, and the fit log."""
    (tmp_path / "sleepy_plugin.py").write_text(PLUGIN, encoding="utf-8")
    config = tmp_path / "bench.toml"
    config.write_text(
        'dataset = "digits"\ntasks = ["O->R"]\nmethods = ["Sleepy"]\n'
        f"seeds = {SEEDS}\nout = \"killed\"\nmethod_modules = [\"sleepy_plugin.py\"]\n",
        encoding="utf-8",
    )
    log = tmp_path / "fits.log"
    monkeypatch.setenv("SLEEPY_LOG", str(log))
    monkeypatch.setenv("SLEEPY_SECONDS", "0.25")
    threads = torch.get_num_threads()
    yield config, log
    torch.set_num_threads(threads)
    unregister_method("Sleepy")
    sys.modules.pop(MODULE, None)


def _start(config: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "domadapt.cli", "bench", "--config", str(config), "--no-progress"],
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _fits(log: Path) -> list[tuple[int, int]]:
    return [tuple(map(int, line.split())) for line in log.read_text().splitlines()]


def _complete_lines(path: Path) -> tuple[list[bytes], bytes]:
    """The newline-terminated lines and the unterminated tail (b"" when there is none)."""
    data = path.read_bytes()
    *lines, tail = data.split(b"\n")
    return lines, tail


def _table(records: list[dict]) -> str:
    return to_markdown(metric_table(records, "accuracy"))


def _resume_and_compare(config: Path, log: Path, before: list[bytes], capsys) -> None:
    """Run the same config to the end in this process; check what it ran and what it kept."""
    done_seeds = {json.loads(line)["seed"] for line in before}
    assert main(["bench", "--config", str(config), "--no-progress"]) == 0
    capsys.readouterr()
    path = config.parent / "killed" / RECORDS_FILE
    lines, tail = _complete_lines(path)
    assert tail == b"", "a half record was left behind"
    assert lines[: len(before)] == before, "a finished record was lost or rewritten"
    records = [json.loads(line) for line in lines]
    assert sorted(r["seed"] for r in records) == SEEDS  # every run once, none twice
    resumed = {seed for pid, seed in _fits(log) if pid == os.getpid()}
    assert resumed == set(SEEDS) - done_seeds, "finished runs were fitted again"

    # the table equals that of a clean, uninterrupted run
    if "records" not in _CLEAN:
        clean = config.with_name("clean.toml")
        clean.write_text(config.read_text().replace('out = "killed"', 'out = "clean"'), encoding="utf-8")
        assert main(["bench", "--config", str(clean), "--no-progress"]) == 0
        capsys.readouterr()
        _CLEAN["records"] = read_records(config.parent / "clean" / RECORDS_FILE)
    clean_records = _CLEAN["records"]
    assert _table(read_records(path)) == _table(clean_records)
    key = ("task", "method", "seed", "accuracy", "macro_f1", "params", "selection")
    assert sorted(tuple(json.dumps(r[k]) for k in key) for r in read_records(path)) == sorted(
        tuple(json.dumps(r[k]) for k in key) for r in clean_records
    )


def test_sigkill_from_outside_after_the_first_record(setup, capsys):
    config, log = setup
    path = config.parent / "killed" / RECORDS_FILE
    proc = _start(config)
    deadline = time.monotonic() + 120
    while not (path.exists() and b"\n" in path.read_bytes()):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no record within 120 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    proc.stderr.close()

    lines, tail = _complete_lines(path)
    assert 1 <= len(lines) < len(SEEDS), "the kill came too late to test anything"
    for line in lines:  # every terminated line is a whole record
        assert json.loads(line)["method"] == "Sleepy"
    if tail:  # killed mid-write: the fragment is not a record
        with pytest.raises(ValueError):
            json.loads(tail)
    _resume_and_compare(config, log, lines, capsys)


def test_sigkill_in_the_middle_of_writing_a_record(setup, capsys):
    config, log = setup
    path = config.parent / "killed" / RECORDS_FILE
    proc = _start(config, SLEEPY_KILL_MIDWRITE="3")
    assert proc.wait(timeout=120) == -signal.SIGKILL, proc.stderr.read().decode()
    proc.stderr.close()

    lines, tail = _complete_lines(path)
    assert len(lines) == 2 and tail, "expected two records and half of the third"
    with pytest.raises(ValueError):
        json.loads(tail)
    assert [r["seed"] for r in read_records(path)] == [0, 1]  # the reader skips the fragment
    assert sorted(seed for _, seed in _fits(log)) == [0, 1, 2]  # the third run had finished fitting
    _resume_and_compare(config, log, lines, capsys)
