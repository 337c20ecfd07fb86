"""Bearer keys and per-organization state: a missing or unknown key is a 401; orgs never see each other."""

from __future__ import annotations

import httpx2
import pytest

from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox
from replicas_mcp.sandbox.world import DEFAULT_USER_ID, ApiKey

from ..helpers import assert_error
from .sandbox_helpers import client, create_replica, environment_id


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sk_replicas_wrong"},
        {"Authorization": "Basic c2s6c2s="},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "unknown", "wrong-scheme", "empty"],
)
async def test_a_missing_or_unknown_key_is_a_401_with_the_envelope(
    sandbox: RunningSandbox, headers: dict[str, str]
) -> None:
    async with httpx2.AsyncClient(base_url=sandbox.base_url, headers=headers) as anonymous:
        for method, path in [("GET", "/v1/replica"), ("POST", "/v1/replica"), ("GET", "/v1/environments")]:
            response = await anonymous.request(method, path)
            body = assert_error(response, 401, "Unauthorized")
            assert "sk_replicas" not in str(body["details"])  # the key is never echoed


async def test_each_default_key_opens_its_organization(sandbox: RunningSandbox) -> None:
    for key in (sandbox.org_key, sandbox.personal_key, sandbox.other_org_key):
        async with client(sandbox, key) as api:
            assert (await api.get("/v1/replica")).status_code == 200


async def test_an_organization_never_sees_another_organizations_replicas(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as acme, client(sandbox, sandbox.other_org_key) as globex:
        replica = await create_replica(acme)
        replica_id = replica["id"]

        listing = (await globex.get("/v1/replica")).json()
        assert listing["replicas"] == []
        assert listing["total"] == 0
        assert_error(await globex.get(f"/v1/replica/{replica_id}"), 404)
        assert_error(await globex.delete(f"/v1/replica/{replica_id}"), 404)
        assert_error(await globex.post(f"/v1/replica/{replica_id}/messages", json={"message": "hi"}), 404)
        assert_error(await globex.get(f"/v1/replica/{replica_id}/events"), 404)
        assert_error(await globex.get(f"/v1/replica/{replica_id}/history"), 404)

        # Environments are per organization too: Acme's environment does not exist for Globex.
        acme_env = await environment_id(acme)
        response = await globex.post(
            "/v1/replica", json={"name": "steal", "message": "x", "environment_id": acme_env}
        )
        assert_error(response, 404)
        assert (await acme.get(f"/v1/replica/{replica_id}")).status_code == 200


@pytest.mark.sandbox_mode(strict=False)  # the lenient sandbox's extensions (docs/sandbox.md)
async def test_personal_keys_attribute_replicas_to_their_user(sandbox: RunningSandbox) -> None:
    async with client(sandbox, sandbox.personal_key) as personal, client(sandbox) as org:
        mine = await create_replica(personal, name="mine")
        bot = await create_replica(org, name="bot")
        assert mine["user_id"] == DEFAULT_USER_ID
        assert bot["user_id"] is None
        filtered = (await org.get("/v1/replica", params={"user_id": DEFAULT_USER_ID})).json()
        assert [item["id"] for item in filtered["replicas"]] == [mine["id"]]


async def test_keys_are_configurable() -> None:
    keys = [ApiKey("sk_custom_a", "Initech"), ApiKey("sk_custom_b", "Initech", "personal", "user_bob")]
    async with (
        running_sandbox(time_scale=0.05, keys=keys) as custom,
        httpx2.AsyncClient(base_url=custom.base_url) as http,
    ):
        ok = await http.get("/v1/replica", headers={"Authorization": "Bearer sk_custom_a"})
        assert ok.status_code == 200
        default = await http.get("/v1/replica", headers={"Authorization": "Bearer sk_replicas_sandbox_org"})
        assert_error(default, 401)


def test_bad_key_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="user_id"):
        ApiKey("sk_x", "Acme", "personal")
    assert "sk_custom_secret_value" not in repr(ApiKey("sk_custom_secret_value", "Acme"))
