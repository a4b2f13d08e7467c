"""Log lines cannot be forged through request data."""

from __future__ import annotations

import json
import logging

import pytest

from jspolicy.service.logs import JsonFormatter, PlainFormatter


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("jspolicy.webhook", logging.WARNING, __file__, 1, message, args, None)


@pytest.mark.parametrize("path", ["/policy/x\nFAKE ERROR admin allowed", "/policy/x\r\x1b[2Jy\x7f"])
def test_plain_lines_escape_control_characters_from_request_data(path: str) -> None:
    line = PlainFormatter().format(record("refused %s: %s", path, "bad"))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x7f" not in line
    assert line.endswith("refused " + path.replace("\n", "\\x0a").replace("\r", "\\x0d").replace("\x1b", "\\x1b")
                         .replace("\x7f", "\\x7f") + ": bad")  # fmt: skip


def test_json_lines_keep_the_message_intact() -> None:
    entry = json.loads(JsonFormatter().format(record("refused %s", "/policy/x\ny")))
    assert entry["message"] == "refused /policy/x\ny" and entry["level"] == "warning"
