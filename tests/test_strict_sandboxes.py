"""The product is only ever tested and measured against the strict sandbox (docs/sandbox.md, "Which tests run
strict"): every sandbox that a test outside tests/sandbox/, the bench, the CLI or the demo starts says
`strict=True`, or takes options from a caller with `strict` defaulting to True, and none of them asks for
the lenient one. The sandbox's own tests cover the lenient mode."""

from __future__ import annotations

import ast
from pathlib import Path

from replicas_mcp.cli_args import build_parser

ROOT = Path(__file__).parent.parent
STARTERS = {"running_sandbox", "create_app"}


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


def asks_for_lenient(path: Path) -> bool:
    """A `sandbox_mode(strict=False)` mark or a `--no-strict` flag."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Constant) and node.value == "--no-strict":
            return True
        if isinstance(node, ast.Call) and _called(node) == "sandbox_mode" and not _is_strict(node, node):
            return any(keyword.arg == "strict" for keyword in node.keywords)
    return False


def test_every_sandbox_the_product_meets_is_strict() -> None:
    lenient = [where for path in _sources() for where in lenient_starts(path)]
    assert not lenient, f"start these with strict=True (docs/sandbox.md, 'Which tests run strict'): {lenient}"


def test_no_test_of_the_product_asks_for_the_lenient_sandbox() -> None:
    here = Path(__file__)
    asking = [str(path.relative_to(ROOT)) for path in _sources() if path != here and asks_for_lenient(path)]
    assert not asking, f"only tests/sandbox/ tests the lenient sandbox: {asking}"


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
    assert not asks_for_lenient(sample)
    marked = tmp_path / "marked.py"
    marked.write_text("@pytest.mark.sandbox_mode(strict=False)\nasync def test_x(sandbox): ...\n")
    assert asks_for_lenient(marked)
    flagged = tmp_path / "flagged.py"
    flagged.write_text("run('sandbox', '--no-strict')\n")
    assert asks_for_lenient(flagged)


def test_the_standalone_sandbox_is_strict_unless_told() -> None:
    assert build_parser().parse_args(["sandbox"]).strict is True
    assert build_parser().parse_args(["sandbox", "--no-strict"]).strict is False
