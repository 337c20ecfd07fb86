"""The test suites keep one layout: every suite is a package that imports its helpers relatively, and the
helpers every suite needs are defined once, in tests/helpers.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).parent
SHARED = {"eventually", "text", "force_status", "assert_error", "repo_environment"}
BARE_HELPER_IMPORT = re.compile(r"^\s*(from|import) \w*helpers\b", re.M)


def _modules() -> list[Path]:
    return [path for path in TESTS.rglob("*.py") if "snapshots" not in path.parts]


def test_every_suite_is_a_package() -> None:
    suites = {path.parent for path in _modules()}
    assert not [str(d.relative_to(TESTS)) for d in suites if not (d / "__init__.py").exists()]


def test_helpers_are_imported_relatively() -> None:
    bare = [str(p.relative_to(TESTS)) for p in _modules() if BARE_HELPER_IMPORT.search(p.read_text("utf-8"))]
    assert not bare, f"import helpers relatively (from .sandbox_helpers / from ..helpers): {bare}"


def test_shared_helpers_are_defined_once() -> None:
    copies = [
        f"{path.relative_to(TESTS)}: {node.name}"
        for path in _modules()
        if path != TESTS / "helpers.py"
        for node in ast.parse(path.read_text("utf-8")).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in SHARED
    ]
    assert not copies, f"use tests/helpers.py instead of a copy: {copies}"


def test_process_memory_is_forgotten_in_one_place() -> None:
    """The root conftest's autouse fixture empties the process's per-replica memory before every test; a
    copy in one suite's conftest (or a test of its own) would hide a leak between the other suites."""
    clears = [
        str(path.relative_to(TESTS))
        for path in _modules()
        if re.search(r"\b(PROCESS_MEMORY|ANSWERS)\.clear\(\)", path.read_text("utf-8"))
    ]
    assert clears == ["conftest.py"], f"only tests/conftest.py clears the process memory: {clears}"
