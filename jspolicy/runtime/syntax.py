"""Syntax errors of a policy's inline JavaScript, with their line, before anything runs it.

A syntax error is a build error (jsPolicy's webpack step fails on it), so the CLI, the webhook's
policy store and the reconciler all refuse such a policy up front. The runtime's own compile check
(``Function()``, which keeps a body from closing its wrapper) gives V8's message without a line;
compiling the body as a script gives the line. That second compile only happens for code that has
already failed, in an isolate of its own with no helpers, a memory limit and a deadline, so even a
body that does close the wrapper reaches nothing.
"""

from __future__ import annotations

import functools
import json
import re
import threading

from jspolicy.runtime.v8 import Isolate, V8Error, V8ParseError, V8TerminatedError

CHECK_TIMEOUT = 5.0
HEAP_LIMIT = 64 * 1024 * 1024
PARAMS = "'request', 'exports', '__policy', '__response'"  # the runtime's (js/runtime.js)
WRAPPER = "(function (request, exports, __policy, __response) {\n"
_PARSE_LOCATION = re.compile(r"^<anonymous>:(\d+): (.*)$", re.M)

_lock = threading.Lock()
_isolate: Isolate | None = None


@functools.lru_cache(maxsize=1024)
def syntax_error(source: str) -> str | None:
    """``line N: SyntaxError: ...`` (lines of ``source``), or None when it parses as a policy body."""
    global _isolate
    with _lock:
        if _isolate is None or _isolate.closed:
            _isolate = Isolate(lambda: None)
            _isolate.set_hard_memory_limit(HEAP_LIMIT)
        checker = _isolate
        body = json.dumps(source)
        probe = f"(() => {{ try {{ new Function({PARAMS}, {body}); return ''; }} catch (e) {{ return String(e) }} }})()"
        try:
            message = checker.eval(probe, timeout=CHECK_TIMEOUT)
        except (V8Error, V8TerminatedError) as error:
            _isolate = None
            checker.close()
            return f"cannot be checked: {error}"
        if not message:
            return None
        try:
            checker.eval(WRAPPER + source + "\n})", timeout=CHECK_TIMEOUT)
        except V8ParseError as error:
            found = _PARSE_LOCATION.search(str(error))
            if found:
                return f"line {max(1, int(found[1]) - 1)}: {found[2]}"
        except V8Error:
            pass
        # It parsed as a script (a body that closes the wrapper) or the check itself failed: start afresh.
        _isolate = None
        checker.close()
        return str(message)
