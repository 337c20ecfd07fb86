"""Server settings: one model, read from the environment and (through `cli.py`) from flags built from it.

Every field `name` is the variable `REPLICAS_MCP_<NAME>` and, unless it is marked `cli=False`, the flag
`--name-with-dashes`; its `description` is the flag's help. The two exceptions share the client's names
(no `MCP_`): `REPLICAS_API_KEY` (a `SecretStr`: never printed, never logged) and `REPLICAS_BASE_URL`.
The README's Configuration table lists them all (a test checks it); `replicas-mcp --help` shows the same text.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Collection
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from pydantic import ValidationError

CommaList = Annotated[tuple[str, ...], NoDecode]

ENV_PREFIX = "REPLICAS_MCP_"
DEFAULT_API_URL = "https://api.tryreplicas.com"  # the client's default; named here for messages only
# Where a user makes a key (the API guide): org keys need an admin, anyone can make a personal key.
KEY_PAGES = "org keys: Settings > API Keys, for admins; personal keys: Account > API Keys"
# The example keys of the docs and desktop configs: a user who pasted one has not put in their own yet.
PLACEHOLDER_KEYS = frozenset(
    {
        "sk_replicas_...",
        "sk_replicas_…",
        "sk_replicas_xxx",
        "sk_replicas_your_key",
        "sk_replicas_your_key_here",
    }
)
# Other shapes of the same thing: `sk_replicas_<your key>`, `sk_replicas_XXXX`, `sk_replicas_example`. Words
# are matched whole (between `_`, `-`, `.`, spaces), so a random real key cannot match by chance.
_PLACEHOLDER_WORDS = frozenset({"your", "here", "example", "placeholder", "changeme", "replace", "insert"})
_PLACEHOLDER_SHAPE = re.compile(r"<.*>|\{.*\}|\[.*\]|x{3,}|[.…*]+|.*(?:\.\.\.|…)", re.IGNORECASE)
# Ask the user before destructive tool calls: never, through elicitation (if the client can be asked), or
# always (clients that cannot be asked are refused).
ConfirmPolicy = Literal["never", "elicit", "require"]
# HTTP: act with this server's key, or with each caller's own key (their bearer token).
AuthMode = Literal["server-key", "byo-key"]


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (with or without brackets): the one definition, used by
    the CLI's bind checks and by `server/auth.py`."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_placeholder_key(key: str) -> bool:
    """True for a key that is still an example's placeholder (`sk_replicas_your_key_here`, `sk_replicas_...`,
    `sk_replicas_<key>`, `your_key`...), in any case."""
    key = key.strip()
    if key in PLACEHOLDER_KEYS or key.lower() in ("your_key", "changeme", "your_api_key"):
        return True
    rest = key[len("sk_replicas_") :] if key.lower().startswith("sk_replicas_") else key
    if _PLACEHOLDER_SHAPE.fullmatch(rest):
        return True
    words = {word for word in re.split(r"[_\-.\s]+", rest.lower()) if word}
    return bool(words & _PLACEHOLDER_WORDS)


def redis_url_problem(url: str) -> str | None:
    """Why `url` is not a Redis URL redis-py reads as meant (None if it is), never quoting it."""
    usage = (
        "must look like redis://:<password>@host:6379/0 (rediss:// for TLS, unix:///path/redis.sock?db=0 "
        "for a socket), with / ? # @ : % in the password percent-encoded (the value is not shown: it may "
        "hold a password)"
    )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return usage
    if parts.scheme == "unix":
        return None if parts.path and not parts.fragment else usage
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or parts.fragment:
        return usage
    database = parts.path.strip("/")
    return None if not database or database.isdigit() else usage


def split_commas(value: Any) -> Any:
    """`"a, b,,c"` → `("a", "b", "c")`; lists and tuples pass through stripped."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(part).strip() for part in value if str(part).strip())
    return value


def normalize_base_url(value: str) -> str:
    """`https://api.tryreplicas.com/v1/` → `https://api.tryreplicas.com`: the client adds `/v1/...` itself,
    so a copied URL ending in `/v1` would otherwise ask for `/v1/v1/...`."""
    url = value.strip().rstrip("/")
    if url.lower().endswith("/v1"):
        url = url[: -len("/v1")].rstrip("/")
    return url


def _no_cli() -> dict[str, Any]:
    return {"cli": False}


class Settings(BaseSettings):
    """Everything the server needs to start. Built once by the CLI; tests build it directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True, frozen=True
    )

    api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("REPLICAS_API_KEY", "api_key"),
        description="The Replicas API key (environment only: a flag would show it in the process list)",
        json_schema_extra=_no_cli(),
    )
    base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REPLICAS_BASE_URL", "base_url"),
        description="The Replicas API base URL (default https://api.tryreplicas.com)",
        json_schema_extra=_no_cli(),
    )

    toolsets: CommaList = Field(
        default=(),
        description="Comma-separated toolsets: replicas (default), chats, canvas, hooks, environments, "
        "automations, or all",
    )
    tools: CommaList = Field(default=(), description="Allow list: these tools (added to the toolsets)")
    exclude_tools: CommaList = Field(default=(), description="Deny list: never these tools (wins)")
    read_only: bool = Field(default=False, description="Only read-only tools; secrets stay masked (wins)")

    transport: Literal["stdio", "http"] = Field(default="stdio", description="stdio or Streamable HTTP")
    host: str = Field(default="127.0.0.1", description="HTTP bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port, 0 picks a free one")
    allowed_hosts: CommaList = Field(
        default=(), description="HTTP: Host headers accepted besides loopback's (host or host:port)"
    )
    allowed_origins: CommaList = Field(default=(), description="HTTP: Origins accepted besides loopback's")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="WARNING", description="stderr log level (any case)"
    )
    confirm_destructive: ConfirmPolicy = Field(
        default="elicit",
        description="Ask the user before destructive actions: elicit (a client that cannot be asked "
        "proceeds), require (it is refused) or never",
    )
    auth: AuthMode = Field(
        default="server-key",
        description="HTTP: act with this server's key, or with each caller's own key (its bearer token)",
    )
    http_token: SecretStr | None = Field(
        default=None, description="HTTP: bearer token required on /mcp (prefer REPLICAS_MCP_HTTP_TOKEN)"
    )
    stateless: bool = Field(default=False, description="HTTP: no per-process session state")
    state_key: SecretStr | None = Field(
        default=None,
        description="HTTP: key shared by instances behind a load balancer (environment only)",
        json_schema_extra=_no_cli(),
    )
    public_url: str | None = Field(default=None, description="HTTP: the URL clients reach /mcp at")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HTTP: serve /webhooks/replicas (prefer REPLICAS_MCP_WEBHOOK_SECRET)"
    )
    watch_poll_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between status checks of a watched replica whose event stream is closed",
    )

    # Several instances behind a load balancer (the README's hosting guide, server/state/shared.py).
    redis_url: SecretStr | None = Field(
        default=None,
        description="HTTP fleets: share state across instances in Redis, redis://:<password>@host:6379/0 "
        "(a secret: prefer REPLICAS_MCP_REDIS_URL)",
    )
    instance_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="HTTP fleets: this instance's name; 2025-era session ids start with it, so the load "
        "balancer routes a session back to its instance",
    )
    rate_limit: int = Field(
        default=0,
        ge=0,
        description="Requests per caller per minute: tool calls, resource reads, prompts, completions and "
        "subscriptions together (0: no limit)",
    )
    max_subscriptions: int = Field(
        default=200, ge=0, description="Subscribed resources per caller at once (0: no cap)"
    )
    max_listen_streams: int = Field(
        default=32,
        ge=0,
        description="byo-key: 2026-era subscriptions/listen streams per caller (API key) at once "
        "(0: no cap); fleet-wide with Redis",
    )
    max_sessions: int = Field(
        default=100,
        ge=0,
        description="byo-key: open 2025-era sessions per caller (API key) at once (0: no cap); fleet-wide "
        "with Redis",
    )
    max_waits: int = Field(
        default=50, ge=0, description="wait_for_replica calls in flight per caller at once (0: no cap)"
    )
    max_streams: int | None = Field(
        default=None,
        ge=1,
        description="Upstream event streams open at once (default 256); past it, watches and waits poll "
        "instead, and requests are never delayed",
    )
    max_streams_per_caller: int | None = Field(
        default=None,
        ge=1,
        description="byo-key: upstream event streams one caller may hold at once (default a quarter of "
        "--max-streams); past it, that caller's watches and waits poll instead",
    )
    http_request_timeout: float = Field(
        default=30.0,
        gt=0,
        description="HTTP: seconds a request's headers and body have to arrive (then 408); responses, "
        "streams included, are never cut",
    )
    http_max_connections: int = Field(
        default=1000, ge=1, description="HTTP: connections open at once; past it, new ones get 503"
    )

    @field_validator("toolsets", "tools", "exclude_tools", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any, info: Any) -> Any:
        if info.field_name == "toolsets" and isinstance(value, str) and not split_commas(value):
            # Like `--toolsets=`: an emptied variable is a mistake, not "the default" (defaults are not
            # validated, so this only sees a value that was given).
            raise ValueError(
                f"{ENV_PREFIX}TOOLSETS is set but empty; "
                "name at least one toolset, or unset it for the default"
            )
        return split_commas(value)

    @field_validator("log_level", "transport", "auth", "confirm_destructive", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @field_validator("state_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # The SDK derives its AES key from this and refuses fewer than 32 bytes with a traceback at start.
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError(
                f"{ENV_PREFIX}STATE_KEY must be at least 32 bytes; generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here, in words that never repeat the URL (it may hold a password): redis-py's own errors
        # for a malformed one quote parts of it (`redis://:pa/ss@h` → "Port could not be cast … 'pa'").
        if value is None or not value.get_secret_value().strip():
            return None
        problem = redis_url_problem(value.get_secret_value().strip())
        if problem:
            raise ValueError(problem)
        return SecretStr(value.get_secret_value().strip())

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        url = normalize_base_url(value)
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL like {DEFAULT_API_URL}, got {url!r}")
        return url

    def key_problem(self) -> str | None:
        """Why the API key cannot work, in one sentence (None if it may): blank, or still the placeholder."""
        if self.api_key is None:
            return None
        key = self.api_key.get_secret_value().strip()
        if not key:
            return "REPLICAS_API_KEY is set but empty"
        if is_placeholder_key(key):
            return "REPLICAS_API_KEY is still the placeholder from the example config"
        return foreign_character(key, "REPLICAS_API_KEY")

    def __repr_args__(self) -> Any:
        # The secrets are SecretStr already; this only keeps repr short and obviously safe.
        for name, value in super().__repr_args__():
            secret = name in ("api_key", "http_token", "state_key", "webhook_secret", "redis_url")
            yield name, ("***" if secret and value is not None else value)


def foreign_character(key: str, variable: str) -> str | None:
    """Why a key cannot go in an HTTP header: a character outside printable ASCII (a curly quote or a
    zero-width space from a chat or a PDF) or a space inside, named by kind and position, never the key."""
    for position, char in enumerate(key, 1):
        if "!" <= char <= "~":
            continue
        name = unicodedata.name(char, "control character").lower()
        return (
            f"{variable} has a character a key can't contain (a {name}, U+{ord(char):04X}, at position "
            f"{position}): paste the key again as plain text"
        )
    return None


def cli_fields() -> dict[str, Any]:
    """The settings fields that are also flags, in declaration order (`cli.py` builds its parser from it)."""
    return {
        name: field
        for name, field in Settings.model_fields.items()
        if not (isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("cli") is False)
    }


# What pydantic reads as a boolean (any case): said in full where a boolean setting is refused.
BOOLEAN_WORDS = "true or false (also 1/0, yes/no, on/off, t/f, y/n; any case)"


def variable_of(name: str) -> str:
    """The environment variable of a settings field (`read_only` → `REPLICAS_MCP_READ_ONLY`; the key and
    the base URL keep the client's names)."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return ENV_PREFIX + name.upper()


def _field_of(loc: str) -> str | None:
    """The field an error's location names (a field name, or an alias such as `REPLICAS_BASE_URL`)."""
    if loc in Settings.model_fields:
        return loc
    return next((name for name in Settings.model_fields if variable_of(name) == loc), None)


def settings_problem(error: ValidationError, flags: Collection[str] = ()) -> str:
    """One line for settings that failed validation: each problem names where the value came from (the flag
    when it was given as one, in `flags`, else the environment variable) and, for a boolean, the accepted
    values. Values are quoted only for booleans (never a secret's); pydantic's words are kept otherwise."""
    problems = []
    for item in error.errors():
        loc = str(item["loc"][0]) if item["loc"] else ""
        name = _field_of(loc)
        source = (
            loc if name is None else ("--" + name.replace("_", "-") if name in flags else variable_of(name))
        )
        message = str(item["msg"]).removeprefix("Value error, ")
        if name is not None and Settings.model_fields[name].annotation is bool:
            value = item.get("input")
            default = "true" if Settings.model_fields[name].default else "false"
            if isinstance(value, str) and not value.strip():
                message = f"is set but empty: use {BOOLEAN_WORDS}, or unset it for the default ({default})"
            else:
                message = f"must be {BOOLEAN_WORDS}, got {str(value)[:40]!r}"
            problems.append(f"{source} {message}")
        elif not source or message.startswith(source):
            problems.append(message)  # the message names it already (REPLICAS_MCP_TOOLSETS is set but …)
        else:
            problems.append(f"{source}: {message}")
    return "; ".join(problems)
