"""Credentials never reach a log line, whichever library logs them.

The client attaches its `RedactingFilter` to its own loggers, but a logger's filters see only the records
logged on that exact logger: a traceback logged by the SDK, uvicorn or starlette would pass unredacted. So
the server redacts at the one place every record goes through: the log record factory. Each record is
rendered (message and arguments, and its traceback if it has one) and redacted when it is created, before
any handler (stderr, a file, pytest's caplog) sees it. Redacted: `sk_replicas_…` keys, `whsec_…` secrets,
`Authorization`/`Bearer` values, and every secret registered with `register_secret` (the server's API key,
the HTTP bearer token, the webhook secret).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from replicas_mcp.client._redact import RedactingFilter, redact_text, register_secret

__all__ = ["install_log_redaction", "redact_text", "register_secret"]

_lock = threading.Lock()
_installed = False
_filter = RedactingFilter()


def install_log_redaction() -> None:
    """Redact every log record of the process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _filter.filter(record)
            if record.stack_info:
                record.stack_info = redact_text(record.stack_info)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True
