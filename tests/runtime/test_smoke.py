"""A first end-to-end check that the fixtures run real JavaScript."""

from tests.conftest import Evaluate


def test_deny_reaches_the_admission_response(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('no')")
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (False, 403, "Forbidden", "no")


def test_falling_off_the_end_allows(evaluate: Evaluate) -> None:
    outcome = evaluate("const x = 1;")
    assert outcome.allowed and outcome.code == 200
