"""A fresh machine's mistakes, each answered in one line that says what to do (review newcomer-s4).

A key pasted with a curly quote, a key given as an argument (never echoed: clients keep stderr in their
logs), a mistyped flag, `demo` after other flags, and the "what next" lines that must name a command that
exists. Through the real entry point run as a subprocess, as in `test_cli_first_hour.py`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from replicas_mcp import cli
from replicas_mcp.config import Settings
from replicas_mcp.server.errors import BYO_KEY_REJECTED, describe
from replicas_mcp.server.startup import KEY_REJECTED, explain_check_failure

from ..helpers import INITIALIZE
from .test_cli_first_hour import SCRIPT, _env, _one_line, run

SECRET = "sk_replicas_SECRETabc123"


@pytest.mark.parametrize(
    ("key", "kind", "position"),
    [
        (f"\u201c{SECRET}\u201d", "left double quotation mark, U+201C", 1),
        (f"{SECRET}\u200b", "zero width space, U+200B", len(SECRET) + 1),
        ("Bearer " + SECRET, "space, U+0020", 7),
    ],
)
def test_a_key_with_a_character_no_key_has_names_it_and_its_position_never_the_key(
    key: str, kind: str, position: int
) -> None:
    expected = f"({'an' if kind[0] in 'aeiou' else 'a'} {kind}, at position {position})"
    assert Settings(api_key=key).key_problem() == (
        f"REPLICAS_API_KEY has a character a key can't contain {expected}: paste the key again as plain text"
    )
    for args in (["check"], []):  # `check`, and the server as a client starts it
        result = run(*args, REPLICAS_API_KEY=key)
        assert result.returncode == 2
        line = _one_line(result)
        assert expected in line
        assert "SECRET" not in line


def test_keys_that_only_carry_outer_whitespace_are_accepted() -> None:
    for key in (f" {SECRET}\n", f"{SECRET}\u00a0", SECRET):
        assert Settings(api_key=key).key_problem() is None


def test_an_http_token_with_a_character_no_header_can_carry_is_one_line() -> None:
    token = "t\u2019" + "x" * 40
    result = run("--sandbox", "--transport", "http", "--port", "0", REPLICAS_MCP_HTTP_TOKEN=token)
    assert result.returncode == 2
    line = _one_line(result)
    assert "REPLICAS_MCP_HTTP_TOKEN has a character" in line
    assert "x" * 40 not in line


@pytest.mark.parametrize(
    "args",
    [
        ["--api-key", SECRET],
        [f"--api-key={SECRET}"],
        [SECRET],
        ["check", SECRET],
        ["--sandbox", "check", "--key", SECRET],
        ["demo", SECRET],
    ],
)
def test_a_key_given_as_an_argument_is_never_echoed_and_said_where_it_goes(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2
    line = _one_line(result)
    assert "SECRET" not in line
    assert "the API key goes in the REPLICAS_API_KEY environment variable (`env` in a client config)" in line


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--http-token", "tok-SECRET-0123456789abcdef"],
        ["check", "--http-tok=tok-SECRET-0123456789abcdef"],
        ["check", "--webhook-secret", "whsec_SECRET0123456789"],
        ["--webhook-sec", "whsec_SECRET0123456789", "--bogus"],
        ["check", "ghp_SECRET0123456789abcdefghij"],
    ],
)
def test_a_secret_among_wrong_arguments_is_masked(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "SECRET" not in _one_line(result)


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--sandbx"], "did you mean --sandbox?"),
        (["chek"], "did you mean check?"),
        (["--read-only", "yes"], "--read-only is a switch: it takes no value"),
        (["check", "--read-only"], "--read-only goes before the command"),
        (["--transport", "htp"], "(choose from stdio, http); did you mean http?"),
        (["--port", "abc"], "--port"),
    ],
)
def test_a_mistyped_flag_is_one_line_with_a_hint_and_where_flags_are_listed(
    args: list[str], hint: str
) -> None:
    result = run(*args)
    assert result.returncode == 2
    line = _one_line(result)
    assert "usage:" not in line
    assert hint in line
    assert line.rstrip().endswith("replicas-mcp --help lists every flag.")


def test_the_auth_mode_is_not_taken_for_a_secret() -> None:
    line = _one_line(run("--auth", "byo"))
    assert "invalid choice 'byo' (choose from server-key, byo-key); did you mean byo-key?" in line


def test_a_subcommands_mistake_points_to_its_own_help() -> None:
    line = _one_line(run("sandbox", "--port", "abc"))
    assert line.rstrip().endswith(
        "argument --port: invalid int value: 'abc'. replicas-mcp sandbox --help lists every flag."
    )


@pytest.mark.parametrize(
    "args",
    [["--sandbox", "demo"], ["--read-only", "demo"], ["demo", "--sandbox"], ["--toolsets", "all", "demo"]],
)
def test_demo_runs_wherever_it_is_the_command(args: list[str]) -> None:
    # A bad --time-scale is the demo's own one-line refusal: it shows the demo (not the server) ran.
    result = run(*args, "--time-scale", "0")
    assert result.returncode == 2
    assert _one_line(result) == "replicas-mcp demo: --time-scale must be > 0 and --step ≥ 1\n"


def test_check_against_the_sandbox_claims_no_key_and_gives_the_absolute_command() -> None:
    for args in (["--sandbox", "check"], ["check", "--sandbox"]):
        checked = run(*args)
        assert checked.returncode == 0, checked.stderr
        assert "accepts this key" not in checked.stdout
        assert "127.0.0.1:" not in checked.stdout  # the embedded sandbox's port is gone once check exits
        assert checked.stdout.startswith("OK: the embedded sandbox answers (4 environment(s), 0 replica(s)).")
        assert checked.stdout.rstrip().endswith(f"A client can run: {SCRIPT} --sandbox")


def test_the_demo_ends_on_absolute_commands_with_and_without_a_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from replicas_mcp import demo

    assert demo.main(["--time-scale", "0.05"], command="/abs/bin/replicas-mcp") == 0
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith("Next: connect a client")
    assert "/abs/bin/replicas-mcp with REPLICAS_API_KEY in its env" in last
    assert "/abs/bin/replicas-mcp --sandbox to keep trying offline" in last


def test_every_key_message_names_both_places_keys_are_made() -> None:
    from replicas_mcp.client import errors as e

    missing = _one_line(run())
    assert "`export REPLICAS_API_KEY=sk_replicas_…`" in missing
    placeholder = _one_line(run(REPLICAS_API_KEY="sk_replicas_..."))
    rejected = describe(e.AuthenticationError("unauthorized", status=401), {})
    check = explain_check_failure(e.AuthenticationError("unauthorized", status=401))
    for message in (missing, placeholder, rejected, check, KEY_REJECTED, BYO_KEY_REJECTED):
        assert "Settings > API Keys" in message
        assert "Account > API Keys" in message
        assert "admin" in message


def test_the_banner_adds_the_server_for_the_user_not_only_this_directory() -> None:
    text = cli.banner("0.1.0", "/abs/bin/replicas-mcp --sandbox", sandbox=True)
    assert "claude mcp add --scope user replicas -- /abs/bin/replicas-mcp --sandbox" in text


def test_http_on_loopback_says_how_to_connect_without_the_token() -> None:
    token = "t" * 40
    plain = cli.http_connect_line(Settings(transport="http"), 8123)
    assert plain == (
        "replicas-mcp: connect with: claude mcp add --scope user --transport http replicas "
        "http://127.0.0.1:8123/mcp"
    )
    with_token = cli.http_connect_line(Settings(transport="http", host="::1", http_token=token), 8123)
    assert with_token is not None
    assert 'http://[::1]:8123/mcp --header "Authorization: Bearer $REPLICAS_MCP_HTTP_TOKEN"' in with_token
    assert token not in with_token
    assert cli.http_connect_line(Settings(transport="http", host="0.0.0.0"), 8123) is None


def test_serving_the_sandbox_logs_no_warning_on_the_happy_path() -> None:
    served = subprocess.run(
        [SCRIPT, "--sandbox"],
        env=_env(),
        input=json.dumps(INITIALIZE) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 0, served.stderr
    assert '"protocolVersion"' in served.stdout
    assert "WARNING" not in served.stderr


def test_an_unreachable_default_api_is_named_once() -> None:
    from replicas_mcp.client import errors as e

    failure = e.ConnectError("GET /v1/environments: could not connect (ConnectError)")
    assert explain_check_failure(failure, "it").startswith("could not reach it (GET /v1/environments")
    assert explain_check_failure(failure).startswith("could not reach the API (")


def test_a_ctrl_c_before_the_server_runs_is_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # what Ctrl-C right after the banner raises, before the event loop runs

    monkeypatch.setattr(cli, "_settings_or_problem", interrupted)
    assert cli.main(["--sandbox"]) == 130
    assert capsys.readouterr().err == ""


def test_the_readme_says_the_python_it_needs_before_its_first_commands() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    before, _, rest = readme.partition("```bash\n")
    block = rest.partition("```")[0]
    assert before.rstrip().endswith("Needs Python 3.11+ (`python3 --version`).")
    assert block.splitlines() == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/replicas-mcp demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest -q",
    ]
    assert "`realpath .venv/bin/replicas-mcp`" in readme  # `.venv/bin/…` alone is not an absolute path
    assert "about 10–13 minutes on 2 cores" in readme
    assert "`pip install build && python -m build`" not in readme  # PEP 668 refuses it on a system Python
