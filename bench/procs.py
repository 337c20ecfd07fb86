"""Child processes the bench starts and always stops: the sandbox, the MCP server over HTTP.

Each child prints one JSON line on stdout when it is ready and exits when its stdin closes (so a
crashed bench never leaves one behind). Stopping: close stdin, wait, then terminate/kill by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
READY_LINE_LIMIT = 16 * 1024 * 1024  # a ready line may list thousands of replica ids
BIN_DIR = Path(sys.executable).parent


def cli_available() -> bool:
    """The product's CLI (`replicas-mcp`, `replicas_mcp.cli`) exists in this checkout."""
    try:
        return importlib.util.find_spec("replicas_mcp.cli") is not None
    except ImportError:
        return False


def server_command(*args: str) -> list[str]:
    """`replicas-mcp ARGS` (the console script of this venv); falls back to `python -m replicas_mcp`."""
    script = BIN_DIR / "replicas-mcp"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "replicas_mcp", *args]


def stdio_server_argv(*args: str) -> list[str]:
    """The stdio server as a desktop client starts it; the bench's launcher while the CLI is missing."""
    if cli_available():
        return server_command(*args)
    return [sys.executable, "-m", "bench.mcp_http", "--stdio"]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The bench's environment minus Replicas settings, plus `extra` (no stray key reaches a child)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICAS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Child:
    process: asyncio.subprocess.Process
    ready: dict[str, Any]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.asynccontextmanager
async def child(argv: list[str], env: Mapping[str, str], name: str) -> AsyncIterator[Child]:
    """Start `argv`, wait for its JSON ready line, yield it; stop it on exit whatever happened."""
    log = Path(tempfile.gettempdir()) / f"replicas-bench-{name}-{os.getpid()}.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=dict(env),
            cwd=str(Path(__file__).resolve().parent.parent),
            limit=READY_LINE_LIMIT,
        )
    try:
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"{name} did not start within {READY_TIMEOUT:.0f} s; see {log}") from None
        if not line:
            raise RuntimeError(f"{name} exited during startup: {log.read_text()[-2000:]}")
        yield Child(process=process, ready=json.loads(line))
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None and process.stdin is not None:
        with contextlib.suppress(Exception):
            process.stdin.close()
    for signal_it in (None, process.terminate, process.kill):
        if signal_it is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal_it()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            return
        except TimeoutError:
            continue


async def wait_for_stdin_eof(max_seconds: float) -> None:
    """Block until stdin closes (the parent is gone or done), at most `max_seconds`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader.read(), max_seconds)
