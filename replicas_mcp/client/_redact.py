"""Keep credentials out of text: error messages, reprs and log records.

Replicas API keys look like `sk_replicas_…` and webhook secrets like `whsec_…`; both are masked wherever
they appear, as is the value of any `Authorization` header. Keys that do not follow the prefix
convention (tests, other deployments) are registered by the client that holds them, so they are masked
too: a client's own key with `register_secret` (kept for the life of the process), a per-caller view's key
(`with_api_key`) with `register_transient_secret`, which keeps only the most recent
`MAX_TRANSIENT_SECRETS` such keys. Per-caller keys the pattern already masks are not registered, so a
server serving many callers' `sk_replicas_…` keys keeps none of them here; the few process-wide secrets
(the client's own key, the HTTP token, the webhook secret) are registered whatever their form.

An echoed secret is masked in every shape `_secret_shapes` knows: any case, a distinctive leading part,
spaced out or separated, and base64 (standard or URL-safe, padded or not). The built-in formats are
matched case-insensitively and when spaced out even for keys never registered.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping

from replicas_mcp.client._secret_shapes import Needle, base64_spans, needle_for, shape_spans

__all__ = [
    "MASK",
    "RedactingFilter",
    "covered_by_pattern",
    "install_log_redaction",
    "redact_headers",
    "redact_text",
    "register_secret",
    "register_transient_secret",
]

MASK = "***"

_TOKEN_PATTERN = re.compile(r"(?i)(sk_replicas_|whsec_)[A-Za-z0-9_\-]+")
_AUTH_PATTERN = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+")
_BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)[^\s'\",}]+")

_lock = threading.Lock()
# Secrets that do not match the prefix patterns, registered for the life of the process.
_registered: list[str] = []
# Per-caller keys that do not match the prefix patterns, most recently used last; at most
# MAX_TRANSIENT_SECRETS, the least recently used dropped first.
MAX_TRANSIENT_SECRETS = 64
_transient: OrderedDict[str, None] = OrderedDict()
# Both, longest first so overlapping secrets mask fully; replaced (never mutated) under the lock.
_masked: tuple[str, ...] = ()
# The same secrets as needles for their other shapes (case, prefix, spacing, base64).
_needles: tuple[Needle, ...] = ()
# Shorter than this, a "secret" would mask ordinary words in messages.
_MIN_REGISTERED_LENGTH = 8


def covered_by_pattern(secret: str) -> bool:
    """True if the built-in pattern masks the whole of `secret` wherever it appears (`sk_replicas_…`,
    `whsec_…`): registering it would add nothing."""
    return _TOKEN_PATTERN.fullmatch(secret) is not None


def _needs_registering(secret: str) -> bool:
    return len(secret) >= _MIN_REGISTERED_LENGTH and not covered_by_pattern(secret)


def _refresh() -> None:
    global _masked, _needles
    _masked = tuple(sorted({*_registered, *_transient}, key=len, reverse=True))
    _needles = tuple(needle for secret in _masked if (needle := needle_for(secret)) is not None)


def register_secret(secret: str) -> None:
    """Mask this value, in all its shapes, in all future redactions (for the life of the process).

    Registered even when the built-in pattern covers it: the pattern masks the plain form only, the
    registration also finds its leading part, base64 and spaced-out copies."""
    if len(secret) < _MIN_REGISTERED_LENGTH:
        return
    with _lock:
        if secret not in _registered:
            _registered.append(secret)
            _refresh()


def register_transient_secret(secret: str) -> None:
    """Mask this value while it is among the `MAX_TRANSIENT_SECRETS` most recently registered transient
    secrets (a caller's key, registered again on each use). Memory stays bounded however many callers come."""
    if not _needs_registering(secret):
        return
    with _lock:
        if secret in _transient:
            _transient.move_to_end(secret)
            return
        _transient[secret] = None
        while len(_transient) > MAX_TRANSIENT_SECRETS:
            _transient.popitem(last=False)
        _refresh()


def registered_count() -> tuple[int, int]:
    """How many secrets are registered: (for the process's life, transient). For tests and diagnostics."""
    return len(_registered), len(_transient)


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in reversed(spans):
        text = text[:start] + MASK + text[end:]
    return text


def redact_text(text: str) -> str:
    """The text with every known credential, in any shape it can be echoed in, replaced by `***`."""
    needles = _needles
    text = _mask_spans(text, base64_spans(text, needles))
    text = _TOKEN_PATTERN.sub(lambda m: m.group(1) + MASK, text)
    text = _AUTH_PATTERN.sub(lambda m: m.group(1) + (m.group(2) or "") + MASK, text)
    text = _BEARER_PATTERN.sub(lambda m: m.group(1) + MASK, text)
    for secret in _masked:
        if secret in text:
            text = text.replace(secret, MASK)
    return _mask_spans(text, shape_spans(text, needles))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of the headers with Authorization masked and other values redacted."""
    return {
        name: (MASK if name.lower() == "authorization" else redact_text(value))
        for name, value in headers.items()
    }


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the rendered message of every record it sees.

    The record's message is rendered once (with its args), redacted, and the args dropped, so a
    credential in an argument cannot reach a handler either.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            rendered = record.getMessage()
        except (TypeError, ValueError):
            rendered = str(record.msg)
        record.msg = redact_text(rendered)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


_installed: set[str] = set()


def install_log_redaction(*logger_names: str) -> None:
    """Attach one `RedactingFilter` to each named logger (idempotent)."""
    with _lock:
        for name in logger_names:
            if name in _installed:
                continue
            logging.getLogger(name).addFilter(RedactingFilter())
            _installed.add(name)
