"""Client settings: explicit arguments first, then the environment, then defaults.

- `REPLICAS_API_KEY`: the API key (a `SecretStr`; required).
- `REPLICAS_BASE_URL`: the API base URL (default `https://api.tryreplicas.com`).

Nothing else is read here: the stream limit and every other server setting come from the server's settings
model (`replicas_mcp/config.py`), which passes them in as arguments.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from replicas_mcp.client.errors import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "ClientSettings", "resolve_settings"]

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
