"""The data every organization starts with (see docs/sandbox-config.md, "Seed data")."""

from __future__ import annotations

from typing import Any

from replicas_mcp.sandbox.environments.pools import HooksAndPools
from replicas_mcp.sandbox.environments.records import (
    EnvironmentRecord,
    FileRecord,
    HookRecord,
    McpRecord,
    SecretValue,
    SkillRecord,
    VariableRecord,
)
from replicas_mcp.sandbox.environments.seed import (
    API_FILE,
    API_MCP,
    API_SKILL,
    API_START_HOOK,
    API_VARIABLES,
    API_WARM_HOOK,
    GLOBAL_VARIABLES,
    seed_id,
)


class Seeding(HooksAndPools):
    """Seeds the Global, api, web and platform environments with ids derived from the organization id."""

    def _seed(self) -> None:
        now = self.clock.iso()
        org = self.org_id

        def environment(label: str, name: str, **fields: Any) -> EnvironmentRecord:
            record = EnvironmentRecord(
                id=seed_id(org, f"environment/{label}"),
                organization_id=org,
                name=name,
                created_at=now,
                updated_at=now,
                **fields,
            )
            self._environments[record.id] = record
            return record

        global_env = environment("global", "Global", is_global=True, description="Applies to every workspace")
        for key, value in GLOBAL_VARIABLES.items():
            self._seed_variable(global_env, key, value, now)
        api = environment(
            "api",
            "api",
            description="The API service",
            repository_id=seed_id(org, "repository/api"),
            system_prompt="Run `npm test` before you open a pull request.",
        )
        for key, value in API_VARIABLES.items():
            self._seed_variable(api, key, value, now)
        file_name, file_path, file_content = API_FILE
        file_id = seed_id(org, f"environment/api/file/{file_name}")
        api.files[file_id] = FileRecord(file_id, api.id, file_name, file_path, file_content, now, now)
        skill_name, skill_slug, skill_source = API_SKILL
        skill_id = seed_id(org, f"environment/api/skill/{skill_slug}")
        api.skills[skill_id] = SkillRecord(skill_id, api.id, skill_name, skill_slug, skill_source, now, now)
        mcp_name, transport, mcp_config = API_MCP
        mcp_id = seed_id(org, f"environment/api/mcp/{mcp_name}")
        api.mcps[mcp_id] = McpRecord(mcp_id, api.id, mcp_name, transport, dict(mcp_config), now, now)
        warm_id = seed_id(org, "environment/api/warm-hook/1")
        api.warm_hooks.append(HookRecord(warm_id, api.id, 1, API_WARM_HOOK, True, now))
        start_id = seed_id(org, "environment/api/start-hook/1")
        api.start_hooks.append(HookRecord(start_id, api.id, 1, API_START_HOOK, True, now))
        self._enable_pool(api, pool_id=seed_id(org, "environment/api/warm-pool"), settled=True)
        environment("web", "web", description="The web app", repository_id=seed_id(org, "repository/web"))
        environment(
            "platform",
            "platform",
            description="API and web app together",
            repository_set_id=seed_id(org, "repository-set/platform"),
        )

    def _seed_variable(self, env: EnvironmentRecord, key: str, value: str, now: str) -> None:
        var_id = seed_id(self.org_id, f"environment/{env.name.lower()}/variable/{key}")
        env.variables[var_id] = VariableRecord(var_id, env.id, key, SecretValue(value), False, now, now)
