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

# uvicorn's access formatter unpacks the record's args (client, method, path, version, status): rendering
# them into the message and dropping them, as for every other record, would lose the line.
ACCESS_LOGGER = "uvicorn.access"

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
            if record.name == ACCESS_LOGGER and isinstance(record.args, tuple):
                _redact_access_args(record)
            else:
                _filter.filter(record)
            if record.stack_info:
                record.stack_info = redact_text(record.stack_info)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True


def _redact_access_args(record: logging.LogRecord) -> None:
    """Redact each text argument in place (a path can carry a query string) and keep the tuple's shape."""
    assert isinstance(record.args, tuple)
    record.msg = redact_text(str(record.msg))
    record.args = tuple(redact_text(arg) if isinstance(arg, str) else arg for arg in record.args)
