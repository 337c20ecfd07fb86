"""Client settings: explicit arguments first, then the environment, then defaults.

- `REPLICAS_API_KEY`: the API key (a `SecretStr`; required).
- `REPLICAS_BASE_URL`: the API base URL (default `https://api.tryreplicas.com`).
- `REPLICAS_MCP_MAX_STREAMS`: how many event streams the client keeps open at once (default 256); past
  it, opening one more raises `StreamLimitError` (requests have their own pool and are not affected).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from replicas_mcp.client._http import DEFAULT_MAX_STREAMS
from replicas_mcp.client.errors import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "ClientSettings", "StreamSettings", "resolve_max_streams", "resolve_settings"]

DEFAULT_BASE_URL = "https://api.tryreplicas.com"


class ClientSettings(BaseSettings):
    """What the client reads from the environment (only the variables named here)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICAS_API_KEY", "api_key")
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL, validation_alias=AliasChoices("REPLICAS_BASE_URL", "base_url")
    )


def resolve_settings(api_key: str | SecretStr | None, base_url: str | None) -> tuple[SecretStr, str]:
    """The key and base URL to use; `ConfigurationError` if there is no key anywhere."""
    from_env = ClientSettings()
    key: SecretStr | None
    if isinstance(api_key, SecretStr):
        key = api_key
    elif api_key is not None:
        key = SecretStr(api_key)
    else:
        key = from_env.api_key
    if key is None or not key.get_secret_value().strip():
        raise ConfigurationError("no Replicas API key: pass api_key= or set REPLICAS_API_KEY")
    url = base_url or from_env.base_url or DEFAULT_BASE_URL
    return SecretStr(key.get_secret_value().strip()), url


class StreamSettings(BaseSettings):
    """The stream limit from the environment (apart, so a bad value cannot hide the API key's errors)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    max_streams: int = Field(
        default=DEFAULT_MAX_STREAMS,
        ge=1,
        validation_alias=AliasChoices("REPLICAS_MCP_MAX_STREAMS", "max_streams"),
    )


def resolve_max_streams(max_streams: int | None) -> int:
    """The stream limit: the argument, else `REPLICAS_MCP_MAX_STREAMS`, else the default."""
    if max_streams is not None:
        return max_streams
    try:
        return StreamSettings().max_streams
    except ValueError as exc:
        raise ConfigurationError(f"REPLICAS_MCP_MAX_STREAMS must be an integer >= 1 ({exc})") from None
