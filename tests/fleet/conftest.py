"""The fleet suite runs on real infrastructure: redis-server, nginx, three server processes, one sandbox.

One fleet serves the whole suite (starting it costs seconds); tests that break a part of it (kill an
instance, stop Redis) put it back before they end. Without the Debian packages the suite is skipped with
a loud reason (.ci/run installs them as root).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.fleet_procs import Fleet, find_binary, start_fleet

MISSING = [name for name in ("redis-server", "nginx") if find_binary(name) is None]


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    if MISSING:
        pytest.skip(
            f"FLEET SUITE SKIPPED: {', '.join(MISSING)} not installed (apt-get install redis-server nginx)"
        )
    running = start_fleet(instances=3)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def healthy_fleet(fleet: Fleet) -> Iterator[Fleet]:
    """The fleet, whole again after the test: every instance running and ready, Redis up."""
    yield fleet
    if not fleet.redis.running:
        fleet.start_redis()
    for instance in fleet.instances:
        if not instance.child.running:
            fleet.start_instance(instance)
    for instance in fleet.instances:
        fleet.wait_ready(instance)
