"""What every child process of ``jspolicy serve`` does the same way, webhook worker or controller."""

from __future__ import annotations

import ctypes
import logging
import signal
import threading

from jspolicy.cluster.informer import InformerFactory

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def exit_with_parent() -> None:
    """Linux: get SIGTERM when the supervisor dies, so no orphan keeps serving on the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.warning("cannot ask to be stopped with the supervisor (prctl unavailable)")


def collect_garbage(informers: InformerFactory, stop: threading.Event) -> None:
    """Stop informers nobody used for a while (checked every minute, as jsPolicy)."""
    while not stop.wait(60):
        informers.collect_garbage()
