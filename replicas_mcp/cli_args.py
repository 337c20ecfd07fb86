"""The command line's parser, built from the settings model (`config.Settings`): one flag per field.

A field's type gives the flag's kind (a switch for `bool`, choices for a `Literal`, a comma list for
`CommaList`), its `description` the help, its default and `REPLICAS_MCP_*` variable the help's tail. Flags
that are not given stay out of the namespace (`argparse.SUPPRESS`), so the environment fills them in.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal

from replicas_mcp.config import ENV_PREFIX, Settings, cli_fields, split_commas

SANDBOX_DEFAULTS = {"host": "127.0.0.1", "port": 8765, "seed": 0, "time_scale": 1.0}
SUBCOMMANDS = "{sandbox,check,demo}"


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choices_type(choices: tuple[str, ...]) -> Any:
    """Accept any case: `--log-level debug` is `DEBUG`, `--transport HTTP` is `http`."""

    def parse(value: str) -> str:
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
        raise argparse.ArgumentTypeError(f"invalid choice {value!r} (choose from {', '.join(choices)})")

    return parse


def _nonempty_list(name: str) -> Any:
    """A comma list that names something: `--toolsets=` is a mistake, not "the default"."""

    def parse(value: str) -> str:
        if not split_commas(value):
            raise argparse.ArgumentTypeError(
                f"empty value; name at least one, or leave out {flag_of(name)} for the default"
            )
        return value

    return parse


def _literal_choices(annotation: Any) -> tuple[str, ...] | None:
    if typing.get_origin(annotation) is Literal:
        return tuple(str(arg) for arg in typing.get_args(annotation))
    return None


def _scalar(annotation: Any) -> Any:
    """`int | None` → `int`: the type a flag's value converts to (secrets and URLs stay `str`)."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation if annotation in (int, float) else str


def _help(name: str, description: str | None, default: Any) -> str:
    env = ENV_PREFIX + name.upper()
    shown = "" if default in (None, ()) or isinstance(default, bool) else f"default {default}; "
    return f"{description or ''} ({shown}env {env})".replace("%", "%%")


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per settings field (except the environment-only ones), from the field's declaration."""
    for name, field in cli_fields().items():
        flag = flag_of(name)
        help_text = _help(name, field.description, field.default)
        annotation = field.annotation
        choices = _literal_choices(annotation)
        if annotation is bool:
            parser.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=help_text)
        elif choices is not None:
            parser.add_argument(
                flag,
                type=_choices_type(choices),
                metavar="{" + ",".join(choices) + "}",
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif annotation == tuple[str, ...]:
            parser.add_argument(
                flag, type=_nonempty_list(name), metavar="A,B", default=argparse.SUPPRESS, help=help_text
            )
        else:
            parser.add_argument(flag, type=_scalar(annotation), default=argparse.SUPPRESS, help=help_text)


def _sandbox_flag(parser: argparse.ArgumentParser, doing: str) -> None:
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"{doing} against an embedded offline sandbox of the API (no account or key needed)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replicas-mcp",
        description="MCP server for the Replicas API (cloud coding-agent workspaces). The API key comes from "
        "REPLICAS_API_KEY (an org or personal key from the Replicas dashboard: Settings > API Keys).",
        epilog="Every flag can also be set by its environment variable; a flag wins over the variable.",
    )
    add_settings_flags(parser)
    _sandbox_flag(parser, "Serve")
    parser.add_argument("--version", action="store_true", help="Print the version and exit")

    commands = parser.add_subparsers(dest="command", metavar=SUBCOMMANDS)
    defaults = SANDBOX_DEFAULTS
    sandbox = commands.add_parser(
        "sandbox",
        help="Run the offline sandbox of the Replicas API alone",
        description="Serve the offline sandbox of the Replicas API until Ctrl-C, and print its keys.",
    )
    sandbox.add_argument(
        "--host",
        dest="sandbox_host",
        metavar="HOST",
        default=defaults["host"],
        help="bind address (default %(default)s)",
    )
    sandbox.add_argument(
        "--port",
        dest="sandbox_port",
        metavar="PORT",
        type=int,
        default=defaults["port"],
        help="port (default %(default)s)",
    )
    sandbox.add_argument(
        "--seed", type=int, default=defaults["seed"], help="seed of the generated data (default %(default)s)"
    )
    sandbox.add_argument(
        "--time-scale",
        type=float,
        default=defaults["time_scale"],
        help="multiply simulated durations, e.g. 0.1 for ten times faster (default %(default)s)",
    )
    sandbox.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Serve exactly the vendor contract's fields and rules, never kinder than the real API "
        "(default); --no-strict adds the sandbox's own extensions (fields and routes the API lacks)",
    )
    sandbox.add_argument(
        "--wake-reads",
        choices=("guide", "contract"),
        default="guide",
        help="Reads of a sleeping workspace: 409 (guide, default) or 200 with waking: true (contract)",
    )
    sandbox.add_argument(
        "--replay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Resume event streams after Last-Event-ID (an extension neither API document promises; "
        "default: only with --no-strict)",
    )
    check = commands.add_parser(
        "check",
        help="Check that the API key and URL work (what a desktop client would hide), then exit",
        description="Call the API once the way the server will, and say in one line whether it works.",
    )
    _sandbox_flag(check, "Check")
    commands.add_parser("demo", help="Run a whole delegation against the embedded sandbox", add_help=False)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, then the flags that were given."""
    given = {name: getattr(args, name) for name in cli_fields() if hasattr(args, name)}
    return Settings(**given)
