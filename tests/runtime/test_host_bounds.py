"""What crosses from V8 into Python through the host channel is bounded, and chunking keeps text whole."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jspolicy.runtime.channel import HEADER_BYTES, STATUS_DONE, STATUS_ERROR, STATUS_SEND_MORE, HostChannel
from jspolicy.runtime.context import PolicyContext
from jspolicy.runtime.program import PolicyProgram, RawResult
from jspolicy.runtime.settings import Limits, RuntimeSettings
from tests.conftest import Evaluate

LIMIT = Limits().host_request
CHANNEL_BYTES = 64 * 1024


def send(
    channel: HostChannel, view: memoryview, text: str | bytes, following: int
) -> tuple[int, str, tuple[str, str] | None]:
    """Write one request chunk (text, or UTF-16 units) as runtime.js does; the status, reply text and request."""
    data = text if isinstance(text, bytes) else text.encode("utf-16-le")
    view[HEADER_BYTES : HEADER_BYTES + len(data)] = data
    struct.pack_into("<ii", view, 0, len(data) // 2, 0)
    struct.pack_into("<i", view, 28, following)
    request = channel.receive()
    status, units = struct.unpack_from("<ii", view, 4)
    return status, bytes(view[HEADER_BYTES : HEADER_BYTES + 2 * units]).decode("utf-16-le"), request


def test_the_channel_refuses_at_the_first_chunk_what_would_go_over_the_cap() -> None:
    view = memoryview(bytearray(HEADER_BYTES + 2 * 128))  # room for the error message; chunks of 16 units
    channel = HostChannel(view, max_request=40)
    status, message, request = send(channel, view, "create\x00" + "a" * 9, following=41 - 16)
    assert (status, request) == (STATUS_ERROR, None)
    assert message == "create: the request is 41 characters long, over the host-call limit of 40"
    # runtime.js throws instead of sending the rest; the next call starts afresh.
    assert send(channel, view, "print\x00hi", following=0)[::2] == (STATUS_DONE, ("print", "hi"))
    assert send(channel, view, "create\x00" + "a" * 9, following=40 - 16)[0] == STATUS_SEND_MORE
    assert send(channel, view, "b" * 16, following=40 - 32)[0] == STATUS_SEND_MORE
    assert send(channel, view, "c" * 8, following=0)[2] == ("create", "a" * 9 + "b" * 16 + "c" * 8)


def test_a_surrogate_pair_split_between_chunks_arrives_whole() -> None:
    view = memoryview(bytearray(HEADER_BYTES + 2 * 8))
    channel = HostChannel(view)
    units = "print\x00a😀b".encode("utf-16-le")  # 10 units: the pair is the 8th and 9th
    assert send(channel, view, units[:16], following=2)[0] == STATUS_SEND_MORE
    assert send(channel, view, units[16:], following=0)[2] == ("print", "a😀b")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def call(self, op: str, args: list[Any], deadline: float) -> Any:
        self.calls.append((op, args))
        return {"ok": True}

    def print(self, line: str) -> None:
        self.calls.append(("print", [line]))


@pytest.fixture(scope="module")
def small_channel() -> Iterator[PolicyContext]:
    context = PolicyContext(RuntimeSettings(channel_bytes=CHANNEL_BYTES))
    yield context
    context.close()


def run(context: PolicyContext, source: str, host: Recorder) -> RawResult:
    return context.evaluate(PolicyProgram.of("bounds", source), "{}", host, time.monotonic() + 30)


def test_a_request_chunked_inside_a_surrogate_pair_keeps_it(small_channel: PolicyContext) -> None:
    """V8 writes chunks of the channel's capacity, wherever that falls in the text."""
    capacity = (CHANNEL_BYTES - HEADER_BYTES) // 2
    before = len('create\x00[{"data":"')
    value = "a" * (capacity - 1 - before) + "😀" + "b"  # the high surrogate is the first chunk's last unit
    host = Recorder()
    result = run(small_channel, f"create({{data: {json.dumps(value)}}}); deny('sent')", host)
    assert result.message == "sent", result.error
    assert host.calls == [("create", [{"data": value}])]


def test_a_host_call_over_the_cap_throws_and_the_context_keeps_working(evaluate: Evaluate) -> None:
    size = LIMIT + 1024
    big = (f"{{apiVersion: 'v1', kind: 'ConfigMap', metadata: {{name: 'x', namespace: 'default'}}, "
           f"data: {{a: 'x'.repeat({size})}}}}")  # fmt: skip
    outcome = evaluate(f"try {{ create({big}) }} catch (e) {{ deny('caught ' + e.message) }}", timeoutSeconds=30)
    assert outcome.allowed is False
    assert outcome.message.startswith("caught create: the request is ")
    assert outcome.message.endswith(f"characters long, over the host-call limit of {LIMIT}")
    assert evaluate("deny('still ' + 'fine')").message == "still fine"


def test_a_call_at_the_cap_reaches_the_host(small_channel: PolicyContext) -> None:
    """The cap counts the whole request (op, NUL, JSON), chunked over the small channel 257 times."""
    padding = LIMIT - len('create\x00[{"a":""}]')
    host = Recorder()
    result = run(small_channel, f"create({{a: 'x'.repeat({padding})}}); deny('sent')", host)
    assert result.message == "sent", result.error
    assert [(op, len(args[0]["a"])) for op, args in host.calls] == [("create", padding)]
    over = run(small_channel, f"create({{a: 'x'.repeat({padding + 1})}})", Recorder())
    assert over.error is not None and f"is {LIMIT + 1} characters long" in over.error


def test_a_terminal_result_at_every_limit_fits_in_one_host_call(small_channel: PolicyContext) -> None:
    """A policy that can catch (it says `try`) ends through the host: its result must never be over the cap."""
    limits = Limits()
    quotes = (limits.patched - len('{"a":""}')) // 2  # the largest patched object, and all quotes
    source = (
        "try {} finally {}\n"
        f"for (let i = 0; i < {limits.warnings}; i++) warn('\\u0001'.repeat({limits.warning}));\n"
        f"mutate({{a: '\"'.repeat({quotes})}});"
    )
    result = run(small_channel, source, Recorder())
    assert result.error is None, result.error
    assert result.patched is not None and len(result.patched) == limits.patched - limits.patched % 2
    assert [len(warning) for warning in result.warnings] == [limits.warning] * limits.warnings
