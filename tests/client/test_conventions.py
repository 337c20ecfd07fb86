"""The client's shared conventions: one error tree, one body convention, one resource base, and an HTTP
core that knows nothing about what a status means for one endpoint."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx2
import pytest

import replicas_mcp.client as client_package
import replicas_mcp.client.errors as errors_module
from replicas_mcp.client import UNSET, ReplicasClient
from replicas_mcp.client._fields import patch_body, request_body
from replicas_mcp.client._resource import Resource
from replicas_mcp.client.errors import (
    BadRequestError,
    ConflictError,
    ReplicasError,
    RequestValidationError,
    WorkspaceSleepingError,
)

from .client_helpers import MockClient, json_response, list_page, replica_item

CLIENT_DIR = Path(client_package.__file__).parent


def test_request_validation_error_is_in_the_public_tree() -> None:
    assert issubclass(RequestValidationError, BadRequestError)
    assert issubclass(RequestValidationError, ValueError)
    assert "RequestValidationError" in (errors_module.__doc__ or "")  # the documented tree
    error = RequestValidationError("limit too big", field="limit")
    assert (error.status, error.field) == (400, "limit")


async def test_get_with_a_bad_include_raises_a_tree_error_before_sending(mock_client: MockClient) -> None:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return json_response(200, {})

    async with mock_client(handler) as client:
        with pytest.raises(RequestValidationError, match="include") as caught:
            await client.replicas.get("r1", include=["everything"])
    assert isinstance(caught.value, ReplicasError)
    assert sent == []


def test_one_body_convention() -> None:
    fields = {"kept": 1, "unset": UNSET, "cleared": None, "dropped": None}
    assert request_body(nullable={"cleared"}, **fields) == {"kept": 1, "cleared": None}
    with pytest.raises(RequestValidationError, match="dropped cannot be cleared"):
        patch_body(nullable={"cleared"}, **fields)
    for path in CLIENT_DIR.glob("*.py"):
        assert "_drop_none" not in path.read_text(), f"{path.name} builds bodies its own way"


def test_every_resource_group_shares_the_base() -> None:
    client = ReplicasClient(api_key="sk_replicas_conventions", base_url="http://api.test")
    groups = [
        client.replicas,
        client.chats,
        client.queue,
        client.history,
        client.canvas,
        client.hooks,
        client.events,
        client.repositories,
        client.environments,
        client.environments.variables,
        client.environments.files,
        client.environments.skills,
        client.environments.skill_registries,
        client.environments.mcps,
        client.environments.warm_hooks,
        client.environments.start_hooks,
        client.environments.warm_pool,
        client.automations,
    ]
    assert len(groups) == 18
    assert all(isinstance(group, Resource) for group in groups)
    own_inits = [type(g).__name__ for g in groups if "__init__" in vars(type(g))]
    assert own_inits == ["Environments"]  # only to attach its sub-groups


def test_the_http_core_imports_nothing_api_specific() -> None:
    tree = ast.parse((CLIENT_DIR / "_http.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "replicas_mcp.client._status_lookup" not in imported
    assert not any(module.startswith("replicas_mcp.client.models") for module in imported)
    names = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert not names & {"WorkspaceSleepingError", "WorkspaceErrorStateError", "ConflictError"}


async def test_a_409_outside_the_workspace_calls_stays_a_plain_conflict(mock_client: MockClient) -> None:
    lookups: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        lookups.append(request.url.path)
        return json_response(409, {"error": "Environment is sleeping in an automation"})

    async with mock_client(handler) as client:
        with pytest.raises(ConflictError) as caught:
            await client.environments.delete("e1")
    assert type(caught.value) is ConflictError
    assert lookups == ["/v1/environments/e1"]


async def test_a_workspace_409_is_classified_by_the_replica_layer(mock_client: MockClient) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/replica":
            return json_response(200, list_page([replica_item("r1", "n", "sleeping")]))
        return json_response(409, {"error": "Conflict"})  # the text does not say why

    async with mock_client(handler) as client:
        with pytest.raises(WorkspaceSleepingError, match="workspace status: sleeping"):
            await client.history.read("r1")
