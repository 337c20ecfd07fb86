"""What an environment carries: variables, files, skills, skill registries and MCPs."""

from __future__ import annotations

from typing import Any

from replicas_mcp.sandbox.environments.base import ConfigBase, member
from replicas_mcp.sandbox.environments.records import (
    EnvironmentRecord,
    FileRecord,
    McpRecord,
    RegistryRecord,
    SecretValue,
    SkillRecord,
    VariableRecord,
)
from replicas_mcp.sandbox.errors import ApiError, bad_request, conflict
from replicas_mcp.sandbox.http import UNSET, Unset
from replicas_mcp.sandbox.tenancy import Caller


class EnvironmentParts(ConfigBase):
    # ------------------------------------------------------------------------------------ variables
    def add_variable(
        self,
        caller: Caller,
        env: EnvironmentRecord,
        *,
        key: str,
        value: str,
        personal_override_allowed: bool | None,
    ) -> VariableRecord:
        self._check_override_policy(caller, env, personal_override_allowed)
        self._check_variable_key_free(env, key)
        now = self._touch(env)
        var = VariableRecord(
            self._ids.uuid(), env.id, key, SecretValue(value), bool(personal_override_allowed), now, now
        )
        env.variables[var.id] = var
        return var

    def update_variable(
        self,
        caller: Caller,
        env: EnvironmentRecord,
        variable_id: str,
        *,
        key: str | Unset = UNSET,
        value: str | Unset = UNSET,
        personal_override_allowed: bool | Unset = UNSET,
    ) -> VariableRecord:
        var = member(env.variables, variable_id, "Variable")
        if isinstance(personal_override_allowed, bool):
            self._check_override_policy(caller, env, personal_override_allowed)
        if isinstance(key, str) and key != var.key:
            self._check_variable_key_free(env, key)
            var.key = key
        if isinstance(value, str):
            var.value = SecretValue(value)
        if isinstance(personal_override_allowed, bool):
            var.personal_override_allowed = personal_override_allowed
        var.updated_at = self._touch(env)
        return var

    def delete_variable(self, env: EnvironmentRecord, variable_id: str) -> None:
        self._detach(env, env.variables, variable_id, "Variable")

    def _check_override_policy(self, caller: Caller, env: EnvironmentRecord, allowed: bool | None) -> None:
        if allowed is None:
            return
        if env.user_id is not None:
            raise bad_request(
                "personal_override_allowed applies to team and Global variables only",
                "Omit personal_override_allowed for variables of a personal environment.",
            )
        if caller.key_kind != "org":
            raise ApiError(
                403,
                "Admin access required to change personal override policy",
                "Use an organization API key (created by an admin) to set personal_override_allowed.",
            )

    def _check_variable_key_free(self, env: EnvironmentRecord, key: str) -> None:
        if any(var.key == key for var in env.variables.values()):
            raise conflict("Variable already exists", f"{key!r} is already set here; PATCH it instead.")
        source = self._environments.get(env.source_environment_id) if env.source_environment_id else None
        if source is not None:
            inherited = next((var for var in source.variables.values() if var.key == key), None)
            if inherited is not None and not inherited.personal_override_allowed:
                raise conflict(
                    "Inherited variable cannot be overridden",
                    f"{key!r} comes from the source environment {source.name!r}, which does not allow "
                    "personal overrides.",
                )

    # ---------------------------------------------------------------------------------------- files
    def add_file(self, env: EnvironmentRecord, *, name: str, path: str, content: str) -> FileRecord:
        self._check_path_free(env, path)
        now = self._touch(env)
        file = FileRecord(self._ids.uuid(), env.id, name, path, content, now, now)
        env.files[file.id] = file
        return file

    def update_file(
        self,
        env: EnvironmentRecord,
        file_id: str,
        *,
        name: str | Unset = UNSET,
        path: str | Unset = UNSET,
        content: str | Unset = UNSET,
    ) -> FileRecord:
        file = member(env.files, file_id, "File")
        if isinstance(path, str) and path != file.path:
            self._check_path_free(env, path)
            file.path = path
        if isinstance(name, str):
            file.name = name
        if isinstance(content, str):
            file.content = content
        file.updated_at = self._touch(env)
        return file

    def delete_file(self, env: EnvironmentRecord, file_id: str) -> None:
        self._detach(env, env.files, file_id, "File")

    @staticmethod
    def _check_path_free(env: EnvironmentRecord, path: str) -> None:
        # The spec documents no 409 for files, so a second file at one path is a 400.
        if any(file.path == path for file in env.files.values()):
            raise bad_request(
                "A file with this path already exists",
                f"{path!r} is taken; PATCH that file or pick another path.",
            )

    # --------------------------------------------------------------------------------------- skills
    def enable_skill(self, env: EnvironmentRecord, *, name: str, slug: str, source: str) -> SkillRecord:
        for skill in env.skills.values():
            if skill.slug == slug or skill.source == source:
                raise conflict("Skill already enabled", f"{skill.slug!r} is already enabled (id {skill.id}).")
        now = self._touch(env)
        skill = SkillRecord(self._ids.uuid(), env.id, name, slug, source, now, now)
        env.skills[skill.id] = skill
        return skill

    def disable_skill(self, env: EnvironmentRecord, skill_id: str) -> None:
        self._detach(env, env.skills, skill_id, "Skill")

    def add_registry(self, env: EnvironmentRecord, *, url: str, full_name: str) -> RegistryRecord:
        for registry in env.registries.values():
            if registry.repository_full_name.lower() == full_name.lower():
                raise conflict(
                    "Skill registry already added", f"{full_name} is already a registry (id {registry.id})."
                )
        now = self._touch(env)
        registry = RegistryRecord(
            self._ids.uuid(), env.id, full_name.rsplit("/", 1)[-1], url, full_name, "main", now, now
        )
        env.registries[registry.id] = registry
        return registry

    def remove_registry(self, env: EnvironmentRecord, registry_id: str) -> None:
        self._detach(env, env.registries, registry_id, "Skills registry")

    # ----------------------------------------------------------------------------------------- MCPs
    def add_mcp(
        self, env: EnvironmentRecord, *, name: str, transport: str, config: dict[str, Any]
    ) -> McpRecord:
        self._check_mcp_name_free(env, name)
        now = self._touch(env)
        mcp = McpRecord(self._ids.uuid(), env.id, name, transport, config, now, now)
        env.mcps[mcp.id] = mcp
        return mcp

    def update_mcp(
        self,
        env: EnvironmentRecord,
        mcp_id: str,
        *,
        name: str | Unset = UNSET,
        transport: str | Unset = UNSET,
        config: dict[str, Any] | Unset = UNSET,
    ) -> McpRecord:
        mcp = member(env.mcps, mcp_id, "MCP")
        if isinstance(name, str) and name != mcp.name:
            self._check_mcp_name_free(env, name)
            mcp.name = name
        if isinstance(transport, str):
            mcp.transport = transport
        if isinstance(config, dict):
            mcp.config = config
        mcp.updated_at = self._touch(env)
        return mcp

    def delete_mcp(self, env: EnvironmentRecord, mcp_id: str) -> None:
        self._detach(env, env.mcps, mcp_id, "MCP")

    @staticmethod
    def _check_mcp_name_free(env: EnvironmentRecord, name: str) -> None:
        if any(mcp.name == name for mcp in env.mcps.values()):
            raise conflict("An MCP with this name already exists", f"{name!r} is taken in this environment.")
