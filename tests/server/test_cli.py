"""The command line: argument handling and refusals (serving is covered by tests/test_e2e_transports.py)."""

from __future__ import annotations

import pytest

from replicas_mcp import cli
from replicas_mcp.cli_args import build_parser, settings_from
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import nodelay_of_accepted


def test_missing_key_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "REPLICAS_API_KEY" in captured.err


def test_unknown_toolset_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICAS_API_KEY", "sk_test")
    assert cli.main(["--toolsets", "replicas,nope"]) == 2
    assert "unknown toolset" in capsys.readouterr().err


def test_non_loopback_needs_allowlists(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLICAS_API_KEY", "sk_test")
    assert cli.main(["--transport", "http", "--host", "0.0.0.0"]) == 2
    assert "--allowed-hosts" in capsys.readouterr().err


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICAS_MCP_TOOLSETS", "chats")
    monkeypatch.setenv("REPLICAS_API_KEY", "sk_secret_value")
    args = build_parser().parse_args(
        ["--toolsets", "all", "--exclude-tools", "delete_replica", "--read-only"]
    )
    settings = settings_from(args)
    assert settings.toolsets == ("all",)
    assert settings.exclude_tools == ("delete_replica",)
    assert settings.read_only
    assert "sk_secret_value" not in repr(settings)


def test_the_stream_limit_is_a_setting_flag_over_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings_from(build_parser().parse_args([])).max_streams is None  # the client's default, 256
    monkeypatch.setenv("REPLICAS_MCP_MAX_STREAMS", "7")
    assert settings_from(build_parser().parse_args([])).max_streams == 7
    assert settings_from(build_parser().parse_args(["--max-streams", "3"])).max_streams == 3
    monkeypatch.setenv("REPLICAS_API_KEY", "sk_replicas_abcdefgh12")
    monkeypatch.setenv("REPLICAS_MCP_MAX_STREAMS", "0")
    assert cli.main([]) == 2
    assert "REPLICAS_MCP_MAX_STREAMS: " in capsys.readouterr().err  # the variable that was wrong


def test_transport_security_on_loopback_and_explicit_hosts() -> None:
    from replicas_mcp.config import Settings

    local = cli._transport_security(Settings(host="127.0.0.1"))
    assert local.enable_dns_rebinding_protection
    assert "localhost:*" in local.allowed_hosts
    public = cli._transport_security(
        Settings(
            host="0.0.0.0", allowed_hosts=("mcp.example.com",), allowed_origins=("https://app.example.com",)
        )
    )
    assert public.allowed_hosts == ["mcp.example.com"]
    assert public.allowed_origins == ["https://app.example.com"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("replicas-mcp ")


def test_the_example_desktop_config_launches_what_our_parser_accepts() -> None:
    import json
    from pathlib import Path

    config = json.loads((Path(__file__).parents[2] / "claude_config.example.json").read_text())
    entries = config["mcpServers"]
    assert entries
    for entry in entries.values():
        assert entry["command"].endswith("/replicas-mcp")
        build_parser().parse_args(entry.get("args", []))
        assert set(entry.get("env", {})) <= {"REPLICAS_API_KEY", "REPLICAS_BASE_URL"}


async def _check(monkeypatch: pytest.MonkeyPatch, key: str, base_url: str) -> int:
    import anyio

    monkeypatch.setenv("REPLICAS_API_KEY", key)
    monkeypatch.setenv("REPLICAS_BASE_URL", base_url)
    with anyio.fail_after(30):
        # main() runs its own event loop, so it gets a thread of its own.
        return int(await anyio.to_thread.run_sync(cli.main, ["check"]))


async def test_check_says_ok_with_a_working_key(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _check(monkeypatch, sandbox.org_key, sandbox.base_url) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {sandbox.base_url} accepts this key")
    assert "environment(s)" in out


async def test_check_explains_a_rejected_key_without_printing_it(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "sk_replicas_not_a_real_key_0123456789"
    assert await _check(monkeypatch, wrong, sandbox.base_url) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "REPLICAS_API_KEY" in captured.err
    assert wrong not in captured.err


async def test_check_explains_an_unreachable_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _check(monkeypatch, "sk_replicas_anything", "http://127.0.0.1:9") == 1
    assert "REPLICAS_BASE_URL" in capsys.readouterr().err


def test_the_sandbox_subcommand_listens_where_the_docs_say() -> None:
    args = build_parser().parse_args(["sandbox"])
    assert (args.sandbox_host, args.sandbox_port) == ("127.0.0.1", 8765)


async def test_http_connections_are_accepted_with_nagle_off() -> None:
    """asyncio sets TCP_NODELAY only on accepted sockets whose listener says IPPROTO_TCP; without it a
    response written as head then body waits for the client's delayed ACK (tens of ms per call)."""
    settings = settings_from(build_parser().parse_args(["--transport", "http", "--port", "0"]))
    assert await nodelay_of_accepted(cli._bind(settings)) != 0
