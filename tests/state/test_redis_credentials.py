"""The Redis URL is a secret when it carries a password: its shape is checked in words that never quote it,
its password is masked wherever it could be echoed, and a URL with no credentials over TCP is warned about
(anyone who can connect, on loopback every local user, could read and rewrite the fleet's state). What
Redis itself answers (refused, missing or unexpected passwords) is tested against a real redis-server in
tests/fleet/test_redis_auth.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from replicas_mcp.client._redact import redact_text
from replicas_mcp.config import Settings, redis_url_problem, settings_problem
from replicas_mcp.server.state.backends import (
    redis_password,
    register_redis_password,
    unauthenticated_warning,
)

GOOD = [
    "redis://:s3cret-pass@127.0.0.1:6379/0",
    "redis://mcp:s3cret-pass@redis:6379",
    "rediss://:s3cret%2Fpass@redis.internal:6380/2",
    "redis://localhost",
    "unix:///run/redis/redis-server.sock?db=0",
]
BAD = [
    "localhost:6379",  # no scheme
    "http://127.0.0.1:6379/0",
    "redis://:pa/ss-hunter2@127.0.0.1:6379/0",  # a `/` in the password ends the host part
    "redis://:pa#ss-hunter2@127.0.0.1:6379/0",  # a `#` makes the rest a fragment: localhost, wrong password
    "redis://:hunter2@127.0.0.1:63x9/0",
    "redis://:hunter2@127.0.0.1:6379/zero",
    "unix://?db=0",  # no socket path
]


@pytest.mark.parametrize("url", GOOD)
def test_redis_urls_as_documented_are_accepted(url: str) -> None:
    assert redis_url_problem(url) is None
    assert Settings(redis_url=url).redis_url is not None


@pytest.mark.parametrize("url", BAD)
def test_a_malformed_redis_url_is_refused_without_quoting_any_of_it(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(redis_url=url)
    line = settings_problem(caught.value)
    assert line.startswith("REPLICAS_MCP_REDIS_URL: must look like redis://:<password>@host:6379/0")
    assert "hunter2" not in line
    assert url not in line


def test_a_blank_redis_url_means_none() -> None:
    assert Settings(redis_url="  ").redis_url is None


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("redis://127.0.0.1:6379/0", True),
        ("redis://localhost", True),
        ("rediss://redis.internal:6380/0", True),  # TLS hides the traffic, not the door
        ("redis://mcp@127.0.0.1:6379/0", True),  # a user name alone is no credential
        ("redis://:pw-long-enough@127.0.0.1:6379/0", False),
        ("redis://127.0.0.1:6379/0?password=pw-long-enough", False),
        ("rediss://redis.internal:6380/0?ssl_certfile=/etc/mcp/client.pem", False),  # a client certificate
        ("unix:///run/redis/redis-server.sock?db=0", False),  # its file permissions guard it
    ],
)
def test_only_tcp_urls_without_credentials_are_warned_about(url: str, warned: bool) -> None:
    warning = unauthenticated_warning(url)
    assert (warning is not None) == warned
    if warning:
        assert "has no password" in warning
        assert "requirepass" in warning
        assert "\n" not in warning


def test_the_password_is_masked_as_written_decoded_and_encoded() -> None:
    register_redis_password("redis://mcp:Canary%2FRedis%40Pass-7f3a@127.0.0.1:6379/0")
    assert redis_password("redis://mcp:Canary%2FRedis%40Pass-7f3a@h/0") == "Canary/Redis@Pass-7f3a"
    for echoed in ("Canary/Redis@Pass-7f3a", "Canary%2FRedis%40Pass-7f3a", "CANARY/REDIS@PASS-7F3A"):
        masked = redact_text(f"error talking to redis://mcp:{echoed}@127.0.0.1:6379/0: refused")
        assert "Canary" not in masked
        assert "CANARY" not in masked
        assert "***" in masked
