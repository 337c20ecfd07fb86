"""The deployment files agree with each other, checked statically (Docker cannot run here; the fleet suite
runs nginx with the same config file): the compose services are the instances nginx routes to, on the port
the image serves; the published port is the one nginx listens on; the image runs as an unprivileged user;
Redis has a password, which the instances' URL carries and nothing prints. Compose's Redis command itself is
run here with the Debian redis-server, as the image's entrypoint would run it."""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest
import redis as redis_py
from redis.exceptions import AuthenticationError

from bench.fleet_procs import NGINX_TEMPLATE, REPO, find_binary, free_port, wait_until

DEPLOY = REPO / "deploy"
COMPOSE = (DEPLOY / "compose.yaml").read_text()
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
NGINX = NGINX_TEMPLATE.read_text()


def _services() -> dict[str, str]:
    """compose's services by name, each with its block's text (two-space indented keys under `services:`)."""
    body = COMPOSE.split("\nservices:\n", 1)[1]
    parts = re.split(r"^  (\w[\w-]*):\n", body, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _image_port() -> str:
    found = re.search(r"REPLICAS_MCP_PORT=(\d+)", DOCKERFILE)
    assert found is not None
    assert re.search(rf"^EXPOSE {found.group(1)}$", DOCKERFILE, re.MULTILINE)
    return found.group(1)


def test_the_compose_services_are_the_instances_nginx_routes_to() -> None:
    services = _services()
    instances = sorted(name for name, block in services.items() if "<<: *instance" in block)
    assert sorted(services) == sorted(["redis", *instances, "nginx"])
    assert instances == ["mcp1", "mcp2"]
    port = _image_port()
    pool = re.search(r"upstream mcp_pool \{(.*?)\}", NGINX, re.DOTALL)
    assert pool is not None
    assert re.findall(r"server (\w+):(\d+)", pool.group(1)) == [(name, port) for name in instances]
    for name in instances:
        assert f"REPLICAS_MCP_INSTANCE_NAME: {name}" in services[name]  # session ids start with it
        assert f"upstream mcp_{name} {{ server {name}:{port};" in NGINX
        assert f'"~^{name}\\."  mcp_{name};' in NGINX
    assert f"REPLICAS_MCP_REDIS_URL: redis://:{PASSWORD}@redis:6379/0" in COMPOSE  # that service, its port
    assert f"http://127.0.0.1:{port}/readyz" in COMPOSE  # the instances' health check


def test_the_published_port_is_the_one_nginx_listens_on_with_this_config() -> None:
    nginx = _services()["nginx"]
    [listen] = re.findall(r"^\s*listen (\d+);", NGINX, re.MULTILINE)
    [(published, inside)] = re.findall(r'- "(\d+):(\d+)"', nginx)
    assert inside == listen
    assert published == listen  # the README and compose's header say :8080
    assert f"localhost:{published}/readyz" in COMPOSE
    [mount] = re.findall(r"- (\S+):/etc/nginx/conf\.d/default\.conf:ro", nginx)
    assert (DEPLOY / mount).resolve() == NGINX_TEMPLATE.resolve()


def test_the_instances_accept_the_public_name_with_and_without_a_port() -> None:
    """Behind TLS on 443 the Host header has no port: `name:*` admits it too (both Host checks agree, see
    tests/hardening/test_http_limits.py), so the public name with `:*` is what the instances need."""
    [hosts] = re.findall(r"REPLICAS_MCP_ALLOWED_HOSTS: (\S+)", COMPOSE)
    assert "${PUBLIC_HOST:-localhost}:*" in hosts.split(",")


def test_the_image_runs_as_an_unprivileged_user() -> None:
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert users
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0")
    assert group not in ("root", "0")
    created = re.search(r"useradd .*--uid (\d+)", DOCKERFILE)
    assert created is not None
    assert created.group(1) == user  # the user exists in the image
    assert DOCKERFILE.index("useradd") < DOCKERFILE.rindex("USER ")


def test_nginx_streams_without_buffering_and_with_long_timeouts() -> None:
    mcp = NGINX[NGINX.index("location = /mcp") :].split("}", 1)[0]
    for directive in ("proxy_buffering off;", "proxy_read_timeout 1h;", "proxy_pass http://$mcp_upstream;"):
        assert directive in mcp
    assert "location = /readyz" in NGINX
    assert "location = /healthz" in NGINX


# The one variable the Redis password comes from, required (compose stops with this message without it).
PASSWORD = "${REPLICAS_MCP_REDIS_PASSWORD:?set REPLICAS_MCP_REDIS_PASSWORD (openssl rand -hex 32)}"


def _redis_script() -> str:
    """The shell script compose's redis service runs (`command: [sh, -c, |block]`), as sh receives it."""
    block = _services()["redis"].split("      - |\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if not line.startswith("        "):
            break
        lines.append(line[8:])
    return "\n".join(lines).replace("$$", "$") + "\n"


def test_redis_requires_the_password_the_instances_url_carries() -> None:
    redis = _services()["redis"]
    assert f"REDISCLI_AUTH: {PASSWORD}" in redis  # the health check's redis-cli and the script read it
    assert "- sh\n      - -c\n      - |\n" in redis
    assert "requirepass $REDISCLI_AUTH\n" in _redis_script()
    [url] = re.findall(r"REPLICAS_MCP_REDIS_URL: (.+)$", COMPOSE, re.MULTILINE)
    assert url == f"redis://:{PASSWORD}@redis:6379/0"
    assert "REPLICAS_MCP_REDIS_PASSWORD=$(openssl rand -hex 32)" in COMPOSE  # the header says how to set it
    assert 'test: ["CMD-SHELL", "redis-cli ping | grep -q PONG"]' in redis  # a NOAUTH answer is unhealthy


def test_nothing_prints_the_redis_password_or_puts_it_on_a_command_line() -> None:
    """`ps` shows every process's arguments to every local user: the password travels in the environment
    and on redis-server's stdin only, and no command echoes it."""
    script = _redis_script()
    command_line = script.split("<<", 1)[0]
    assert "REDISCLI_AUTH" not in command_line
    assert "requirepass" not in command_line
    for line in (*COMPOSE.splitlines(), *DOCKERFILE.splitlines()):
        if "REDIS_PASSWORD" in line or "REDISCLI_AUTH" in line:
            assert not re.search(r"\b(echo|printf|cat|env|set -x)\b", line), line
            assert "--requirepass" not in line, line
            assert "-a " not in line, line
    assert "REDIS" not in DOCKERFILE  # the image holds no Redis setting


def test_compose_redis_command_refuses_anyone_without_the_password(tmp_path: Path) -> None:
    """The script compose runs, run here: Debian's redis-server behind a stand-in for the image's entrypoint
    (which only drops to the redis user), on a free port. The health check passes with the password only."""
    redis_server = find_binary("redis-server")
    if redis_server is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    entrypoint = bin_dir / "docker-entrypoint.sh"
    entrypoint.write_text('#!/bin/sh\nexec "$@"\n')
    entrypoint.chmod(0o755)
    port, password = free_port(), secrets.token_hex(32)
    here = f"redis-server - --port {port} --bind 127.0.0.1 --dir {tmp_path}"
    script = _redis_script().replace("redis-server -", here, 1)
    path = f"{bin_dir}:{Path(redis_server).parent}:/usr/bin:/bin"
    env = {"PATH": path, "REDISCLI_AUTH": password}
    with (tmp_path / "redis.log").open("wb") as log:
        server = subprocess.Popen(["sh", "-c", script], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        authed = redis_py.Redis(port=port, password=password, socket_timeout=2)
        wait_until(lambda: bool(authed.ping()), "compose's redis-server")
        assert authed.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
        with pytest.raises(AuthenticationError):
            redis_py.Redis(port=port, socket_timeout=2).ping()
        assert password not in Path(f"/proc/{server.pid}/cmdline").read_text()  # what `ps` shows
        check = _services()["redis"].split('"CMD-SHELL", "', 1)[1].split('"', 1)[0]
        check = check.replace("redis-cli", f"redis-cli -p {port}")
        assert subprocess.run(["sh", "-c", check], env=env).returncode == 0
        assert subprocess.run(["sh", "-c", check], env={"PATH": path}).returncode != 0
        authed.close()
    finally:
        server.terminate()
        server.wait(5)
