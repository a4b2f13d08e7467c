"""fetchSync follows redirects to http and https only, and checks the host allow-list on every hop."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from jspolicy.runtime.fetch import FetchError, fetch


class Redirecting(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/to/") :])
            self.end_headers()
            return
        body = b"landed"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/x", "file:///etc/passwd", "FTP://127.0.0.1/x", "gopher://h/"])
def test_a_redirect_to_another_scheme_is_refused(base: str, target: str) -> None:
    with pytest.raises(FetchError, match="unsupported protocol scheme"):
        fetch(f"{base}/to/{target}", {}, timeout=10, allowed=None)


def test_a_redirect_to_http_is_followed(base: str) -> None:
    result = fetch(f"{base}/to/{base}/end", {}, timeout=10, allowed=None)
    assert (result["status"], result["body"]) == (200, "landed")


def test_a_redirect_to_a_host_off_the_allow_list_is_refused(base: str) -> None:
    with pytest.raises(FetchError, match="not allowed"):
        fetch(f"{base}/to/http://localhost:1/end", {}, timeout=10, allowed=("127.0.0.1:*",))
