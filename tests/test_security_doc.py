"""SECURITY.md backs each claim with a test: every test it names must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py|test_\w+\.py)(?:::[\w\[\]-]+)?)`")


def _test_files() -> dict[str, Path]:
    return {path.name: path for path in (ROOT / "tests").rglob("test_*.py")}


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_named_in_security_md_exists() -> None:
    references = REFERENCE.findall((ROOT / "SECURITY.md").read_text(encoding="utf-8"))
    assert len(references) >= 10, "SECURITY.md should name the tests behind its claims"
    files = _test_files()
    missing: list[str] = []
    for reference in references:
        location, _, name = reference.partition("::")
        path = ROOT / location if location.startswith("tests/") else files.get(location)
        if path is None or not path.exists() or (name and name.split("[")[0] not in _functions(path)):
            missing.append(reference)
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"
