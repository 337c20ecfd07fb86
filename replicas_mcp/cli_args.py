"""The command line's parser, built from the settings model (`config.Settings`): one flag per field.

A field's type gives the flag's kind (a switch for `bool`, choices for a `Literal`, a comma list for
`CommaList`), its `description` the help, its default and `REPLICAS_MCP_*` variable the help's tail. Flags
that are not given stay out of the namespace (`argparse.SUPPRESS`), so the environment fills them in.
"""

from __future__ import annotations

import argparse
import difflib
import re
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal, NoReturn

from replicas_mcp.config import ENV_PREFIX, KEY_PAGES, Settings, cli_fields, split_commas

SANDBOX_DEFAULTS = {"host": "127.0.0.1", "port": 8765, "seed": 0, "time_scale": 1.0}
SUBCOMMANDS = "{sandbox,check,demo}"


KEY_IN_ARGUMENTS = (
    "the API key goes in the REPLICAS_API_KEY environment variable (`env` in a client config), not in the "
    "arguments"
)


class UsageError(Exception):
    """A command line the parser refused, with argparse's message and the refusing (sub)command's name:
    the caller says it in one line (`usage_line`), never with the 16 lines of usage, nor a secret that was
    among the arguments."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.prog = prog


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


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
    parser = OneLineParser(
        prog="replicas-mcp",
        description="MCP server for the Replicas API (cloud coding-agent workspaces). The API key comes from "
        f"REPLICAS_API_KEY ({KEY_PAGES} in the Replicas dashboard).",
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


def _all_flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option string of the parser and of its subcommands, with its action."""
    flags: dict[str, argparse.Action] = {}
    for action in parser._actions:
        flags.update(dict.fromkeys(action.option_strings, action))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags = {**_all_flags(sub), **flags}
    return flags


def _secret_arguments(argv: Sequence[str], flags: dict[str, argparse.Action]) -> list[str]:
    """The arguments that are, or hold, a secret: the shapes `server.masking` hides (`sk_replicas_…`, the
    value after an unknown `--api-key`, `--token=…`, a URL's password), and the value of a secret setting's
    flag, even abbreviated as argparse allows (`--http-tok x`, `--webhook-sec=x`). The values of this
    parser's other flags are not secrets (`--auth byo-key`)."""
    from pydantic import SecretStr

    from replicas_mcp.server.masking import mask_args

    secret_flags = [
        flag_of(name)
        for name, field in cli_fields().items()
        if field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)
    ]

    def secret_flag(word: str) -> bool:
        name = word.partition("=")[0]
        return (
            name.startswith("--")
            and name not in set(flags) - set(secret_flags)
            and any(flag.startswith(name) for flag in secret_flags)
        )

    def public_flag(word: str) -> bool:
        name = word.partition("=")[0]
        return name in flags and not secret_flag(name)

    secrets: list[str] = []
    for index, (arg, masked) in enumerate(zip(argv, mask_args(argv), strict=True)):
        before = argv[index - 1] if index else ""
        if secret_flag(before) and "=" not in before:
            secrets.append(arg)
        elif secret_flag(arg) and "=" in arg:
            secrets.append(arg.partition("=")[2])
        elif arg != masked and not public_flag(arg) and not (public_flag(before) and "=" not in before):
            secrets.append(arg)
    return [secret for secret in secrets if secret]


def _key_given(argv: Sequence[str], flags: dict[str, argparse.Action]) -> bool:
    """Whether the arguments carry a Replicas API key, or a flag meant for one (`--api-key`, `--key`)."""
    for arg in argv:
        name = arg.partition("=")[0].lower()
        if re.search(r"sk[_-]?replicas", arg, re.IGNORECASE):
            return True
        if name.startswith("-") and name not in flags and re.search(r"(^-+|[-_])(api[-_]?)?key$", name):
            return True
    return False


def _after_switch(word: str, argv: Sequence[str], flags: dict[str, argparse.Action]) -> str:
    """` (--read-only is a switch: it takes no value)` when `word` follows a switch (`--read-only yes`)."""
    index = list(argv).index(word) if word in argv else 0
    switch = flags.get(argv[index - 1]) if index else None
    return f" ({argv[index - 1]} is a switch: it takes no value)" if switch and switch.nargs == 0 else ""


def _did_you_mean(message: str, argv: Sequence[str], flags: dict[str, argparse.Action]) -> str:
    """A hint for a near miss: a mistyped flag or command, a value given to a switch, a server flag after
    the command."""
    unknown = re.match(r"unrecognized arguments: (\S+)", message)
    if unknown and unknown.group(1).startswith("-"):
        word = unknown.group(1).partition("=")[0]
        if word in flags:
            return f" ({word} goes before the command)"
        close = difflib.get_close_matches(word, [f for f in flags if f.startswith("--")], n=1, cutoff=0.75)
        return f"; did you mean {close[0]}?" if close else ""
    if unknown:
        return _after_switch(unknown.group(1), argv, flags)
    choice = re.search(r"invalid choice:? '([^']*)' \(choose from (.*)\)", message)
    if choice:
        switch = _after_switch(choice.group(1), argv, flags)
        options = [option.strip("'") for option in choice.group(2).split(", ")]
        close = difflib.get_close_matches(choice.group(1), options, n=1)
        return switch or (f"; did you mean {close[0]}?" if close else "")
    return ""


def usage_line(message: str, argv: Sequence[str], parser: argparse.ArgumentParser, prog: str = "") -> str:
    """One line for a refused command line: argparse's reason with any secret argument masked, a "did you
    mean" for a near miss, and where the flags are listed. A key among the arguments gets only where the
    key belongs (a desktop client keeps stderr in its log)."""
    flags = _all_flags(parser)
    pointer = f"{prog or parser.prog} --help lists every flag"
    if _key_given(argv, flags):
        return f"{KEY_IN_ARGUMENTS}. {pointer}."
    for secret in sorted(_secret_arguments(argv, flags), key=len, reverse=True):
        message = message.replace(secret, "***")
    hint = _did_you_mean(message, argv, flags)
    return f"{message}{hint}{'' if hint.endswith('?') else '.'} {pointer}."
