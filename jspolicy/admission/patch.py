"""The JSON Patch for a mutation: a diff of the original object against the mutated one.

Hand-written rather than ``jsonpatch.make_patch`` because two rules are ours:
values compare by JSON type (``true`` is not ``1``), and a number the policy
saw only as a double compares equal to its exact original, so integers beyond
2^53 that a policy did not touch are neither rewritten nor rounded. Like
jsPolicy's diff, the patch is field by field (add/remove/replace only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpatch

Patch = list[dict[str, Any]]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(original: Any, mutated: Any) -> bool:
    """Equal as JSON values, where the policy's copy of a number went through a double."""
    if _is_number(original) and _is_number(mutated):
        if original == mutated:
            return True
        try:
            return float(original) == float(mutated)
        except OverflowError:
            return False
    if type(original) is not type(mutated):
        return False
    if isinstance(original, dict):
        return original.keys() == mutated.keys() and all(same(v, mutated[k]) for k, v in original.items())
    if isinstance(original, list):
        return len(original) == len(mutated) and all(same(a, b) for a, b in zip(original, mutated, strict=True))
    return bool(original == mutated)


def diff(original: Any, mutated: Any, path: str = "") -> Patch:
    """Operations that turn ``original`` into ``mutated``, applied in order."""
    if same(original, mutated):
        return []
    if isinstance(original, dict) and isinstance(mutated, dict):
        ops: Patch = []
        for key, value in original.items():
            child = f"{path}/{_escape(str(key))}"
            if key not in mutated:
                ops.append({"op": "remove", "path": child})
            else:
                ops.extend(diff(value, mutated[key], child))
        for key, value in mutated.items():
            if key not in original:
                ops.append({"op": "add", "path": f"{path}/{_escape(str(key))}", "value": value})
        return ops
    if isinstance(original, list) and isinstance(mutated, list):
        ops = []
        common = min(len(original), len(mutated))
        for index in range(len(original) - 1, common - 1, -1):
            ops.append({"op": "remove", "path": f"{path}/{index}"})
        for index in range(common):
            ops.extend(diff(original[index], mutated[index], f"{path}/{index}"))
        for index in range(common, len(mutated)):
            ops.append({"op": "add", "path": f"{path}/{index}", "value": mutated[index]})
        return ops
    return [{"op": "replace", "path": path, "value": mutated}]


def apply(original: Mapping[str, Any], patch: Patch) -> Any:
    """The object after the patch (the original's exact values where unchanged)."""
    return jsonpatch.apply_patch(original, patch, in_place=False)
