"""A thin binding over the C ABI of mini-racer's ``libmini_racer.so``.

Why not mini-racer's Python API: its only callback API is async (JS gets a
Promise), every context starts an asyncio loop thread, and a stock ``eval``
hops through that loop thread. jsPolicy's helpers must be *synchronous*, and
the admission path is hot. The C library already calls back into Python
synchronously on the isolate thread while JS is paused, so this module talks
to it directly: one callback per isolate, eval results handed to the waiting
thread through a queue, and host calls answered inline.

The ABI is that of the pinned ``mini-racer==0.14.1`` wheel; ``tests`` hold a
guard test that fails loudly if the wheel changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.metadata
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from py_mini_racer._dll import MR_CALLBACK, init_mini_racer

log = logging.getLogger(__name__)

PINNED_MINI_RACER = "0.14.1"

# Value type tags of mini_racer.cc (see py_mini_racer/_objects.py).
_BOOL, _INT, _DOUBLE, _STR = 2, 3, 4, 5
_UNDEFINED = 11
_SHARED_ARRAY_BUFFER = 101
_EXECUTE_ERROR, _PARSE_ERROR, _OOM_ERROR = 200, 201, 202
_TIMEOUT_ERROR, _TERMINATED, _VALUE_ERROR, _KEY_ERROR = 203, 204, 205, 206

RESULT_CALLBACK_ID = 0
HOST_CALLBACK_ID = 1
RELEASE_CALLBACK_ID = 2
RELEASE_RESULT_CALLBACK_ID = 3  # results of the release call travel apart from evaluation results
_ARRAY = 6

# ctypes callbacks from V8's own thread create and destroy a Python thread state
# on every call (~30 µs). Each isolate thread keeps one instead, taken on its first
# callback and given back before the isolate closes.
_ensure_gil = ctypes.pythonapi.PyGILState_Ensure
_ensure_gil.restype = ctypes.c_int
_release_gil = ctypes.pythonapi.PyGILState_Release
_release_gil.argtypes = [ctypes.c_int]

# mini-racer's default, plus a ceiling on the optimising tiers. Single-threaded, V8 compiles
# optimised code on the isolate thread, in the middle of a review: TurboFan's compiles were the
# webhook's p99 at concurrency 16 (30-50 ms in one run of two; 6-10 ms with Maglev as the top
# tier). Policy-sized code runs no slower on Maglev (docs/performance.md).
V8_FLAGS = ("--single-threaded", "--max-opt=2")


class V8Error(Exception):
    """JavaScript failed: the message is V8's own text."""


class V8ParseError(V8Error):
    """The code did not parse."""


class V8OutOfMemoryError(V8Error):
    """The isolate's hard heap limit was reached."""


class V8TerminatedError(V8Error):
    """Execution was terminated (a timeout or a terminal helper call)."""


_ERRORS: dict[int, type[V8Error]] = {
    _EXECUTE_ERROR: V8Error,
    _PARSE_ERROR: V8ParseError,
    _OOM_ERROR: V8OutOfMemoryError,
    _TIMEOUT_ERROR: V8TerminatedError,
    _TERMINATED: V8TerminatedError,
    _VALUE_ERROR: V8Error,
    _KEY_ERROR: V8Error,
}

_dll_lock = threading.Lock()
_dll: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """The process-wide V8 library, initialised once with our flags."""
    global _dll
    with _dll_lock:
        if _dll is None:
            _dll = init_mini_racer(flags=V8_FLAGS, ignore_duplicate_init=True)
        return _dll


def installed_mini_racer_version() -> str:
    return importlib.metadata.version("mini-racer")


def v8_version() -> str:
    return str(library().mr_v8_version().decode("utf-8"))


class _Lifecycle:
    """One long-lived thread creates and frees every isolate.

    mini-racer creates a V8 isolate on the calling thread, and V8 ties per-thread
    heap state to it: freeing the isolate after that thread has exited (a request
    thread, an anyio worker) crashes in V8's heap teardown. Creation and freeing
    therefore always happen here; evaluations may come from any thread.
    """

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[tuple[bool, Any]]]] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._loop, name="v8-lifecycle", daemon=True).start()

    def _loop(self) -> None:
        while True:
            work, reply = self._tasks.get()
            try:
                reply.put((True, work()))
            except BaseException as error:  # handed to the caller
                reply.put((False, error))

    def call(self, work: Callable[[], Any]) -> Any:
        reply: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._tasks.put((work, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value


_lifecycle_lock = threading.Lock()
_lifecycle: _Lifecycle | None = None


def lifecycle() -> _Lifecycle:
    global _lifecycle
    with _lifecycle_lock:
        if _lifecycle is None:
            _lifecycle = _Lifecycle()
        return _lifecycle


@dataclass(frozen=True)
class SharedBuffer:
    """A SharedArrayBuffer's backing store, readable and writable from Python."""

    view: memoryview
    _handle: Any  # the unfreed value handle keeps the backing store alive until close


class Isolate:
    """One V8 isolate with one context, driven from Python threads.

    Calls must be serialised by the caller (the pool hands an isolate to one
    evaluation at a time). ``host`` is called on the isolate thread, with the
    GIL held, whenever JS calls the function made by ``make_host_function``;
    it must never call back into this isolate.
    """

    def __init__(self, host: Callable[[], None]) -> None:
        self._dll = library()
        self._host = host
        self._results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._notify: Callable[[], object] | None = None  # set while an event loop awaits a result
        self._release_results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._callback = MR_CALLBACK(self._on_callback)
        self._ctx: int = lifecycle().call(lambda: self._dll.mr_init_context(self._callback))
        self._closed = False
        self._thread_state: int | None = None
        self._keep_thread_state = True
        self._release_function = self._dll.mr_make_js_callback(self._ctx, RELEASE_CALLBACK_ID)

    # -- callbacks (isolate thread) -------------------------------------------------

    def _on_callback(self, callback_id: int, raw: Any) -> None:
        if self._thread_state is None and self._keep_thread_state:
            self._thread_state = _ensure_gil()
        if callback_id == RESULT_CALLBACK_ID:
            self._results.put(raw)
            notify = self._notify
            if notify is not None:
                with contextlib.suppress(RuntimeError):  # the waiting loop is closed: nobody waits any more
                    notify()
            return
        if callback_id == RELEASE_RESULT_CALLBACK_ID:
            self._release_results.put(raw)
            return
        try:
            if callback_id == RELEASE_CALLBACK_ID:
                if self._thread_state is not None:
                    _release_gil(self._thread_state)
                    self._thread_state = None
            else:
                self._host()
        finally:
            self._dll.mr_free_value(self._ctx, raw)

    # -- evaluation ------------------------------------------------------------------

    def post(self, code: str, callback_id: int = RESULT_CALLBACK_ID) -> int:
        """Start evaluating ``code``; returns the task id. Collect with ``result``."""
        data = code.encode("utf-8")
        handle = self._dll.mr_alloc_string_val(self._ctx, data, len(data), _STR)
        try:
            return int(self._dll.mr_eval(self._ctx, handle, callback_id))
        finally:
            self._dll.mr_free_value(self._ctx, handle)

    def result(self, timeout: float | None = None) -> Any:
        """The next task result; raises queue.Empty after ``timeout`` seconds."""
        raw = self._results.get(timeout=timeout)
        return self._convert(raw)

    async def result_async(self, timeout: float | None = None) -> Any:
        """``result`` for a caller on an event loop: the isolate thread wakes the loop."""
        try:
            return self._convert(self._results.get_nowait())
        except queue.Empty:
            pass
        loop = asyncio.get_running_loop()
        arrived = loop.create_future()

        def wake() -> None:
            if not arrived.done():
                arrived.set_result(None)

        self._notify = lambda: loop.call_soon_threadsafe(wake)
        try:
            try:  # a result that came before the hook was set
                return self._convert(self._results.get_nowait())
            except queue.Empty:
                pass
            try:
                await asyncio.wait_for(arrived, timeout)
            except TimeoutError:
                raise queue.Empty from None
        finally:
            self._notify = None
        return self._convert(self._results.get_nowait())

    def cancel(self, task_id: int) -> None:
        """Terminate the task if it runs (V8 TerminateExecution). Any thread."""
        if not self._closed:
            self._dll.mr_cancel_task(self._ctx, task_id)

    def eval(self, code: str, timeout: float | None = None) -> Any:
        """Evaluate and wait; on ``timeout`` the task is terminated."""
        task = self.post(code)
        try:
            return self.result(timeout)
        except queue.Empty:
            self.cancel(task)
            return self.result()

    def _convert(self, raw: Any) -> Any:
        contents = raw.contents
        kind = contents.type
        try:
            error = _ERRORS.get(kind)
            if error is not None:
                text = contents.value.bytes_val[0 : contents.len].decode("utf-8", "replace")
                raise error(text)
            if kind == _STR:
                return contents.value.bytes_val[0 : contents.len].decode("utf-8")
            if kind == _INT:
                return int(contents.value.int_val)
            if kind == _DOUBLE:
                return float(contents.value.double_val)
            if kind == _BOOL:
                return contents.value.int_val == 1
            return None  # null, undefined, and objects (never needed here: results travel as JSON text)
        finally:
            self._dll.mr_free_value(self._ctx, raw)

    # -- setup helpers (only while no JS runs) ------------------------------------------

    def shared_buffer(self, size: int, global_name: str) -> SharedBuffer:
        """Create ``globalThis[global_name] = new SharedArrayBuffer(size)``."""
        task = self.post(f"globalThis[{global_name!r}] = new SharedArrayBuffer({size})")
        del task
        raw = self._results.get()
        contents = raw.contents
        if contents.type != _SHARED_ARRAY_BUFFER:
            self._convert(raw)  # raises for errors, frees otherwise
            raise V8Error("could not create the host-call buffer")
        array = (ctypes.c_ubyte * contents.len).from_address(contents.value.value_ptr)
        return SharedBuffer(memoryview(array).cast("B"), raw)

    def make_host_function(self, global_name: str) -> None:
        """Define ``globalThis[global_name]``: a JS function that calls ``host``."""
        dll, ctx = self._dll, self._ctx
        function = dll.mr_make_js_callback(ctx, HOST_CALLBACK_ID)
        self.post("globalThis")
        global_object = self._results.get()
        name = global_name.encode("utf-8")
        key = dll.mr_alloc_string_val(ctx, name, len(name), _STR)
        try:
            outcome = dll.mr_set_object_item(ctx, global_object, key, function)
            self._convert(outcome)
        finally:
            for handle in (key, function, global_object):
                dll.mr_free_value(ctx, handle)

    # -- memory --------------------------------------------------------------------------

    def set_hard_memory_limit(self, limit_bytes: int) -> None:
        self._dll.mr_set_hard_memory_limit(self._ctx, limit_bytes)

    def hard_memory_limit_reached(self) -> bool:
        return not self._closed and bool(self._dll.mr_hard_memory_limit_reached(self._ctx))

    def set_soft_memory_limit(self, limit_bytes: int) -> None:
        """mini-racer compares the used heap with this after every garbage collection (and clears the flag)."""
        self._dll.mr_set_soft_memory_limit(self._ctx, limit_bytes)

    def soft_memory_limit_reached(self) -> bool:
        """Whether the last garbage collection saw more used heap than the soft limit (a field read, ~0.3 µs)."""
        return not self._closed and bool(self._dll.mr_soft_memory_limit_reached(self._ctx))

    def collect_garbage(self) -> None:
        """V8's full collection (``LowMemoryNotification``) on the isolate thread; waits for the thread
        to be free, so only call it while no task runs."""
        self._dll.mr_low_memory_notification(self._ctx)

    def heap_used(self) -> int:
        """Bytes of used V8 heap, garbage included. mini-racer builds a V8 context for each call (~260 µs)."""
        raw = self._dll.mr_heap_stats(self._ctx)
        return int(json.loads(self._convert(raw))["used_heap_size"])

    # -- lifecycle -------------------------------------------------------------------------

    def close(self, *, wedged: bool = False) -> None:
        """Free the isolate. A ``wedged`` isolate (busy in an endless microtask loop)
        is freed without first giving back its thread's Python thread state."""
        if self._closed:
            return
        try:
            if self._thread_state is not None and not wedged:
                self._release_thread_state()
        except V8Error as error:  # the isolate cannot run even this; the state stays behind
            log.warning("a closing JavaScript context could not give back its thread state: %s", error)
        finally:
            self._closed = True
            lifecycle().call(lambda: self._dll.mr_free_context(self._ctx))

    def _release_thread_state(self) -> None:
        """Run the private release callback on the isolate thread (the one holding the state)."""
        dll, ctx = self._dll, self._ctx
        self._keep_thread_state = False
        # A context at its heap limit terminates everything it runs: lift the limit first.
        dll.mr_set_hard_memory_limit(ctx, 1 << 40)
        self.post("[]", RELEASE_RESULT_CALLBACK_ID)
        arguments = self._release_results.get(timeout=5.0)
        if arguments.contents.type != _ARRAY:
            self._convert(arguments)  # raises the error that made it fail
            raise V8Error("could not create the release call's arguments")
        undefined = dll.mr_alloc_int_val(ctx, 0, _UNDEFINED)
        try:
            dll.mr_call_function(ctx, self._release_function, undefined, arguments, RELEASE_RESULT_CALLBACK_ID)
            self._convert(self._release_results.get(timeout=5.0))
        except queue.Empty:
            log.warning("a JavaScript context did not give back its thread state")
        finally:
            dll.mr_free_value(ctx, undefined)
            dll.mr_free_value(ctx, arguments)

    def abandon(self) -> None:
        """Stop using an isolate whose task will not stop; free it once that task ends.

        Its thread's Python thread state cannot be given back (the thread is busy)."""
        if self._closed:
            return
        self._closed = True

        def reap() -> None:
            self._results.get()
            lifecycle().call(lambda: self._dll.mr_free_context(self._ctx))

        threading.Thread(target=reap, name="isolate-reaper", daemon=True).start()

    @property
    def closed(self) -> bool:
        return self._closed


__all__ = [
    "HOST_CALLBACK_ID",
    "PINNED_MINI_RACER",
    "Isolate",
    "SharedBuffer",
    "V8Error",
    "V8OutOfMemoryError",
    "V8ParseError",
    "V8TerminatedError",
    "installed_mini_racer_version",
    "library",
    "v8_version",
]
