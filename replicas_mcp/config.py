"""Server settings, read from the environment (and overridden by CLI flags).

Environment variables:

- `REPLICAS_API_KEY`: the Replicas API key (kept as a `SecretStr`: never printed, never logged).
- `REPLICAS_BASE_URL`: the API base URL (the client's default when unset).
- `REPLICAS_MCP_TOOLSETS`: comma-separated toolsets (`replicas` by default; `all` for everything).
- `REPLICAS_MCP_TOOLS`: comma-separated allow list of tool names (empty: no allow list).
- `REPLICAS_MCP_EXCLUDE_TOOLS`: comma-separated deny list; always wins over the allow list and toolsets.
- `REPLICAS_MCP_READ_ONLY`: `true` keeps only read-only tools and never reveals secrets; wins over everything.
- `REPLICAS_MCP_TRANSPORT` (`stdio` | `http`), `REPLICAS_MCP_HOST`, `REPLICAS_MCP_PORT`,
  `REPLICAS_MCP_ALLOWED_HOSTS`, `REPLICAS_MCP_ALLOWED_ORIGINS`: transport options.
- `REPLICAS_MCP_LOG_LEVEL`: log level for stderr logs (`WARNING` by default).
- `REPLICAS_MCP_CONFIRM_DESTRUCTIVE` (`never` | `elicit` | `require`, default `elicit`): asking the user
  before a destructive action (see `server/confirm.py`).
- `REPLICAS_MCP_AUTH` (`server-key` | `byo-key`), `REPLICAS_MCP_HTTP_TOKEN`, `REPLICAS_MCP_STATELESS`,
  `REPLICAS_MCP_STATE_KEY`, `REPLICAS_MCP_PUBLIC_URL`: hosted HTTP (see `server/auth.py` and SECURITY.md).
- `REPLICAS_MCP_WEBHOOK_SECRET`: turns on `POST /webhooks/replicas` in HTTP mode (webhook_receiver.py).
- `REPLICAS_MCP_WATCH_POLL_INTERVAL`: seconds between status checks of a watched replica whose event
  stream is closed (sleeping, preparing); one check per watched replica, never one per subscriber.
- `REPLICAS_MCP_REDIS_URL`: share state across instances behind a load balancer (`redis://host:6379/0`;
  see server/state/redis_state.py and the README's hosting guide). Unset: everything stays in process.
- `REPLICAS_MCP_INSTANCE_NAME`: this instance's name in a fleet; 2025-era session ids start with it, so
  the load balancer can send a session back to the instance holding it (deploy/nginx/replicas-mcp.conf).
- `REPLICAS_MCP_RATE_LIMIT`: tool calls per caller per minute (0: no limit), counted fleet-wide with Redis.
- `REPLICAS_MCP_MAX_SUBSCRIPTIONS`: subscribed resources per caller at once (0: no cap), fleet-wide too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split_commas(value: Any) -> Any:
    """`"a, b,,c"` → `("a", "b", "c")`; lists and tuples pass through stripped."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(part).strip() for part in value if str(part).strip())
    return value


# Ask the user before destructive tool calls: never, through elicitation (if the client can be asked), or
# always (clients that cannot be asked are refused).
ConfirmPolicy = Literal["never", "elicit", "require"]
# HTTP: act with this server's key, or with each caller's own key (their bearer token).
AuthMode = Literal["server-key", "byo-key"]


class Settings(BaseSettings):
    """Everything the server needs to start. Built once by the CLI; tests build it directly."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICAS_API_KEY", "api_key")
    )
    base_url: str | None = Field(default=None, validation_alias=AliasChoices("REPLICAS_BASE_URL", "base_url"))

    # Empty means "the default toolsets" (`replicas`), or none when an allow list is given.
    toolsets: CommaList = Field(
        default=(), validation_alias=AliasChoices("REPLICAS_MCP_TOOLSETS", "toolsets")
    )
    tools: CommaList = Field(default=(), validation_alias=AliasChoices("REPLICAS_MCP_TOOLS", "tools"))
    exclude_tools: CommaList = Field(
        default=(), validation_alias=AliasChoices("REPLICAS_MCP_EXCLUDE_TOOLS", "exclude_tools")
    )
    read_only: bool = Field(
        default=False, validation_alias=AliasChoices("REPLICAS_MCP_READ_ONLY", "read_only")
    )

    transport: Literal["stdio", "http"] = Field(
        default="stdio", validation_alias=AliasChoices("REPLICAS_MCP_TRANSPORT", "transport")
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("REPLICAS_MCP_HOST", "host"))
    port: int = Field(
        default=8000, ge=0, le=65535, validation_alias=AliasChoices("REPLICAS_MCP_PORT", "port")
    )
    allowed_hosts: CommaList = Field(
        default=(), validation_alias=AliasChoices("REPLICAS_MCP_ALLOWED_HOSTS", "allowed_hosts")
    )
    allowed_origins: CommaList = Field(
        default=(), validation_alias=AliasChoices("REPLICAS_MCP_ALLOWED_ORIGINS", "allowed_origins")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="WARNING", validation_alias=AliasChoices("REPLICAS_MCP_LOG_LEVEL", "log_level")
    )
    confirm_destructive: ConfirmPolicy = Field(
        default="elicit",
        validation_alias=AliasChoices("REPLICAS_MCP_CONFIRM_DESTRUCTIVE", "confirm_destructive"),
    )
    auth: AuthMode = Field(default="server-key", validation_alias=AliasChoices("REPLICAS_MCP_AUTH", "auth"))
    http_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICAS_MCP_HTTP_TOKEN", "http_token")
    )
    stateless: bool = Field(
        default=False, validation_alias=AliasChoices("REPLICAS_MCP_STATELESS", "stateless")
    )
    state_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICAS_MCP_STATE_KEY", "state_key")
    )
    public_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REPLICAS_MCP_PUBLIC_URL", "public_url")
    )
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICAS_MCP_WEBHOOK_SECRET", "webhook_secret")
    )
    watch_poll_interval: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("REPLICAS_MCP_WATCH_POLL_INTERVAL", "watch_poll_interval"),
    )

    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICAS_MCP_REDIS_URL", "redis_url")
    )
    instance_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        validation_alias=AliasChoices("REPLICAS_MCP_INSTANCE_NAME", "instance_name"),
    )
    rate_limit: int = Field(
        default=0, ge=0, validation_alias=AliasChoices("REPLICAS_MCP_RATE_LIMIT", "rate_limit")
    )
    max_subscriptions: int = Field(
        default=0, ge=0, validation_alias=AliasChoices("REPLICAS_MCP_MAX_SUBSCRIPTIONS", "max_subscriptions")
    )

    @field_validator("toolsets", "tools", "exclude_tools", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def __repr_args__(self) -> Any:
        # The key is a SecretStr already; this only keeps repr short and obviously safe.
        for name, value in super().__repr_args__():
            secret = name in ("api_key", "http_token", "state_key", "webhook_secret", "redis_url")
            yield name, ("***" if secret and value is not None else value)
