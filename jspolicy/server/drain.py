"""A graceful shutdown that does not cut off a request already on its way.

uvicorn's shutdown closes every idle keep-alive connection at once. A client that had
just picked such a connection (HTTP clients reuse the most recently used one, and the
API server's Go client does not retry a POST whose request was written) then gets no
answer, and the API server applies the policy's failurePolicy. Here an idle connection
is kept for a short linger instead: a request that arrives is answered with
``Connection: close`` (the client reconnects, to a worker that still listens), and only
a connection that stays idle through the linger is closed, as the keep-alive timeout
would close it anyway.
"""

from __future__ import annotations

import asyncio

from jspolicy.server.protocol import GuardedHttpProtocol

# Long enough for a busy client to send once more on each connection it uses; well inside
# the graceful-shutdown time a worker has (jspolicy/server/worker.py).
LINGER_SECONDS = 1.0


class DrainingHttpProtocol(GuardedHttpProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._draining = False
        self._linger: asyncio.TimerHandle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_linger()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        self._draining = True
        if self.cycle is None or self.cycle.response_complete:
            self._close_after_linger()
        else:
            self.cycle.keep_alive = False

    def on_message_begin(self) -> None:
        self._cancel_linger()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # the answer says "Connection: close" and the connection ends after it

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._draining and not self.transport.is_closing():  # a pipelined request, or an HTTP/1.0 client
            self._close_after_linger()

    def _close_after_linger(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        if self._linger is None:
            self._linger = self.loop.call_later(LINGER_SECONDS, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._linger = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
