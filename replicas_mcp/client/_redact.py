"""Keep credentials out of text: error messages, reprs and log records.

Replicas API keys look like `sk_replicas_…` and webhook secrets like `whsec_…`; both are masked wherever
they appear, as is the value of any `Authorization` header. Keys that do not follow the prefix
convention (tests, other deployments) are registered with `register_secret` by the client that holds
them, so they are masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping

__all__ = [
    "MASK",
    "RedactingFilter",
    "install_log_redaction",
    "redact_headers",
    "redact_text",
    "register_secret",
]

MASK = "***"

_TOKEN_PATTERN = re.compile(r"(sk_replicas_|whsec_)[A-Za-z0-9_\-]+")
_AUTH_PATTERN = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+")
_BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)[^\s'\",}]+")

_lock = threading.Lock()
# Secrets that do not match the prefix patterns; kept sorted longest-first so overlaps mask fully.
_registered: list[str] = []
# Shorter than this, a "secret" would mask ordinary words in messages.
_MIN_REGISTERED_LENGTH = 8


def register_secret(secret: str) -> None:
    """Mask this exact value in all future redactions (process-wide)."""
    if len(secret) < _MIN_REGISTERED_LENGTH:
        return
    with _lock:
        if secret not in _registered:
            _registered.append(secret)
            _registered.sort(key=len, reverse=True)


def redact_text(text: str) -> str:
    """The text with every known credential replaced by `***`."""
    text = _TOKEN_PATTERN.sub(lambda m: m.group(1) + MASK, text)
    text = _AUTH_PATTERN.sub(lambda m: m.group(1) + (m.group(2) or "") + MASK, text)
    text = _BEARER_PATTERN.sub(lambda m: m.group(1) + MASK, text)
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


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
