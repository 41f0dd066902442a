"""The documentation site builds with warnings treated as errors, and its menu covers every page."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"

pytest.importorskip("mkdocs", reason="the docs extra (mkdocs) is not installed")
pytest.importorskip("mkdocstrings", reason="the docs extra (mkdocstrings) is not installed")


def _hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", DOCS / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flatten(nav):
    for item in nav:
        if isinstance(item, dict):
            for value in item.values():
                yield from _flatten(value)
        else:
            yield item


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_strict_build_has_every_page_and_the_api_reference(site):
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS).with_suffix("")
        built = site / ("index.html" if rel.as_posix() == "index" else rel / "index.html")
        assert built.is_file(), f"{page} was not built"
    reference = (site / "reference" / "domadapt.bench" / "index.html").read_text(encoding="utf-8")
    assert "run_benchmark" in reference and "Parameters" in reference  # rendered from the docstrings


def test_links_to_committed_tables_outside_docs_work(site):
    """docs/benchmarks.md links ../benchmarks/...; the site carries a copy and the link points at it."""
    table = site / "repo" / "benchmarks" / "office_caltech10" / "surf" / "table" / "index.html"
    assert table.is_file()
    assert "Long et al. 2013" in table.read_text(encoding="utf-8")
    page = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "../repo/benchmarks/office_caltech10/surf/table/" in page


def test_menu_lists_every_page_without_editing_mkdocs_yml(tmp_path):
    hooks = _hooks()
    (tmp_path / "docs" / "losses").mkdir(parents=True)
    for name in ("index.md", "benchmarks.md", "zeta.md", "api.md", "datasets.md", "losses/mmd_loss.md"):
        (tmp_path / "docs" / name).write_text("# t\n", encoding="utf-8")
    (tmp_path / "docs" / "gen_api.py").write_text("MODULES = ['domadapt', 'domadapt.bench']\n", encoding="utf-8")
    config = {"docs_dir": str(tmp_path / "docs"), "config_file_path": str(tmp_path / "mkdocs.yml")}
    nav = hooks.on_config(config)["nav"]
    assert nav[:4] == ["index.md", "datasets.md", "benchmarks.md", "zeta.md"]  # guide order, then the rest
    assert {"Losses": ["losses/mmd_loss.md"]} in nav
    assert nav[-1] == {"API": ["api.md", "reference/domadapt.md", "reference/domadapt.bench.md"]}
    real = hooks.on_config({"docs_dir": str(DOCS), "config_file_path": str(REPO / "mkdocs.yml")})["nav"]
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages <= set(_flatten(real))
