"""What a newcomer can be handed while there is no index release (issue 14): the wheel and the source
archive that `uv build` makes, and the Claude Desktop bundle packed from that archive. Each must work with
no checkout of this repository anywhere in sight: the wheel installs as a tool (`uv tool install ./….whl`,
what the README shows next to pipx) and runs the README's first commands from an unrelated directory, and
the archive, unpacked, packs the same bundle as a checkout.

`uv` builds and installs (and `mcpb` packs); the tests that need them are skipped, saying so, where they are
not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
UV = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
MCPB = shutil.which("mcpb")
TEMPORARY = "from replicas_mcp.cli import temporary_environment; print(temporary_environment())"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(UV is None, reason="needs uv (pip install uv)")]


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment without `REPLICAS_*` settings or anything that would point Python at this
    checkout."""
    drop = ("REPLICAS_", "PYTHONPATH", "VIRTUAL_ENV", "UV_TOOL_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    return {**env, **extra}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`uv build` of this checkout: a source archive, and a wheel built from that archive."""
    assert UV is not None
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [UV, "build", "--quiet", "--out-dir", str(out), str(ROOT)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def _only(folder: Path, pattern: str) -> Path:
    [found] = folder.glob(pattern)
    return found


def test_the_wheel_installs_as_a_tool_and_runs_with_no_checkout(dist: Path, tmp_path: Path) -> None:
    assert UV is not None
    wheel = shutil.copy(_only(dist, "replicas_mcp-*-py3-none-any.whl"), tmp_path)
    env = _env(UV_TOOL_DIR=str(tmp_path / "tools"), UV_TOOL_BIN_DIR=str(tmp_path / "bin"))
    installed = subprocess.run(
        [UV, "tool", "install", "--quiet", f"./{Path(wheel).name}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    script = tmp_path / "bin" / "replicas-mcp"
    python = next((tmp_path / "tools" / "replicas-mcp").glob("bin/python"))
    where = subprocess.run(
        [python, "-c", "import replicas_mcp; print(replicas_mcp.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "tools"), where.stdout + where.stderr
    lasting = subprocess.run(
        [python, "-c", TEMPORARY], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert lasting.stdout.strip() == "False", lasting.stderr  # the banner gives its path as it is
    ephemeral = subprocess.run(
        [UV, "tool", "run", "--isolated", "--from", f"./{Path(wheel).name}", "python", "-c", TEMPORARY],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ephemeral.stdout.strip() == "True", ephemeral.stderr  # uvx: the banner says to install first

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *args],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )

    checked = run("--sandbox", "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("OK: the embedded sandbox answers")
    demo = run("demo")
    assert demo.returncode == 0, demo.stderr
    assert "outcome: completed" in demo.stdout
    unknown = run("--sandbox", "--tools", "delegate_tsk")
    assert unknown.returncode == 2
    assert "docs/" not in unknown.stderr  # an installed user has no docs folder to look in


@pytest.mark.skipif(MCPB is None, reason="mcpb is not installed (npm install -g @anthropic-ai/mcpb)")
def test_the_source_archive_packs_a_bundle_of_the_whole_package(dist: Path, tmp_path: Path) -> None:
    assert MCPB is not None
    with tarfile.open(_only(dist, "replicas_mcp-*.tar.gz")) as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = _only(tmp_path, "replicas_mcp-*")
    bundle = tmp_path / "replicas-mcp.mcpb"
    packed = subprocess.run(
        [MCPB, "pack", str(unpacked), str(bundle)], capture_output=True, text=True, timeout=120
    )
    assert packed.returncode == 0, packed.stdout + packed.stderr
    with zipfile.ZipFile(bundle) as mcpb, zipfile.ZipFile(_only(dist, "*.whl")) as wheel:
        in_bundle = set(mcpb.namelist())
        package = {name for name in wheel.namelist() if name.startswith("replicas_mcp/")}
    assert {"manifest.json", "pyproject.toml", "README.md", "LICENSE"} <= in_bundle
    assert package <= in_bundle, sorted(package - in_bundle)[:5]
    extra = {name.split("/", 1)[0] for name in in_bundle - package} - {"replicas_mcp"}
    assert not extra & {"tests", "bench", "docs", "deploy", ".ci", "PKG-INFO"}, sorted(extra)
