"""The product is only ever tested and measured against the strict sandbox (docs/sandbox.md, "Which tests run
strict"): every sandbox that a test outside tests/sandbox/, the bench, the CLI or the demo starts says
`strict=True`, or takes options from a caller with `strict` defaulting to True, and none asks for the
lenient one but the tests listed below, whose point is a field the guide has and the contract lacks. The
sandbox's own tests cover the lenient mode."""

from __future__ import annotations

import ast
from pathlib import Path

from replicas_mcp.cli_args import build_parser

ROOT = Path(__file__).parent.parent
STARTERS = {"running_sandbox", "create_app"}
# Tests of the product whose very point is something only the lenient sandbox sends, and why.
LENIENT_ON_PURPOSE = {
    "tests/hardening/test_fences.py::test_chat_last_message_is_fenced_everywhere": (
        "`lastMessageText` on REST chats is the guide's, not the contract's: the real API may send it, so "
        "its fencing is checked on the sandbox that sends it"
    ),
}


def _sources() -> list[Path]:
    tests = [
        path
        for path in (ROOT / "tests").rglob("*.py")
        if path.relative_to(ROOT / "tests").parts[0] != "sandbox"
    ]
    product = [ROOT / "replicas_mcp" / "cli.py", ROOT / "replicas_mcp" / "demo.py"]
    return sorted([*tests, *(ROOT / "bench").rglob("*.py"), *product])


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _sets_strict_default(function: ast.AST, options: str) -> bool:
    """`function` runs `options.setdefault("strict", True)`."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "setdefault"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == options
        and [getattr(arg, "value", None) for arg in node.args] == ["strict", True]
        for node in ast.walk(function)
    )


def _is_strict(call: ast.Call, function: ast.AST) -> bool:
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    strict = keywords.get("strict")
    if strict is not None:
        return isinstance(strict, ast.Constant) and strict.value is True
    splat = keywords.get(None)
    return isinstance(splat, ast.Name) and _sets_strict_default(function, splat.id)


def lenient_starts(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line` of every sandbox started there without strict mode."""
    tree = ast.parse(path.read_text("utf-8"))
    enclosing: dict[ast.AST, ast.AST] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                enclosing[node] = function  # inner functions are walked later and win
    return sorted(
        f"{path.relative_to(root)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _called(node) in STARTERS
        and not _is_strict(node, enclosing.get(node, tree))
    )


def asks_for_lenient(path: Path, root: Path = ROOT) -> list[str]:
    """`file::test` for each test marked `sandbox_mode(strict=False)`, `file` for a `--no-strict` flag."""
    tree = ast.parse(path.read_text("utf-8"))
    where = str(path.relative_to(root))
    asking = [
        where for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value == "--no-strict"
    ]
    for test in ast.walk(tree):
        if not isinstance(test, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for mark in test.decorator_list:
            if (
                isinstance(mark, ast.Call)
                and _called(mark) == "sandbox_mode"
                and any(keyword.arg == "strict" for keyword in mark.keywords)
                and not _is_strict(mark, test)
            ):
                asking.append(f"{where}::{test.name}")
    return asking


def test_every_sandbox_the_product_meets_is_strict() -> None:
    lenient = [where for path in _sources() for where in lenient_starts(path)]
    assert not lenient, f"start these with strict=True (docs/sandbox.md, 'Which tests run strict'): {lenient}"


def test_only_the_listed_tests_of_the_product_ask_for_the_lenient_sandbox() -> None:
    here = Path(__file__)
    asking = {test for path in _sources() if path != here for test in asks_for_lenient(path)}
    assert asking == set(LENIENT_ON_PURPOSE), (
        "a test of the product runs on the lenient sandbox only when its point is a field or rule the "
        "contract lacks but the guide (or the real API) has: list it in LENIENT_ON_PURPOSE with why"
    )


def test_the_checks_find_lenient_sandboxes(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "async def a():\n    async with running_sandbox(seed=0) as s: ...\n"
        "async def b(**options):\n    async with running_sandbox(**options) as s: ...\n"
        "async def c(**options):\n    options.setdefault('strict', True)\n    create_app(**options)\n"
        "def d():\n    create_app(strict=True)\n"
        "def e():\n    serve.create_app(strict=False)\n"
    )
    assert lenient_starts(sample, tmp_path) == ["sample.py:11", "sample.py:2", "sample.py:4"]
    assert asks_for_lenient(sample, tmp_path) == []
    marked = tmp_path / "marked.py"
    marked.write_text(
        "@pytest.mark.sandbox_mode(strict=False)\nasync def test_x(sandbox): ...\n"
        "@pytest.mark.sandbox_mode(wake_reads='contract')\nasync def test_y(sandbox): ...\n"
    )
    assert asks_for_lenient(marked, tmp_path) == ["marked.py::test_x"]
    flagged = tmp_path / "flagged.py"
    flagged.write_text("run('sandbox', '--no-strict')\n")
    assert asks_for_lenient(flagged, tmp_path) == ["flagged.py"]


def test_the_standalone_sandbox_is_strict_unless_told() -> None:
    assert build_parser().parse_args(["sandbox"]).strict is True
    assert build_parser().parse_args(["sandbox", "--no-strict"]).strict is False
    # Event-stream replay follows strict mode (off) unless told: `create_app(replay=None)`.
    assert build_parser().parse_args(["sandbox"]).replay is None
    assert build_parser().parse_args(["sandbox", "--replay"]).replay is True
