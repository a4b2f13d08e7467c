"""The mutation patch: a field-by-field RFC 6902 diff that keeps exact integers."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jspolicy.admission.patch import diff
from tests.conftest import Evaluate, pod

BIG = 9007199254740993  # 2**53 + 1: a double cannot hold it
AS_DOUBLE = 9007199254740992  # what JSON.stringify gives back for it


# ---- JSON equality helpers ---------------------------------------------------------------


def same_json(a: Any, b: Any, *, exact_numbers: bool) -> bool:
    """JSON equality that never confuses true with 1; numbers by value, or also by Python type if exact."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b and (not exact_numbers or type(a) is type(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k], exact_numbers=exact_numbers) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y, exact_numbers=exact_numbers) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def apply(original: Any, patch: list[dict[str, Any]]) -> Any:
    return jsonpatch.apply_patch(copy.deepcopy(original), patch)


# ---- field-by-field operations -----------------------------------------------------------


def test_no_change_gives_no_operations() -> None:
    original = {"a": 1, "b": [1, {"c": None}], "d": {"e": "f"}}
    result = diff(original, copy.deepcopy(original))
    assert result.patch == []
    assert result.result == original


def test_key_order_alone_is_not_a_change() -> None:
    assert diff({"a": 1, "b": 2}, {"b": 2, "a": 1}).patch == []


def test_add_remove_replace() -> None:
    original = {"keep": 1, "drop": 2, "change": "x"}
    mutated = {"keep": 1, "change": "y", "new": {"n": [1]}}
    result = diff(original, mutated)
    assert result.patch == [
        {"op": "remove", "path": "/drop"},
        {"op": "replace", "path": "/change", "value": "y"},
        {"op": "add", "path": "/new", "value": {"n": [1]}},
    ]
    assert result.result == mutated
    assert apply(original, result.patch) == mutated


def test_nested_changes_are_addressed_precisely() -> None:
    original = pod()
    mutated = pod()
    mutated["metadata"]["labels"]["team"] = "shop"
    mutated["spec"]["containers"][0]["image"] = "nginx:1.28"
    mutated["spec"]["containers"][0]["securityContext"] = {"runAsNonRoot": True}
    assert diff(original, mutated).patch == [
        {"op": "add", "path": "/metadata/labels/team", "value": "shop"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.28"},
        {"op": "add", "path": "/spec/containers/0/securityContext", "value": {"runAsNonRoot": True}},
    ]


def test_shrinking_arrays_remove_from_the_end() -> None:
    result = diff({"a": [1, 2, 3, 4]}, {"a": [1, 9]})
    assert result.patch == [
        {"op": "remove", "path": "/a/3"},
        {"op": "remove", "path": "/a/2"},
        {"op": "replace", "path": "/a/1", "value": 9},
    ]
    assert apply({"a": [1, 2, 3, 4]}, result.patch) == {"a": [1, 9]}


def test_growing_arrays_append_in_order() -> None:
    result = diff({"a": [1]}, {"a": [1, {"x": 1}, 3]})
    assert result.patch == [
        {"op": "add", "path": "/a/1", "value": {"x": 1}},
        {"op": "add", "path": "/a/2", "value": 3},
    ]
    assert apply({"a": [1]}, result.patch) == {"a": [1, {"x": 1}, 3]}


def test_emptying_and_filling_arrays() -> None:
    assert diff({"a": [1, 2]}, {"a": []}).patch == [{"op": "remove", "path": "/a/1"}, {"op": "remove", "path": "/a/0"}]
    assert diff({"a": []}, {"a": ["x"]}).patch == [{"op": "add", "path": "/a/0", "value": "x"}]


def test_type_changes_replace_the_whole_value() -> None:
    assert diff({"a": {"b": 1}}, {"a": [1]}).patch == [{"op": "replace", "path": "/a", "value": [1]}]
    assert diff({"a": [1]}, {"a": "1"}).patch == [{"op": "replace", "path": "/a", "value": "1"}]
    assert diff({"a": None}, {"a": {}}).patch == [{"op": "replace", "path": "/a", "value": {}}]


def test_null_is_a_value() -> None:
    assert diff({"a": None}, {}).patch == [{"op": "remove", "path": "/a"}]
    assert diff({}, {"a": None}).patch == [{"op": "add", "path": "/a", "value": None}]
    assert diff({"a": 1}, {"a": None}).patch == [{"op": "replace", "path": "/a", "value": None}]


def test_json_pointer_escaping() -> None:
    original = {"metadata": {"annotations": {"example.com/a~b": "1", "x": "y"}}}
    mutated = {"metadata": {"annotations": {"example.com/a~b": "2", "~1": "z", "": "empty"}}}
    result = diff(original, mutated)
    assert result.patch == [
        {"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "2"},
        {"op": "remove", "path": "/metadata/annotations/x"},
        {"op": "add", "path": "/metadata/annotations/~01", "value": "z"},
        {"op": "add", "path": "/metadata/annotations/", "value": "empty"},
    ]
    assert apply(original, result.patch) == mutated


@pytest.mark.parametrize(
    ("before", "after"),
    [(1, True), (True, 1), (0, False), (False, 0), (1, "1"), ("", None), (0, None), ([], {}), ("true", True)],
)
def test_json_types_are_distinct(before: Any, after: Any) -> None:
    result = diff({"v": before}, {"v": after})
    assert result.patch == [{"op": "replace", "path": "/v", "value": after}]
    assert same_json(result.result, {"v": after}, exact_numbers=True)


def test_type_confusion_nested_inside_equal_containers() -> None:
    # Python says [1, {"a": 0}] == [True, {"a": False}]; JSON does not.
    result = diff({"x": [1, {"a": 0}]}, {"x": [True, {"a": False}]})
    assert result.patch == [
        {"op": "replace", "path": "/x/0", "value": True},
        {"op": "replace", "path": "/x/1/a", "value": False},
    ]


def test_integer_and_float_of_equal_value_are_unchanged() -> None:
    result = diff({"a": 2, "b": [0]}, {"a": 2.0, "b": [0.0]})
    assert result.patch == []
    assert same_json(result.result, {"a": 2, "b": [0]}, exact_numbers=True)


def test_root_replacement() -> None:
    assert diff({"a": 1}, [1]).patch == [{"op": "replace", "path": "", "value": [1]}]
    assert diff(1, 2).patch == [{"op": "replace", "path": "", "value": 2}]


# ---- integers beyond 2^53 ----------------------------------------------------------------


def test_an_unchanged_big_integer_is_kept_exactly() -> None:
    original = {"spec": {"value": BIG}}
    result = diff(original, {"spec": {"value": AS_DOUBLE}})
    assert result.patch == []
    assert result.result["spec"]["value"] == BIG
    assert type(result.result["spec"]["value"]) is int


def test_an_unchanged_big_integer_next_to_a_change() -> None:
    original = {"metadata": {"labels": {}}, "spec": {"value": BIG, "list": [BIG, 1]}}
    mutated = {"metadata": {"labels": {"a": "b"}}, "spec": {"value": float(BIG), "list": [AS_DOUBLE, 2]}}
    result = diff(original, mutated)
    assert result.patch == [
        {"op": "add", "path": "/metadata/labels/a", "value": "b"},
        {"op": "replace", "path": "/spec/list/1", "value": 2},
    ]
    assert result.result == {"metadata": {"labels": {"a": "b"}}, "spec": {"value": BIG, "list": [BIG, 2]}}
    assert apply(original, result.patch) == result.result


def test_a_changed_big_integer_is_replaced() -> None:
    result = diff({"v": BIG}, {"v": 9007199254740996})
    assert result.patch == [{"op": "replace", "path": "/v", "value": 9007199254740996}]
    assert result.result == {"v": 9007199254740996}
    assert diff({"v": BIG}, {"v": 1}).patch == [{"op": "replace", "path": "/v", "value": 1}]


@pytest.mark.parametrize("value", [12345678901234567890, 2**64 + 7, 2**70 + 1, -(2**63) - 1])
def test_integers_beyond_64_bits(value: int) -> None:
    assert diff({"v": value}, {"v": float(value)}).patch == []
    assert diff({"v": value}, {"v": float(value)}).result == {"v": value}
    assert diff({"v": value}, {"v": 5}).patch == [{"op": "replace", "path": "/v", "value": 5}]


def test_integers_beyond_the_double_range() -> None:
    huge = 10**400
    assert diff({"v": huge}, {"v": huge}).patch == []
    assert diff({"v": huge}, {"v": huge + 1}).patch == [{"op": "replace", "path": "/v", "value": huge + 1}]
    assert diff({"v": [huge]}, {"v": [huge]}).patch == []


# ---- property: the patch turns the original into the mutated object ------------------------

KEYS = st.text(alphabet="ab~/-0", max_size=3)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53 - 1)  # edit() adds 1: results stay JS-representable
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=15,
)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=5)


def edit(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """A random edit of ``value``: keep, replace, or recurse into containers and confusable scalars."""
    choice = data.draw(st.sampled_from(["keep", "replace", "recurse", "recurse"]))
    if choice == "keep":
        return copy.deepcopy(value)
    if choice == "replace" and depth > 0:
        return data.draw(JSON)
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            action = data.draw(st.sampled_from(["keep", "drop", "edit"]))
            if action == "keep":
                result[key] = copy.deepcopy(item)
            elif action == "edit":
                result[key] = edit(data, item, depth + 1)
        for key in data.draw(st.lists(KEYS, max_size=2)):
            result.setdefault(key, data.draw(JSON))
        if data.draw(st.booleans()):
            result = dict(reversed(list(result.items())))
        return result
    if isinstance(value, list):
        items = [edit(data, item, depth + 1) for item in value[: data.draw(st.integers(0, len(value)))]]
        return items + data.draw(st.lists(JSON, max_size=2))
    if isinstance(value, bool):
        return data.draw(st.sampled_from([int(value), not value, value]))
    if isinstance(value, int):
        return data.draw(st.sampled_from([float(value), value + 1, value != 0]))
    return data.draw(SCALARS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=OBJECTS, data=st.data())
def test_the_patch_applies_to_the_result(original: dict[str, Any], data: st.DataObject) -> None:
    mutated = edit(data, original)
    before = copy.deepcopy(original)
    changes = diff(original, mutated)
    assert original == before, "diff must not modify the original"
    patched = apply(original, changes.patch)
    assert same_json(patched, changes.result, exact_numbers=True)
    # No integer here is beyond 2^53, so the result is the mutated object (numbers compared by value).
    assert same_json(changes.result, mutated, exact_numbers=False)
    for op in changes.patch:
        assert op["op"] in ("add", "remove", "replace")
        assert op["path"] != "", "an object root is never replaced as a whole"
    if same_json(original, mutated, exact_numbers=False):
        assert changes.patch == []


@settings(max_examples=75, deadline=None)
@given(original=OBJECTS, mutated=OBJECTS)
def test_unrelated_documents_diff_to_each_other(original: dict[str, Any], mutated: dict[str, Any]) -> None:
    changes = diff(original, mutated)
    assert same_json(apply(original, changes.patch), changes.result, exact_numbers=True)
    assert same_json(changes.result, mutated, exact_numbers=False)


@settings(max_examples=75, deadline=None)
@given(original=OBJECTS, big=st.integers(min_value=2**53 + 1, max_value=2**80), data=st.data())
def test_big_integers_a_policy_did_not_touch_stay_exact(
    original: dict[str, Any], big: int, data: st.DataObject
) -> None:
    original = {**original, "big": big, "nested": {"list": [big, -big]}}
    mutated = edit(data, original)
    handed_back = mutated.get("big")
    # the policy left "big" alone when it handed back big's double (or big itself)
    untouched = isinstance(handed_back, (int, float)) and not isinstance(handed_back, bool)
    untouched = untouched and float(handed_back) == float(big)
    mutated = {**mutated, "nested": {"list": [float(big), float(-big)]}}
    changes = diff(original, mutated)
    assert changes.result["nested"] == {"list": [big, -big]}
    assert all(not op["path"].startswith("/nested") for op in changes.patch)
    if untouched:
        assert changes.result["big"] == big and type(changes.result["big"]) is int
        assert all(op["path"] != "/big" for op in changes.patch)
    assert same_json(apply(original, changes.patch), changes.result, exact_numbers=True)


# ---- end to end through a Mutating policy --------------------------------------------------


def test_a_mutating_policy_keeps_big_integers_exact(evaluate: Evaluate) -> None:
    obj = pod(spec={"containers": [{"name": "web", "image": "nginx"}], "value": 12345678901234567890, "small": BIG})
    outcome = evaluate(
        "request.object.metadata.labels.team = 'shop'; mutate(request.object);", obj=obj, type="Mutating"
    )
    assert outcome.allowed
    assert outcome.patch == [{"op": "add", "path": "/metadata/labels/team", "value": "shop"}]
    patched = outcome.patched_object
    assert patched["spec"]["value"] == 12345678901234567890
    assert patched["spec"]["small"] == BIG
    assert patched["metadata"]["labels"] == {"app": "web", "team": "shop"}


def test_a_mutating_policy_that_changes_a_big_integer(evaluate: Evaluate) -> None:
    obj = pod(spec={"containers": [], "value": 12345678901234567890})
    outcome = evaluate("request.object.spec.value = 7; mutate(request.object);", obj=obj, type="Mutating")
    assert outcome.patch == [{"op": "replace", "path": "/spec/value", "value": 7}]
    assert outcome.patched_object["spec"]["value"] == 7


def test_mutating_to_the_same_object_gives_no_patch(evaluate: Evaluate) -> None:
    outcome = evaluate("mutate(JSON.parse(JSON.stringify(request.object)));", type="Mutating")
    assert outcome.allowed and outcome.patch is None and outcome.patched_object is None


def test_validating_policies_ignore_mutate(evaluate: Evaluate) -> None:
    outcome = evaluate("request.object.metadata.labels.x = 'y'; mutate(request.object);", type="Validating")
    assert outcome.allowed and outcome.patch is None
