"""Warm and start hooks of an environment, and its warm pool (simulated warm-ups with the hook runner)."""

from __future__ import annotations

import time
from datetime import timedelta

from replicas_mcp.sandbox.environments import hookrunner
from replicas_mcp.sandbox.environments.base import ConfigBase
from replicas_mcp.sandbox.environments.records import EnvironmentRecord, HookRecord, WarmPoolRecord

WARM_POOL_TARGET_SIZE = 2
WARM_UP_SECONDS = 5.0  # simulated provisioning time of one pool round, before the hooks run
WARM_POOL_RETRY_SECONDS = 60


def pool_counts(pool: WarmPoolRecord) -> tuple[int, int, int]:
    """(ready, stale, warming) right now."""
    if not pool.enabled:
        return 0, 0, 0
    if time.monotonic() - pool.warming_since < pool.warm_seconds:
        return 0, pool.ready_before, pool.target_size
    if pool.failure_reason is not None:
        return 0, pool.ready_before, 0
    return pool.target_size, 0, 0


class HooksAndPools(ConfigBase):
    def save_warm_hook(self, env: EnvironmentRecord, content: str) -> HookRecord:
        hook = self._new_hook_version(env, env.warm_hooks, content)
        # A new warm hook invalidates pools: the Global hook runs in every pool, so it invalidates all.
        affected = self._environments.values() if env.is_global else [env]
        for each in affected:
            if each.warm_pool is not None and each.warm_pool.enabled:
                self._invalidate_pool(each, each.warm_pool)
        return hook

    def save_start_hook(self, env: EnvironmentRecord, content: str) -> HookRecord | None:
        """Save and activate a start hook; empty content clears the active one (returns None)."""
        if not content.strip():
            for hook in env.start_hooks:
                hook.is_active = False
            self._touch(env)
            return None
        return self._new_hook_version(env, env.start_hooks, content)

    def _new_hook_version(
        self, env: EnvironmentRecord, versions: list[HookRecord], content: str
    ) -> HookRecord:
        for hook in versions:
            hook.is_active = False
        version = max((hook.version for hook in versions), default=0) + 1
        hook = HookRecord(self._ids.uuid(), env.id, version, content, True, self._touch(env))
        versions.append(hook)
        return hook

    def set_warm_pool(self, env: EnvironmentRecord, *, enabled: bool) -> WarmPoolRecord:
        pool = env.warm_pool
        if pool is None:
            pool = self._enable_pool(env, pool_id=self._ids.uuid(), settled=False)
            pool.enabled = enabled
            return pool
        if enabled and not pool.enabled:
            pool.enabled = True
            self._invalidate_pool(env, pool)
        elif not enabled:
            pool.enabled = False
            pool.ready_before = 0
        pool.updated_at = self.clock.iso()
        return pool

    def _enable_pool(self, env: EnvironmentRecord, *, pool_id: str, settled: bool) -> WarmPoolRecord:
        pool = WarmPoolRecord(
            id=pool_id,
            environment_id=env.id,
            enabled=True,
            target_size=WARM_POOL_TARGET_SIZE,
            generation=0,
            updated_at=self.clock.iso(),
            warming_since=time.monotonic(),
            warm_seconds=0.0,
        )
        env.warm_pool = pool
        self._invalidate_pool(env, pool)
        if settled:  # seeded pools start full
            pool.warming_since -= pool.warm_seconds
        return pool

    def _invalidate_pool(self, env: EnvironmentRecord, pool: WarmPoolRecord) -> None:
        """Start a new pool generation: simulate its warm-up with the Global and the environment's hooks."""
        ready, stale, _ = pool_counts(pool)
        pool.ready_before = ready + stale if pool.generation else 0
        pool.generation += 1
        scripts = [
            self.global_environment.active_warm_hook,
            env.active_warm_hook if not env.is_global else None,
        ]
        seconds = WARM_UP_SECONDS
        pool.failure_reason = pool.failure_at = pool.retry_at = None
        for hook in scripts:
            if hook is None:
                continue
            outcome = hookrunner.simulate(hook.content, timeout_seconds=self.hook_timeout_seconds)
            seconds += outcome.seconds
            if not outcome.succeeded:
                pool.failure_reason = (
                    f"Warm hook timed out after {self.hook_timeout_seconds:g}s"
                    if outcome.timed_out
                    else f"Warm hook exited with code {outcome.exit_code}"
                )
                break
        now = self.clock.now()
        pool.warming_since = time.monotonic()
        pool.warm_seconds = self.clock.scaled(seconds)
        pool.updated_at = self.clock.iso(now)
        if pool.failure_reason is not None:
            failed_at = now + timedelta(seconds=pool.warm_seconds)
            pool.failure_at = self.clock.iso(failed_at)
            pool.retry_at = self.clock.iso(failed_at + timedelta(seconds=WARM_POOL_RETRY_SECONDS))
