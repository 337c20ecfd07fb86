"""The deployment files agree with each other (the fleet suite runs nginx with the same config file)."""

from __future__ import annotations

import re

from bench.fleet_procs import NGINX_TEMPLATE, REPO

DEPLOY = REPO / "deploy"


def test_every_compose_instance_has_a_session_route_in_nginx() -> None:
    compose = (DEPLOY / "compose.yaml").read_text()
    nginx = NGINX_TEMPLATE.read_text()
    names = re.findall(r"REPLICAS_MCP_INSTANCE_NAME: (\w+)", compose)
    assert names == ["mcp1", "mcp2"]
    for name in names:
        assert f"server {name}:8000" in nginx
        assert f"upstream mcp_{name} {{ server {name}:8000;" in nginx
        assert f'"~^{name}\\."  mcp_{name};' in nginx
    assert "REPLICAS_MCP_REDIS_URL: redis://redis:6379/0" in compose


def test_the_image_runs_as_an_unprivileged_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def test_nginx_streams_without_buffering_and_with_long_timeouts() -> None:
    nginx = NGINX_TEMPLATE.read_text()
    mcp = nginx[nginx.index("location = /mcp") :].split("}", 1)[0]
    for directive in ("proxy_buffering off;", "proxy_read_timeout 1h;", "proxy_pass http://$mcp_upstream;"):
        assert directive in mcp
    assert "location = /readyz" in nginx
    assert "location = /healthz" in nginx
