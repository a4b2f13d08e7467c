"""One hardened V8 context with the jsPolicy runtime and its compiled policies.

A context is used by one evaluation at a time (the pool guarantees it). The
evaluating thread waits for the result itself and enforces the timeout, so no
watchdog thread is needed; host calls from JS run on the isolate thread.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple, Protocol

from jspolicy import fastjson
from jspolicy.runtime.channel import HostChannel
from jspolicy.runtime.program import ErrorKind, PolicyProgram, RawResult
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.runtime.steps import AwaitResult, Blocking, Steps, drive
from jspolicy.runtime.v8 import Isolate, V8Error, V8OutOfMemoryError, V8TerminatedError

log = logging.getLogger(__name__)

RUNTIME_SOURCE = resources.files("jspolicy.runtime").joinpath("js/runtime.js").read_text("utf-8")
SETUP_TIMEOUT = 30.0
# How long a posted task may wait before the context counts as wedged (an
# endless promise chain left by an earlier run keeps the isolate thread busy).
START_GRACE = 0.25
LOADED_PROGRAMS = 256
# How long a terminated task may take to actually stop before its context is abandoned.
CANCEL_GRACE = 2.0
TASK_SOURCE_URL = "\n//# sourceURL=jspolicy-runtime"
# Host calls that change nothing outside the run: a run that made only these may run again.
READ_ONLY_CALLS = frozenset({"get", "list", "env", "readFile", "sleep"})
# Heap a context may hold above its baseline before it collects garbage, as a fraction of the heap limit
# (32 MiB of the default 128 MiB). The garbage a run leaves for the next one stays below it, and V8's hard
# limit has this much room on top of the setting, so that garbage never cuts what a policy may allocate
# itself. Measured: the bench policies never reached it in 10,000 evaluations each; a policy importing all
# of lodash leaves ~20 MiB of old garbage between V8's own collections, and with 1/8 it paid for a full
# collection (~10 ms) every ~60 evaluations (+10-20 % per evaluation), with 1/4 once in 1,000.
HEAP_SLACK_DIVISOR = 4
# What a loaded program may add to the baseline (source, bytecode, feedback, optimised code), so that code
# is not taken for memory kept by a policy: per character of source, V8 14.4 held 2.5 bytes for lodash,
# 7 for the Pod Security baseline policy and 7.7 for 2,000 small hot functions.
PROGRAM_HEAP_PER_CHARACTER = 8
PROGRAM_HEAP_FIXED = 64 * 1024


class Host(Protocol):
    """What a run may reach outside V8 (runtime/host.py implements it)."""

    def call(self, op: str, args: list[Any], deadline: float) -> Any: ...

    def print(self, line: str) -> None: ...


class _NoHost:
    """Compiling runs no policy code, so nothing may reach the host."""

    def call(self, op: str, args: list[Any], deadline: float) -> Any:
        raise RuntimeError(f"{op} called while compiling")

    def print(self, line: str) -> None:
        return None


class ContextUnusableError(Exception):
    """The context must be replaced; the run did not happen, or changed nothing, and may be retried."""


class _Loaded(NamedTuple):
    task: str  # the code of its run task
    heap: int  # what it may add to the context's heap baseline


@dataclass
class _Run:
    name: str
    host: Host
    deadline: float
    task: int = -1
    exit_payload: str | None = None
    timed_out: bool = False
    changed: bool = False  # it made a host call that changes something (create, update, remove, fetchSync)


class PolicyContext:
    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self._isolate = Isolate(self._on_host_call)
        self._heap_slack = settings.heap_limit_bytes // HEAP_SLACK_DIVISOR
        # A run may find up to the slack of garbage left by earlier runs: V8's limit has that much more room.
        self._isolate.set_hard_memory_limit(settings.heap_limit_bytes + self._heap_slack)
        self._buffer = self._isolate.shared_buffer(settings.channel_bytes, "__jsp_sab")
        self._channel = HostChannel(self._buffer.view)
        self._isolate.make_host_function("__jsp_host_raw")
        self._secret = json.dumps(secrets.token_hex(16))  # see runtime.js: only the host may call __jsp
        config = json.dumps(
            {
                "limits": settings.limits.as_js(),
                "globalContext": settings.global_context,
                "secret": json.loads(self._secret),
            }
        )
        self._isolate.eval(f"({RUNTIME_SOURCE})(globalThis, {config}){TASK_SOURCE_URL}", timeout=SETUP_TIMEOUT)
        self._isolate.collect_garbage()
        self._heap_baseline = self._isolate.heap_used()
        self._programs_heap = 0
        self._set_heap_threshold()
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()  # by program key
        self._token = 0
        self._run: _Run | None = None
        self.evaluations = 0
        self.needs_replacement = False
        # A task that kept running after it was terminated: its isolate thread is still busy (a long
        # C++ builtin, a host call), so the process hosting it loses that CPU until it exits.
        self.runaway = False

    # -- public ----------------------------------------------------------------------------

    def evaluate(self, program: PolicyProgram, request_json: str, host: Host, deadline: float) -> RawResult:
        """Run ``program`` on one AdmissionRequest (JSON text); see ``run``."""
        return drive(self.run(program, request_json, host, deadline))

    def run(self, program: PolicyProgram, request_json: str, host: Host, deadline: float) -> Steps[RawResult]:
        """The steps of one run of ``program`` on an AdmissionRequest (JSON text).

        Raises ContextUnusableError when the context was found broken before the
        policy started, or when the policy changed nothing and reached the heap limit
        on memory that earlier runs kept; the caller retries on a fresh context.
        """
        self.evaluations += 1
        if self._isolate.soft_memory_limit_reached():
            yield from self._ready()
        run = _Run(program.name, host, deadline)
        self._run = run
        try:
            if program.key not in self._loaded:
                failure = yield from self._load(program, run)
                if failure is not None:
                    return failure
            self._loaded.move_to_end(program.key)
            result = yield from self._call_run(program, request_json, run)
            if result.error_kind is ErrorKind.MEMORY and self.evaluations > 1 and not run.changed:
                # Memory an earlier run kept where no collection had seen it yet (allocated after the last
                # one, or by promise callbacks still running when this run was posted) counts here first.
                kept = yield from self._settle()
                if kept is not None:
                    raise ContextUnusableError(f"it reached the heap limit, and then {kept}")
            elif not self.needs_replacement and self._isolate.soft_memory_limit_reached():
                kept = yield from self._settle()  # it left much: collect now, not in the next run
                if kept is not None:
                    log.warning("replacing a JavaScript context after running %s: %s", run.name, kept)
            return result
        finally:
            self._run = None
            if self._isolate.hard_memory_limit_reached():
                self.needs_replacement = True
            if self.settings.recycle_after and self.evaluations >= self.settings.recycle_after:
                self.needs_replacement = True

    def compile(self, program: PolicyProgram, deadline: float) -> str | None:
        """Compile ``program`` without running it: the syntax error, or None (and it stays loaded)."""
        if program.key in self._loaded:
            return None
        if self._isolate.soft_memory_limit_reached():  # loading sets a new threshold, which clears the flag
            drive(self._ready())
        run = _Run(program.name, _NoHost(), deadline)
        self._run = run
        try:
            failure = drive(self._load(program, run))
        finally:
            self._run = None
        return None if failure is None else failure.error or "the policy does not compile"

    def globals_clean(self) -> bool:
        """Whether the global object holds only the baseline (for tests and health)."""
        return bool(self._isolate.eval(f"__jsp.globalsClean({self._secret})", timeout=SETUP_TIMEOUT))

    def close(self) -> None:
        self._isolate.close()

    @property
    def closed(self) -> bool:
        return self._isolate.closed

    # -- loading and running ---------------------------------------------------------------

    def _load(self, program: PolicyProgram, run: _Run) -> Steps[RawResult | None]:
        code = f"__jsp.load({self._secret},{json.dumps(program.key)},{json.dumps(program.name)}){TASK_SOURCE_URL}"
        outcome = yield from self._call(code, program.source, run)
        if isinstance(outcome, RawResult):
            return outcome
        if "error" in outcome:
            return RawResult.failure(ErrorKind.EXCEPTION, outcome["error"])
        task = f"__jsp.run({self._secret},{json.dumps(program.key)}){TASK_SOURCE_URL}"
        size = len(program.source) + len(self.settings.global_context)
        loaded = self._loaded[program.key] = _Loaded(task, PROGRAM_HEAP_FIXED + PROGRAM_HEAP_PER_CHARACTER * size)
        self._programs_heap += loaded.heap
        while len(self._loaded) > LOADED_PROGRAMS:
            evicted, unloaded = self._loaded.popitem(last=False)
            self._programs_heap -= unloaded.heap
            unload = f"__jsp.unload({self._secret},{json.dumps(evicted)}){TASK_SOURCE_URL}"
            yield Blocking(functools.partial(self._isolate.eval, unload, timeout=SETUP_TIMEOUT))
        self._set_heap_threshold()
        return None

    def _call_run(self, program: PolicyProgram, request_json: str, run: _Run) -> Steps[RawResult]:
        outcome = yield from self._call(self._loaded[program.key].task, request_json, run)
        if isinstance(outcome, RawResult):
            return outcome
        if outcome.get("unknown"):
            self._loaded.pop(program.key, None)
            self.needs_replacement = True
            raise ContextUnusableError("program was not loaded")
        return _decode_result(outcome)

    def _call(self, code: str, input_text: str, run: _Run) -> Steps[dict[str, Any] | RawResult]:
        """Post one task and wait for it; a RawResult means the run failed."""
        self._token += 1
        token = self._token
        self._channel.begin(token, input_text)
        task = self._isolate.post(code)
        run.task = task
        if run.exit_payload is not None:
            self._isolate.cancel(task)  # exit() came before the task id was known
        try:
            text = yield from self._wait(task, token, run)
        except V8TerminatedError:
            return self._terminated(run)
        except V8OutOfMemoryError:
            self.needs_replacement = True
            limit = self.settings.heap_limit_mb
            return RawResult.failure(
                ErrorKind.MEMORY, f"script {run.name} exceeded the JavaScript memory limit of {limit} MiB", ran=True
            )
        except V8Error as error:  # the runtime itself failed: log the detail, answer plainly
            self.needs_replacement = True
            log.error("internal error running %s: %s", run.name, error)
            return RawResult.failure(ErrorKind.EXCEPTION, f"script {run.name} failed in the jspolicy runtime", ran=True)
        outcome = fastjson.loads_from_js(text)
        if outcome.get("aborted") or outcome.get("recycle"):
            self.needs_replacement = True
            raise ContextUnusableError("the previous run left the context unusable")
        return dict(outcome)

    def _wait(self, task: int, token: int, run: _Run) -> Steps[str]:
        isolate = self._isolate
        remaining = run.deadline - time.monotonic()
        # A healthy context always gets the start grace, even when the request is late.
        try:
            return str((yield AwaitResult(isolate, min(START_GRACE, max(remaining, START_GRACE)))))
        except queue.Empty:
            pass
        if not self._channel.started(token):
            self._channel.abort(token)
            yield Blocking(lambda: time.sleep(0.001))  # let a task that is just starting see the abort
            if not self._channel.started(token):  # (it stores "started" first)
                self.needs_replacement = True
                yield Blocking(functools.partial(self._isolate.close, wedged=True))  # frees the isolate: not on a loop
                raise ContextUnusableError("the context is busy with work left by an earlier run")
        try:
            return str((yield AwaitResult(isolate, max(0.0, run.deadline - time.monotonic()))))
        except queue.Empty:
            run.timed_out = True
            isolate.cancel(task)
        try:
            return str((yield AwaitResult(isolate, CANCEL_GRACE)))
        except queue.Empty:
            # Termination cannot stop a host call or some C++ builtins: give up on this context.
            self.needs_replacement = self.runaway = True
            self._isolate.abandon()
            raise V8TerminatedError("the script did not stop after its timeout") from None

    # -- the heap -------------------------------------------------------------------------------

    def _set_heap_threshold(self) -> None:
        """The heap above which a context collects garbage after a run: mini-racer compares the used heap
        with it after every collection, which costs nothing, and a run only reads the result."""
        self._heap_threshold = self._heap_baseline + self._programs_heap + self._heap_slack
        self._isolate.set_soft_memory_limit(self._heap_threshold)

    def _ready(self) -> Steps[None]:
        """Before a run, once a collection saw the heap above the threshold since the last check: promise
        callbacks of the previous run allocated after it ended."""
        if self._isolate.hard_memory_limit_reached():
            self.needs_replacement = True
            raise ContextUnusableError("promise callbacks of an earlier run reached the heap limit")
        kept = yield from self._settle()
        if kept is not None:
            raise ContextUnusableError(f"after an earlier run, {kept}")

    def _settle(self) -> Steps[str | None]:
        """Collect all garbage and look at the heap again: how much memory earlier runs kept, when that
        is over the threshold (the context is then replaced), or None.

        mini-racer checks its hard limit after every collection, minor ones included, which leave old
        garbage in place; V8 does not know that limit and lets old garbage grow far past it, so the garbage
        of earlier runs counted against the next run's limit. A heap still above the threshold after a full
        collection holds memory a policy kept (say a private field stamped on a shared object, which no
        cleanup of globals sees).
        """
        isolate = self._isolate
        isolate.post("0")  # the collection would wait behind promise callbacks that never end: none may be left
        try:
            yield AwaitResult(isolate, START_GRACE)
        except queue.Empty:
            self.needs_replacement = True
            yield Blocking(functools.partial(isolate.close, wedged=True))  # frees the isolate: not on a loop
            return "the context is busy with work left by a run"
        except V8Error:  # an answer all the same (a context at its limit terminates what it runs): it is free
            pass
        yield Blocking(isolate.collect_garbage)
        if not isolate.soft_memory_limit_reached():  # the verdict of that collection
            return None
        self.needs_replacement = True
        used, threshold = isolate.heap_used() / 2**20, self._heap_threshold / 2**20
        return f"{used:.1f} MiB of heap stayed in use after a full collection (threshold {threshold:.1f} MiB)"

    def _terminated(self, run: _Run) -> dict[str, Any] | RawResult:
        if run.exit_payload is not None:
            return dict(fastjson.loads_from_js(run.exit_payload))
        self.needs_replacement = True
        if run.timed_out:
            return RawResult.failure(ErrorKind.TIMEOUT, f"script {run.name} timed out", ran=True)
        return RawResult.failure(ErrorKind.EXCEPTION, f"script {run.name} was terminated", ran=True)

    # -- host calls (isolate thread) -------------------------------------------------------

    def _on_host_call(self) -> None:
        channel = self._channel
        try:
            request = channel.receive()
            if request is None:
                return
            op, payload = request
            channel.reply(self._dispatch(op, payload))
        except Exception as error:  # a host-side failure becomes a JS Error
            channel.error(f"{type(error).__name__}: {error}")

    def _dispatch(self, op: str, payload: str) -> str:
        if op == "input":
            return self._channel.pending_input
        run = self._run
        if run is None:
            raise RuntimeError("no evaluation is active")
        if op == "exit":
            # Termination needs the task id, which the posting thread may not have
            # stored yet; whichever side comes second cancels (both is harmless).
            run.exit_payload = payload
            if run.task >= 0:
                self._isolate.cancel(run.task)
            return ""
        if op == "print":
            run.host.print(payload)
            return ""
        if op not in READ_ONLY_CALLS:
            run.changed = True
        result = run.host.call(op, fastjson.loads_from_js(payload), run.deadline)
        return "" if result is None else fastjson.dumps(result)


def _decode_result(outcome: dict[str, Any]) -> RawResult:
    return RawResult(
        deny=bool(outcome.get("deny")),
        reason=outcome.get("reason"),
        message=outcome.get("message"),
        code=outcome.get("code"),
        warnings=list(outcome.get("warnings") or ()),
        reschedule=bool(outcome.get("reschedule")),
        patched=outcome.get("patched"),
        error=outcome.get("error"),
        error_kind=ErrorKind.EXCEPTION if outcome.get("error") is not None else None,
        ran=True,
    )
