"""Build hooks of the documentation site (``mkdocs.yml`` → ``hooks:``); nothing here is part of domadapt.

Three jobs, so that pages written for GitHub also build into the site with ``mkdocs build --strict``
and nobody has to edit ``mkdocs.yml`` when a page is added:

- **Navigation** is generated from the files under ``docs/``: the guide pages first in
  :data:`GUIDE_ORDER`, other top-level pages after them, one section per sub-folder (methods,
  measures, losses, ...), then the API pages. A new page appears in the menu by existing.
- **Files outside docs/.** A link from a page to a file of the repository outside ``docs/``
  (``../benchmarks/office_caltech10/surf/table.md``, a TOML config, a script) works on GitHub; for
  the site, the hook copies that file in under ``repo/`` (Markdown files become pages, with their own
  links followed the same way) and rewrites the link. A link to a file that does not exist stays
  as written, so the strict build still reports it.
- **API reference.** One page per module of ``docs/gen_api.py``'s ``MODULES`` is generated
  with a mkdocstrings ``:::`` block, so the reference follows the same module list as ``api.md``.
"""

from __future__ import annotations

import importlib.util
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

#: Top-level pages in menu order; other top-level pages follow alphabetically, then the folders.
GUIDE_ORDER = ("index.md", "datasets.md", "evaluation.md", "benchmarks.md", "results.md")
#: Sub-folders in menu order (others follow alphabetically).
SECTION_ORDER = ("methods", "measures", "losses")
#: Where repository files outside docs/ are placed in the site.
REPO_PREFIX = "repo"
REFERENCE_DIR = "reference"
LINK = re.compile(r"(\]\()([^)\s]+?)((?:#[^)\s]*)?(?:\s+\"[^\"]*\")?\))")

_moved: dict[str, str] = {}  # absolute path of a repository file → its uri in the site


def _docs_dir(config: Any) -> Path:
    return Path(config["docs_dir"]).resolve()


def _repo_root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _modules(config: Any) -> list[str]:
    spec = importlib.util.spec_from_file_location("gen_api", _docs_dir(config) / "gen_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.MODULES)


def on_config(config: Any) -> Any:
    """Generate ``nav`` from the Markdown files under ``docs/``."""
    docs = _docs_dir(config)
    pages = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
    top = [p for p in pages if "/" not in p]
    guide = [p for p in GUIDE_ORDER if p in top]
    rest = [p for p in top if p not in guide and p != "api.md"]
    folders = sorted({p.split("/")[0] for p in pages if "/" in p}, key=lambda d: (
        SECTION_ORDER.index(d) if d in SECTION_ORDER else len(SECTION_ORDER), d))
    nav: list[Any] = [*guide, *rest]
    for folder in folders:
        nav.append({folder.replace("_", " ").capitalize(): [p for p in pages if p.startswith(folder + "/")]})
    api = ["api.md"] if "api.md" in top else []
    reference = [f"{REFERENCE_DIR}/{m}.md" for m in _modules(config)]
    nav.append({"API": [*api, *reference]})
    config["nav"] = nav
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the API reference pages and every repository file that a page links to."""
    _moved.clear()
    for module in _modules(config):
        text = f"# `{module}`\n\n::: {module}\n"
        files.append(File.generated(config, f"{REFERENCE_DIR}/{module}.md", content=text))
    docs, root = _docs_dir(config), _repo_root(config)
    queue = [Path(f.abs_src_path) for f in files.documentation_pages() if f.abs_src_path]
    while queue:
        page = queue.pop()
        for target in _link_targets(page.read_text(encoding="utf-8"), page):
            if target in _moved or _inside(target, docs) or not _inside(target, root) or not target.is_file():
                continue
            uri = f"{REPO_PREFIX}/{target.relative_to(root).as_posix()}"
            _moved[str(target)] = uri
            files.append(File.generated(config, uri, abs_src_path=str(target)))
            if target.suffix == ".md":
                queue.append(target)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point links at the site's copies of repository files (and, from those copies, back into docs/)."""
    source = page.file.abs_src_path
    if not source:
        return markdown
    source = Path(source).resolve()
    docs = _docs_dir(config)
    here = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match[str]) -> str:
        target = _resolve(match.group(2), source)
        if target is None:
            return match.group(0)
        if str(target) in _moved:
            uri = _moved[str(target)]
        elif _inside(target, docs) and not _inside(source, docs):
            uri = target.relative_to(docs).as_posix()
        else:
            return match.group(0)
        return match.group(1) + posixpath.relpath(uri, here or ".") + match.group(3)

    return LINK.sub(rewrite, markdown)


def _link_targets(text: str, page: Path) -> list[Path]:
    found = (_resolve(m.group(2), page) for m in LINK.finditer(text))
    return [t for t in found if t is not None]


def _resolve(link: str, page: Path) -> Path | None:
    """The file a relative link of ``page`` points to (None for URLs, anchors, absolute paths)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link) or link.startswith(("/", "#")):
        return None
    return (page.parent / link).resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
