"""What a newcomer meets in their first hour, through the real entry point run as a subprocess (issue 14).

Each test starts `replicas-mcp` (the installed console script, or `python -m replicas_mcp`) with an
environment cleared of every `REPLICAS_*` variable, and checks what it prints and how it exits.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from replicas_mcp.cli import banner, launch_command, python_too_old, temporary_environment
from replicas_mcp.config import Settings, is_placeholder_key, variable_of
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import INITIALIZE

ROOT = Path(__file__).parents[2]
SCRIPT = str(Path(sys.executable).with_name("replicas-mcp"))


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPLICAS_")}
    return {**env, **extra}


def run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        env=_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("key", ["", " "])
@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_blank_key_is_one_line_and_exit_2(key: str, transport: str) -> None:
    result = run("--transport", transport, "--port", "0", REPLICAS_API_KEY=key)
    assert result.returncode == 2
    assert "REPLICAS_API_KEY is set but empty" in _one_line(result)


@pytest.mark.parametrize("key", ["sk_replicas_...", "sk_replicas_…"])
def test_the_placeholder_key_is_refused_before_a_client_sees_the_server_connected(key: str) -> None:
    result = run(REPLICAS_API_KEY=key)
    assert result.returncode == 2
    assert "placeholder" in _one_line(result)


def test_the_example_configs_placeholder_key_is_refused() -> None:
    config = json.loads((ROOT / "claude_config.example.json").read_text())
    key = config["mcpServers"]["replicas"]["env"]["REPLICAS_API_KEY"]
    result = run(REPLICAS_API_KEY=key)
    assert result.returncode == 2
    assert "placeholder" in _one_line(result)


@pytest.mark.parametrize(
    "key",
    [
        "sk_replicas_your_key_here",
        "SK_REPLICAS_YOUR_KEY",
        "sk_replicas_xxxxxxxx",
        "sk_replicas_<your key>",
        "sk_replicas_here",
        "sk_replicas_example",
        "sk_replicas_abc...",
        "sk_replicas_…",
    ],
)
def test_placeholder_shapes_are_recognised(key: str) -> None:
    assert is_placeholder_key(key)


@pytest.mark.parametrize(
    "key", ["sk_replicas_sandbox_org", "sk_replicas_a8Fxxx9here2", "sk_replicas_9f8a7b6c5d4e"]
)
def test_real_looking_keys_are_not_placeholders(key: str) -> None:
    assert not is_placeholder_key(key)


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run("--sandbox", "--transport", "http", "--port", str(port))
    assert result.returncode == 1
    line = _one_line(result)
    assert f"127.0.0.1:{port} is already in use" in line
    assert "--port" in line


def _stderr_until(marker: str, *args: str, **env: str) -> str:
    """Run the stdio server (stdin held open) until `marker` shows on stderr, then close stdin: all stderr."""
    with subprocess.Popen(
        [SCRIPT, *args],
        env=_env(**env),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdin is not None
        assert server.stderr is not None
        seen, deadline = "", time.monotonic() + 45
        while marker not in seen and time.monotonic() < deadline:
            if select.select([server.stderr], [], [], 1.0)[0]:
                line = server.stderr.readline()
                if not line:
                    break
                seen += line
        server.stdin.close()
        rest = server.stderr.read()
        server.wait(timeout=30)
    return seen + rest


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed again: connections are refused


STARTUP_CHECK = "could not check the API key at start"


def test_an_unreachable_api_is_said_once_without_bare_retry_lines() -> None:
    unreachable = {"REPLICAS_API_KEY": "sk_replicas_abcdefgh12", "REPLICAS_BASE_URL": _closed_port_url()}
    quiet = _stderr_until(STARTUP_CHECK, **unreachable)
    assert "stamina" not in quiet
    lines = [line for line in quiet.splitlines() if line.strip()]
    assert len(lines) == 1, quiet  # at WARNING the retries are quiet; the startup check says it once
    assert "could not reach the API" in lines[0]
    assert "REPLICAS_BASE_URL" in lines[0]

    told = _stderr_until(STARTUP_CHECK, "--log-level", "info", **unreachable)
    assert "stamina" not in told
    retries = [line for line in told.splitlines() if "retrying in" in line]
    # Each retry in words: what (the request), why (the failure), when (the wait before it goes out again).
    assert retries, told
    for line in retries:
        assert re.search(r"GET /v1/replica: could not connect .*; retrying in \d", line), line


def test_check_takes_sandbox_after_the_subcommand_and_lists_its_options() -> None:
    checked = run("check", "--sandbox")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("OK: the embedded sandbox answers")
    assert "--sandbox" in run("check", "--help").stdout


def test_check_against_the_sandbox_says_to_add_sandbox_not_to_copy_its_settings() -> None:
    checked = run("check", "--sandbox")
    assert checked.returncode == 0, checked.stderr
    assert f"A client can run: {SCRIPT} --sandbox" in checked.stdout
    assert "same settings" not in checked.stdout


def test_log_level_is_case_insensitive() -> None:
    assert run("--log-level", "debug", "check", "--sandbox").returncode == 0
    assert run("check", "--sandbox", REPLICAS_MCP_LOG_LEVEL="info").returncode == 0


def test_an_empty_toolsets_flag_is_an_error_not_the_default() -> None:
    result = run("--sandbox", "--toolsets=")
    assert result.returncode == 2
    assert "--toolsets" in result.stderr
    assert "empty" in result.stderr


@pytest.mark.parametrize("value", ["", " ", ","])
def test_an_empty_toolsets_variable_is_a_one_line_error_not_the_default(value: str) -> None:
    result = run("--sandbox", REPLICAS_MCP_TOOLSETS=value)
    assert result.returncode == 2
    line = _one_line(result)
    assert "REPLICAS_MCP_TOOLSETS is set but empty" in line
    assert "unset it for the default" in line


BOOLEAN_SETTINGS = [name for name, field in Settings.model_fields.items() if field.annotation is bool]


@pytest.mark.parametrize("value", ["", "maybe"])
@pytest.mark.parametrize("name", BOOLEAN_SETTINGS)
def test_a_bad_boolean_variable_is_one_line_naming_it_and_the_accepted_values(name: str, value: str) -> None:
    variable = variable_of(name)
    env: dict[str, Any] = {variable: value}
    result = run("--sandbox", **env)
    assert result.returncode == 2
    line = _one_line(result)
    assert f"{variable} " in line
    assert "true or false" in line
    assert "yes/no" in line
    assert "Input should be" not in line  # pydantic's words, which name neither the variable nor the values
    if not value:
        assert "empty" in line
        assert "unset it for the default" in line


def test_a_bad_flag_value_names_the_flag_and_a_bad_variable_the_variable() -> None:
    assert "--port:" in _one_line(run("--sandbox", "--port", "70000"))
    assert "REPLICAS_MCP_PORT:" in _one_line(run("--sandbox", REPLICAS_MCP_PORT="70000"))


def test_an_unknown_tool_names_the_close_ones_not_a_docs_file() -> None:
    result = run("--sandbox", "--tools", "get_replicas")
    assert result.returncode == 2
    line = _one_line(result)
    assert "did you mean get_replica" in line
    assert "docs/" not in line


def test_help_names_every_toolset_and_the_sandbox_defaults() -> None:
    from replicas_mcp.server.tools import TOOLSETS

    text = " ".join(run("--help").stdout.split())
    for toolset in TOOLSETS:
        assert toolset in text
    assert "REPLICAS_MCP_TOOLSETS" in text
    sandbox_help = " ".join(run("sandbox", "--help").stdout.split())
    for default in ("default 127.0.0.1", "default 8765", "default 0", "default 1.0"):
        assert default in sandbox_help


@pytest.mark.parametrize("command", [[], ["sandbox"], ["check"], ["demo"]])
def test_help_points_to_nothing_an_installed_user_lacks(command: list[str]) -> None:
    """A wheel or bundle carries no docs/ folder, so help never sends a reader to one."""
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "docs/" not in result.stdout


async def test_check_understands_a_base_url_ending_in_v1(sandbox: RunningSandbox) -> None:
    import anyio

    result = await anyio.to_thread.run_sync(
        lambda: run("check", REPLICAS_API_KEY=sandbox.org_key, REPLICAS_BASE_URL=sandbox.base_url + "/v1/")
    )
    assert result.returncode == 0, result.stderr


async def test_check_names_the_base_url_for_a_wrong_path_and_no_tool(sandbox: RunningSandbox) -> None:
    import anyio

    result = await anyio.to_thread.run_sync(
        lambda: run("check", REPLICAS_API_KEY=sandbox.org_key, REPLICAS_BASE_URL=sandbox.base_url + "/api")
    )
    assert result.returncode == 1
    line = _one_line(result)
    assert "REPLICAS_BASE_URL" in line
    assert "list_" not in line
    assert sandbox.org_key not in line


def test_python_older_than_3_11_is_named_and_the_readme_states_it() -> None:
    message = python_too_old((3, 10))
    assert message is not None
    assert "Python 3.11 or newer" in message
    assert "Python 3.10" in message
    assert python_too_old((3, 11)) is None
    assert "Python 3.11" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_banner_command_is_absolute_and_keeps_its_arguments() -> None:
    as_script = launch_command("replicas-mcp", ["--sandbox", "--http-token", "secret-token-value"])
    assert as_script.split()[0].startswith("/")
    assert "--sandbox" in as_script
    assert "secret-token-value" not in as_script
    as_module = launch_command("/somewhere/replicas_mcp/__main__.py", ["--sandbox"])
    assert as_module == f"{sys.executable} -m replicas_mcp --sandbox"


@pytest.mark.parametrize(
    ("prefix", "temporary"),
    [
        ("/home/u/.cache/uv/archive-v0/FibI05U9x-YEv5Ad", True),  # uvx
        ("/home/u/.cache/pipx/9cb37cb64253108", True),  # pipx run
        ("/Users/u/Library/Caches/pipx/9cb37cb64253108", True),
        ("/home/u/.local/pipx/.cache/9cb37cb64253108", True),
        ("/home/u/.local/share/uv/tools/replicas-mcp", False),  # uv tool install
        ("/home/u/.local/share/pipx/venvs/replicas-mcp", False),  # pipx install
        ("/work/replicas-mcp/.venv", False),
        ("/usr", False),
        ("/", False),
    ],
)
def test_a_temporary_uvx_or_pipx_run_environment_is_recognised(prefix: str, temporary: bool) -> None:
    assert temporary_environment(prefix) is temporary


def test_the_banner_of_a_temporary_environment_says_to_install_before_configuring_a_client() -> None:
    """uvx's path lives in uv's cache, which may delete it: a client configured with it breaks later."""
    lasting = banner("0.1.0", "/home/u/.local/bin/replicas-mcp --sandbox", sandbox=True)
    uvx = "/home/u/.cache/uv/archive-v0/x/bin/replicas-mcp"
    temporary = banner("0.1.0", uvx, sandbox=True, temporary=True)
    assert "temporary" not in lasting
    assert "temporary environment" in temporary
    assert "uv tool install" in temporary
    assert "pipx install" in temporary
    assert temporary.endswith("Press Ctrl-C to stop.\n")


def _banner_of(command: list[str]) -> str:
    """What the command prints on stderr when started in a terminal, up to "Press Ctrl-C to stop."
    (asserting nothing reached stdout, the protocol channel)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    os.close(terminal)
    assert process.stderr is not None
    assert process.stdout is not None
    stderr = b""
    try:
        deadline = time.monotonic() + 30
        while b"Press Ctrl-C to stop." not in stderr and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 0.5)
            if ready:
                chunk = os.read(process.stderr.fileno(), 4096)
                if not chunk:
                    break
                stderr += chunk
        ready, _, _ = select.select([process.stdout], [], [], 0)
        assert not ready, "the banner (or anything else) went to stdout, the protocol channel"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
        os.close(controller)
    return stderr.decode()


@pytest.mark.slow
def test_the_terminal_banner_under_python_m_shows_a_command_that_works() -> None:
    text = _banner_of([sys.executable, "-m", "replicas_mcp", "--sandbox"])
    assert "an MCP server for the Replicas API" in text
    inspector = next(line for line in text.splitlines() if "Inspector:" in line)
    assert f"{sys.executable} -m replicas_mcp --sandbox" in inspector
    assert "__main__.py" not in text
    claude = next(line for line in text.splitlines() if "claude mcp add" in line)
    assert "REPLICAS_API_KEY" not in claude  # the sandbox needs no key


@pytest.mark.slow
def test_the_terminal_banner_of_the_script_is_absolute() -> None:
    text = _banner_of([SCRIPT, "--sandbox"])
    inspector = next(line for line in text.splitlines() if "Inspector:" in line)
    assert f"inspector {SCRIPT} --sandbox" in inspector


def _read_until(stream: Any, marker: bytes, seconds: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.5)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


# Only a guard against a hang, not a speed bound: a loaded 2-core machine can take seconds to tear down.
HANG_GUARD_S = 120


def _drain(stream: Any, into: list[bytes]) -> threading.Thread:
    """Read a pipe to its end in the background: a child whose stderr nobody reads can block on a write
    (and look hung) once the pipe's buffer is full."""
    thread = threading.Thread(target=lambda: into.extend(iter(lambda: os.read(stream.fileno(), 65536), b"")))
    thread.start()
    return thread


@pytest.mark.slow
def test_one_ctrl_c_stops_the_stdio_server_in_a_terminal() -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [SCRIPT, "--sandbox"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(PYTHONFAULTHANDLER="1"),  # a hang's SIGABRT below prints every thread's stack
    )
    os.close(terminal)
    assert process.stdout is not None
    assert process.stderr is not None
    stderr: list[bytes] = []
    drained = None
    try:
        stderr.append(_read_until(process.stderr, b"Press Ctrl-C to stop.", 30))
        assert b"Press Ctrl-C to stop." in stderr[0]
        drained = _drain(process.stderr, stderr)
        # Still a working server when its stdin is a terminal: a typed request gets its answer.
        os.write(controller, json.dumps(INITIALIZE).encode() + b"\n")
        assert b'"protocolVersion"' in _read_until(process.stdout, b'"protocolVersion"', 30)
        process.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
        try:
            status = process.wait(timeout=HANG_GUARD_S)  # one Ctrl-C: no Enter needed, no second Ctrl-C
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=10)
            drained.join(timeout=10)
            pytest.fail(f"no exit after Ctrl-C; its threads:\n{b''.join(stderr).decode()[-6000:]}")
        drained.join(timeout=10)
        assert status == 0
        assert b"Traceback" not in b"".join(stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if drained is not None:
            drained.join(timeout=10)
        process.stdout.close()
        process.stderr.close()
        os.close(controller)


def test_the_readme_configuration_table_lists_every_setting() -> None:
    from replicas_mcp.cli_args import flag_of
    from replicas_mcp.config import ENV_PREFIX, Settings, cli_fields

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for name in Settings.model_fields:
        variable = {"api_key": "REPLICAS_API_KEY", "base_url": "REPLICAS_BASE_URL"}.get(
            name, ENV_PREFIX + name.upper()
        )
        assert variable in table, f"{variable} is missing from the README's configuration table"
    for name in cli_fields():
        assert f"`{flag_of(name)}" in table, (
            f"{flag_of(name)} is missing from the README's configuration table"
        )


def test_a_base_url_that_is_not_a_url_is_one_line() -> None:
    result = run(REPLICAS_API_KEY="sk_replicas_abcdefgh12", REPLICAS_BASE_URL="api.tryreplicas.com")
    assert result.returncode == 2
    assert "REPLICAS_BASE_URL: must be an http(s) URL" in _one_line(result)


def test_a_configuration_error_inside_task_groups_is_found() -> None:
    from replicas_mcp.cli import _configuration_error
    from replicas_mcp.client.errors import ConfigurationError

    nested = ExceptionGroup("serve", [ExceptionGroup("lifespan", [ConfigurationError("no key")])])
    assert _configuration_error(nested) == "no key"
    assert _configuration_error(ExceptionGroup("other", [ValueError("x")])) is None


def test_the_banner_command_never_repeats_a_secret_flag() -> None:
    # Every SecretStr setting that is a flag (the Redis URL carries its password), in every spelling argparse
    # accepts: separate value, `=value`, and an unambiguous abbreviation.
    command = launch_command(
        "replicas-mcp",
        [
            "--redis-url",
            "redis://:hunter2-redis@cache:6379/0",
            "--webhook-sec=whsec_hunter2",
            "--http-tok",
            "tok-hunter2",
            "--port",
            "9",
        ],
    )
    assert "hunter2" not in command
    assert "--port 9" in command


def test_a_short_state_key_is_one_line_naming_the_variable_and_never_its_value() -> None:
    result = run("--transport", "http", "--sandbox", REPLICAS_MCP_STATE_KEY="short-secret-xyz")
    line = _one_line(result)
    assert result.returncode == 2
    assert "REPLICAS_MCP_STATE_KEY must be at least 32 bytes" in line
    assert "short-secret-xyz" not in line
