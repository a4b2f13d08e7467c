"""The JSON Patch for a mutation: a diff of the original object against the mutated one.

Hand-written rather than ``jsonpatch.make_patch`` because two rules are ours:
values compare by JSON type (``true`` is not ``1``), and a number the policy
saw only as a double compares equal to its exact original, so integers beyond
2^53 that a policy did not touch are neither rewritten nor rounded. Like
jsPolicy's diff, the patch is field by field (add/remove/replace only).

One pass yields both the patch and the mutated object; the latter reuses the
original's (exact) values wherever nothing changed, so nothing is deep-copied.
Unchanged subtrees are recognised at C speed: Python equality, confirmed by
comparing orjson encodings (which tell ``true`` from ``1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

Patch = list[dict[str, Any]]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_leaf(original: Any, mutated: Any) -> bool:
    if _is_number(original) and _is_number(mutated):
        if original == mutated:
            return True
        try:
            return float(original) == float(mutated)  # the policy held a double
        except OverflowError:
            return False
    return type(original) is type(mutated) and bool(original == mutated)


def _identical(original: Any, mutated: Any) -> bool:
    """Fast path for containers: equal, with no bool/number confusion anywhere."""
    if original != mutated:
        return False
    try:
        return orjson.dumps(original) == orjson.dumps(mutated)
    except TypeError:  # an integer beyond 64 bits: take the careful path
        return False


@dataclass
class Diff:
    patch: Patch = field(default_factory=list)
    result: Any = None  # the mutated object, with the original's values where unchanged


def diff(original: Any, mutated: Any) -> Diff:
    """Operations that turn ``original`` into ``mutated``, applied in order."""
    outcome = Diff()
    outcome.result = _walk(original, mutated, "", outcome.patch)
    return outcome


def _walk(original: Any, mutated: Any, path: str, ops: Patch) -> Any:
    both_dicts = isinstance(original, dict) and isinstance(mutated, dict)
    both_lists = isinstance(original, list) and isinstance(mutated, list)
    if (both_dicts or both_lists) and _identical(original, mutated):
        return original
    if both_dicts:
        result: dict[str, Any] = {}
        for key, value in original.items():
            if key in mutated:
                result[key] = _walk(value, mutated[key], f"{path}/{_escape(str(key))}", ops)
            else:
                ops.append({"op": "remove", "path": f"{path}/{_escape(str(key))}"})
        for key, value in mutated.items():
            if key not in original:
                ops.append({"op": "add", "path": f"{path}/{_escape(str(key))}", "value": value})
                result[key] = value
        return result
    if both_lists:
        common = min(len(original), len(mutated))
        for index in range(len(original) - 1, common - 1, -1):
            ops.append({"op": "remove", "path": f"{path}/{index}"})
        items = [_walk(original[i], mutated[i], f"{path}/{i}", ops) for i in range(common)]
        for index in range(common, len(mutated)):
            ops.append({"op": "add", "path": f"{path}/{index}", "value": mutated[index]})
            items.append(mutated[index])
        return items
    if _same_leaf(original, mutated):
        return original
    ops.append({"op": "replace", "path": path, "value": mutated})
    return mutated
