"""The Claude Desktop bundle (`manifest.json`, packed by `mcpb pack`): what it asks the user, that `mcpb
validate` accepts it, and that the command it gives the host starts this server, which answers `initialize`.

`mcpb` (npm `@anthropic-ai/mcpb`) and `uv` (the bundle's runtime) are external tools: the tests that need
them are skipped, saying so, where they are not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest

from replicas_mcp.config import ENV_PREFIX, Settings
from replicas_mcp.sandbox.serve import RunningSandbox

from .helpers import INITIALIZE

ROOT = Path(__file__).parents[1]
MANIFEST = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
MCPB = shutil.which("mcpb")
UV = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))


def _variables() -> set[str]:
    names = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return names | {"REPLICAS_API_KEY", "REPLICAS_BASE_URL"}


def test_the_bundle_asks_for_the_key_as_a_secret_and_offers_toolsets_and_read_only() -> None:
    options = MANIFEST["user_config"]
    assert options["api_key"]["sensitive"] is True
    assert options["api_key"]["required"] is True
    assert options["toolsets"]["type"] == "string"
    assert options["read_only"]["type"] == "boolean"
    env = MANIFEST["server"]["mcp_config"]["env"]
    assert env["REPLICAS_API_KEY"] == "${user_config.api_key}"
    assert set(env) <= _variables(), "the bundle sets a variable the server does not read"
    for option in options:
        assert f"${{user_config.{option}}}" in env.values(), f"user_config.{option} reaches nothing"


def test_the_bundle_matches_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert MANIFEST["version"] == project["version"]
    assert MANIFEST["name"] == project["name"]
    assert (ROOT / MANIFEST["server"]["entry_point"]).is_file()
    assert MANIFEST["compatibility"]["runtimes"]["python"] == project["requires-python"]
    script = MANIFEST["server"]["mcp_config"]["args"][-1]
    assert script in project["scripts"]


@pytest.mark.skipif(MCPB is None, reason="mcpb is not installed (npm install -g @anthropic-ai/mcpb)")
def test_mcpb_validates_the_manifest() -> None:
    assert MCPB is not None
    result = subprocess.run(
        [MCPB, "validate", str(ROOT / "manifest.json")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _unpacked_bundle(tmp: Path) -> Path:
    """The bundle as the host installs it: packed by `mcpb pack`, then unpacked."""
    assert MCPB is not None
    bundle = tmp / "replicas.mcpb"
    packed = subprocess.run(
        [MCPB, "pack", str(ROOT), str(bundle)], capture_output=True, text=True, timeout=120
    )
    assert packed.returncode == 0, packed.stdout + packed.stderr
    target = tmp / "installed"
    target.mkdir()
    unpacked = subprocess.run(
        [MCPB, "unpack", str(bundle), str(target)], capture_output=True, text=True, timeout=120
    )
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    return target


def _resolve(value: str, dirname: Path, user_config: dict[str, Any]) -> str:
    value = value.replace("${__dirname}", str(dirname))
    for key, setting in user_config.items():
        value = value.replace(
            f"${{user_config.{key}}}", str(setting).lower() if isinstance(setting, bool) else str(setting)
        )
    return value


@pytest.mark.slow
@pytest.mark.skipif(MCPB is None or UV is None, reason="needs mcpb and uv (pip install uv)")
async def test_the_packed_bundles_command_answers_initialize(sandbox: RunningSandbox, tmp_path: Path) -> None:
    installed = _unpacked_bundle(tmp_path)
    assert not (installed / "tests").exists()
    assert (installed / "pyproject.toml").is_file()
    config = MANIFEST["server"]["mcp_config"]
    user_config = {"api_key": sandbox.org_key, "toolsets": "replicas,chats", "read_only": True}
    command: list[str] = [str(UV) if config["command"] == "uv" else config["command"]]
    command += [_resolve(arg, installed, user_config) for arg in config["args"]]
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPLICAS_")}
    env |= {key: _resolve(value, installed, user_config) for key, value in config["env"].items()}
    env["REPLICAS_BASE_URL"] = sandbox.base_url  # the sandbox stands in for the API
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    stdin = "".join(json.dumps(m) + "\n" for m in (INITIALIZE, initialized, listing)).encode()

    def run() -> tuple[dict[Any, Any], str]:
        """Send the three messages, read answers until tools/list's, then close stdin (the server exits).
        The first run may download packages, hence the long timeout."""
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(stdin)
        process.stdin.flush()
        answers: dict[Any, Any] = {}
        try:
            for line in process.stdout:
                if line.strip():
                    answer = json.loads(line)
                    answers[answer.get("id")] = answer
                if 2 in answers:
                    break
        finally:
            process.stdin.close()
            process.wait(timeout=600)
            assert process.stderr is not None
            stderr = process.stderr.read().decode()
            process.stdout.close()
            process.stderr.close()
        return answers, stderr

    by_id, stderr = await anyio.to_thread.run_sync(run)
    assert 2 in by_id, stderr[-3000:]
    assert by_id[1]["result"]["serverInfo"]["name"] == "replicas"
    tools = {tool["name"] for tool in by_id[2]["result"]["tools"]}
    assert "list_chats" in tools  # the toolsets option reached the server
    assert "delete_replica" not in tools  # and so did read-only
    assert sandbox.org_key not in stderr
