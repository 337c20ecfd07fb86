"""The deployment files agree with each other, checked statically (Docker cannot run here; the fleet suite
runs nginx with the same config file): the compose services are the instances nginx routes to, on the port
the image serves; the published port is the one nginx listens on; the image runs as an unprivileged user."""

from __future__ import annotations

import re

from bench.fleet_procs import NGINX_TEMPLATE, REPO

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
    assert "REPLICAS_MCP_REDIS_URL: redis://redis:6379/0" in COMPOSE  # the redis service, its port
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
