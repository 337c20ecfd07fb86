"""The sandbox's root state: API keys, organizations and the services they share.

Each organization owns its configuration (`OrgConfig`), automations (`AutomationStore`) and workspaces
(`Workspaces`); nothing is shared between organizations, so one org's key never sees another's data.
The seed makes every id reproducible: each organization draws from its own generator, so activity in one
org never shifts the ids of another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from replicas_mcp.sandbox.automations.cron import CronScheduler
from replicas_mcp.sandbox.automations.records import ExecutionRecord
from replicas_mcp.sandbox.automations.store import AutomationStore
from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.environments.store import OrgConfig
from replicas_mcp.sandbox.faults import FaultController
from replicas_mcp.sandbox.fidelity import Fidelity
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.runtime import TaskRunner
from replicas_mcp.sandbox.tenancy import Caller, KeyKind
from replicas_mcp.sandbox.webhooks import WebhookDispatcher
from replicas_mcp.sandbox.workspaces.records import Replica
from replicas_mcp.sandbox.workspaces.store import Timing, Workspaces

DEFAULT_ORG_KEY = "sk_replicas_sandbox_org"
DEFAULT_PERSONAL_KEY = "sk_replicas_sandbox_personal"
DEFAULT_OTHER_ORG_KEY = "sk_replicas_sandbox_other_org"
DEFAULT_ORG_NAME = "Acme"
DEFAULT_OTHER_ORG_NAME = "Globex"
DEFAULT_USER_ID = "a11ce000-5a4d-4b0c-8e57-000000000001"  # the personal key's user (a UUID, as in the API)


@dataclass(frozen=True)
class ApiKey:
    """One accepted Bearer key: which organization it opens, as an org key or a member's personal key."""

    key: str
    org_name: str
    kind: KeyKind = "org"
    user_id: str | None = None  # required for personal keys

    def __post_init__(self) -> None:
        if self.kind == "personal" and not self.user_id:
            raise ValueError("a personal key needs the user_id of its owner")
        if self.kind == "org" and self.user_id is not None:
            raise ValueError("an org key has no user")

    def __repr__(self) -> str:  # keys are secrets: never print them whole
        return f"ApiKey(key='{self.key[:10]}…', org_name={self.org_name!r}, kind={self.kind!r})"


DEFAULT_KEYS: tuple[ApiKey, ...] = (
    ApiKey(DEFAULT_ORG_KEY, DEFAULT_ORG_NAME, "org"),
    ApiKey(DEFAULT_PERSONAL_KEY, DEFAULT_ORG_NAME, "personal", DEFAULT_USER_ID),
    ApiKey(DEFAULT_OTHER_ORG_KEY, DEFAULT_OTHER_ORG_NAME, "org"),
)


class Organization:
    def __init__(
        self,
        *,
        org_id: str,
        name: str,
        ids: IdFactory,
        clock: Clock,
        runner: TaskRunner,
        webhooks: WebhookDispatcher,
        timing: Timing,
        fidelity: Fidelity,
    ) -> None:
        self.id = org_id
        self.name = name
        self.ids = ids
        self.config = OrgConfig(org_id=org_id, org_name=name, ids=ids, clock=clock)
        self.workspaces = Workspaces(
            org_id=org_id,
            ids=ids,
            clock=clock,
            config=self.config,
            runner=runner,
            webhooks=webhooks,
            timing=timing,
            fidelity=fidelity,
        )
        self.automations = AutomationStore(
            org_id=org_id, ids=ids, clock=clock, config=self.config, launcher=self.workspaces
        )


class World:
    def __init__(
        self,
        *,
        seed: int | None = 0,
        time_scale: float = 1.0,
        keys: Sequence[ApiKey] = DEFAULT_KEYS,
        timing: Timing | None = None,
        fidelity: Fidelity | None = None,
    ) -> None:
        if not keys:
            raise ValueError("the sandbox needs at least one API key")
        self.seed = seed
        self.clock = Clock(time_scale)
        self.timing = timing or Timing()
        self.fidelity = fidelity or Fidelity()
        self.runner = TaskRunner()
        self.faults = FaultController()
        root_ids = IdFactory(seed)
        self.webhooks = WebhookDispatcher(
            clock=self.clock, ids=IdFactory(None if seed is None else seed + 7919), runner=self.runner
        )
        self.organizations: dict[str, Organization] = {}
        self._keys: dict[str, tuple[ApiKey, Organization]] = {}
        for api_key in keys:
            if api_key.key in self._keys:
                raise ValueError("duplicate API key in the sandbox configuration")
            org = self.organizations.get(api_key.org_name)
            if org is None:
                index = len(self.organizations) + 1
                org = Organization(
                    org_id=root_ids.uuid(),
                    name=api_key.org_name,
                    ids=IdFactory(None if seed is None else seed * 1000 + index),
                    clock=self.clock,
                    runner=self.runner,
                    webhooks=self.webhooks,
                    timing=self.timing,
                    fidelity=self.fidelity,
                )
                self.organizations[api_key.org_name] = org
            self._keys[api_key.key] = (api_key, org)
        self.keys = tuple(keys)
        self.cron = CronScheduler(
            clock=self.clock, stores=lambda: [org.automations for org in self.organizations.values()]
        )

    def start(self) -> None:
        """Start the background schedulers (cron automations); the app's lifespan calls this."""
        self.runner.spawn(self.cron.run(), name="cron automations")

    def authenticate(self, bearer: str) -> tuple[Caller, Organization] | None:
        found = self._keys.get(bearer)
        if found is None:
            return None
        api_key, org = found
        user_id = self.fidelity.user_id(api_key.user_id)
        return Caller(org_id=org.id, key_kind=api_key.kind, user_id=user_id), org

    def org(self, name: str = DEFAULT_ORG_NAME) -> Organization:
        return self.organizations[name]

    def find_replica(self, replica_id: str) -> tuple[Organization, Replica] | None:
        for org in self.organizations.values():
            replica = org.workspaces.replicas.get(replica_id)
            if replica is not None:
                return org, replica
        return None

    def fire_webhook(self, token: str, payload: Any) -> ExecutionRecord | None:
        """Fire the automation whose custom-webhook token is `token`, in whichever organization owns it.

        None when no organization has an enabled automation with that token (the caller cannot tell which
        of those it was, nor which organizations exist).
        """
        for org in self.organizations.values():
            execution = org.automations.fire_webhook(token, payload)
            if execution is not None:
                return execution
        return None

    def key_for(self, org_name: str, kind: KeyKind = "org") -> str:
        for api_key in self.keys:
            if api_key.org_name == org_name and api_key.kind == kind:
                return api_key.key
        raise LookupError(f"no {kind} key configured for organization {org_name!r}")

    async def aclose(self) -> None:
        await self.runner.aclose()
        await self.webhooks.aclose()

    def close_streams(self) -> None:
        """End every open event stream (used at shutdown so no connection holds the server open)."""
        for org in self.organizations.values():
            for replica in org.workspaces.replicas.values():
                replica.events.close()
