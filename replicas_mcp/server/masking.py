"""Secret shapes, wherever they sit: masked before a model sees them (unless revealed on a writable server).

Environment MCP configurations and hook scripts carry credentials in many shapes, and a masker that knows
only `env` and `headers` misses most of them. Recognised here:

- env and header maps (every value, whatever its name: that is where MCP servers take credentials);
- arguments: `--token=x`, `--api-key x`, docker's `-e NAME=value` / `--env NAME=value`, `NAME=value` with a
  secret-looking name, `-H`/`--header "Authorization: Bearer x"`, `Name: value` header shapes;
- URLs: `user:pass@` userinfo, secret-looking or token-like query values, token-like path segments
  (`/sse/3f9a…`, `/services/T0/B0/XXXX`), the segment after a secret-named one (`/token/abc`);
- free text (hook scripts, `.npmrc` lines): `NAME=value` / `NAME: value` with a secret-looking name
  (`_authToken=…`, `export API_KEY=…`, `DB_PASS=…`), command-line credentials (`mysql -pSECRET`,
  `curl -u user:pass`, `sshpass -p x`, `docker login -p x`, `--password x`), `Bearer`/`Basic`
  credentials, well-known token prefixes
  (`ghp_`, `github_pat_`, `glpat-`, `sk-`, `sk_`, `xox?-`, `npm_`, `AKIA…`), URLs as above.

A masked value keeps only its length (`*** (12 chars)`), so a model can still tell an empty value from a set
one. Masking errs on the side of hiding: an id-like path segment may be masked too; `reveal=true` on a
writable server shows everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from replicas_mcp.client._redact import MASK  # one mask: the client's redaction and this masking

SECRET_NAME = re.compile(
    r"(key|token|secret|passw|pwd|auth|credential|cookie|session|signature|private|bearer|dsn|conn)",
    re.IGNORECASE,
)
_FLAG_WITH_VALUE = re.compile(r"^(--?[A-Za-z0-9_.-]+)=(.+)$", re.DOTALL)
_NAME_WITH_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$", re.DOTALL)
_HEADER_SHAPE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.+)$", re.DOTALL)
_ENV_FLAGS = frozenset({"-e", "--env"})
_HEADER_FLAGS = frozenset({"-h", "--header", "--headers"})
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>`]+", re.IGNORECASE)
_URL_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)([^/@\s]+)@", re.IGNORECASE)
_TOKEN_PREFIX = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{8,}|github_pat_[A-Za-z0-9_]{8,}|glpat-[A-Za-z0-9_-]{8,}|sk[-_][A-Za-z0-9_-]{8,}"
    r"|xox[abprs]-[A-Za-z0-9-]{8,}|npm_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{16})"
)
# A secret-named assignment in free text: `_authToken=x`, `export API_KEY="x"`, `password: x`.
_ASSIGNMENT = re.compile(
    r"(?P<name>[A-Za-z0-9_.\-/:@]*(?:key|token|secret|passw|pwd|auth|credential|cookie|bearer|dsn)"
    r"[A-Za-z0-9_.\-]*)(?P<sep>\s*[=:]\s*)(?P<quote>['\"]?)(?P<value>[^\s'\"]+)",
    re.IGNORECASE,
)
_SCHEME_CREDENTIAL = re.compile(r"\b(Bearer|Basic|Token)(\s+)([A-Za-z0-9._~+/=-]{4,})", re.IGNORECASE)
# Short names that end a variable's or flag's name (`DB_PASS=x`, `REDIS_PW=x`, `--pass=x`): only with `=`
# and only as the name's last word, so `--pass-through=1`, `bypass=1` or "tests pass: 5" stay as they are.
_SHORT_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_.\-/:@])(?P<name>(?:[A-Za-z0-9_.\-]*[_.\-])?(?:pass|pw))(?P<sep>=)(?P<quote>['\"]?)"
    r"(?P<value>[^\s'\"]+)",
    re.IGNORECASE,
)
# Credentials passed as command-line words in scripts, where the flag alone does not say "secret":
# mysql's `-pVALUE` (attached; `-P` is the port), `-u user:password` (curl), `sshpass -p x` and
# `docker login -p x`, and a long password/token flag followed by its value (`--password x`).
_END = r"[^\n|;&]*?"  # the rest of the same command
_MYSQL_PASSWORD = re.compile(
    rf"(?P<lead>\b(?:mysql|mariadb|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow)\b{_END}\s-p)"
    r"(?P<quote>['\"]?)(?P<value>[^\s'\"]+)"
)
_USER_PASSWORD = re.compile(
    r"(?P<lead>(?<![\w-])(?:-u|--user)(?:\s+|=)(?P<quote>['\"]?)[^\s:'\"$]+:)(?P<value>[^\s'\"]+)"
)
_PASSWORD_OPTION = re.compile(
    rf"(?P<lead>(?:\bsshpass\b{_END}\s-p|\bdocker\s+login\b{_END}\s-p)\s*|"
    r"(?<![\w-])--(?:[a-z0-9]+-)*(?:password|passwd|pass|token|secret|api-key|apikey)\s+)"
    r"(?P<quote>['\"]?)(?P<value>[^\s'\"-][^\s'\"]*)",
    re.IGNORECASE,
)


def mask(value: str | None) -> str | None:
    """A placeholder that keeps only whether the value is set and how long it is."""
    if value is None:
        return None
    return f"{MASK} ({len(value)} chars)" if value else ""


def _token_like(text: str) -> bool:
    """A credential-looking string: long, or mixing letters and digits like generated tokens do."""
    if _TOKEN_PREFIX.fullmatch(text):
        return True
    if not re.fullmatch(r"[A-Za-z0-9_\-.~+=]{12,}", text):
        return False
    has_digit = any(ch.isdigit() for ch in text)
    has_alpha = any(ch.isalpha() for ch in text)
    return (has_digit and has_alpha) or len(text) >= 32


def mask_url(url: str) -> str:
    """Mask credentials in a URL: userinfo, token-like path segments, secret-looking query values."""
    url = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest, hash_sep, fragment = rest.partition("#")
    path, query_sep, query = rest.partition("?")
    host, *segments = path.split("/")
    masked_segments: list[str] = []
    after_secret_name = False
    for segment in segments:
        if segment and (after_secret_name or _token_like(segment)):
            masked_segments.append(MASK)
        else:
            masked_segments.append(segment)
        after_secret_name = bool(segment) and bool(
            SECRET_NAME.fullmatch(segment.lower()) or _is_key_word(segment)
        )
    params: list[str] = []
    for param in query.split("&") if query else []:
        name, eq, value = param.partition("=")
        if (
            eq
            and value
            and (SECRET_NAME.search(name) or name.lower() in ("sig", "code") or _token_like(value))
        ):
            params.append(f"{name}={MASK}")
        else:
            params.append(param)
    out = f"{scheme}://{'/'.join([host, *masked_segments])}"
    if query_sep:
        out += "?" + "&".join(params)
    if hash_sep:
        out += "#" + (MASK if _token_like(fragment) or "=" in fragment else fragment)
    return out


def _is_key_word(segment: str) -> bool:
    return segment.lower() in ("key", "keys", "token", "tokens", "secret", "secrets", "apikey", "api-key")


def mask_text(text: str) -> str:
    """Mask every secret shape in free text (hook scripts, config lines, an argument's value)."""
    text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    text = _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    for assignment in (_ASSIGNMENT, _SHORT_ASSIGNMENT):
        text = assignment.sub(
            lambda m: (
                m.group(0)
                if _not_a_value(m.group("value"))
                else f"{m.group('name')}{m.group('sep')}{m.group('quote')}{MASK}"
            ),
            text,
        )
    for option in (_MYSQL_PASSWORD, _USER_PASSWORD, _PASSWORD_OPTION):
        text = option.sub(
            lambda m: (
                m.group(0) if _not_a_value(m.group("value")) else f"{m.group('lead')}{m.group('quote')}{MASK}"
            ),
            text,
        )
    return _TOKEN_PREFIX.sub(MASK, text)


def _not_a_value(value: str) -> bool:
    """Already masked, or a reference to a variable (`$DB_PASS`) rather than the secret itself."""
    return value.startswith(MASK) or value.startswith("$")


def _mask_env_pair(arg: str) -> str:
    pair = _NAME_WITH_VALUE.match(arg)
    if pair:
        return f"{pair.group(1)}={MASK}" if pair.group(2) else arg
    return arg  # `-e NAME` passes a variable through without a value


def _mask_header(arg: str) -> str:
    header = _HEADER_SHAPE.match(arg)
    return f"{header.group(1)}: {MASK}" if header else MASK


def mask_args(args: Iterable[str]) -> list[str]:
    """Mask command-line arguments that carry secrets (see the module docstring for the shapes)."""
    masked: list[str] = []
    hide_next = False
    previous = ""
    for arg in args:
        if hide_next:
            masked.append(MASK)
        elif previous.lower() in _ENV_FLAGS:
            masked.append(_mask_env_pair(arg))
        elif previous.lower() in _HEADER_FLAGS:
            masked.append(_mask_header(arg))
        else:
            masked.append(_mask_one_arg(arg))
        hide_next = (
            not hide_next
            and arg.startswith("-")
            and "=" not in arg
            and bool(SECRET_NAME.search(arg))
            and arg.lower() not in _HEADER_FLAGS
        )
        previous = arg
    return masked


def _mask_one_arg(arg: str) -> str:
    flag = _FLAG_WITH_VALUE.match(arg)
    if flag:
        name, value = flag.groups()
        if flag.group(1).lower() in _ENV_FLAGS:
            return f"{name}={_mask_env_pair(value)}"
        if name.lower() in _HEADER_FLAGS:
            return f"{name}={_mask_header(value)}"
        if SECRET_NAME.search(name):
            return f"{name}={MASK}"
        return f"{name}={mask_text(value)}"
    pair = _NAME_WITH_VALUE.match(arg)
    if pair and "://" not in arg.split("=", 1)[0] and SECRET_NAME.search(pair.group(1)):
        return f"{pair.group(1)}={MASK}"
    header = _HEADER_SHAPE.match(arg)
    if header and "://" not in arg and SECRET_NAME.search(header.group(1)):
        return f"{header.group(1)}: {MASK}"
    return mask_text(arg)


def mask_mcp_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Mask an environment MCP's config: every env value and header value, secret shapes in args and URLs.

    Unknown keys are masked when their name looks secret, and their text is searched for secret shapes.
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("env", "headers") and isinstance(value, Mapping):
            out[key] = {name: mask(str(item)) for name, item in value.items()}
        elif key == "args" and isinstance(value, list):
            out[key] = mask_args(str(item) for item in value)
        else:
            out[key] = _mask_value(value, secret=bool(SECRET_NAME.search(key)))
    return out


def _mask_value(value: Any, *, secret: bool) -> Any:
    """A value of an MCP config at any depth (objects inside lists too); `secret`: under a secret-looking
    name, where every scalar is masked whole (a numeric PIN as much as a string token)."""
    if isinstance(value, Mapping):
        return mask_mcp_config(value)
    if isinstance(value, list):
        return [_mask_value(item, secret=secret) for item in value]
    if secret and value is not None and not isinstance(value, bool):
        return mask(str(value))
    if isinstance(value, str):
        return mask_text(value)
    return value
