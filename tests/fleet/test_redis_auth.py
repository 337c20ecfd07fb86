"""Redis as the README's hosting guide runs it: with a password, which the instances carry in their URL and
never show. A wrong or missing password stops an instance at start in one line; a URL with no credentials
over TCP (an open Redis, which every local user can read and rewrite) is warned about, as is a Redis that
answers without the URL's password; a unix socket is not.
The fleet's own Redis has `requirepass` (bench/fleet_procs.py), so the whole suite runs this path."""

from __future__ import annotations

import logging
import uuid

import httpx2
import pytest
import redis as redis_py
from redis.exceptions import AuthenticationError

from bench.fleet_procs import Child, Fleet, Instance, find_binary, free_port, wait_until
from replicas_mcp.server.state.backends import shared_state_for
from replicas_mcp.server.state.redis_state import RedisSharedState
from replicas_mcp.server.state.shared import SharedStateUnavailable

WARNING = "replicas-mcp: warning: the Redis URL (REPLICAS_MCP_REDIS_URL) has no password"


def _exited(fleet: Fleet, instance: Instance) -> tuple[int, str]:
    """Wait for a spawned instance that must stop at start: its exit status and everything it printed."""
    assert instance.child.process is not None
    status = instance.child.process.wait(30)
    fleet.retire(instance)
    return status, instance.child.log.read_text()


async def test_the_fleets_redis_refuses_a_client_without_its_password(fleet: Fleet) -> None:
    open_client = redis_py.Redis(port=fleet.redis_port, socket_timeout=2)
    with pytest.raises(AuthenticationError):
        open_client.get("replicas-mcp:anything")  # what the attacker's redis-cli got for free before
    open_client.close()
    async with httpx2.AsyncClient(timeout=5) as http:
        for instance in fleet.instances:  # and the instances, with the password in their URL, are ready
            assert (await http.get(f"{instance.url}/readyz")).json()["ready"] is True
    assert fleet.redis_password in fleet.redis_url
    assert fleet.redis_client().ping()


def test_refused_or_malformed_credentials_stop_the_server_in_lines_that_never_show_them(fleet: Fleet) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    here = f"127.0.0.1:{fleet.redis_port}"
    cases = {  # started together: each is a Python start-up on a small machine
        "wrongpass": fleet.spawn("wrongpass", redis_url=f"redis://:{wrong}@{here}/0", log_level="DEBUG"),
        "nopass": fleet.spawn("nopass", redis_url=f"redis://{here}/0"),
        # redis-py itself would say "Port could not be cast to integer value as 'pa'": part of the password.
        "badurl": fleet.spawn("badurl", redis_url=f"redis://:pa/ss-{wrong}@{here}/0"),
    }
    status, printed = _exited(fleet, cases["wrongpass"])
    assert (status, printed.splitlines()) == (
        1,
        [
            "replicas-mcp: Redis refused the password in the Redis URL (REPLICAS_MCP_REDIS_URL): use the one "
            "its `requirepass` (or ACL user) has"
        ],
    )

    status, printed = _exited(fleet, cases["nopass"])
    assert status == 1
    warning, refused = printed.splitlines()  # warned, then refused: Redis wants a password
    assert warning.startswith(WARNING)
    assert "(on loopback, every local user)" in warning
    assert "requirepass" in warning
    assert refused.startswith("replicas-mcp: Redis requires a password and the Redis URL")

    status, printed = _exited(fleet, cases["badurl"])
    assert status == 2
    [line] = printed.splitlines()
    assert line.startswith("replicas-mcp: invalid settings: REPLICAS_MCP_REDIS_URL: must look like")
    assert "pa/ss" not in line
    for case in cases.values():
        assert wrong not in case.child.log.read_text().lower()


def test_an_open_redis_is_warned_about_but_served_and_a_private_socket_is_not_warned_about(
    fleet: Fleet,
) -> None:
    """The warning does not stop the server. (A URL without credentials is warned about too: above, and in
    tests/state/test_redis_credentials.py; the fleet's own instances, on a Redis with a password, are not.)"""
    redis_bin = find_binary("redis-server")
    assert redis_bin is not None
    port, socket = free_port(), fleet.root / "open-redis.sock"
    # A Redis configured as Debian's default is, plus a socket only its owner (this user) may open.
    open_redis = Child(
        "open-redis",
        [
            *(redis_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(fleet.root), "--unixsocket", str(socket), "--unixsocketperm", "700"),
        ],
        fleet.root / "open-redis.log",
    )
    fleet.fronts.append(open_redis)  # close() stops it if this test does not
    open_redis.start()
    wait_until(lambda: bool(redis_py.Redis(port=port, socket_timeout=2).ping()), "open redis", open_redis)
    over_socket = fleet.spawn("opensock", redis_url=f"unix://{socket}?db=0")
    # A password in the URL that this Redis does not ask for (it answers anyone): warned about all the same.
    with_password = fleet.spawn("extrapass", redis_url=f"redis://:{uuid.uuid4().hex}@127.0.0.1:{port}/0")
    try:
        for instance in (over_socket, with_password):
            fleet.wait_ready(instance)  # ready: its pings reach that Redis
        assert "replicas-mcp: warning" not in over_socket.child.log.read_text()
        lines = with_password.child.log.read_text().splitlines()
        assert [line for line in lines if "replicas-mcp: warning" in line] == [lines[0]]  # once, first
        assert "Traceback" not in "\n".join(lines)
        assert lines[0].startswith(
            "replicas-mcp: warning: Redis answers without a password, so the one in the Redis URL "
            "(REPLICAS_MCP_REDIS_URL) protects nothing"
        )
    finally:
        for instance in (over_socket, with_password):
            fleet.retire(instance)
        open_redis.stop()


async def test_a_password_refused_while_running_is_logged_as_such_once_without_the_password(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    """A running instance whose password Redis stops accepting (changed under it): not ready, calls refused,
    and the log says why once per outage, not "unreachable" every second."""
    wrong = f"wrong-{uuid.uuid4().hex}"
    store = shared_state_for(f"redis://:{wrong}@127.0.0.1:{fleet.redis_port}/0")
    assert isinstance(store, RedisSharedState)
    try:
        with caplog.at_level(logging.WARNING, logger="replicas_mcp.server.state.redis_state"):
            assert await store.check() is False
            assert await store.check() is False
            with pytest.raises(SharedStateUnavailable):
                await store.claim("redis-auth-test", 5.0)
    finally:
        await store.redis.aclose()
    said = [record.getMessage() for record in caplog.records]
    refused = "Redis refused the password in the Redis URL (REPLICAS_MCP_REDIS_URL)"
    assert (
        said == [f"{refused}: use the one its `requirepass` (or ACL user) has"] * 2
    )  # check() once, claim()
    assert wrong not in caplog.text


def test_the_instance_logs_of_the_whole_suite_never_hold_the_password(fleet: Fleet) -> None:
    logs = [i.child.log.read_text() for i in fleet.instances]
    for log in logs:
        assert fleet.redis_password not in log
        assert "replicas-mcp: warning" not in log  # their Redis has a password: nothing to warn about
