"""`replicas-mcp demo`: a whole delegation through the MCP server, against an embedded sandbox.

An MCP client connects in-process to the server, which talks to a sandbox of the Replicas API served on
loopback (no account, no network), and hands a coding task to a simulated cloud agent:

    delegate_task → wait_for_replica (bounded calls, resumed with cursors) → get_replica_result
    → send_replica_message (mode=next: first in the queue) → wait_for_replica → get_replica_result

Each tool call is printed with a short summary of its result. Simulated time runs at `--time-scale`
(0.25: a 12-second agent turn takes 3 s), so the whole run takes a few seconds.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

import anyio

TASK = (
    "Add input validation to the signup endpoint: reject malformed emails with a clear error. "
    "[[slow:12]] [[pr]] [[canvas:markdown]]"
)
STEER = "Also cover empty emails in the tests. [[ask: Should an empty email return 400 or 422?]]"


def _parser() -> argparse.ArgumentParser:
    from replicas_mcp.cli_args import OneLineParser

    parser = OneLineParser(
        prog="replicas-mcp demo", description="Run a whole delegation against the embedded sandbox."
    )
    parser.add_argument("--time-scale", type=float, default=0.25, help="simulated seconds → real (0.25)")
    parser.add_argument("--step", type=int, default=1, help="seconds per bounded wait call (1)")
    # `replicas-mcp demo --sandbox` is natural after `replicas-mcp --sandbox`: the demo always uses one.
    parser.add_argument("--sandbox", action="store_true", help=argparse.SUPPRESS)
    return parser


def _plain(text: str) -> str:
    """Agent text without its fences (fine to show on a terminal; never to a model)."""
    from replicas_mcp.server.safety import unfenced  # loaded by then: `_run` started the server

    return unfenced(text)


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


class Printer:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.progress = 0

    def call(self, name: str, arguments: dict[str, Any]) -> None:
        args = ", ".join(f"{key}={_short(repr(value), 48)}" for key, value in arguments.items())
        print(f"\n[{time.monotonic() - self.started:5.1f}s] → {name}({args})", flush=True)

    def line(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            print(f"           {part}", flush=True)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress += 1


def _counted(text: str, what: str) -> int:
    """A count from the text a model reads ("12 events"): the structured rows leave counts out."""
    found = re.search(rf"(\d+) {re.escape(what)}", text)
    return int(found.group(1)) if found else 0


def _summarize(name: str, data: dict[str, Any], text: str, printer: Printer) -> None:
    if name in ("delegate_task", "wait_for_replica"):
        row = data["replicas"][0]
        head = f"{'created' if row.get('created') else 'replica'} {row.get('name') or row['replica_id']}"
        stats = [f"state {row['state']}", f"{_counted(text, 'events')} new events"]
        turns = _counted(text, "turn(s) completed")
        if turns:
            stats.append(f"{turns} turn(s) completed")
        stats.append(f"{printer.progress} progress notification(s)")
        printer.line(f"{head}: " + ", ".join(stats))
        for item in row.get("news", []):
            if item.startswith("PR "):
                printer.line(f"pull request opened: {item[3:]}")
            elif item.startswith("asked: "):
                printer.line(f"agent asks: {_plain(item[7:]).strip()}")
        if not row.get("done"):
            printer.line(f"not done yet; resume with cursor {_short(row.get('cursor') or '', 28)}")
    elif name == "get_replica_result":
        printer.line(f"outcome: {data['outcome']}")
        for repo in data.get("repos", []):
            printer.line(repo)
        for url in data.get("prs", []):
            printer.line(f"  PR {url}")
        if data.get("canvas"):
            printer.line("canvas: " + ", ".join(data["canvas"]))
        if data.get("message"):
            printer.line("final message: " + _short(_plain(data["message"]).strip().replace("\n", " "), 100))
        for question in data.get("questions", []):
            printer.line(f"open question: {_plain(question).strip()}")
    elif name == "list_environments":
        printer.line("environments: " + ", ".join(env["name"] for env in data["environments"]))
    elif name == "send_replica_message":
        printer.line(f"{data['status']}: {data['note']}")
    else:
        printer.line(_short(str(data), 100))


async def _run(scale: float, step: int) -> int:
    from mcp import Client

    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.config import Settings
    from replicas_mcp.sandbox.serve import running_sandbox
    from replicas_mcp.server.app import build_server

    printer = Printer()
    print(f"Starting the Replicas API sandbox (time scale {scale:g}) and the MCP server in-process…")
    async with (
        running_sandbox(seed=0, time_scale=scale, strict=True) as sandbox,  # the product on the contract
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
    ):
        server = build_server(Settings(api_key=sandbox.org_key, base_url=sandbox.base_url), api)
        async with Client(server) as client:

            async def call(name: str, **arguments: Any) -> dict[str, Any]:
                printer.call(name, arguments)
                printer.progress = 0
                result = await client.call_tool(name, arguments, progress_callback=printer.on_progress)
                text = result.content[0].text if result.content and result.content[0].type == "text" else ""
                if result.is_error or result.structured_content is None:
                    raise RuntimeError(f"{name} failed: {text}")
                data = dict(result.structured_content)
                _summarize(name, data, text, printer)
                return data

            with anyio.fail_after(120):
                envs = (await call("list_environments"))["environments"]
                env = next(e for e in envs if e.get("repository_id"))
                printer.line(f"using environment {env['name']!r} ({env['id']})")
                run = (await call("delegate_task", environment_id=env["id"], task=TASK, wait_s=step))[
                    "replicas"
                ][0]
                replica_id, cursor = run["replica_id"], run["cursor"]
                while not run["done"]:
                    waited = await call(
                        "wait_for_replica", replica_id=replica_id, timeout_s=step, cursor=cursor
                    )
                    run = waited["replicas"][0]
                    cursor = run["cursor"]
                await call("get_replica_result", replica_id=replica_id)
                await call("send_replica_message", replica_id=replica_id, message=STEER, mode="next")
                run = {"done": False}
                while not run["done"]:
                    waited = await call(
                        "wait_for_replica", replica_id=replica_id, timeout_s=max(step, 5), cursor=cursor
                    )
                    run = waited["replicas"][0]
                    cursor = run["cursor"]
                report = await call("get_replica_result", replica_id=replica_id)
    print(
        f"\nDone in {time.monotonic() - printer.started:.1f}s: the agent opened a PR, then asked a question "
        f"(outcome {report['outcome']})."
    )
    return 0


def _root_cause(exc: BaseException) -> BaseException:
    """The real failure inside the ExceptionGroups that task groups wrap it in (the first leaf)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def main(argv: Sequence[str] | None = None, command: str = "replicas-mcp") -> int:
    """Run the demo; `command` is the absolute command that starts this server (`cli.launch_command`),
    for the closing "Next" line."""
    from replicas_mcp.cli_args import UsageError, usage_line

    words = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        print(f"replicas-mcp demo: {usage_line(str(exc), words, parser, exc.prog)}", file=sys.stderr)
        return 2
    if args.time_scale <= 0 or args.step < 1:
        print("replicas-mcp demo: --time-scale must be > 0 and --step ≥ 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        done = anyio.run(_run, args.time_scale, args.step)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a demo that fails says why in one line, not a traceback
        cause = _root_cause(exc)
        print(f"replicas-mcp demo failed: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 1
    if done == 0:  # for someone with a key, and for someone without one (the sandbox)
        print(
            f'Next: connect a client (README "Use it with your client"): {command} with REPLICAS_API_KEY in '
            f"its env, or {command} --sandbox to keep trying offline."
        )
    return int(done)


if __name__ == "__main__":
    raise SystemExit(main())
