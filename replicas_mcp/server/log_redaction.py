"""Credentials never reach a log line, whichever library logs them.

The client attaches its `RedactingFilter` to its own loggers, but a logger's filters see only the records
logged on that exact logger: a traceback logged by the SDK, uvicorn or starlette would pass unredacted. So
the server redacts at the one place every record goes through: the log record factory. Each record is
rendered (message and arguments, and its traceback if it has one) and redacted when it is created, before
any handler (stderr, a file, pytest's caplog) sees it. Redacted: `sk_replicas_…` keys, `whsec_…` secrets,
`Authorization`/`Bearer` values, and every secret registered with `register_secret` (the server's API key,
the HTTP bearer token, the webhook secret).

Two more rules keep a log line honest:

- **One record, one line.** A message or argument can carry a caller's text (an unknown prompt name, a
  path): its line breaks and other control characters are escaped (`\n`), and the lines of a traceback or
  stack are indented, so no text can start a line that looks like a record of its own.
- **No bodies.** Some libraries log what they send and receive at DEBUG (`sse_starlette` every SSE chunk,
  so every tool result, revealed secrets included; `httpcore` response headers). Those loggers are held at
  INFO even when the server logs at DEBUG (`BODY_LOGGERS`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from replicas_mcp.client._redact import RedactingFilter, redact_text, register_secret

__all__ = ["install_log_redaction", "redact_text", "register_secret"]

# uvicorn's access formatter unpacks the record's args (client, method, path, version, status): rendering
# them into the message and dropping them, as for every other record, would lose the line.
ACCESS_LOGGER = "uvicorn.access"

# Loggers that write message bodies or headers at DEBUG (see the module docstring).
BODY_LOGGERS = (
    "sse_starlette",
    "mcp.server.streamable_http",
    "mcp.server.sse",
    "httpcore",
    "httpcore2",
    "hpack",
)

# C0 controls but tab, DEL, and the Unicode line and paragraph separators: escaped in messages.
_ESCAPES = str.maketrans(
    {ch: ascii(ch)[1:-1] for ch in [*map(chr, range(0x20)), "\x7f", "\x85", "\u2028", "\u2029"] if ch != "\t"}
)
_INDENT = "    "

_lock = threading.Lock()
_installed = False
_filter = RedactingFilter()


def install_log_redaction() -> None:
    """Redact every log record of the process from now on, one line per message (idempotent); and hold the
    body-logging libraries at INFO or above (each call: the server's level may have been set since)."""
    global _installed
    _quiet_body_loggers()
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name == ACCESS_LOGGER and isinstance(record.args, tuple):
                _redact_access_args(record)
            else:
                _filter.filter(record)
                record.msg = str(record.msg).translate(_ESCAPES)
            if record.exc_text:
                record.exc_text = _indented(record.exc_text)
            if record.stack_info:
                record.stack_info = _indented(redact_text(record.stack_info))
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True


def _redact_access_args(record: logging.LogRecord) -> None:
    """Redact each text argument in place (a path can carry a query string) and keep the tuple's shape."""
    assert isinstance(record.args, tuple)
    record.msg = redact_text(str(record.msg))
    record.args = tuple(
        redact_text(arg).translate(_ESCAPES) if isinstance(arg, str) else arg for arg in record.args
    )


def _indented(text: str) -> str:
    """A traceback or stack, every line indented: none can pass for a record's first line."""
    return "\n".join(_INDENT + line for line in text.translate(_LINE_ENDS).split("\n"))


_LINE_ENDS = str.maketrans({"\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"})


def _quiet_body_loggers() -> None:
    """Hold each body-logging library at INFO, or at the process's level if that is higher."""
    level = max(logging.INFO, logging.getLogger().getEffectiveLevel())
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(level)
