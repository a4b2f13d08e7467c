"""The host-call channel: a SharedArrayBuffer shared by Python and one isolate.

JS cannot receive a return value from the C callback, and Python cannot touch
the isolate while JS is paused inside that callback, so requests and replies
travel through shared memory instead: a 32-byte header of int32 slots, then a
UTF-16LE payload (bare V8 has no TextEncoder). Messages larger than the buffer
travel in chunks; each request chunk says how many units still follow it, so
Python refuses a request over its cap at the first chunk without reading it.
The same buffer carries each evaluation's input and the start/abort tokens that
let the pool detect a wedged context without a hop.
"""

from __future__ import annotations

import struct

from jspolicy.runtime.settings import Limits

HEADER_BYTES = 32
_REQUEST_LENGTH, _STATUS, _REPLY_LENGTH, _INPUT_LENGTH = 0, 4, 8, 12
_TOKEN, _STARTED, _ABORT, _MORE = 16, 20, 24, 28

STATUS_DONE, STATUS_ERROR, STATUS_SEND_MORE, STATUS_MORE_REPLY = 0, 1, 2, 3

_INT = struct.Struct("<i")
_PAIR = struct.Struct("<ii")
_CODEC = "utf-16-le"
_ERRORS = "surrogatepass"


class HostChannel:
    """Python's end of the channel. Only one evaluation uses it at a time."""

    def __init__(self, view: memoryview, max_request: int = Limits.host_request) -> None:
        self._view = view
        self._capacity = (len(view) - HEADER_BYTES) // 2
        self._max_request = max_request  # UTF-16 code units
        self._request = bytearray()  # the chunks so far, decoded once whole (a chunk may end inside a pair)
        self._pending_reply = b""
        self.pending_input = ""

    @property
    def capacity(self) -> int:
        """Payload capacity in UTF-16 code units."""
        return self._capacity

    # -- evaluation bookkeeping (caller thread, while JS is idle) ------------------------

    def begin(self, token: int, input_text: str) -> None:
        """Place the evaluation's input and token before the task is posted."""
        data = input_text.encode(_CODEC, _ERRORS)
        units = len(data) // 2
        if units <= self._capacity:
            self._view[HEADER_BYTES : HEADER_BYTES + len(data)] = data
            _INT.pack_into(self._view, _INPUT_LENGTH, units)
            self.pending_input = ""
        else:
            _INT.pack_into(self._view, _INPUT_LENGTH, -1)
            self.pending_input = input_text
        self._request.clear()
        _INT.pack_into(self._view, _TOKEN, token)

    def started(self, token: int) -> bool:
        """Whether JS has begun the evaluation that carries ``token``."""
        started: int = _INT.unpack_from(self._view, _STARTED)[0]
        return started == token

    def abort(self, token: int) -> None:
        """Ask JS to skip the evaluation with ``token`` if it has not begun yet."""
        _INT.pack_into(self._view, _ABORT, token)

    # -- host calls (isolate thread, while JS waits) ---------------------------------------

    def receive(self) -> tuple[str, str] | None:
        """The complete request (op, payload), or None when a chunk was handled (or a request refused)."""
        view = self._view
        length = _INT.unpack_from(view, _REQUEST_LENGTH)[0]
        if length == -1:
            self._send_reply_chunk()
            return None
        chunk = view[HEADER_BYTES : HEADER_BYTES + 2 * length]
        following = _INT.unpack_from(view, _MORE)[0]
        total = len(self._request) // 2 + len(chunk) // 2 + following
        if total > self._max_request:
            # Nothing more is collected; runtime.js stops sending at the error status and throws it.
            op = bytes(self._request[:64] or chunk[:64]).decode(_CODEC, "replace").partition("\x00")[0]
            self._request.clear()
            self.error(f"{op}: the request is {total} characters long, over the host-call limit of {self._max_request}")
            return None
        if following:
            self._request += chunk
            _PAIR.pack_into(view, _STATUS, STATUS_SEND_MORE, 0)
            return None
        # Lone surrogates (possible in print() text) become U+FFFD, as in V8's UTF-8.
        if self._request:
            self._request += chunk
            text = self._request.decode(_CODEC, "replace")
            self._request.clear()
        else:
            text = str(chunk, _CODEC, "replace")
        op, _, payload = text.partition("\x00")
        return op, payload

    def reply(self, text: str) -> None:
        self._pending_reply = text.encode(_CODEC, _ERRORS)
        self._send_reply_chunk()

    def error(self, message: str) -> None:
        data = message.encode(_CODEC, _ERRORS)[: 2 * self._capacity]
        self._write(STATUS_ERROR, data[: len(data) - len(data) % 2])

    def _send_reply_chunk(self) -> None:
        data = self._pending_reply
        limit = 2 * self._capacity
        if len(data) <= limit:
            self._pending_reply = b""
            self._write(STATUS_DONE, data)
            return
        last_unit = data[limit - 2] | data[limit - 1] << 8
        cut = limit - 2 if 0xD800 <= last_unit <= 0xDBFF else limit  # keep surrogate pairs whole
        self._pending_reply = data[cut:]
        self._write(STATUS_MORE_REPLY, data[:cut])

    def _write(self, status: int, data: bytes) -> None:
        self._view[HEADER_BYTES : HEADER_BYTES + len(data)] = data
        _PAIR.pack_into(self._view, _STATUS, status, len(data) // 2)
