"""Structured logs: one JSON object per line with ``--log-json``, plain lines otherwise.

Messages carry request data (paths, policy output), so plain lines escape control
characters: a ``%0A`` in a request path cannot forge a log line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Tab stays; every other C0 control character and DEL is written as an escape.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(32), 127] if code != 9}


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging.Formatter hook)
        original = record.message
        record.message = original.translate(_CONTROL)
        try:
            return super().formatMessage(record)
        finally:
            record.message = original


def configure(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
