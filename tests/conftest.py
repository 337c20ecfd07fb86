"""Shared fixtures: an environment without `REPLICAS_*` variables for every test, and a real sandbox served
on loopback for every test that asks for one."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import settings

from replicas_mcp.delegation.answers import ANSWERS
from replicas_mcp.delegation.memory import PROCESS_MEMORY
from replicas_mcp.sandbox.fidelity import WakeReads
from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

# CI draws the same property-test examples every run (no example database on a fresh clone, so random draws
# would make a rare failure flaky); local runs keep exploring new examples and remember failures.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        default=False,
        help="rewrite the tools/list snapshots under tests/server/snapshots/ instead of comparing with them",
    )


# Every simulated duration is multiplied by this: a one-second turn takes 50 ms, a boot 100 ms.
TEST_TIME_SCALE = 0.05


@pytest.fixture(autouse=True, scope="session")
def isolated_environment() -> Iterator[None]:
    """No `REPLICAS_*` variable while tests run: settings come only from what a test passes, so the
    developer's shell (a real key, `REPLICAS_MCP_CONFIRM_DESTRUCTIVE=require`, ...) changes nothing.
    Session-scoped, so fixtures of every scope (a module's shared server) see the cleaned environment too;
    a test's own `monkeypatch.setenv` is undone after it. Subprocesses inherit the cleaned environment.
    (Knobs read when a test module is imported, such as `REPLICAS_SOAK_SECONDS`, still apply.)"""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("REPLICAS_"):
                patch.delenv(name)
        yield


@pytest.fixture(autouse=True)
def forget_process_memory() -> None:
    """What this process remembers per replica id (questions answered, tasks started, failure reasons)
    starts empty for every test: every sandbox is seeded alike, so replica, chat and tool-call ids repeat
    from test to test (never upstream), and a question another test answered would otherwise count as
    answered here, whichever directory either test lives in."""
    PROCESS_MEMORY.clear()
    ANSWERS.clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sandbox_mode(strict=True, wake_reads=None, replay=None): how the `sandbox` fixture serves; "
        "strict=False is the lenient sandbox (mark such tests `# TODO(strict)`); replay=True resumes event "
        "streams after Last-Event-ID (an extension: strict mode does not)",
    )


@pytest.fixture
def sandbox_wake_reads() -> WakeReads:
    """How the `sandbox` fixture answers reads of a sleeping workspace: "guide" (409) by default.

    Run a test (or a whole directory, by overriding this fixture in its conftest) under both documents:
        @pytest.mark.parametrize("sandbox_wake_reads", ["guide", "contract"])
    """
    return "guide"


@pytest.fixture
async def sandbox(
    request: pytest.FixtureRequest, sandbox_wake_reads: WakeReads
) -> AsyncIterator[RunningSandbox]:
    """A fresh strict sandbox (seed 0, fast clock) on a free loopback port: `.base_url`, `.org_key`, …

    Strict: exactly the vendor contract's fields and rules (docs/sandbox.md, "Strict mode"). A test that
    still needs the lenient sandbox says so with `@pytest.mark.sandbox_mode(strict=False)  # TODO(strict)`;
    `sandbox_mode(wake_reads="contract")` picks the wake behaviour for one test.
    """
    mode = request.node.get_closest_marker("sandbox_mode")
    options = dict(mode.kwargs) if mode is not None else {}
    options.setdefault("strict", True)
    if options.get("wake_reads") is None:
        options["wake_reads"] = sandbox_wake_reads
    async with running_sandbox(seed=0, time_scale=TEST_TIME_SCALE, **options) as running:
        yield running
