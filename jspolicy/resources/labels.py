"""Label selectors: the structured LabelSelector, the string syntax, and validation.

The string syntax and the matching rules are those of
k8s.io/apimachinery/pkg/labels. Unlike jsPolicy's ``list()``, set-based terms
(``in``, ``notin``, ``key``, ``!key``) are honoured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jspolicy.resources.fielderrors import FieldError, Path, forbidden, invalid, required

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
VALUE_FMT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
DNS1123_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = "".join((" or " if i else "") + f"'{e}', " for i, e in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_length_error(n: int) -> str:
    return f"must be no more than {n} characters"


def _format_errors(value: str, max_length: int, pattern: re.Pattern[str], message: str) -> list[str]:
    """A length check and a format check, as apimachinery's validators report them."""
    errors = []
    if len(value) > max_length:
        errors.append(max_length_error(max_length))
    if not pattern.fullmatch(value):
        errors.append(message)
    return errors


_DNS1123_MESSAGE = regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character",
    DNS1123_FMT,
    "example.com",
)
_NAME_MESSAGE = regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    NAME_FMT,
    "MyName",
    "my.name",
    "123-abc",
)
_VALUE_MESSAGE = regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character",
    VALUE_FMT,
    "MyValue",
    "my_value",
    "12345",
)


def dns1123_subdomain_errors(value: str) -> list[str]:
    return _format_errors(value, 253, _DNS1123_SUBDOMAIN, _DNS1123_MESSAGE)


def label_value_errors(value: str) -> list[str]:
    return _format_errors(value, 63, _VALUE, _VALUE_MESSAGE)


def qualified_name_errors(value: str) -> list[str]:
    """A label key: ``name`` or ``prefix/name`` (IsQualifiedName)."""
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + e for e in dns1123_subdomain_errors(prefix))
    else:
        prefix_hint = "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        return [f"a qualified name {_NAME_MESSAGE} {prefix_hint}"]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + max_length_error(63))
    if not _NAME.fullmatch(name):
        errors.append("name part " + _NAME_MESSAGE)
    return errors


# ---- requirements and selectors ---------------------------------------------------------

IN, NOT_IN, EXISTS, DOES_NOT_EXIST, EQUALS, NOT_EQUALS = "in", "notin", "exists", "!", "=", "!="
GT, LT = "gt", "lt"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (IN, EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator == GT else have < want


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; ``nothing`` never matches."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.nothing and not self.requirements


EVERYTHING = Selector()


class SelectorError(ValueError):
    """A label selector (string or structured) cannot be used."""


_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def from_label_selector(selector: Mapping[str, Any] | None) -> Selector:
    """metav1.LabelSelectorAsSelector: nil selects nothing, {} selects everything."""
    if selector is None:
        return Selector(nothing=True)
    requirements = [Requirement(k, EQUALS, (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        operator = _OPERATORS.get(expression.get("operator", ""))
        if operator is None:
            raise SelectorError(f'"{expression.get("operator")}" is not a valid label selector operator')
        values = tuple(sorted(set(expression.get("values") or [])))
        requirements.append(Requirement(str(expression.get("key", "")), operator, values))
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


def validate_label_selector(selector: Mapping[str, Any] | None, path: Path) -> list[FieldError]:
    """metav1validation.ValidateLabelSelector, with the messages users know."""
    if selector is None:
        return []
    errors: list[FieldError] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        return [invalid(path.child("matchLabels"), match_labels, "must be a map of strings")]
    for key, value in match_labels.items():
        errors += [invalid(path.child("matchLabels"), key, m) for m in qualified_name_errors(str(key))]
        errors += [invalid(path.child("matchLabels"), value, m) for m in label_value_errors(str(value))]
    for i, expression in enumerate(selector.get("matchExpressions") or []):
        at = path.child("matchExpressions").index(i)
        if not isinstance(expression, Mapping):
            errors.append(invalid(at, expression, "must be a label selector requirement"))
            continue
        operator = expression.get("operator", "")
        values = expression.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(required(at.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    forbidden(at.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
                )
        else:
            errors.append(invalid(at.child("operator"), operator, "not a valid selector operator"))
        key = str(expression.get("key", ""))
        errors += [invalid(at.child("key"), key, m) for m in qualified_name_errors(key)]
        for j, value in enumerate(values):
            errors += [invalid(at.child("values").index(j), value, m) for m in label_value_errors(str(value))]
    return errors


# ---- the string syntax (labels.Parse) ---------------------------------------------------

_SPECIAL = set("=!(),><")
_SPACE = set(" \t\r\n")
_OPERATORS_BY_TOKEN = {"=": EQUALS, "==": EQUALS, "!=": NOT_EQUALS, ">": GT, "<": LT}
_END = ("end", "")


def _lex(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if text[i] in _SPACE:
            i += 1
        elif text[i] in _SPECIAL:
            token = text[i : i + 2] if text[i : i + 2] in ("==", "!=") else text[i]
            tokens.append(("op", token))
            i += len(token)
        else:
            j = i
            while j < len(text) and text[j] not in _SPECIAL and text[j] not in _SPACE:
                j += 1
            word = text[i:j]
            tokens.append(("keyword" if word in ("in", "notin") else "id", word))
            i = j
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else _END

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def selector(self) -> Selector:
        requirements: list[Requirement] = []
        while self.peek() != _END:
            kind, literal = self.peek()
            if not (kind == "id" or (kind, literal) == ("op", "!")):
                raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            requirements.append(self.requirement())
            kind, literal = self.take()
            if kind == "end":
                break
            if literal != ",":
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            if self.peek()[0] != "id" and self.peek() != ("op", "!"):
                raise SelectorError(f"found '{self.peek()[1]}', expected: identifier after ','")
        return Selector(tuple(sorted(requirements, key=lambda r: r.key)))

    def requirement(self) -> Requirement:
        kind, literal = self.take()
        if (kind, literal) == ("op", "!"):
            kind, key = self.take()
            if kind != "id":
                raise SelectorError(f"unable to parse requirement: found '{key}', expected: identifier")
            _check_key(key)
            return Requirement(key, DOES_NOT_EXIST)
        key = literal
        _check_key(key)
        if self.peek() in (_END, ("op", ",")):
            return Requirement(key, EXISTS)
        kind, literal = self.take()
        if kind == "keyword":
            values = self.value_set()
            return Requirement(key, IN if literal == "in" else NOT_IN, _checked_values(key, values))
        operator = _OPERATORS_BY_TOKEN.get(literal) if kind == "op" else None
        if operator is None:
            raise SelectorError(
                f"unable to parse requirement: found '{literal}', expected: in, notin, =, ==, !=, gt, lt"
            )
        value = self.take()[1] if self.peek()[0] in ("id", "keyword") else ""
        if operator in (GT, LT) and not re.fullmatch(r"-?\d+", value):
            raise SelectorError(
                "unable to parse requirement: for 'Gt', 'Lt' operators, exactly one integer value is required"
            )
        return Requirement(key, operator, _checked_values(key, {value}))

    def value_set(self) -> set[str]:
        opening = self.take()
        if opening != ("op", "("):
            raise SelectorError(f"unable to parse requirement: found '{opening[1]}' expected: '('")
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind in ("id", "keyword"):
                values.add(literal)
                kind, literal = self.take()
            elif (kind, literal) in (("op", ","), ("op", ")")):
                values.add("")
            else:
                raise SelectorError(f"unable to parse requirement: found '{literal}', expected: ',', ')' or identifier")
            if (kind, literal) == ("op", ")"):
                return values
            if (kind, literal) != ("op", ","):
                raise SelectorError(f"unable to parse requirement: found '{literal}', expected: ',' or ')'")


def parse_selector(text: str) -> Selector:
    """Parse ``a=b,c in (x,y),!d`` into a Selector; raises SelectorError."""
    return _Parser(text).selector()


def _check_key(key: str) -> None:
    problems = qualified_name_errors(key)
    if problems:
        raise SelectorError(f'unable to parse requirement: <nil>: Invalid value: "{key}": {"; ".join(problems)}')


def _checked_values(key: str, values: set[str]) -> tuple[str, ...]:
    ordered = tuple(sorted(values))
    for i, value in enumerate(ordered):
        problems = label_value_errors(value)
        if problems:
            raise SelectorError(
                f'unable to parse requirement: values[{i}][{key}]: Invalid value: "{value}": {"; ".join(problems)}'
            )
    return ordered
