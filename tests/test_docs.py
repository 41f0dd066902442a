"""The documentation is executable and in step with the code."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import domadapt

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
NEEDS_DATA = "DOMADAPT_DATA"


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _blocks() -> list[tuple[str, str]]:
    out = []
    for page in _pages():
        for i, code in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
            out.append((f"{page.relative_to(DOCS)}#{i}", code))
    return out


@pytest.mark.parametrize("where, code", _blocks(), ids=[b[0] for b in _blocks()])
def test_code_blocks_run(where, code, tmp_path, monkeypatch, data_root_or_none):
    """Every ```python block in docs/ runs as written (blocks that read real data need it)."""
    if NEEDS_DATA in code or "data_root" in code:
        if data_root_or_none is None:
            pytest.skip("needs the Office-Caltech-10 files")
        monkeypatch.setenv(NEEDS_DATA, str(data_root_or_none))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


def test_api_page_matches_docstrings():
    spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    committed = (DOCS / "api.md").read_text(encoding="utf-8")
    assert committed == gen.render(), "docs/api.md is stale: run `python docs/gen_api.py`"


def test_every_adapter_has_a_page_with_reference():
    for name in domadapt.__all__:
        obj = getattr(domadapt, name)
        if inspect.isclass(obj) and issubclass(obj, domadapt.Adapter) and obj is not domadapt.Adapter:
            assert "References" in (obj.__doc__ or ""), f"{name} docstring cites no paper"
            pages = [p for p in _pages() if f"`{name}`" in p.read_text(encoding="utf-8")]
            assert len(pages) >= 2, f"{name} needs its own page in docs/methods and a row in index.md"


def test_index_links_resolve():
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+\.md)\)", text):
        assert (DOCS / target).exists(), f"index.md links to missing {target}"
