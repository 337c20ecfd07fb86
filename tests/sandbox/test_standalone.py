"""`run_standalone`: the process behind `replicas-mcp sandbox` prints where it listens and stops on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx2

PROGRAM = (
    "from replicas_mcp.sandbox.serve import run_standalone; import sys; sys.exit(run_standalone(port={port}))"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_standalone_prints_url_and_keys_serves_and_stops_cleanly_on_ctrl_c() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", PROGRAM.format(port=port)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert time.monotonic() < deadline, "the sandbox did not start"
            try:
                response = httpx2.get(
                    f"http://127.0.0.1:{port}/v1/replica",
                    headers={"Authorization": "Bearer sk_replicas_sandbox_org"},
                )
                break
            except httpx2.ConnectError:
                time.sleep(0.1)
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"export REPLICAS_BASE_URL=http://127.0.0.1:{port}" in stderr
    assert "export REPLICAS_API_KEY=sk_replicas_sandbox_org" in stderr
    assert "sk_replicas_sandbox_personal" in stderr
    assert "sk_replicas_sandbox_other_org" in stderr
    assert "Traceback" not in stderr


def test_standalone_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c", PROGRAM.format(port=port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert "already in use" in result.stderr
    assert "--port" in result.stderr
