"""JsPolicy status: phase, Ready summary, stable transition times, observedGeneration only on success."""

from __future__ import annotations

import datetime as dt

from jspolicy.controller import status as st

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)


def test_all_conditions_true_is_synced_with_observed_generation() -> None:
    status = st.policy_status({}, [st.Condition(st.BUNDLE_COMPILED, True), st.Condition(st.WEBHOOK_READY, True)],
                              bundle_hash="h", generation=3, now=T0)  # fmt: skip
    assert status["phase"] == "Synced" and status["observedGeneration"] == 3 and status["bundleHash"] == "h"
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("BundleCompiled", "True"), ("Ready", "True"), ("WebhookReady", "True")]  # fmt: skip
    assert "reason" not in status and "message" not in status


def test_a_failed_condition_fails_the_policy_and_keeps_the_last_good_generation() -> None:
    good = st.policy_status({}, [st.Condition(st.BUNDLE_COMPILED, True)], bundle_hash="h", generation=1, now=T0)
    missing = st.Condition.failed(st.BUNDLE_COMPILED, st.BUNDLE_MISSING, "couldn't find js policy bundle")
    status = st.policy_status(good, [missing], bundle_hash="", generation=2, now=T1)
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", "BundleMissing",
                                                                      "couldn't find js policy bundle")  # fmt: skip
    assert status["observedGeneration"] == 1
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready == {"type": "Ready", "status": "False", "severity": "Error", "reason": "BundleMissing",
                     "message": missing.message, "lastTransitionTime": "2026-01-01T01:00:00Z"}  # fmt: skip


def test_an_unchanged_condition_keeps_its_transition_time() -> None:
    first = st.policy_status({}, [st.Condition(st.BUNDLE_COMPILED, True)], bundle_hash="h", generation=1, now=T0)
    again = st.policy_status(first, [st.Condition(st.BUNDLE_COMPILED, True)], bundle_hash="h", generation=1, now=T1)
    assert again == first
