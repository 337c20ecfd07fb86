"""`KnowledgeStore` in Redis: what one instance learns about a caller's replicas, every instance knows.

Per caller (every key includes it, so callers never see each other's facts):
  know:<caller>:facts            hash  replica id -> facts as JSON
  know:<caller>:name:<name>      set   replica ids with that name
  know:<caller>:status:<status>  set   replica ids last seen in that status
  know:<caller>:head             JSON  the incremental index's frontier (advisory)
  know:<caller>:complete         "1"   once the list was read to its end
  know:<caller>:looks:<id>       hash  chat id -> that chat's look as JSON (`state.looks`)
  know:<caller>:looked           zset  replica ids with looks, by when written (the oldest beyond
                                       `LOOKED_REPLICAS` are dropped)
`remember` and `forget` are Lua scripts, so the newest-fact-wins rule and the indexes stay consistent
when instances write at once; each call is one round trip. Every key of a caller expires after
`IDLE_TTL` without a write (the contract allows evicting idle callers: they are re-learned from the list).
Keys are computed inside the scripts, so this needs one Redis (or one hash slot), not a cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis

from replicas_mcp.server.state.knowledge import LOOKED_CHATS, LOOKED_REPLICAS, ChatLookRecord, ReplicaFacts

T = TypeVar("T")


class RedisCommands(Protocol):
    """What the knowledge store needs of the shared Redis state (`RedisSharedState` provides it): the
    connection, and `call`, which runs a command with its outage handling."""

    redis: aioredis.Redis

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T: ...


PREFIX = "replicas-mcp:know:"
IDLE_TTL = 7 * 24 * 3600

_REMEMBER = """
local base, ttl = ARGV[1], tonumber(ARGV[2])
local facts = base .. 'facts'
for i = 3, #ARGV, 5 do
  local id, name, status, seen, blob = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4]
  local old = redis.call('HGET', facts, id)
  local keep = true
  if old then
    local previous = cjson.decode(old)
    if tonumber(previous['seen_at']) > seen then
      keep = false
    else
      redis.call('SREM', base .. 'name:' .. previous['name'], id)
      redis.call('SREM', base .. 'status:' .. previous['status'], id)
    end
  end
  if keep then
    redis.call('HSET', facts, id, blob)
    redis.call('SADD', base .. 'name:' .. name, id)
    redis.call('SADD', base .. 'status:' .. status, id)
    redis.call('EXPIRE', base .. 'name:' .. name, ttl)
    redis.call('EXPIRE', base .. 'status:' .. status, ttl)
  end
end
redis.call('EXPIRE', facts, ttl)
return 1
"""

_FORGET = """
local base, id = ARGV[1], ARGV[2]
local old = redis.call('HGET', base .. 'facts', id)
if old then
  local previous = cjson.decode(old)
  redis.call('HDEL', base .. 'facts', id)
  redis.call('SREM', base .. 'name:' .. previous['name'], id)
  redis.call('SREM', base .. 'status:' .. previous['status'], id)
end
redis.call('DEL', base .. 'looks:' .. id)
redis.call('ZREM', base .. 'looked', id)
return 1
"""

# ARGV: base, replica id, ttl, cap, time, then chat id / look JSON pairs (none: drop the replica's looks).
_REMEMBER_LOOKS = """
local base, id, ttl, cap, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local key, looked = base .. 'looks:' .. id, base .. 'looked'
redis.call('DEL', key)
if #ARGV < 6 then
  redis.call('ZREM', looked, id)
  return 1
end
for i = 6, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', key, ttl)
redis.call('ZADD', looked, now, id)
local extra = redis.call('ZCARD', looked) - cap
if extra > 0 then
  for _, old in ipairs(redis.call('ZRANGE', looked, 0, extra - 1)) do
    redis.call('DEL', base .. 'looks:' .. old)
  end
  redis.call('ZREMRANGEBYRANK', looked, 0, extra - 1)
end
redis.call('EXPIRE', looked, ttl)
return 1
"""

# The facts of the ids in the sets named by ARGV[2..] (a union), in one round trip.
_MEMBERS = """
local base = ARGV[1]
local sets = {}
for i = 2, #ARGV do sets[#sets + 1] = base .. ARGV[i] end
local ids = redis.call('SUNION', unpack(sets))
if #ids == 0 then return {} end
return redis.call('HMGET', base .. 'facts', unpack(ids))
"""


def _encode(fact: ReplicaFacts) -> str:
    return json.dumps(
        {
            "id": fact.id,
            "name": fact.name,
            "status": fact.status,
            "seen_at": fact.seen_at,
            "record": dict(fact.record),
            "active_chats": fact.active_chats,
        },
        separators=(",", ":"),
    )


def _decode(blob: Any) -> ReplicaFacts | None:
    if not blob:
        return None
    body = json.loads(blob)
    return ReplicaFacts(
        id=body["id"],
        name=body["name"],
        status=body["status"],
        seen_at=float(body["seen_at"]),
        record=body.get("record") or {},
        active_chats=body.get("active_chats"),
    )


class RedisKnowledge:
    def __init__(self, store: RedisCommands) -> None:
        self._store = store
        self._redis = store.redis

    @staticmethod
    def _base(caller: str) -> str:
        return f"{PREFIX}{caller}:"

    async def remember(self, caller: str, facts: Iterable[ReplicaFacts]) -> None:
        args: list[str | float] = [self._base(caller), IDLE_TTL]
        for fact in facts:
            args += [fact.id, fact.name, fact.status, fact.seen_at, _encode(fact)]
        if len(args) > 2:
            await self._store.call(lambda: self._redis.eval(_REMEMBER, 0, *args))

    async def get(self, caller: str, replica_id: str) -> ReplicaFacts | None:
        blob = await self._store.call(lambda: self._redis.hget(self._base(caller) + "facts", replica_id))
        return _decode(blob)

    async def get_many(self, caller: str, replica_ids: Iterable[str]) -> dict[str, ReplicaFacts]:
        ids = list(dict.fromkeys(replica_ids))
        if not ids:
            return {}
        blobs = await self._store.call(lambda: self._redis.hmget(self._base(caller) + "facts", ids))
        return {fact.id: fact for blob in blobs if (fact := _decode(blob)) is not None}

    async def by_name(self, caller: str, name: str) -> ReplicaFacts | None:
        facts = await self.named(caller, name)
        return max(facts, key=lambda fact: str(fact.record.get("created_at") or ""), default=None)

    async def named(self, caller: str, name: str) -> list[ReplicaFacts]:
        return await self._members(caller, [f"name:{name}"])

    async def with_status(self, caller: str, statuses: Iterable[str]) -> list[ReplicaFacts]:
        return await self._members(caller, [f"status:{status}" for status in statuses])

    async def _members(self, caller: str, sets: list[str]) -> list[ReplicaFacts]:
        if not sets:
            return []
        blobs = await self._store.call(lambda: self._redis.eval(_MEMBERS, 0, self._base(caller), *sets))
        return [fact for blob in blobs if (fact := _decode(blob)) is not None]

    async def forget(self, caller: str, replica_id: str) -> None:
        await self._store.call(lambda: self._redis.eval(_FORGET, 0, self._base(caller), replica_id))

    async def chat_looks(self, caller: str, replica_id: str) -> dict[str, ChatLookRecord]:
        blobs = await self._store.call(lambda: self._redis.hgetall(f"{self._base(caller)}looks:{replica_id}"))
        return {str(chat_id): json.loads(blob) for chat_id, blob in blobs.items()}

    async def remember_chat_looks(
        self, caller: str, replica_id: str, looks: Mapping[str, ChatLookRecord]
    ) -> None:
        args: list[str | float] = [self._base(caller), replica_id, IDLE_TTL, LOOKED_REPLICAS, time.time()]
        for chat_id, look in list(looks.items())[:LOOKED_CHATS]:
            args += [chat_id, json.dumps(dict(look), separators=(",", ":"))]
        await self._store.call(lambda: self._redis.eval(_REMEMBER_LOOKS, 0, *args))

    async def frontier(self, caller: str) -> tuple[frozenset[str], bool]:
        base = self._base(caller)
        head, complete = await self._store.call(lambda: self._redis.mget([base + "head", base + "complete"]))
        return frozenset(json.loads(head) if head else ()), complete == "1"

    async def set_frontier(self, caller: str, head_ids: Iterable[str], *, complete: bool) -> None:
        base, head = self._base(caller), json.dumps(sorted(head_ids))

        async def write() -> Any:
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(base + "head", head, ex=IDLE_TTL)
            if complete:
                pipe.set(base + "complete", "1", ex=IDLE_TTL)
            else:
                pipe.expire(base + "complete", IDLE_TTL)
            return await pipe.execute()

        await self._store.call(write)
