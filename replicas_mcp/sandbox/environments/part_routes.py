"""HTTP routes: what an environment carries (variables, files, skills, registries, repo skills, MCPs)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from replicas_mcp.sandbox import fidelity
from replicas_mcp.sandbox.environments import shapes
from replicas_mcp.sandbox.environments import validation as valid
from replicas_mcp.sandbox.environments.access import config_of
from replicas_mcp.sandbox.environments.base import member
from replicas_mcp.sandbox.environments.records import EnvironmentRecord
from replicas_mcp.sandbox.errors import bad_request
from replicas_mcp.sandbox.http import (
    UNSET,
    Unset,
    caller_of,
    expect_bool,
    expect_optional_bool,
    expect_str,
    is_strict,
    not_null,
    read_object,
    require,
    respond,
)

_NAME_MAX = 200


def _environment(request: Request, *, missing_status: int = 400) -> EnvironmentRecord:
    """The path's environment. The spec lists no 404 for most nested routes, hence 400 by default."""
    return config_of(request).visible_environment(
        request.path_params["environment_id"], caller_of(request), missing_status=missing_status
    )


def _org(request: Request) -> str:
    return config_of(request).org_id


def _optional(body: dict[str, Any], field: str) -> Any:
    """The field's value, or UNSET when the body does not mention it (null is not a valid value here)."""
    return not_null(body, field) if field in body else UNSET


# ------------------------------------------------------------------------------------------- variables
async def list_variables(request: Request) -> JSONResponse:
    env, org = _environment(request), _org(request)
    return respond({"environment_variables": [var.to_json(org) for var in env.variables.values()]})


async def create_variable(request: Request) -> JSONResponse:
    env = _environment(request)
    body = await read_object(request)
    var = config_of(request).add_variable(
        caller_of(request),
        env,
        key=valid.variable_key(require(body, "key")),
        value=expect_str(require(body, "value"), "value", allow_empty=True),
        personal_override_allowed=expect_optional_bool(
            body.get("personal_override_allowed"), "personal_override_allowed"
        ),
    )
    return respond({"environment_variable": var.to_json(_org(request))}, 201)


async def update_variable(request: Request) -> JSONResponse:
    env = _environment(request, missing_status=404)
    body = await read_object(request, non_nullable=fidelity.UPDATE_VARIABLE_FIELDS)
    key, value, allowed = (_optional(body, name) for name in ("key", "value", "personal_override_allowed"))
    var = config_of(request).update_variable(
        caller_of(request),
        env,
        request.path_params["item_id"],
        key=UNSET if isinstance(key, Unset) else valid.variable_key(key),
        value=UNSET if isinstance(value, Unset) else expect_str(value, "value", allow_empty=True),
        personal_override_allowed=(
            UNSET if isinstance(allowed, Unset) else expect_bool(allowed, "personal_override_allowed")
        ),
    )
    return respond({"environment_variable": var.to_json(_org(request))})


async def delete_variable(request: Request) -> JSONResponse:
    config_of(request).delete_variable(
        _environment(request, missing_status=404), request.path_params["item_id"]
    )
    return respond({"success": True})


# ----------------------------------------------------------------------------------------------- files
async def list_files(request: Request) -> JSONResponse:
    env, org = _environment(request), _org(request)
    return respond({"environment_files": [file.to_json(org) for file in env.files.values()]})


async def create_file(request: Request) -> JSONResponse:
    env = _environment(request)
    body = await read_object(request)
    file = config_of(request).add_file(
        env,
        name=expect_str(require(body, "name"), "name", max_length=_NAME_MAX),
        path=valid.file_path(require(body, "path")),
        content=valid.file_content(require(body, "content")),
    )
    return respond({"environment_file": file.to_json(_org(request))}, 201)


async def update_file(request: Request) -> JSONResponse:
    env = _environment(request, missing_status=404)
    body = await read_object(request, non_nullable=fidelity.UPDATE_FILE_FIELDS)
    name, path, content = (_optional(body, field) for field in ("name", "path", "content"))
    file = config_of(request).update_file(
        env,
        request.path_params["item_id"],
        name=UNSET if isinstance(name, Unset) else expect_str(name, "name", max_length=_NAME_MAX),
        path=UNSET if isinstance(path, Unset) else valid.file_path(path),
        content=UNSET if isinstance(content, Unset) else valid.file_content(content),
    )
    return respond({"environment_file": file.to_json(_org(request))})


async def delete_file(request: Request) -> JSONResponse:
    config_of(request).delete_file(_environment(request, missing_status=404), request.path_params["item_id"])
    return respond({"success": True})


# ---------------------------------------------------------------------------------------------- skills
async def list_skills(request: Request) -> JSONResponse:
    env, org = _environment(request), _org(request)
    return respond({"environment_skills": [skill.to_json(org) for skill in env.skills.values()]})


async def enable_skill(request: Request) -> JSONResponse:
    env = _environment(request)
    body = await read_object(request)
    slug = expect_str(require(body, "slug"), "slug", max_length=_NAME_MAX).strip()
    if any(char.isspace() for char in slug):
        raise bad_request("Invalid field 'slug'", "Skill slugs contain no whitespace, e.g. 'docker'.")
    skill = config_of(request).enable_skill(
        env,
        name=expect_str(require(body, "name"), "name", max_length=_NAME_MAX),
        slug=slug,
        source=expect_str(require(body, "source"), "source", max_length=2048).strip(),
    )
    return respond({"environment_skill": skill.to_json(_org(request))}, 201)


async def disable_skill(request: Request) -> JSONResponse:
    config_of(request).disable_skill(
        _environment(request, missing_status=404), request.path_params["item_id"]
    )
    return respond({"success": True})


async def list_registries(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    registries = [
        {
            **registry.to_json(config.org_id),
            "repo_skills": shapes.registry_skills_json(config, registry),
            "error": None,
        }
        for registry in env.registries.values()
    ]
    return respond({"registries": registries})


async def add_registry(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    body = await read_object(request)
    url, full_name = valid.github_repository(require(body, "url"))
    registry = config.add_registry(env, url=url, full_name=full_name)
    # The spec answers 200 (not 201) here.
    return respond(
        {
            "registry": registry.to_json(config.org_id),
            "repo_skills": shapes.registry_skills_json(config, registry),
            "error": None,
        }
    )


async def remove_registry(request: Request) -> JSONResponse:
    env = _environment(request, missing_status=404)
    config_of(request).remove_registry(env, request.path_params["item_id"])
    return respond({"success": True})


async def list_repo_skills(request: Request) -> JSONResponse:
    env = _environment(request, missing_status=404)
    return respond({"repo_skills": shapes.repo_skills_json(config_of(request), env), "error": None})


# ------------------------------------------------------------------------------------------------ MCPs
async def list_mcps(request: Request) -> JSONResponse:
    env, org = _environment(request), _org(request)
    return respond({"environment_mcps": [mcp.to_json(org) for mcp in env.mcps.values()]})


async def create_mcp(request: Request) -> JSONResponse:
    env = _environment(request)
    body = await read_object(request)
    name = valid.mcp_name(require(body, "name"))
    transport = valid.mcp_transport(require(body, "transport"))
    config = valid.mcp_config(transport, require(body, "config"), complete=is_strict(request))
    mcp = config_of(request).add_mcp(env, name=name, transport=transport, config=config)
    return respond({"environment_mcp": mcp.to_json(_org(request))}, 201)


async def update_mcp(request: Request) -> JSONResponse:
    env = _environment(request, missing_status=404)
    body = await read_object(request)
    store = config_of(request)
    name, transport, config = (_optional(body, field) for field in ("name", "transport", "config"))
    current = member(env.mcps, request.path_params["item_id"], "MCP")
    new_transport = UNSET if isinstance(transport, Unset) else valid.mcp_transport(transport)
    if isinstance(new_transport, str) and new_transport != current.transport and isinstance(config, Unset):
        raise bad_request(
            "config is required when transport changes",
            f"Send a config for '{new_transport}' together with the new transport.",
        )
    effective_transport = new_transport if isinstance(new_transport, str) else current.transport
    mcp = store.update_mcp(
        env,
        request.path_params["item_id"],
        name=UNSET if isinstance(name, Unset) else valid.mcp_name(name),
        transport=new_transport,
        config=UNSET
        if isinstance(config, Unset)
        else valid.mcp_config(effective_transport, config, complete=is_strict(request)),
    )
    return respond({"environment_mcp": mcp.to_json(store.org_id)})


async def delete_mcp(request: Request) -> JSONResponse:
    config_of(request).delete_mcp(_environment(request, missing_status=404), request.path_params["item_id"])
    return respond({"success": True})


def part_routes() -> list[BaseRoute]:
    base = "/v1/environments/{environment_id}"
    return [
        Route(f"{base}/variables", list_variables, methods=["GET"]),
        Route(f"{base}/variables", create_variable, methods=["POST"]),
        Route(f"{base}/variables/{{item_id}}", update_variable, methods=["PATCH"]),
        Route(f"{base}/variables/{{item_id}}", delete_variable, methods=["DELETE"]),
        Route(f"{base}/files", list_files, methods=["GET"]),
        Route(f"{base}/files", create_file, methods=["POST"]),
        Route(f"{base}/files/{{item_id}}", update_file, methods=["PATCH"]),
        Route(f"{base}/files/{{item_id}}", delete_file, methods=["DELETE"]),
        Route(f"{base}/skills", list_skills, methods=["GET"]),
        Route(f"{base}/skills", enable_skill, methods=["POST"]),
        Route(f"{base}/skills/{{item_id}}", disable_skill, methods=["DELETE"]),
        Route(f"{base}/skills-registries", list_registries, methods=["GET"]),
        Route(f"{base}/skills-registries", add_registry, methods=["POST"]),
        Route(f"{base}/skills-registries/{{item_id}}", remove_registry, methods=["DELETE"]),
        Route(f"{base}/repo-skills", list_repo_skills, methods=["GET"]),
        Route(f"{base}/mcps", list_mcps, methods=["GET"]),
        Route(f"{base}/mcps", create_mcp, methods=["POST"]),
        Route(f"{base}/mcps/{{item_id}}", update_mcp, methods=["PATCH"]),
        Route(f"{base}/mcps/{{item_id}}", delete_mcp, methods=["DELETE"]),
    ]
