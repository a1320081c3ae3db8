"""The source explains itself: package file maps are true, and nothing cites a file that
is not in the repository.

- Every package `__init__.py` docstring names each of its modules (`name.py`) and
  subfolders (`name/`), and names no module that does not exist.
- No comment, docstring or document (README.md, docs/) cites the original design file
  (`DESIGN §…`, `WIRE.md`), which is not in the repository: they point at
  docs/ARCHITECTURE.md or the README instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import switchyard

PACKAGE = Path(switchyard.__file__).parent
REPO = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p.parent for p in PACKAGE.rglob("__init__.py"))
MODULE_NAME = re.compile(r"(?<![/\w])([a-z_][a-z0-9_]*\.py)\b")  # not "other/x.py"
DESIGN_CITATION = re.compile(r"DESIGN(\.md)?\s*§|\bDESIGN\.md\b|\bWIRE\.md\b|§\s*\d")


def _docstring(package: Path) -> str:
    return ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_package_file_map_is_true(package: Path) -> None:
    doc = _docstring(package)
    modules = {p.name for p in package.glob("*.py")} - {"__init__.py"}
    folders = {p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"}
    missing = sorted(m for m in modules if m not in MODULE_NAME.findall(doc))
    missing += sorted(f"{f}/" for f in folders if f"{f}/" not in doc)
    stale = sorted(set(MODULE_NAME.findall(doc)) - modules)
    assert not missing, f"{package.name}/__init__.py does not map {missing}"
    assert not stale, f"{package.name}/__init__.py names modules that are not there: {stale}"


def test_architecture_doc_is_in_the_repo() -> None:
    assert (REPO / "docs" / "ARCHITECTURE.md").is_file()
    assert "docs/ARCHITECTURE.md" in (REPO / "README.md").read_text()


def test_no_citation_of_a_design_file_outside_the_repo() -> None:
    cited = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in [*sorted(PACKAGE.rglob("*.py")), REPO / "README.md", *REPO.glob("docs/*.md")]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DESIGN_CITATION.search(line)
    ]
    assert not cited, "\n".join(cited)
