"""Telling the truth about the key at start: `replicas-mcp check`'s one-line answers, and the server's
background check of its key.

A desktop client shows a server as "connected" as soon as it answers `initialize`, whatever its key; so the
server calls the API once in the background when it starts, and if the API rejects the key it says so at
once: on stderr (which desktop clients keep in their MCP log) and as a `notifications/message` to clients
that listen (`server/client_log.py`). Tool calls then fail with the same explanation (errors.describe).
"""

from __future__ import annotations

import logging

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client import errors as e
from replicas_mcp.config import KEY_PAGES

logger = logging.getLogger("replicas_mcp.startup")

KEY_REJECTED = (
    "the Replicas API rejected REPLICAS_API_KEY (401): every tool call will fail until it is replaced with a "
    f"valid key ({KEY_PAGES}) and the server restarted"
)


def explain_check_failure(exc: e.ReplicasError, api: str = "the API") -> str:
    """What `replicas-mcp check` says when the API call fails: the cause and the setting to change (no
    tool names: there is no model reading this). `api` names the API where the caller has not already."""
    status = f" ({exc.status})" if exc.status else ""
    match exc:
        case e.AuthenticationError():
            return (
                f"the API rejected the key (401). Check REPLICAS_API_KEY: a Replicas API key ({KEY_PAGES})."
            )
        case e.PermissionDeniedError():
            return "the key may not list environments (403). Use an org key, or a personal key of this org."
        case e.NotFoundError():
            return (
                "the API has no such route (404): REPLICAS_BASE_URL must be the API's root URL, like "
                "https://api.tryreplicas.com (without /v1 or another path)."
            )
        case e.ConnectError():
            return f"could not reach {api} ({exc.message}). Check the network and REPLICAS_BASE_URL."
        case e.RequestTimeoutError():
            return "the API did not answer in time. Check the network and REPLICAS_BASE_URL, then retry."
        case e.RateLimitedError():
            return "rate limited (429): wait a minute and retry."
        case e.ConfigurationError():
            return f"{exc.message}. Check REPLICAS_API_KEY and REPLICAS_BASE_URL."
        case _:
            return f"the API answered{status}: {exc.message}. Retry later, or check REPLICAS_BASE_URL."


async def check_key_in_background(client: ReplicasClient) -> bool | None:
    """Ask the API once whether the server's key works. True: accepted; False: rejected (logged as an
    error); None: no answer either way (network, outage: logged as a warning). The log lines go to stderr
    and, through `client_log.py`, to clients that listen."""
    try:
        await client.replicas.list(limit=1)
    except e.AuthenticationError:
        logger.error("replicas-mcp: %s", KEY_REJECTED)
        return False
    except e.ReplicasError as exc:
        logger.warning("replicas-mcp: could not check the API key at start: %s", explain_check_failure(exc))
        return None
    except Exception:  # a body of another shape (pydantic): this runs in the lifespan's task group
        logger.debug("the start-up key check got an unexpected answer", exc_info=True)
        logger.warning(
            "replicas-mcp: could not check the API key at start: the answer does not look like the Replicas "
            "API's. Check REPLICAS_BASE_URL: the API's root URL, like https://api.tryreplicas.com."
        )
        return None
    return True
