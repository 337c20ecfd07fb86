"""Validation of environment sub-resources: variable keys, file paths and sizes, MCP configs, registry URLs.

Each function returns the normalized value or raises `ApiError(400)` saying what to send instead.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from replicas_mcp.sandbox.errors import bad_request
from replicas_mcp.sandbox.http import (
    expect_object,
    expect_str,
    expect_str_list,
    expect_str_map,
    reject_unknown,
)

MAX_FILE_BYTES = 65_536
MCP_TRANSPORTS = ("stdio", "http", "sse")
_MCP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_VARIABLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GITHUB_REPO = re.compile(r"^/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+?)(?:\.git)?/?$")
# Where environment files may be written inside a workspace.
_FILE_ROOTS = ("~/", "/home/", "/tmp/")  # noqa: S108 - a path inside the simulated workspace


def variable_key(value: Any) -> str:
    key = expect_str(value, "key", max_length=256)
    if not _VARIABLE_KEY.match(key):
        raise bad_request(
            "Invalid field 'key'",
            "Variable keys must start with a letter or underscore and contain only letters, digits and "
            f"underscores (e.g. DATABASE_URL); got {key!r}.",
        )
    return key


def file_path(value: Any) -> str:
    path = expect_str(value, "path", max_length=1024)
    if "\x00" in path or not path.startswith(_FILE_ROOTS):
        raise bad_request(
            "Invalid field 'path'",
            f"Environment files must go under the home directory: use a path like '~/AGENTS.md' "
            f"(allowed roots: {', '.join(_FILE_ROOTS)}); got {path!r}.",
        )
    if ".." in path.split("/"):
        raise bad_request("Invalid field 'path'", "The path must not contain '..' segments.")
    if path.endswith("/"):
        raise bad_request("Invalid field 'path'", "The path must name a file, not a directory.")
    return path


def file_content(value: Any) -> str:
    content = expect_str(value, "content", allow_empty=True)
    size = len(content.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        raise bad_request(
            "File content too large",
            f"File content is {size:,} bytes; the maximum is {MAX_FILE_BYTES:,} bytes (64 KB). "
            "Shrink the file or split it into several files.",
        )
    return content


def mcp_name(value: Any) -> str:
    name = expect_str(value, "name")
    if not _MCP_NAME.match(name):
        raise bad_request(
            "Invalid field 'name'",
            "MCP names are 1-64 characters: letters, digits, '_' and '-', starting with a letter or digit "
            f"(e.g. 'linear'); got {name!r}.",
        )
    if name.lower().startswith("replicas-"):
        raise bad_request(
            "Invalid field 'name'", "MCP names must not start with the reserved prefix 'replicas-'."
        )
    return name


def mcp_transport(value: Any) -> str:
    if value not in MCP_TRANSPORTS:
        raise bad_request("Invalid field 'transport'", "'transport' must be one of: stdio, http, sse.")
    return str(value)


def mcp_config(transport: str, value: Any, *, complete: bool = False) -> dict[str, Any]:
    """A complete config for `transport`: stdio {command, args, env}; http/sse {url, headers}.

    With `complete` (strict mode) every key must be sent, as the contract requires; otherwise omitted
    optional keys are filled with empty defaults (an extension).
    """
    config = expect_object(value, "config")
    needed = ("command", "args", "env") if transport == "stdio" else ("url", "headers")
    missing = [key for key in needed if key not in config]
    if complete and missing:
        raise bad_request(
            "Invalid field 'config'",
            f"A {transport} MCP config needs all of {', '.join(needed)} (missing: {', '.join(missing)}); "
            "send the whole config, not only the keys that change.",
        )
    if transport == "stdio":
        if "command" not in config:
            raise bad_request(
                "Invalid field 'config'",
                "A stdio MCP needs config.command (the executable to run, e.g. 'npx').",
            )
        reject_unknown(config, "config", ("command", "args", "env"))
        return {
            "command": expect_str(config["command"], "config.command"),
            "args": expect_str_list(config.get("args", []), "config.args"),
            "env": expect_str_map(config.get("env", {}), "config.env"),
        }
    if "url" not in config:
        raise bad_request(
            "Invalid field 'config'",
            f"An {transport} MCP needs config.url (an http:// or https:// address of the MCP server).",
        )
    reject_unknown(config, "config", ("url", "headers"))
    url = expect_str(config["url"], "config.url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request(
            "Invalid field 'config.url'", f"config.url must be an absolute http(s) URL; got {url!r}."
        )
    return {"url": url, "headers": expect_str_map(config.get("headers", {}), "config.headers")}


def github_repository(value: Any) -> tuple[str, str]:
    """The canonical URL and `owner/name` of a GitHub repository URL."""
    url = expect_str(value, "url").strip()
    parts = urlsplit(url)
    match = _GITHUB_REPO.match(parts.path)
    if parts.scheme != "https" or parts.netloc.lower() != "github.com" or match is None or parts.query:
        raise bad_request(
            "Invalid field 'url'",
            "Skill registries must be GitHub repositories, e.g. https://github.com/org/skills-repo; "
            f"got {url!r}.",
        )
    full_name = f"{match.group(1)}/{match.group(2)}"
    return f"https://github.com/{full_name}", full_name
