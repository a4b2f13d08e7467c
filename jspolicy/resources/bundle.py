"""``JsPolicyBundle``: a policy's JavaScript as base64(gzip(js)), and the bundle hash.

Bundles written by jsPolicy's controller, its webpack plugin and the SDK decode
here unchanged; ``encode_bundle`` writes the same format. Decoding is cached by
content, so a bundle is gunzipped once per process, not once per request.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import hashlib
import io
import zlib
from collections.abc import Mapping

from jspolicy import gojson

# A gzip bomb must not take the process down: bundles decompress to at most this.
MAX_BUNDLE_BYTES = 32 * 1024 * 1024


class BundleError(ValueError):
    """A bundle that cannot be decoded."""


def encode_bundle(javascript: str) -> str:
    """base64(gzip(js)), byte-for-byte reproducible (mtime 0)."""
    data = gzip.compress(javascript.encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(data).decode("ascii")


def decode_bundle(bundle: str) -> str:
    """The JavaScript of a ``spec.bundle`` value; raises BundleError."""
    return _decode(bundle)


@functools.lru_cache(maxsize=512)
def _decode(bundle: str) -> str:
    try:
        # Go's decoder (encoding/json []byte) skips \r and \n and rejects anything else.
        compressed = base64.b64decode(bundle.replace("\r", "").replace("\n", "").encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise BundleError(f"spec.bundle is not valid base64: {error}") from None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
            data = stream.read(MAX_BUNDLE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise BundleError(f"spec.bundle is not gzip data: {error}") from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"spec.bundle decompresses to more than {MAX_BUNDLE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BundleError(f"spec.bundle is not UTF-8 JavaScript: {error}") from None


def bundle_hash(javascript: str, dependencies: Mapping[str, str] | None) -> str:
    """``status.bundleHash`` exactly as jsPolicy computes it ("" without javascript).

    ``dependencies`` is the spec field as written: None (absent) hashes as null, an
    empty map as ``{}``, as Go marshals them."""
    if not javascript:
        return ""
    payload = gojson.marshal(
        {"dependencies": None if dependencies is None else dict(dependencies), "javascript": javascript},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
