"""Fast JSON for the hot path: orjson, falling back to the standard library for
integers beyond 64 bits (which Kubernetes objects may hold and which must stay exact)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# JSON.stringify writes a lone UTF-16 surrogate as an escape (paired ones stay raw
# characters). Decoded, it would be a str that cannot be encoded as UTF-8 later, so
# it becomes U+FFFD, as V8's and Go's UTF-8 conversion make it. An escaped backslash
# before "ud800" (an even run of backslashes) is left alone.
_LONE_SURROGATE = re.compile(r"(?<!\\)((?:\\\\)*)\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# orjson turns integers beyond 64 bits into floats without a word; such numbers have
# 20 or more digits, so text containing a run that long is parsed exactly instead.
_LONG_DIGITS = re.compile(r"\d{20}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{20}")


def loads(text: str | bytes) -> Any:
    pattern = _LONG_DIGITS_BYTES if isinstance(text, bytes) else _LONG_DIGITS
    if pattern.search(text) is None:  # type: ignore[arg-type]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def loads_from_js(text: str) -> Any:
    """Decode JSON that JavaScript produced (JSON.stringify), lone surrogates replaced."""
    if "\\u" in text:
        text = _LONE_SURROGATE.sub(r"\1\\ufffd", text)
    return loads(text)
