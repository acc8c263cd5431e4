"""No input or option makes tf2eng exit 1 (internal error): odd inputs through the CLI, each once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _package_sources() -> list[Path]:
    files = [ROOT / "__init__.py"]
    for folder in ("engine", "kernels", "cli"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


@pytest.mark.parametrize("path", _package_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_assert_in_the_package(path):
    """An assert vanishes under python -O: checks of input or state must raise."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not lines, f"{path.relative_to(ROOT)}: assert at line(s) {lines}"
