"""JSON encoded the way Go's encoding/json does it.

jsPolicy (Go) hashes bundles and writes AdmissionReview responses with
``encoding/json``: compact output, map keys sorted, ``<``, ``>``, ``&``,
U+2028 and U+2029 escaped. Matching that keeps bundle hashes identical and
webhook answers byte-for-byte the same.
"""

from __future__ import annotations

import json
from typing import Any


def escape_html(text: str) -> str:
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def marshal(value: Any, *, sort_keys: bool = False) -> str:
    """encoding/json.Marshal; dict order is kept unless ``sort_keys`` (Go maps sort, structs do not)."""
    return escape_html(json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False))
