"""`replicas-mcp`: serve the MCP server (stdio by default, or Streamable HTTP), or run the sandbox.

    replicas-mcp                                   stdio (what desktop clients launch)
    replicas-mcp --transport http --port 8000      Streamable HTTP at /mcp, health at /healthz
    replicas-mcp --sandbox                         against an embedded offline sandbox (no account needed)
    replicas-mcp sandbox [--port 8765]             run the sandbox API alone
    replicas-mcp check [--sandbox]                 check the API key and URL, then exit
    replicas-mcp demo                              a whole delegation against the sandbox (when installed)

Every mistake a user can make before the server runs (no key, a blank or placeholder key, a port in use, an
unknown toolset) ends in one line on stderr that says what to do, and exit status 2 (1 when the system
refused: a port in use, a rejected key in `check`). Imports stay inside functions: `--help` and these
checks start fast, and nothing but protocol messages ever reaches stdout in stdio mode (logs go to stderr).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket
    from contextlib import AsyncExitStack

    from replicas_mcp.config import Settings

EXIT_USAGE = 2
EXIT_REFUSED = 1
MIN_PYTHON = (3, 11)

TTY_BANNER = """\
replicas-mcp {version}: an MCP server for the Replicas API, speaking MCP over stdio.
It waits for an MCP client on stdin/stdout; typing here does nothing useful. Connect a client instead:
  Claude Code:   claude mcp add --scope user replicas{key_option} -- {command}
  Inspector:     npx @modelcontextprotocol/inspector {command}
  HTTP instead:  {command} --transport http --port 8000   (then connect to http://127.0.0.1:8000/mcp)
Press Ctrl-C to stop.
"""


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"replicas-mcp: {message}", file=sys.stderr, flush=True)
    return status


def python_too_old(version: tuple[int, int] = sys.version_info[:2]) -> str | None:
    if version >= MIN_PYTHON:
        return None
    return (
        f"needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; this is Python {version[0]}.{version[1]}. "
        "Install it with a newer Python (e.g. `uv tool install --python 3.12 ...`)."
    )


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def launch_command(argv0: str, args: Sequence[str]) -> str:
    """The absolute command that starts this server again with the same (non-secret) arguments, as a desktop
    client must be given it: `/abs/bin/replicas-mcp --sandbox`, or `/abs/python -m replicas_mcp ...`."""
    if os.path.basename(argv0) in ("__main__.py", "-m") or argv0.endswith(os.path.join("replicas_mcp", "")):
        words = [sys.executable, "-m", "replicas_mcp"]
    else:
        import shutil

        found = shutil.which(argv0) if os.sep not in argv0 else argv0
        words = [os.path.abspath(found or argv0)]
    secret, public = _flags_by_secrecy()
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        name, has_value, _ = arg.partition("=")
        # argparse also takes an unambiguous abbreviation (`--http-tok`): any prefix of a secret flag that
        # is not itself another flag is that secret flag.
        if name.startswith("--") and name not in public and any(flag.startswith(name) for flag in secret):
            skip = not has_value
            continue
        kept.append(arg)
    return shlex.join([*words, *kept])


def _flags_by_secrecy() -> tuple[frozenset[str], frozenset[str]]:
    """The settings flags whose value is a secret (a `SecretStr` field, e.g. `--redis-url`), and the others:
    secret values are never echoed into the banner's copyable commands."""
    import typing

    from pydantic import SecretStr

    from replicas_mcp.cli_args import flag_of
    from replicas_mcp.config import cli_fields

    secret: set[str] = set()
    public: set[str] = {"--sandbox", "--version", "--help"}
    for name, field in cli_fields().items():
        is_secret = field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)
        (secret if is_secret else public).add(flag_of(name))
    return frozenset(secret), frozenset(public)


TEMPORARY_NOTE = """\
  (This copy runs from a temporary environment (uvx or pipx run), which the cache may delete: for a
  client's configuration, install it with `uv tool install` or `pipx install` and use that path.)
"""


def temporary_environment(prefix: str = sys.prefix) -> bool:
    """Whether this interpreter is one of uvx's or `pipx run`'s cached environments, whose paths a desktop
    client must not be given: uv keeps them in `…/uv/archive-v0/<hash>` (every platform), pipx in
    `~/.cache/pipx/<hash>` (`~/Library/Caches/pipx`, `…\\pipx\\Cache`; older pipx: `~/.local/pipx/.cache`)."""
    parts = [part.lower() for part in Path(prefix).parts[-3:-1]]
    if len(parts) < 2:
        return False
    grand, parent = parts
    return (
        re.fullmatch(r"archive-v\d+", parent) is not None
        or (parent == "pipx" and grand in (".cache", "caches", "cache"))
        or (parent in (".cache", "cache") and grand == "pipx")
    )


def banner(version: str, command: str, sandbox: bool, temporary: bool = False) -> str:
    text = TTY_BANNER.format(
        version=version, command=command, key_option="" if sandbox else " -e REPLICAS_API_KEY=..."
    )
    if temporary:
        head, tail = text.rsplit("Press Ctrl-C", 1)
        text = f"{head}{TEMPORARY_NOTE}Press Ctrl-C{tail}"
    return text


def http_connect_line(settings: Settings, port: int) -> str | None:
    """How a client on this machine connects to the HTTP server on loopback (the token's variable, never
    the token); None beyond loopback, where the URL is the proxy's."""
    from replicas_mcp.config import is_loopback

    if not is_loopback(settings.host):
        return None
    host = settings.host.strip("[]")
    shown = f"[{host}]" if ":" in host else host
    header = ' --header "Authorization: Bearer $REPLICAS_MCP_HTTP_TOKEN"' if settings.http_token else ""
    return (
        f"replicas-mcp: connect with: claude mcp add --scope user --transport http replicas "
        f"http://{shown}:{port}/mcp{header}"
    )


def _transport_security(settings: Settings) -> Any:
    """Host/Origin validation stays on. On loopback the loopback names are accepted (plus any extra hosts
    given); any other bind address needs the allowlists spelled out. `auth.ExactHostMiddleware` matches
    them exactly before the SDK's own (prefix) check runs."""
    from mcp.server.transport_security import TransportSecuritySettings

    from replicas_mcp.config import is_loopback

    if is_loopback(settings.host):
        bound = settings.host.strip("[]")
        named = [] if bound in ("127.0.0.1", "localhost", "::1") else [f"{bound}:*"]
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *named, *settings.allowed_hosts]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *settings.allowed_origins]
        origins += [f"http://{name}" for name in named]
    else:
        hosts, origins = list(settings.allowed_hosts), list(settings.allowed_origins)
    # `name:*` also admits a Host without a port (behind TLS on 443), as `ExactHostMiddleware` does; the
    # SDK's own check wants the bare name listed, so it is added here and both checks agree.
    hosts += [host[:-2] for host in hosts if host.endswith(":*") and host[:-2] not in hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


async def _serve(settings: Settings, sandbox: bool, listener: socket.socket | None) -> None:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        if sandbox:
            settings = await _embedded_sandbox(stack, settings)
            logging.getLogger("replicas_mcp").info(
                "serving against the embedded sandbox at %s", settings.base_url
            )

        from replicas_mcp.server import build_server

        server = build_server(settings)
        if listener is None and sys.stdin.isatty():
            from replicas_mcp.server.tools.sdk import run_stdio_in_a_terminal

            await run_stdio_in_a_terminal(server)  # Ctrl-C must stop it (the SDK's read waits for Enter)
        elif listener is None:
            await server.run_stdio_async()
        else:
            from replicas_mcp.server.http_app import serve_http

            await serve_http(server, settings, listener, _transport_security(settings))


def _serving_command(argv: Sequence[str], sandbox: bool) -> str:
    """What a client should run after `replicas-mcp [flags] check [--sandbox]` worked: the same flags,
    without `check`, as an absolute command."""
    before = list(argv[: argv.index("check")]) if "check" in argv else list(argv)
    served = [arg for arg in before if arg != "--sandbox"] + (["--sandbox"] if sandbox else [])
    return launch_command(sys.argv[0], served)


async def _check(settings: Settings, sandbox: bool, command: str = "replicas-mcp") -> int:
    """Call the API the way the server will, and say in one line whether it works and, if not, what to do."""
    from contextlib import AsyncExitStack

    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.errors import ReplicasError
    from replicas_mcp.config import DEFAULT_API_URL
    from replicas_mcp.server.startup import explain_check_failure

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
            where = settings.base_url or DEFAULT_API_URL
            return _fail(f"check failed against {where}: {explain_check_failure(exc, 'it')}", EXIT_REFUSED)
    found = f"{len(environments)} environment(s), {replicas.total} replica(s)"
    if sandbox:  # no key was given, and the sandbox's URL dies with this command: a client starts its own
        print(f"OK: the embedded sandbox answers ({found}). A client can run: {command}")
    else:
        print(
            f"OK: {client.base_url} accepts this key: {found}. A client can run: {command} "
            "(with REPLICAS_API_KEY in its env)"
        )
    return 0


async def _embedded_sandbox(stack: AsyncExitStack, settings: Settings) -> Settings:
    """Start a sandbox on loopback for the life of `stack`; the settings pointed at it with its org key.

    Strict (the vendor contract's fields and rules only): what a user tries offline must behave as it will
    against the real API, never kinder (docs/sandbox.md, "Strict mode")."""
    from pydantic import SecretStr

    from replicas_mcp.sandbox.serve import running_sandbox

    running = await stack.enter_async_context(running_sandbox(strict=True))
    return settings.model_copy(update={"api_key": SecretStr(running.org_key), "base_url": running.base_url})


def _bind(settings: Settings) -> socket.socket:
    """The HTTP listening socket, bound before anything starts, so a port in use is one line, not a
    traceback from inside the server's task group."""
    import socket

    family = socket.AF_INET6 if ":" in settings.host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets whose protocol says
    # TCP. With Nagle on, a response written in two parts (uvicorn writes the head, then the body) waits for
    # the client's delayed ACK: ~40 ms on every tool call (measured 56 → 14 ms p50 per call on loopback).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host.strip("[]"), settings.port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _bind_failure(settings: Settings, exc: OSError) -> str:
    import errno

    reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
    return f"{settings.host}:{settings.port} {reason}; choose another with --port."


def _configuration_error(exc: BaseException) -> str | None:
    """The message of a `ConfigurationError` raised at start, even from inside task groups."""
    from replicas_mcp.client.errors import ConfigurationError

    if isinstance(exc, ConfigurationError):
        return exc.message
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _configuration_error(inner)
            if found:
                return found
    return None


def _run_demo(argv: Sequence[str]) -> int:
    if importlib.util.find_spec("replicas_mcp.demo") is None:
        return _fail("the demo is not available in this installation.")
    demo = importlib.import_module("replicas_mcp.demo")
    return int(demo.main(list(argv), command=launch_command(sys.argv[0], [])))


def _settings_or_problem(args: Any) -> tuple[Settings | None, str | None]:
    from pydantic import ValidationError

    from replicas_mcp.cli_args import settings_from
    from replicas_mcp.config import cli_fields, settings_problem

    try:
        return settings_from(args), None
    except ValidationError as exc:
        flags = [name for name in cli_fields() if hasattr(args, name)]  # given on the command line
        return None, f"invalid settings: {settings_problem(exc, flags)}"


def _key_problem(settings: Settings, sandbox: bool) -> str | None:
    """Why the server cannot act with its key (None in byo-key mode and against the sandbox)."""
    from replicas_mcp.config import KEY_PAGES

    if sandbox or settings.auth == "byo-key":
        return None
    if settings.api_key is None:
        return (
            "REPLICAS_API_KEY is not set: `export REPLICAS_API_KEY=sk_replicas_…` with your Replicas API key "
            f"({KEY_PAGES}), or run with --sandbox to try it offline."
        )
    problem = settings.key_problem()
    if problem:
        return f"{problem} ({KEY_PAGES}), or run with --sandbox to try it offline."
    return None


def _http_problem(settings: Settings) -> str | None:
    from replicas_mcp.config import foreign_character, is_loopback

    if not is_loopback(settings.host) and not (settings.allowed_hosts and settings.allowed_origins):
        return (
            f"binding {settings.host} (not loopback) needs explicit --allowed-hosts and --allowed-origins, "
            "so Host/Origin validation protects the server."
        )
    from replicas_mcp.server.auth import HttpExposureError, check_http_exposure

    token = settings.http_token.get_secret_value() if settings.http_token else None
    problem = foreign_character(token, "REPLICAS_MCP_HTTP_TOKEN") if token else None
    if problem:
        return problem
    try:
        check_http_exposure(settings.host, settings.auth, token)
    except HttpExposureError as exc:
        return str(exc)
    return None


def _redis_problem(settings: Settings) -> str | None:
    """Warn (one line) when Redis is open over TCP (the URL gives no credentials, or Redis does not need
    them); stop when Redis refuses them. Lines name the variable, never the URL (it holds the password)."""
    if settings.redis_url is None:
        return None
    from replicas_mcp.server.state.backends import redis_startup

    warnings, problem = redis_startup(settings.redis_url.get_secret_value())
    for warning in warnings:
        print(f"replicas-mcp: warning: {warning}", file=sys.stderr, flush=True)
    return problem


def _selection_problem(settings: Settings) -> str | None:
    from replicas_mcp.server.app import selection_of
    from replicas_mcp.server.tools import SelectionError, select_tools

    try:
        select_tools(selection_of(settings))
    except SelectionError as exc:
        return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    too_old = python_too_old()
    if too_old:
        return _fail(too_old)
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # Ctrl-C before the server runs (right after the banner, in an import): quiet
        return 130


def _main(argv: list[str]) -> int:
    if argv[:1] == ["demo"]:  # the demo parses its own arguments
        return _run_demo(argv[1:])
    from replicas_mcp.cli_args import UsageError, build_parser, usage_line

    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command == "demo":  # `--sandbox demo`: the demo always runs on its own sandbox
            return _run_demo(extra)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        return _fail(usage_line(str(exc), argv, parser, exc.prog))
    sandbox = bool(getattr(args, "sandbox", False))
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
                replay=args.replay,
            )
        )

    settings, problem = _settings_or_problem(args)
    if settings is None:
        return _fail(problem or "invalid settings")
    _configure_logging(settings.log_level)
    problem = _key_problem(settings, sandbox)
    if problem:
        return _fail(problem)
    if args.command == "check":
        import anyio

        return int(anyio.run(_check, settings, sandbox, _serving_command(argv, sandbox)))
    problem = (_http_problem(settings) if settings.transport == "http" else None) or _selection_problem(
        settings
    )
    if problem:
        return _fail(problem)
    problem = _redis_problem(settings)
    if problem:
        return _fail(problem, EXIT_REFUSED)
    listener = None
    if settings.transport == "http":
        from replicas_mcp.server.http_app import warn_without_token

        warn_without_token(settings, sandbox)
        try:
            listener = _bind(settings)
        except OSError as exc:
            return _fail(_bind_failure(settings, exc), EXIT_REFUSED)
        connect = http_connect_line(settings, listener.getsockname()[1])
        if connect:
            print(connect, file=sys.stderr, flush=True)
    elif sys.stdin.isatty():
        from replicas_mcp import __version__

        command = launch_command(sys.argv[0], argv)
        print(banner(__version__, command, sandbox, temporary_environment()), file=sys.stderr, flush=True)

    import anyio

    try:
        anyio.run(_serve, settings, sandbox, listener)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # a configuration the client refused at start: one line, not a traceback
        configuration = _configuration_error(exc)
        if configuration is None:
            raise
        return _fail(f"{configuration}. Check REPLICAS_API_KEY and REPLICAS_BASE_URL.")
    finally:
        if listener is not None:
            listener.close()
    return 0
