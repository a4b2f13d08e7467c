"""``jspolicy apply``: run policies against manifests, as the API server would call them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from jspolicy.admission.request import OPERATIONS, UserInfo
from jspolicy.cli.session import CliError, Evaluation, OfflineSession, Skipped, resource_manifests
from jspolicy.resources.manifests import load_manifests


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "apply",
        help="evaluate policies against resources, offline",
        description="Evaluate JsPolicies against Kubernetes manifests without a cluster. Exit status: 0 when "
        "everything is allowed, 1 when anything is denied, 2 for bad input.",
    )
    parser.add_argument("policies", nargs="+", metavar="POLICY_PATH", help="JsPolicy/JsPolicyBundle files or dirs")
    parser.add_argument(
        "--resource",
        "-r",
        action="append",
        required=True,
        metavar="PATH",
        help="resources to admit (files or directories; repeatable)",
    )
    parser.add_argument(
        "--cluster",
        action="append",
        default=[],
        metavar="PATH",
        help="cluster state seen by get()/list() and namespaceSelectors (repeatable)",
    )
    parser.add_argument("--operation", choices=OPERATIONS, default="CREATE")
    parser.add_argument("--old", metavar="PATH", help="the old object, for UPDATE")
    parser.add_argument(
        "--subresource", default="", help="send the request for a subresource (status, scale, exec, ...)"
    )
    parser.add_argument(
        "--name", default="", help="for CONNECT: the object connected to (the pod of an exec; options have no name)"
    )
    parser.add_argument("--namespace", default="", help="for CONNECT: that object's namespace (default: default)")
    parser.add_argument("--user", default=None, help="the requesting user (default kubernetes-admin)")
    parser.add_argument("--group", action="append", default=None, help="a group of the user (repeatable)")
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list policies that were not called")
    parser.set_defaults(run=run)


def user_from(args: argparse.Namespace) -> UserInfo:
    if args.user is None and args.group is None:
        return UserInfo()
    groups = [*(args.group or []), "system:authenticated"]
    return UserInfo(username=args.user or "kubernetes-admin", groups=groups)


def _old_object(path: str | None, operation: str) -> Mapping[str, Any] | None:
    if path is None:
        if operation == "UPDATE":
            raise CliError("--operation UPDATE needs --old PATH (the object before the update)")
        return None
    manifests = load_manifests([path])
    if len(manifests) != 1:
        raise CliError(f"{path}: --old must hold exactly one object, found {len(manifests)}")
    return manifests[0].obj


def run(args: argparse.Namespace) -> int:
    if (args.name or args.namespace) and args.operation != "CONNECT":
        raise CliError("--name and --namespace are for --operation CONNECT; other requests use the metadata")
    resources = resource_manifests(args.resource)
    old = _old_object(args.old, args.operation)
    user = user_from(args)
    entries: list[dict[str, Any]] = []
    skipped: list[tuple[str, str, str]] = []
    with OfflineSession.load(args.policies, args.cluster) as session:
        for manifest in resources:
            results = session.admit(
                args.operation,
                manifest.obj,
                old,
                user=user,
                subresource=args.subresource,
                name=args.name,
                namespace=args.namespace,
            )
            for result in results:
                if isinstance(result, Skipped):
                    skipped.append((result.policy.name, describe(manifest.obj), result.why))
                else:
                    entries.append(entry(result))
                    _echo_prints(result)
    if args.output == "json":
        print(json.dumps(entries, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(entries, sort_keys=False), end="")
    else:
        print_table(entries, skipped if args.verbose else [])
    return 1 if any(not e["allowed"] for e in entries) else 0


def describe(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name") or metadata.get("generateName") or "<unnamed>"
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{name}"


def entry(result: Evaluation) -> dict[str, Any]:
    outcome = result.outcome
    metadata = result.resource.get("metadata")
    if metadata is None:  # a CONNECT's options: named by the request (the pod of an exec)
        metadata = {k: result.request[k] for k in ("namespace", "name") if k in result.request}
    return {
        "policy": result.policy.name,
        "resource": {
            "apiVersion": result.resource.get("apiVersion"),
            "kind": result.resource.get("kind"),
            "namespace": metadata.get("namespace", ""),
            "name": metadata.get("name", ""),
        },
        "operation": result.operation,
        "allowed": outcome.allowed,
        "code": outcome.code,
        "reason": outcome.reason,
        "message": outcome.message,
        "warnings": outcome.warnings,
        "patch": outcome.patch,
        "mutated": outcome.patched_object,
    }


def _echo_prints(result: Evaluation) -> None:
    for line in result.outcome.raw.prints:
        print(f"[{result.policy.name}] {line}", file=sys.stderr)


def print_table(entries: list[dict[str, Any]], skipped: list[tuple[str, str, str]]) -> None:
    rows = [("POLICY", "RESOURCE", "OPERATION", "RESULT", "MESSAGE")]
    notes: dict[int, list[str]] = {}
    for e in entries:
        r = e["resource"]
        namespace = f"{r['namespace']}/" if r["namespace"] else ""
        result = "DENIED" if not e["allowed"] else "MUTATED" if e["patch"] else "ALLOWED"
        message = e["message"].splitlines()[0] if e["message"] else ""
        rows.append((e["policy"], f"{r['kind']} {namespace}{r['name']}", e["operation"], result, message))
        notes[len(rows) - 1] = [f"warning: {w}" for w in e["warnings"]]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        for note in notes.get(index, []):
            print("    " + note)
    for policy, resource, why in skipped:
        print(f"skipped {policy} for {resource}: {why}")
    denied = sum(1 for e in entries if not e["allowed"])
    print(f"\n{len(entries)} evaluations: {len(entries) - denied} allowed, {denied} denied")
