"""`replicas-mcp`: serve the MCP server (stdio by default, or Streamable HTTP), or run the sandbox.

    replicas-mcp                                   stdio (what desktop clients launch)
    replicas-mcp --transport http --port 8000      Streamable HTTP at /mcp, health at /healthz
    replicas-mcp --sandbox                         against an embedded offline sandbox (no account needed)
    replicas-mcp sandbox [--port 8765]             run the sandbox API alone
    replicas-mcp check                             check the API key and URL, then exit
    replicas-mcp demo                              a whole delegation against the sandbox (when installed)

Imports stay inside functions: `--help`, the missing-key check and the sandbox subcommand start fast, and
nothing but protocol messages ever reaches stdout in stdio mode (logs go to stderr).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AsyncExitStack

    from replicas_mcp.config import Settings

EXIT_USAGE = 2
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

TTY_BANNER = """\
replicas-mcp {version}: an MCP server for the Replicas API, speaking MCP over stdio.
It waits for an MCP client on stdin/stdout; typing here does nothing useful. Connect a client instead:
  Claude Code:   claude mcp add replicas -e REPLICAS_API_KEY=... -- {command}
  Inspector:     npx @modelcontextprotocol/inspector {command}
  HTTP instead:  {command} --transport http --port 8000   (then connect to http://127.0.0.1:8000/mcp)
Press Ctrl-C to stop.
"""


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replicas-mcp",
        description="MCP server for the Replicas API (cloud coding-agent workspaces).",
    )
    parser.add_argument("--transport", choices=["stdio", "http"], help="stdio (default) or Streamable HTTP")
    parser.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8000; 0 picks a free one)")
    parser.add_argument("--allowed-hosts", type=_csv, help="Host headers accepted over HTTP (host or host:*)")
    parser.add_argument("--allowed-origins", type=_csv, help="Origins accepted over HTTP")
    parser.add_argument("--toolsets", type=_csv, help="Comma-separated toolsets (default replicas; 'all')")
    parser.add_argument("--tools", type=_csv, help="Allow list: these tools (added to the toolsets)")
    parser.add_argument("--exclude-tools", type=_csv, help="Deny list: never these tools (wins)")
    parser.add_argument(
        "--read-only", action="store_true", default=None, help="Only read-only tools; secrets stay masked"
    )
    parser.add_argument(
        "--confirm-destructive",
        choices=["never", "elicit", "require"],
        help="Ask the user before destructive actions: elicit (default; a client that cannot be asked "
        "proceeds), require (it is refused) or never",
    )
    parser.add_argument(
        "--auth",
        choices=["server-key", "byo-key"],
        help="HTTP: act with this server's key (default), or with each caller's own key (its bearer token)",
    )
    parser.add_argument(
        "--http-token", help="HTTP: bearer token required on /mcp (prefer REPLICAS_MCP_HTTP_TOKEN)"
    )
    parser.add_argument(
        "--stateless", action="store_true", default=None, help="HTTP: no per-process session state"
    )
    parser.add_argument(
        "--webhook-secret", help="HTTP: serve /webhooks/replicas (prefer REPLICAS_MCP_WEBHOOK_SECRET)"
    )
    parser.add_argument("--sandbox", action="store_true", help="Serve against an embedded offline sandbox")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="stderr log level")
    parser.add_argument("--version", action="store_true", help="Print the version and exit")

    commands = parser.add_subparsers(dest="command", metavar="{sandbox,check,demo}")
    sandbox = commands.add_parser("sandbox", help="Run the offline sandbox of the Replicas API")
    sandbox.add_argument("--host", dest="sandbox_host", default="127.0.0.1")
    sandbox.add_argument("--port", dest="sandbox_port", type=int, default=8765)
    sandbox.add_argument("--seed", type=int, default=0)
    sandbox.add_argument("--time-scale", type=float, default=1.0, help="Multiply simulated durations")
    sandbox.add_argument(
        "--strict", action="store_true", help="Serve exactly the vendor contract's fields and rules"
    )
    sandbox.add_argument(
        "--wake-reads",
        choices=("guide", "contract"),
        default="guide",
        help="Reads of a sleeping workspace: 409 (guide, default) or 200 with waking: true (contract)",
    )
    commands.add_parser(
        "check", help="Check that the API key and URL work (what a desktop client would hide), then exit"
    )
    commands.add_parser("demo", help="Run a whole delegation against the embedded sandbox", add_help=False)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """Environment first, then the flags that were given."""
    from replicas_mcp.config import Settings

    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "transport": args.transport,
            "host": args.host,
            "port": args.port,
            "allowed_hosts": args.allowed_hosts,
            "allowed_origins": args.allowed_origins,
            "toolsets": args.toolsets,
            "tools": args.tools,
            "exclude_tools": args.exclude_tools,
            "read_only": args.read_only,
            "log_level": args.log_level,
            "confirm_destructive": args.confirm_destructive,
            "auth": args.auth,
            "http_token": args.http_token,
            "stateless": args.stateless,
            "webhook_secret": args.webhook_secret,
        }.items()
        if value is not None
    }
    return Settings(**overrides)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def _transport_security(settings: Settings) -> Any:
    """Host/Origin validation stays on. On loopback the SDK's localhost allowlist applies (plus any
    extra hosts given); any other bind address needs the allowlists spelled out."""
    from mcp.server.transport_security import TransportSecuritySettings

    if settings.host in LOOPBACK:
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *settings.allowed_hosts]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *settings.allowed_origins]
    else:
        hosts, origins = list(settings.allowed_hosts), list(settings.allowed_origins)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


async def _serve(settings: Settings, sandbox: bool) -> None:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        if sandbox:
            settings = await _embedded_sandbox(stack, settings)
            logging.getLogger("replicas_mcp").warning(
                "serving against the embedded sandbox at %s", settings.base_url
            )

        from replicas_mcp.server import build_server

        server = build_server(settings)
        if settings.transport == "stdio":
            await server.run_stdio_async()
        else:
            await _serve_http(server, settings)


async def _check(settings: Settings, sandbox: bool) -> int:
    """Call the API the way the server will, and say in one line whether it works and, if not, what to do."""
    from contextlib import AsyncExitStack

    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.errors import ReplicasError
    from replicas_mcp.server.errors import describe

    async with AsyncExitStack() as stack:
        if sandbox:
            settings = await _embedded_sandbox(stack, settings)
        key = settings.api_key.get_secret_value() if settings.api_key else None
        try:
            client = await stack.enter_async_context(
                ReplicasClient(api_key=key, base_url=settings.base_url, max_retries=0)
            )
            environments = await client.environments.list()
            replicas = await client.replicas.list(limit=1)
        except ReplicasError as exc:
            where = settings.base_url or "the Replicas API"
            print(f"replicas-mcp check failed against {where}: {describe(exc)}", file=sys.stderr)
            return 1
    print(
        f"OK: {client.base_url} accepts this key: {len(environments)} environment(s), "
        f"{replicas.total} replica(s). Point your MCP client at `replicas-mcp` with the same settings."
    )
    return 0


async def _embedded_sandbox(stack: AsyncExitStack, settings: Settings) -> Settings:
    """Start a sandbox on loopback for the life of `stack`; the settings pointed at it with its org key."""
    from pydantic import SecretStr

    from replicas_mcp.sandbox.serve import running_sandbox

    running = await stack.enter_async_context(running_sandbox())
    return settings.model_copy(update={"api_key": SecretStr(running.org_key), "base_url": running.base_url})


async def _serve_http(server: Any, settings: Settings) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "server": "replicas-mcp"})

    from replicas_mcp.server.auth import protect_http_app

    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=_transport_security(settings),
        host=settings.host,
        stateless_http=settings.stateless,
    )
    app.add_route("/healthz", healthz, methods=["GET"])
    protected = protect_http_app(app, settings)  # --http-token on /mcp, or byo-key session binding
    config = uvicorn.Config(
        protected, host=settings.host, port=settings.port, log_level=settings.log_level.lower()
    )
    http = uvicorn.Server(config)
    import anyio

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(http.serve)
        while not http.started:
            if http.should_exit:
                return
            await anyio.sleep(0.02)
        port = http.servers[0].sockets[0].getsockname()[1]
        print(
            f"replicas-mcp: Streamable HTTP on http://{settings.host}:{port}/mcp", file=sys.stderr, flush=True
        )


def _run_demo(argv: Sequence[str]) -> int:
    if importlib.util.find_spec("replicas_mcp.demo") is None:
        print("replicas-mcp: the demo is not available in this installation.", file=sys.stderr)
        return EXIT_USAGE
    demo = importlib.import_module("replicas_mcp.demo")
    return int(demo.main(list(argv)))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:  # the demo parses its own arguments
        return _run_demo(argv[1:])
    args = build_parser().parse_args(argv)
    if args.version:
        from replicas_mcp import __version__

        print(f"replicas-mcp {__version__}")
        return 0
    if args.command == "sandbox":
        from replicas_mcp.sandbox.serve import run_standalone

        return int(
            run_standalone(
                args.sandbox_host,
                args.sandbox_port,
                args.seed,
                args.time_scale,
                strict=args.strict,
                wake_reads=args.wake_reads,
            )
        )

    from pydantic import ValidationError

    try:
        settings = _settings(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"replicas-mcp: invalid settings: {problems}", file=sys.stderr)
        return EXIT_USAGE
    _configure_logging(settings.log_level)
    if settings.api_key is None and not args.sandbox and settings.auth == "server-key":
        print(
            "replicas-mcp: REPLICAS_API_KEY is not set. Export your Replicas API key, or run with --sandbox "
            "to try it offline.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "check":
        import anyio

        return int(anyio.run(_check, settings, args.sandbox))
    if (
        settings.transport == "http"
        and settings.host not in LOOPBACK
        and not (settings.allowed_hosts and settings.allowed_origins)
    ):
        print(
            f"replicas-mcp: binding {settings.host} (not loopback) needs explicit --allowed-hosts and "
            "--allowed-origins, so Host/Origin validation protects the server.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if settings.transport == "http":
        from replicas_mcp.server.auth import HttpExposureError, check_http_exposure

        token = settings.http_token.get_secret_value() if settings.http_token else None
        try:
            check_http_exposure(settings.host, settings.auth, token)
        except HttpExposureError as exc:
            print(f"replicas-mcp: {exc}", file=sys.stderr)
            return EXIT_USAGE
    from replicas_mcp.server.registry import SelectionError, ToolSelection, select_tools

    try:
        select_tools(
            ToolSelection(settings.toolsets, settings.tools, settings.exclude_tools, settings.read_only)
        )
    except SelectionError as exc:
        print(f"replicas-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if settings.transport == "stdio" and sys.stdin.isatty():
        from replicas_mcp import __version__

        command = os.path.basename(sys.argv[0]) or "replicas-mcp"
        print(TTY_BANNER.format(version=__version__, command=command), file=sys.stderr, flush=True)

    import anyio

    try:
        anyio.run(_serve, settings, args.sandbox)
    except KeyboardInterrupt:
        return 0
    return 0
