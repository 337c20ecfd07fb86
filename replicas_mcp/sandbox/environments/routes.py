"""HTTP routes: repositories, repository sets, environments (CRUD) and the skills catalog search."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from replicas_mcp.sandbox import fidelity
from replicas_mcp.sandbox.environments import catalog, shapes
from replicas_mcp.sandbox.environments.access import config_of
from replicas_mcp.sandbox.http import (
    UNSET,
    Unset,
    caller_of,
    expect_bool,
    expect_choice,
    expect_optional_str,
    expect_str,
    query_choice,
    read_object,
    require,
    respond,
)

_NAME_MAX = 100
_TEXT_MAX = 20_000


async def list_repositories(request: Request) -> JSONResponse:
    config = config_of(request)
    return respond({"repositories": [repo.to_json() for repo in config.repositories()]})


async def list_repository_sets(request: Request) -> JSONResponse:
    config = config_of(request)
    return respond(
        {"repository_sets": [shapes.repository_set_json(config, rs) for rs in config.repository_sets()]}
    )


async def search_skills(request: Request) -> JSONResponse:
    results = catalog.search(request.query_params.get("q"))
    return respond({"skills": [skill.to_json() for skill in results]})


async def list_environments(request: Request) -> JSONResponse:
    config = config_of(request)
    scope = query_choice(request, "scope", ("org", "user", "all"), default="org")
    environments = config.list_environments(caller_of(request), scope)
    return respond({"environments": [shapes.environment_json(config, env) for env in environments]})


def _optional_id(body: dict[str, Any], field: str) -> str | None:
    value = expect_optional_str(body.get(field), field)
    return value or None


async def create_environment(request: Request) -> JSONResponse:
    config = config_of(request)
    body = await read_object(request, non_nullable=fidelity.CREATE_ENVIRONMENT_FIELDS)
    env = config.create_environment(
        caller_of(request),
        name=expect_str(require(body, "name"), "name", max_length=_NAME_MAX).strip(),
        scope=expect_choice(body.get("scope", "org"), "scope", ("org", "user")),
        description=expect_optional_str(body.get("description"), "description", max_length=_TEXT_MAX),
        source_environment_id=_optional_id(body, "source_environment_id"),
        repository_id=_optional_id(body, "repository_id"),
        repository_set_id=_optional_id(body, "repository_set_id"),
        system_prompt=expect_optional_str(body.get("system_prompt"), "system_prompt", max_length=_TEXT_MAX),
        mobile_testing_enabled=expect_bool(
            body.get("mobile_testing_enabled", False), "mobile_testing_enabled"
        ),
    )
    return respond({"environment": shapes.environment_json(config, env)}, 201)


async def get_environment(request: Request) -> JSONResponse:
    config = config_of(request)
    env = config.visible_environment(request.path_params["environment_id"], caller_of(request))
    return respond({"environment": shapes.environment_json(config, env)})


def _patch_text(body: dict[str, Any], field: str) -> str | Unset | None:
    if field not in body:
        return UNSET
    return expect_optional_str(body[field], field, max_length=_TEXT_MAX)


def _patch_id(body: dict[str, Any], field: str) -> str | Unset | None:
    if field not in body:
        return UNSET
    return expect_optional_str(body[field], field) or None


async def update_environment(request: Request) -> JSONResponse:
    config = config_of(request)
    body = await read_object(request, non_nullable=fidelity.UPDATE_ENVIRONMENT_FIELDS)
    env = config.update_environment(
        caller_of(request),
        request.path_params["environment_id"],
        name=expect_str(body["name"], "name", max_length=_NAME_MAX).strip() if "name" in body else UNSET,
        description=_patch_text(body, "description"),
        repository_id=_patch_id(body, "repository_id"),
        repository_set_id=_patch_id(body, "repository_set_id"),
        system_prompt=_patch_text(body, "system_prompt"),
        mobile_testing_enabled=(
            expect_bool(body["mobile_testing_enabled"], "mobile_testing_enabled")
            if "mobile_testing_enabled" in body
            else UNSET
        ),
        personal_preferences=_patch_text(body, "personal_preferences"),
    )
    return respond({"environment": shapes.environment_json(config, env)})


async def delete_environment(request: Request) -> JSONResponse:
    config_of(request).delete_environment(caller_of(request), request.path_params["environment_id"])
    return respond({"success": True})


def environment_routes() -> list[BaseRoute]:
    return [
        Route("/v1/replica/repositories", list_repositories, methods=["GET"]),
        Route("/v1/replica/repository-sets", list_repository_sets, methods=["GET"]),
        Route("/v1/environment-skills/search", search_skills, methods=["GET"]),
        Route("/v1/environments", list_environments, methods=["GET"]),
        Route("/v1/environments", create_environment, methods=["POST"]),
        Route("/v1/environments/{environment_id}", get_environment, methods=["GET"]),
        Route("/v1/environments/{environment_id}", update_environment, methods=["PATCH"]),
        Route("/v1/environments/{environment_id}", delete_environment, methods=["DELETE"]),
    ]
