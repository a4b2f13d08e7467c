"""What crosses from V8 into Python through the host channel is bounded."""

from __future__ import annotations

import struct

import pytest

from jspolicy.runtime import channel as channel_module
from jspolicy.runtime.channel import HEADER_BYTES, MAX_REQUEST_UNITS, STATUS_ERROR, STATUS_SEND_MORE, HostChannel
from tests.conftest import Evaluate


def send(channel: HostChannel, view: memoryview, text: str, *, more: bool) -> tuple[int, tuple[str, str] | None]:
    """Write one request chunk as runtime.js does and return (status, request)."""
    data = text.encode("utf-16-le")
    view[HEADER_BYTES : HEADER_BYTES + len(data)] = data
    struct.pack_into("<i", view, 28, int(more))
    struct.pack_into("<i", view, 0, len(text))
    request = channel.receive()
    return struct.unpack_from("<i", view, 4)[0], request


def test_the_channel_stops_collecting_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_module, "MAX_REQUEST_UNITS", 40)
    view = memoryview(bytearray(HEADER_BYTES + 2 * 16))
    host = HostChannel(view)
    assert send(host, view, "create\x00" + "a" * 9, more=True) == (STATUS_SEND_MORE, None)
    assert send(host, view, "b" * 16, more=True) == (STATUS_SEND_MORE, None)
    assert send(host, view, "c" * 16, more=True) == (STATUS_ERROR, None)  # 48 > 40: refused, nothing kept
    message_units = struct.unpack_from("<i", view, 8)[0]
    assert bytes(view[HEADER_BYTES : HEADER_BYTES + 2 * message_units]).decode("utf-16-le").startswith("a host call")
    # runtime.js throws instead of sending the rest; the next call starts afresh, not after the refused parts.
    assert send(host, view, "print\x00hi", more=False)[1] == ("print", "hi")


def test_a_host_call_over_the_cap_throws_and_the_context_keeps_working(evaluate: Evaluate) -> None:
    size = MAX_REQUEST_UNITS + 1024
    big = (f"{{apiVersion: 'v1', kind: 'ConfigMap', metadata: {{name: 'x', namespace: 'default'}}, "
           f"data: {{a: 'x'.repeat({size})}}}}")  # fmt: skip
    outcome = evaluate(f"try {{ create({big}) }} catch (e) {{ deny('caught ' + e.message) }}", timeoutSeconds=30)
    assert outcome.allowed is False and f"at most {MAX_REQUEST_UNITS} characters" in outcome.message
    assert evaluate("deny('still ' + 'fine')").message == "still fine"
