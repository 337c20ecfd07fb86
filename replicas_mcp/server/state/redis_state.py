"""`SharedState` in Redis (`--redis-url`): what several instances behind a load balancer must agree on.

One connection pool per process (redis-py's asyncio client), plus one pub/sub connection for updates.
Round trips added per tool call: one when `--rate-limit` is set (INCR and EXPIRE pipelined), none
otherwise; `delegate_task` adds the name lock (acquire and release, two or more while contended); a
webhook delivery adds two (the claim and the publish); subscribing adds one per URI (the lease).

Keys (all under the `replicas-mcp:` prefix, all expiring):
  claim:<key>            webhook event ids, for the replay window
  lock:<caller>:<name>   the delegate_task name lock (redis-py's Lock: token + Lua release, TTL)
  rate:<caller>:<slot>   calls in the current rate window
  lease:<kind>:<caller>  sorted set holder -> expiry (subscription and byo-key session caps)
  memory:<kind>:<id>     what delegation remembers of a replica (its task, environment, failure reason),
                         expiring after `MEMORY_TTL` unread
and the channel `replicas-mcp:<db>:updates` ({"r": replica id, "c": caller or null}). Keys live in the
URL's database, but Redis pub/sub channels span every database: the channel names the database, so two
deployments on separate databases of one Redis never hear each other.

A failure to reach Redis marks the store unhealthy (readiness fails, tool calls are refused with a clear
message) until a ping succeeds again; the pub/sub connection reconnects on its own. Redis refusing the URL's
credentials is said as such (`refusal`), at start (`startup_check`: the server does not start) and in the
log while running (a password changed under a live fleet), in words of our own: never the URL's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, LockError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from replicas_mcp.delegation.memory import Kind
from replicas_mcp.server.state.knowledge import KnowledgeStore
from replicas_mcp.server.state.redis_knowledge import RedisKnowledge
from replicas_mcp.server.state.shared import (
    Deliver,
    LocalNameLocks,
    RateLimited,
    SharedState,
    SharedStateUnavailable,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
PREFIX = "replicas-mcp:"
LOCK_TTL = 120.0  # longer than a create (60 s) plus the lookup before it; a crashed holder frees it then
LOCK_WAIT = 100.0  # as long as the tool may run
LOCK_POLL = 0.05
PING_EVERY = 1.0
MEMORY_TTL = 7 * 24 * 3600.0  # a replica's task and failure reason, kept while read at least weekly
RECONNECT_AFTER = 0.5
_LEASE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


def connect(url: str) -> aioredis.Redis:
    """A client that fails fast (a dead Redis must not hang tool calls) and reconnects once per failed
    command (a restarted Redis leaves stale pooled connections behind)."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        retry=Retry(NoBackoff(), 1),
        decode_responses=True,
        health_check_interval=30,
    )


def refusal(error: BaseException, password_given: bool) -> str | None:
    """What Redis refusing to authenticate means, in one sentence (None for any other error). Only the kind
    of refusal is read from redis-py's message, which is Redis's own text and never the URL."""
    if not isinstance(error, AuthenticationError):
        return None
    said = str(error).lower()
    if "without any password configured" in said or "no password is set" in said:
        return (
            "Redis has no password set (`requirepass`) but the Redis URL gives one: set that password in "
            "redis.conf (README: Hosting for a team)"
        )
    if not password_given:
        return (
            "Redis requires a password and the Redis URL (REPLICAS_MCP_REDIS_URL) has none: use "
            "redis://:<password>@host:6379/0"
        )
    return (
        "Redis refused the password in the Redis URL (REPLICAS_MCP_REDIS_URL): use the one its `requirepass` "
        "(or ACL user) has"
    )


def startup_check(url: str) -> tuple[str | None, str | None]:
    """Ping once before serving: (a warning, a reason not to start). Refused credentials stop the server
    (one line, exit 1); an unreachable Redis does not: the instance starts not ready and recovers by itself,
    as after an outage. A Redis that also answers without the URL's password (redis-py then ignores Redis's
    "no password is set") is open to anyone who can connect, whatever the URL says: that is the warning."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
    kwargs = client.connection_pool.connection_kwargs
    password_given = bool(kwargs.get("password"))
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        return None, refusal(exc, password_given)
    finally:
        client.close()
    if not password_given or "path" in kwargs:  # no password to test; a socket's permissions guard it
        return None, None
    anonymous = redis.Redis.from_url(
        _without_credentials(url), socket_connect_timeout=1.0, socket_timeout=2.0
    )
    try:
        anonymous.ping()
    except (RedisError, OSError):
        return None, None  # refused without the password, as it should be
    finally:
        anonymous.close()
    where = f"{kwargs.get('host')}:{kwargs.get('port')}"
    return (
        "Redis answers without a password, so the one in the Redis URL (REPLICAS_MCP_REDIS_URL) protects "
        f"nothing: anyone who can connect to {where} (on loopback, every local user) can read every caller's "
        "replica records there and forge the fleet's leases, rate limits, name locks and webhook claims. Set "
        "`requirepass` to that password in redis.conf (README: Hosting for a team).",
        None,
    )


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("password", "username")])
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


class RedisSharedState(SharedState):
    def __init__(self, url: str) -> None:
        self.redis = connect(url)
        self._password_given = bool(self.redis.connection_pool.connection_kwargs.get("password"))
        self.channel = f"{PREFIX}{self.redis.connection_pool.connection_kwargs.get('db', 0)}:updates"
        self._healthy = True
        self._local_locks = LocalNameLocks()  # callers on one instance queue here, not on Redis
        super().__init__(
            claims=self,
            name_locks=self,
            rate=self,
            leases=self,
            updates=self,
            memory=RedisMemory(self),
            kind="redis",
        )
        self.round_trips = 0  # commands sent (pipelines count once), for the bench

    # --- health -------------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def check(self) -> bool:
        try:
            with anyio.fail_after(1.5):
                await self.redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            refused = refusal(exc, self._password_given)
            if refused and self._healthy:  # said once per outage, not once a second
                logger.warning("%s", refused)
            self._healthy = False
            return False
        self._healthy = True
        return True

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one command (or pipeline); a connection error gets one more try on a fresh connection (a
        restarted Redis leaves every pooled connection dead), then the store counts as unreachable."""
        for attempt in (1, 2):
            self.round_trips += 1
            try:
                result = await operation()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if attempt == 1:  # the other idle connections are as dead as this one: drop them all
                    with suppress(RedisError, OSError):
                        await self.redis.connection_pool.disconnect(inuse_connections=False)
                    continue
                error: Exception = exc
            except RedisError as exc:
                error = exc
            else:
                self._healthy = True
                return result
            self._healthy = False
            logger.warning(
                "%s", refusal(error, self._password_given) or f"Redis unreachable: {type(error).__name__}"
            )
            raise SharedStateUnavailable from None
        raise AssertionError("unreachable")

    def knowledge_store(self) -> KnowledgeStore:
        return RedisKnowledge(self)

    # --- claims -------------------------------------------------------------------------------------

    async def claim(self, key: str, ttl: float) -> bool:
        taken = await self.call(
            lambda: self.redis.set(f"{PREFIX}claim:{key}", "1", nx=True, px=int(ttl * 1000))
        )
        return bool(taken)

    async def forget(self, key: str) -> None:
        await self.call(lambda: self.redis.delete(f"{PREFIX}claim:{key}"))

    # --- name locks ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self._local_locks.hold(key):
            lock = self.redis.lock(
                f"{PREFIX}lock:{key}", timeout=LOCK_TTL, sleep=LOCK_POLL, blocking_timeout=LOCK_WAIT
            )
            try:
                acquired = await self.call(lock.acquire)
            except LockError:
                acquired = False
            if not acquired:
                raise SharedStateUnavailable(
                    "Another call is still starting a replica with this name; retry in a minute."
                )
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        await self.call(lock.release)
                    except (LockError, SharedStateUnavailable):
                        logger.warning("a name lock expired or could not be released; it expires by itself")

    # --- rate limits --------------------------------------------------------------------------------

    async def hit(self, caller: str, limit: int, window: float) -> None:
        now = time.time()
        slot = int(now // window)
        key = f"{PREFIX}rate:{caller}:{slot}"

        async def count_call() -> Any:
            pipe = self.redis.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, int(window) + 1, nx=True)
            return await pipe.execute()

        count, _ = await self.call(count_call)
        if int(count) > limit:
            raise RateLimited((slot + 1) * window - now)

    # --- leases -------------------------------------------------------------------------------------

    async def acquire(self, kind: str, caller: str, holder: str, limit: int, ttl: float) -> bool:
        now = time.time()
        key = f"{PREFIX}lease:{kind}:{caller}"
        args: list[str | float] = [now, holder, limit, now + ttl, int(ttl * 1000)]
        result: Any = await self.call(lambda: self.redis.eval(_LEASE, 1, key, *args))
        return bool(result)

    async def release(self, kind: str, caller: str, holder: str) -> None:
        await self.call(lambda: self.redis.zrem(f"{PREFIX}lease:{kind}:{caller}", holder))

    # --- updates ------------------------------------------------------------------------------------

    async def publish(self, replica_id: str, caller: str | None) -> None:
        await self.call(lambda: self.redis.publish(self.channel, json.dumps({"r": replica_id, "c": caller})))

    @asynccontextmanager
    async def delivering(self, deliver: Deliver) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._listen, deliver, tasks)
            tasks.start_soon(self._keep_watch)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await self.redis.aclose()

    async def _keep_watch(self) -> None:
        """Ping every second, so readiness and tool calls learn of an outage (and of recovery) promptly."""
        while True:
            await self.check()
            await anyio.sleep(PING_EVERY)

    async def _listen(self, deliver: Deliver, tasks: Any) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    update = _parse(message.get("data"))
                    if update is not None:
                        tasks.start_soon(_deliver_logged, deliver, *update)
            except (RedisError, OSError) as exc:  # health is the pings' to judge (_keep_watch)
                logger.warning("Redis updates channel lost (%s); reconnecting", type(exc).__name__)
            finally:
                with anyio.CancelScope(shield=True):
                    with suppress(RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            await anyio.sleep(RECONNECT_AFTER)


class RedisMemory:
    """Delegation's memory (delegation/memory.py) as expiring strings, one key per kind and replica."""

    def __init__(self, store: RedisSharedState) -> None:
        self._store = store

    async def remember(self, kind: Kind, replica_id: str, value: str) -> None:
        redis, key = self._store.redis, _memory_key(kind, replica_id)
        await self._store.call(lambda: redis.set(key, value, px=int(MEMORY_TTL * 1000)))

    async def recall(self, kind: Kind, replica_id: str) -> str | None:
        redis, key = self._store.redis, _memory_key(kind, replica_id)
        value: Any = await self._store.call(lambda: redis.getex(key, px=int(MEMORY_TTL * 1000)))
        return value if isinstance(value, str) else None


def _memory_key(kind: Kind, replica_id: str) -> str:
    return f"{PREFIX}memory:{kind}:{replica_id}"


def _parse(data: Any) -> tuple[str, str | None] | None:
    try:
        body = json.loads(data)
        replica, caller = body["r"], body.get("c")
    except (TypeError, ValueError, KeyError):
        logger.warning("ignoring a malformed update")
        return None
    if not isinstance(replica, str) or not (caller is None or isinstance(caller, str)):
        return None
    return replica, caller


async def _deliver_logged(deliver: Deliver, replica_id: str, caller: str | None) -> None:
    try:
        await deliver(replica_id, caller)
    except Exception:
        logger.exception("delivering an update for %s failed", replica_id)
