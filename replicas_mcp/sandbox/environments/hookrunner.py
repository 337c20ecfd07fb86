"""Simulated execution of warm-hook and start-hook scripts. Nothing is ever executed.

The sandbox reads a hook script line by line and predicts what running it would print, how long it would
take and how it would end. The rules are deterministic, so a test can ask for any outcome:

- Blank lines, comments and the shebang are skipped. A line ending in `\\` continues on the next line.
  Each remaining line is one command; `&&`, `||`, `;` and pipes are not split (the first word decides).
- `set -e` (also `-eu`, `-euo pipefail`, `-o errexit`) stops the script at the first failing command;
  `set +e` turns that off. Without it a failing command is reported and the script goes on.
- `exit N` ends the script with exit code N (0-255); `exit` alone repeats the last command's status;
  a non-numeric N ends it with 2, as bash does.
- `false` fails with status 1; `true` and `:` succeed silently; `cd`, `export`, `source`, `set` are silent.
- `sleep N` (N in seconds, or with an s/m/h suffix) takes N simulated seconds.
- `echo ...` and `printf ...` print their arguments (quotes removed, `$VARS` are not expanded).
- Package installs (npm/pnpm/yarn/bun install|ci, pip/uv/poetry install, apt-get, brew), `git`, `make`,
  `docker` and build tools print a plausible line or two; any other command prints `$ <command>`.
  Trailing `&` runs a command in the background: it prints `[1] <pid>` and takes no time.
- Every command takes a little simulated time (0.2 s, installs 2 s). When the total passes the timeout
  (`DEFAULT_TIMEOUT_SECONDS`, 120 simulated seconds) the run stops: exit code 124, `timed_out: true`.
- A comment line `# replicas-sandbox: provision-failure` makes the isolated test sandbox fail to start,
  before any line runs: streaming endpoints end with an `error` event, synchronous ones answer 500.

A run's result is final as soon as the script is read (`simulate`); `execute` replays it in scaled time,
streaming output lines, which is what the streaming endpoints and the workspace boot use.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from replicas_mcp.sandbox.clock import Clock

DEFAULT_TIMEOUT_SECONDS = 120.0
TIMEOUT_EXIT_CODE = 124
PROVISION_FAILURE_MARKER = "replicas-sandbox: provision-failure"

_COMMAND_SECONDS = 0.2
_INSTALL_SECONDS = 2.0
_SILENT = frozenset({"cd", "export", "source", ".", "set", "unset", "alias", "shopt", "umask", "trap"})
_ERREXIT = re.compile(r"^set\s+(?:-[a-zA-Z]*e[a-zA-Z]*|-o\s+errexit)\b")
_NO_ERREXIT = re.compile(r"^set\s+(?:\+[a-zA-Z]*e[a-zA-Z]*|\+o\s+errexit)\b")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")


@dataclass(frozen=True)
class HookStep:
    """One command of the script: what it printed, its status and its simulated duration."""

    command: str
    output: tuple[str, ...]
    status: int
    seconds: float


@dataclass(frozen=True)
class HookOutcome:
    exit_code: int
    output: str
    timed_out: bool
    seconds: float
    steps: tuple[HookStep, ...]
    provision_error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.provision_error is None and self.exit_code == 0 and not self.timed_out

    def result(self) -> dict[str, object]:
        """The spec's `WarmHookTestResult` / `StartHookTestResult`."""
        return {"exit_code": self.exit_code, "output": self.output, "timed_out": self.timed_out}


class ProvisionFailure(Exception):
    """The isolated sandbox a hook test needs could not be started (see the marker comment)."""


def _logical_lines(script: str) -> list[str]:
    lines: list[str] = []
    pending = ""
    for raw in script.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=False)
    except ValueError:  # unbalanced quotes: fall back to whitespace
        return command.split()


def _number_from(text: str, low: int, high: int) -> int:
    """A stable pseudo-random number for `text`, so the same script always prints the same thing."""
    digest = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return low + digest % (high - low + 1)


def _parse_duration(word: str) -> float | None:
    match = _DURATION.match(word)
    if match is None:
        return None
    factor = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2)]
    return float(match.group(1)) * factor


def _tool_output(command: str, words: list[str]) -> tuple[tuple[str, ...], float]:
    tool = words[0].rsplit("/", 1)[-1]
    verb = words[1] if len(words) > 1 else ""
    if tool in ("npm", "pnpm", "yarn", "bun") and verb in ("install", "ci", "i", "add", ""):
        count = _number_from(command, 40, 900)
        return (f"added {count} packages in {_number_from(command, 2, 19)}s",), _INSTALL_SECONDS
    if (tool in ("pip", "pip3", "uv", "poetry") and "install" in words[1:3]) or (
        tool == "uv" and verb == "sync"
    ):
        return (f"Successfully installed {_number_from(command, 3, 60)} packages",), _INSTALL_SECONDS
    if tool in ("apt-get", "apt", "brew"):
        return ("Reading package lists... Done", "0 upgraded, 0 newly installed."), _INSTALL_SECONDS
    if tool == "git":
        return (f"git {verb}: done",), _COMMAND_SECONDS
    if tool == "make":
        target = verb or "all"
        return (f"make: '{target}' is up to date.",), _COMMAND_SECONDS
    if tool == "docker":
        return (f"docker {verb}: {_number_from(command, 1, 9)} layers ready",), _INSTALL_SECONDS
    if tool in ("cargo", "go", "tsc", "gradle", "mvn"):
        return (f"{tool}: build finished",), _INSTALL_SECONDS
    return (f"$ {command}",), _COMMAND_SECONDS


def _echo_output(words: list[str]) -> tuple[str, ...]:
    args = words[1:]
    if words[0] == "echo":
        while args and args[0] in ("-n", "-e", "-ne", "-en"):
            args = args[1:]
        return (" ".join(args),)
    if not args:
        return ()
    text = args[0].replace("%s", " ".join(args[1:])).replace("\\n", "\n").rstrip("\n")
    return tuple(text.split("\n"))


def _step(command: str, last_status: int) -> tuple[HookStep, int | None]:
    """Simulate one command; the second value is an exit code when the command ends the script."""
    background = command.endswith("&") and not command.endswith("&&")
    words = _words(command.rstrip("&").strip() if background else command)
    if not words:
        return HookStep(command, (), 0, 0.0), None
    if background:
        return HookStep(command, (f"[1] {_number_from(command, 1000, 65000)}",), 0, 0.0), None
    name = words[0]
    if name == "exit":
        if len(words) == 1:
            return HookStep(command, (), last_status, 0.0), last_status
        if words[1].isdigit():
            code = int(words[1]) % 256
            return HookStep(command, (), code, 0.0), code
        return HookStep(command, (f"exit: {words[1]}: numeric argument required",), 2, 0.0), 2
    if name == "sleep":
        seconds = _parse_duration(words[1]) if len(words) > 1 else None
        if seconds is None:
            return HookStep(command, ("sleep: missing or invalid operand",), 1, 0.0), None
        return HookStep(command, (), 0, seconds), None
    if name == "false":
        return HookStep(command, (), 1, _COMMAND_SECONDS), None
    if name in ("true", ":") or name in _SILENT:
        return HookStep(command, (), 0, 0.0), None
    if name in ("echo", "printf"):
        return HookStep(command, _echo_output(words), 0, 0.0), None
    output, seconds = _tool_output(command, words)
    return HookStep(command, output, 0, seconds), None


def simulate(script: str, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> HookOutcome:
    """Predict the outcome of running `script` (never runs it)."""
    lines = _logical_lines(script)
    if any(line.strip().lstrip("#").strip() == PROVISION_FAILURE_MARKER for line in lines):
        return HookOutcome(
            exit_code=1,
            output="",
            timed_out=False,
            seconds=0.0,
            steps=(),
            provision_error="The isolated test sandbox failed to provision",
        )
    errexit = False
    status = 0
    elapsed = 0.0
    steps: list[HookStep] = []
    for raw in lines:
        command = raw.strip()
        if not command or command.startswith("#"):
            continue
        if _ERREXIT.match(command):
            errexit = True
        elif _NO_ERREXIT.match(command):
            errexit = False
        step, exit_code = _step(command, status)
        if elapsed + step.seconds > timeout_seconds:
            remaining = max(timeout_seconds - elapsed, 0.0)
            note = f"Hook timed out after {timeout_seconds:g}s"
            steps.append(HookStep(command, (note,), TIMEOUT_EXIT_CODE, remaining))
            return _outcome(steps, TIMEOUT_EXIT_CODE, timed_out=True)
        elapsed += step.seconds
        steps.append(step)
        status = step.status
        if exit_code is not None:
            return _outcome(steps, exit_code, timed_out=False)
        if status != 0 and errexit:
            return _outcome(steps, status, timed_out=False)
    return _outcome(steps, status, timed_out=False)


def _outcome(steps: list[HookStep], exit_code: int, *, timed_out: bool) -> HookOutcome:
    output = "\n".join(line for step in steps for line in step.output)
    return HookOutcome(
        exit_code=exit_code,
        output=output + "\n" if output else "",
        timed_out=timed_out,
        seconds=sum(step.seconds for step in steps),
        steps=tuple(steps),
    )


OutputSink = Callable[[str], Awaitable[None]]


async def replay(outcome: HookOutcome, *, clock: Clock) -> AsyncIterator[str]:
    """Yield the outcome's output lines as they would appear, sleeping each step's scaled duration."""
    for step in outcome.steps:
        if step.seconds:
            await clock.sleep(step.seconds)
        for line in step.output:
            yield line


async def execute(
    script: str,
    *,
    clock: Clock,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    on_output: OutputSink | None = None,
) -> HookOutcome:
    """Replay `simulate(script)` in scaled time, handing each output line to `on_output` as it appears.

    Raises `ProvisionFailure` when the script asks for a failed sandbox.
    """
    outcome = simulate(script, timeout_seconds=timeout_seconds)
    if outcome.provision_error is not None:
        raise ProvisionFailure(outcome.provision_error)
    async for line in replay(outcome, clock=clock):
        if on_output is not None:
            await on_output(line)
    return outcome
