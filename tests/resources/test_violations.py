"""JsPolicyViolations entries: message truncation, request and user info, omitempty."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jspolicy.admission.request import UserInfo, build_request
from jspolicy.resources.kinds import KindRegistry
from jspolicy.resources.violations import MESSAGE_LIMIT, PolicyViolation, truncate_message

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "shop"},
    "spec": {"replicas": 1},
}
POD: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}}


# ---- truncate_message --------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 255, 256])
def test_short_messages_are_kept(length: int) -> None:
    message = "m" * length
    assert truncate_message(message) == message


@pytest.mark.parametrize("length", [257, 300, 10_000])
def test_long_messages_become_253_bytes_and_dots(length: int) -> None:
    message = "".join(chr(ord("a") + i % 26) for i in range(length))
    truncated = truncate_message(message)
    assert truncated == message[:253] + "..."
    assert len(truncated.encode("utf-8")) == MESSAGE_LIMIT == 256


def test_the_limit_is_in_bytes() -> None:
    exactly = "é" * 128  # 256 bytes
    assert truncate_message(exactly) == exactly
    over = "é" * 129  # 258 bytes, 129 characters
    assert truncate_message(over) != over
    assert truncate_message(over).endswith("...")


def test_multibyte_characters_are_never_split() -> None:
    truncated = truncate_message("é" * 200)  # 253 bytes would end in the middle of a character
    assert truncated == "é" * 126 + "..."
    assert len(truncated.encode("utf-8")) == 255
    emoji = truncate_message("x" + "🚀" * 100)  # 1 + 4n bytes: 253 = 1 + 4*63, so 63 rockets fit exactly
    assert emoji == "x" + "🚀" * 63 + "..."
    shifted = truncate_message("xy" + "🚀" * 100)  # 2 + 4*62 = 250; the 63rd rocket would need 254
    assert shifted == "xy" + "🚀" * 62 + "..."
    truncated.encode("utf-8").decode("utf-8")


# ---- for_request -------------------------------------------------------------------------


def test_for_request_of_a_grouped_kind() -> None:
    user = UserInfo(username="alice", uid="1234", groups=("devs",))
    request = build_request(KindRegistry.builtin(), "CREATE", DEPLOYMENT, user=user)
    violation = PolicyViolation.for_request(request, action="Deny", code=403, reason="Forbidden", message="no")
    assert violation.action == "Deny" and violation.code == 403
    assert violation.reason == "Forbidden" and violation.message == "no"
    assert violation.request_info == {
        "name": "api",
        "namespace": "shop",
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "operation": "CREATE",
    }
    assert violation.user_info == {"username": "alice", "uid": "1234"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", violation.timestamp)


def test_for_request_of_a_core_kind_has_a_bare_version() -> None:
    request = build_request(KindRegistry.builtin(), "DELETE", POD)
    violation = PolicyViolation.for_request(request, action="Warn", code=500, reason="", message="boom")
    assert violation.request_info["apiVersion"] == "v1"
    assert violation.request_info["operation"] == "DELETE"
    assert violation.request_info["name"] == "web"
    assert violation.user_info == {"username": "kubernetes-admin", "uid": ""}


def test_for_request_truncates_the_message() -> None:
    request = build_request(KindRegistry.builtin(), "CREATE", POD)
    violation = PolicyViolation.for_request(request, action="Dry", code=403, reason="Forbidden", message="x" * 1000)
    assert violation.message == "x" * 253 + "..."


def test_for_a_sparse_request() -> None:
    violation = PolicyViolation.for_request(
        {"kind": {"kind": "Thing"}, "operation": "CREATE"}, action="Controller", code=403, reason="R", message="m"
    )
    assert violation.request_info == {
        "name": "",
        "namespace": "",
        "kind": "Thing",
        "apiVersion": "",
        "operation": "CREATE",
    }
    assert violation.user_info == {"username": "", "uid": ""}


# ---- to_status_entry ---------------------------------------------------------------------


def test_status_entry_with_everything_set() -> None:
    violation = PolicyViolation(
        action="Deny",
        code=403,
        reason="Forbidden",
        message="no",
        request_info={"name": "a", "namespace": "b", "kind": "Pod", "apiVersion": "v1", "operation": "CREATE"},
        user_info={"username": "alice", "uid": "42"},
        timestamp="2024-01-02T03:04:05Z",
    )
    assert violation.to_status_entry() == {
        "action": "Deny",
        "code": 403,
        "reason": "Forbidden",
        "message": "no",
        "requestInfo": {"name": "a", "namespace": "b", "kind": "Pod", "apiVersion": "v1", "operation": "CREATE"},
        "userInfo": {"username": "alice", "uid": "42"},
        "timestamp": "2024-01-02T03:04:05Z",
    }


def test_status_entry_omits_empty_values() -> None:
    violation = PolicyViolation(
        action="Deny",
        code=500,
        reason="",
        message="Uncaught Error: boom",
        request_info={"name": "", "namespace": "", "kind": "Namespace", "apiVersion": "v1", "operation": "CREATE"},
        user_info={"username": "", "uid": ""},
        timestamp="2024-01-02T03:04:05Z",
    )
    entry = violation.to_status_entry()
    assert entry == {
        "action": "Deny",
        "code": 500,
        "message": "Uncaught Error: boom",
        "requestInfo": {"kind": "Namespace", "apiVersion": "v1", "operation": "CREATE"},
        "timestamp": "2024-01-02T03:04:05Z",
    }
    assert list(entry) == ["action", "code", "message", "requestInfo", "timestamp"]
