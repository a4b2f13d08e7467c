"""Label selectors: the string grammar (labels.Parse), matching, LabelSelector conversion and validation."""

from __future__ import annotations

from typing import Any

import pytest

from jspolicy.resources.fielderrors import Path
from jspolicy.resources.labels import (
    DOES_NOT_EXIST,
    EQUALS,
    EXISTS,
    GT,
    IN,
    LT,
    NOT_EQUALS,
    NOT_IN,
    Requirement,
    Selector,
    SelectorError,
    from_label_selector,
    parse_selector,
    validate_label_selector,
)

# ---- parse_selector ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "requirements"),
    [
        ("a=b", [Requirement("a", EQUALS, ("b",))]),
        ("a==b", [Requirement("a", EQUALS, ("b",))]),
        ("a!=b", [Requirement("a", NOT_EQUALS, ("b",))]),
        ("a=", [Requirement("a", EQUALS, ("",))]),
        ("a in (x,y)", [Requirement("a", IN, ("x", "y"))]),
        ("a in (y, x, y)", [Requirement("a", IN, ("x", "y"))]),
        ("a notin (x)", [Requirement("a", NOT_IN, ("x",))]),
        ("a in ()", [Requirement("a", IN, ("",))]),
        ("a in (x,)", [Requirement("a", IN, ("", "x"))]),
        ("a", [Requirement("a", EXISTS)]),
        ("!a", [Requirement("a", DOES_NOT_EXIST)]),
        ("a>5", [Requirement("a", GT, ("5",))]),
        ("a<3", [Requirement("a", LT, ("3",))]),
        ("example.com/app=web", [Requirement("example.com/app", EQUALS, ("web",))]),
        # requirements come back sorted by key
        ("z=1,a=2", [Requirement("a", EQUALS, ("2",)), Requirement("z", EQUALS, ("1",))]),
        (
            "  env in ( prod , staging ) ,\t!legacy,tier ,  app = web  ",
            [
                Requirement("app", EQUALS, ("web",)),
                Requirement("env", IN, ("prod", "staging")),
                Requirement("legacy", DOES_NOT_EXIST),
                Requirement("tier", EXISTS),
            ],
        ),
    ],
)
def test_grammar(text: str, requirements: list[Requirement]) -> None:
    assert parse_selector(text) == Selector(tuple(requirements))


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_an_empty_selector_selects_everything(text: str) -> None:
    selector = parse_selector(text)
    assert selector.empty
    assert selector.matches({}) and selector.matches({"a": "b"}) and selector.matches(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=b,", "found '', expected: identifier after ','"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("=b", "found '=', expected: !, identifier, or 'end of string'"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a>b", "unable to parse requirement: for 'Gt', 'Lt' operators, exactly one integer value is required"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "text", ["a in (x", "a in (x y)", "a,,b", "a=b)", "Bad Key=1", "a=b=c", "-a=b", "a=-b", "!a=b", "a<-2"]
)
def test_more_syntax_errors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


def test_invalid_keys_and_values_are_reported() -> None:
    with pytest.raises(SelectorError, match=r'^unable to parse requirement: <nil>: Invalid value: "-a": name part'):
        parse_selector("-a=b")
    with pytest.raises(SelectorError, match=r'^unable to parse requirement: values\[0\]\[a\]: Invalid value: "-b"'):
        parse_selector("a=-b")
    with pytest.raises(SelectorError, match="must be no more than 63 characters"):
        parse_selector("a=" + "v" * 64)


# ---- matching ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a==b", {"a": "b", "x": "y"}, True),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {}, True),  # != matches when the key is absent
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {"a": "z"}, False),
        ("a in (x,y)", {}, False),
        ("a notin (x,y)", {"a": "z"}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a notin (x,y)", {}, True),  # notin matches when the key is absent
        ("a", {"a": ""}, True),
        ("a", {"b": "a"}, False),
        ("!a", {"b": "a"}, True),
        ("!a", {"a": ""}, False),
        ("a=", {"a": ""}, True),
        ("a=", {}, False),
        ("a>5", {"a": "6"}, True),
        ("a>5", {"a": "5"}, False),
        ("a>5", {"a": "x"}, False),
        ("a>5", {}, False),
        ("a<5", {"a": "-1"}, True),
        ("a=b,c=d", {"a": "b", "c": "d"}, True),
        ("a=b,c=d", {"a": "b", "c": "x"}, False),
        ("a=b,!c", {"a": "b"}, True),
    ],
)
def test_matching(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


def test_none_labels_are_empty_labels() -> None:
    assert parse_selector("!a").matches(None)
    assert not parse_selector("a").matches(None)


def test_nothing_never_matches() -> None:
    nothing = Selector(nothing=True)
    assert not nothing.empty
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})


# ---- from_label_selector -----------------------------------------------------------------


def test_a_nil_selector_selects_nothing() -> None:
    selector = from_label_selector(None)
    assert selector.nothing and not selector.matches({}) and not selector.matches({"a": "b"})


@pytest.mark.parametrize("structured", [{}, {"matchLabels": {}}, {"matchLabels": None, "matchExpressions": []}])
def test_an_empty_selector_selects_everything_structured(structured: dict[str, Any]) -> None:
    selector = from_label_selector(structured)
    assert selector.empty and selector.matches({}) and selector.matches({"x": "y"})


def test_match_labels_and_expressions_are_anded() -> None:
    selector = from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "staging"]},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "owner", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    base = {"app": "web", "env": "prod", "owner": "me"}
    assert selector.matches(base)
    assert selector.matches({**base, "tier": "frontend"})
    assert not selector.matches({**base, "tier": "db"})
    assert not selector.matches({**base, "legacy": "1"})
    assert not selector.matches({**base, "app": "api"})
    assert not selector.matches({**base, "env": "dev"})
    assert not selector.matches({"app": "web", "env": "prod"})
    assert [r.key for r in selector.requirements] == ["app", "env", "legacy", "owner", "tier"]


def test_structured_and_string_selectors_agree() -> None:
    structured = from_label_selector(
        {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}]}
    )
    assert structured == parse_selector("c in (x, y), a = b")


def test_unknown_structured_operators_raise() -> None:
    with pytest.raises(SelectorError) as caught:
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]})
    assert str(caught.value) == '"Equals" is not a valid label selector operator'


# ---- validate_label_selector -------------------------------------------------------------


def test_validation_messages() -> None:
    path = Path("spec").child("objectSelector")
    errors = validate_label_selector(
        {
            "matchLabels": {"ok": "fine", "bad key": "v"},
            "matchExpressions": [
                {"key": "a", "operator": "In"},
                {"key": "b", "operator": "Exists", "values": ["x"]},
                {"key": "c", "operator": "Bogus"},
                {"key": "d", "operator": "NotIn", "values": ["ok", "not ok"]},
            ],
        },
        path,
    )
    rendered = [str(e) for e in errors]
    assert rendered[0].startswith('spec.objectSelector.matchLabels: Invalid value: "bad key": name part must consist')
    assert rendered[1:4] == [
        "spec.objectSelector.matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'",
        "spec.objectSelector.matchExpressions[1].values: Forbidden: "
        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        'spec.objectSelector.matchExpressions[2].operator: Invalid value: "Bogus": not a valid selector operator',
    ]
    assert rendered[4].startswith(
        'spec.objectSelector.matchExpressions[3].values[1]: Invalid value: "not ok": a valid label must be'
    )
    assert len(rendered) == 5


def test_nil_and_valid_selectors_have_no_errors() -> None:
    path = Path("spec").child("namespaceSelector")
    assert validate_label_selector(None, path) == []
    assert validate_label_selector({}, path) == []
    assert (
        validate_label_selector(
            {
                "matchLabels": {"kubernetes.io/metadata.name": "kube-system", "x": ""},
                "matchExpressions": [{"key": "a.b/c_d-e", "operator": "NotIn", "values": ["1", "A.b-c_d"]}],
            },
            path,
        )
        == []
    )


def test_non_mapping_parts_are_reported() -> None:
    path = Path("spec").child("objectSelector")
    errors = validate_label_selector({"matchLabels": ["a"]}, path)
    assert [(e.kind, e.path) for e in errors] == [("Invalid", "spec.objectSelector.matchLabels")]
    errors = validate_label_selector({"matchExpressions": ["a=b"]}, path)
    assert [(e.kind, e.path) for e in errors] == [("Invalid", "spec.objectSelector.matchExpressions[0]")]
