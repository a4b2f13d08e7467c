"""The @jspolicy/types declarations against the runtime's real globals and a real tsc."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from jspolicy.authoring.scaffold import template
from jspolicy.authoring.toolchain import TYPES_PACKAGE, types_package
from jspolicy.runtime.context import PolicyContext
from jspolicy.runtime.program import PolicyProgram
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.runtime.v8 import Isolate
from tests.authoring.conftest import run_tsc

RUNTIME_JS = resources.files("jspolicy.runtime").joinpath("js/runtime.js").read_text("utf-8")
INDEX_D_TS = types_package().joinpath("index.d.ts").read_text("utf-8")

# Globals V8 itself installs that ECMAScript does not define (WHATWG/W3C host APIs).
# The runtime replaces console and deletes WebAssembly, so both count as runtime
# decisions rather than as builtins a policy gets for free.
V8_HOST_GLOBALS = {"console", "WebAssembly"}

# Every name loft-sh's @jspolicy/types 0.0.4 exports (lib/index.d.ts and the files it
# re-exports), so SDK projects' imports keep compiling.
OLD_EXPORTS = [
    "ActionResult",
    "V1AdmissionRequest",
    "V1GroupVersionKind",
    "V1GroupVersionResource",
    "V1UserInfo",
    "V1OwnerReference",
    "V1LabelSelector",
    "V1LabelSelectorRequirement",
    "V1ManagedFieldsEntry",
    "V1ObjectMeta",
    "PolicyV1beta1UserInfo",
    "PolicyV1beta1RequestInfo",
    "PolicyV1beta1PolicyViolation",
    "PolicyV1beta1JsPolicyStatus",
    "PolicyV1beta1JsPolicySpec",
    "PolicyV1beta1JsPolicyBundleSpec",
    "PolicyV1beta1JsPolicyBundle",
    "PolicyV1beta1JsPolicy",
]


def _global_names(source: str) -> set[str]:
    """Names declared as values (function/var/let/const) directly inside ``declare global { }``."""
    start = source.index("declare global {")
    depth, names = 0, set()
    for line in source[start:].splitlines():
        if depth == 1:
            match = re.match(r"\s*(?:function|var|let|const)\s+([A-Za-z_$][\w$]*)", line)
            if match:
                names.add(match.group(1))
        depth += line.count("{") - line.count("}")
        if depth == 0:
            break
    return names


def _wrapper_names() -> set[str]:
    """What the policy function's wrapper puts in scope: the factory's parameters and its own var."""
    params = re.search(r"const PARAMS = '([^']*)'", RUNTIME_JS)
    prefix = re.search(r"const PREFIX = '\(function \(' \+ PARAMS \+ '\) \{ var (\w+) = function", RUNTIME_JS)
    assert params and prefix, "runtime.js no longer builds the policy wrapper as this test expects"
    return {name.strip() for name in params.group(1).split(",")} | {prefix.group(1)}


def _bare_v8_globals() -> set[str]:
    isolate = Isolate(lambda: None)
    try:
        return set(json.loads(isolate.eval("JSON.stringify(Object.getOwnPropertyNames(globalThis))")))
    finally:
        isolate.close()


class _NoHost:
    """The probes call no host function (get, list, fetchSync ...)."""

    def call(self, op: str, args: list[Any], deadline: float) -> Any:
        raise AssertionError(f"unexpected host call {op}")

    def print(self, line: str) -> None:
        raise AssertionError(f"unexpected print {line}")


@pytest.fixture(scope="module")
def context() -> Iterator[PolicyContext]:
    """One real runtime context, as the pool creates them (runtime.js installed and hardened)."""
    created = PolicyContext(RuntimeSettings())
    yield created
    created.close()


def _policy_value(context: PolicyContext, expression: str) -> Any:
    """Run a policy in ``context`` that hands back ``expression`` as JSON through deny()."""
    program = PolicyProgram.of("types.probe", f"deny(JSON.stringify({expression}), 'Probe')")
    request = json.dumps({"uid": "1", "operation": "CREATE", "object": {"kind": "Pod"}})
    result = context.evaluate(program, request, _NoHost(), time.monotonic() + 10)
    assert (result.deny, result.reason, result.error) == (True, "Probe", None), result
    assert result.message is not None
    return json.loads(result.message)


def test_the_global_parser_reads_declare_global() -> None:
    source = "export {};\ndeclare global {\n  var a: number;\n  function b(): void;\n  interface C { d(): void }\n}\n"
    assert _global_names(source) == {"a", "b"}


def test_every_runtime_global_is_declared_and_nothing_else(context: PolicyContext) -> None:
    bare = _bare_v8_globals()
    assert bare >= V8_HOST_GLOBALS, "update V8_HOST_GLOBALS: V8 no longer installs these"
    builtins = bare - V8_HOST_GLOBALS
    seen = set(_policy_value(context, "Object.getOwnPropertyNames(globalThis)"))
    wrapper = _wrapper_names()
    kinds = _policy_value(context, "{" + ", ".join(f"{n}: typeof {n}" for n in sorted(wrapper)) + "}")
    assert isinstance(kinds, dict)
    assert all(kind != "undefined" for kind in kinds.values()), kinds
    runtime = (seen - builtins) | wrapper
    # Names starting with "__" are internal: __jsp is the runtime's entry point (it needs a
    # per-context secret), __policy/__response are jsPolicy's internals ("available to JS
    # but not part of the API") and __jsp_policy is the wrapper's own variable. Declaring
    # them would invite policies to depend on them.
    public = {name for name in runtime if not name.startswith("__")}
    assert {"deny", "request", "exports", "console"} <= public  # the enumeration found the API at all
    declared = _global_names(INDEX_D_TS)
    assert not (declared - public), f"declared but not provided by the runtime: {sorted(declared - public)}"
    assert not (public - declared), f"runtime globals without a declaration in index.d.ts: {sorted(public - declared)}"


def test_the_package_json_points_at_the_declarations() -> None:
    package = json.loads(types_package().joinpath("package.json").read_text("utf-8"))
    assert package["name"] == TYPES_PACKAGE
    assert package["license"] == "Apache-2.0"
    assert types_package().joinpath(package["types"]).is_file()
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"])


# ---- type-checking with the real compiler ----------------------------------------------------------

GOOD_POLICY = """\
import type { ActionResult, FetchResponse, JsPolicyStatusError, V1Deployment, V1Pod } from "@jspolicy/types";

const op: "CREATE" | "UPDATE" | "DELETE" | "CONNECT" = request.operation;
const user: string | undefined = request.userInfo.username;
const pod = request.object as V1Pod;
const privileged = (pod.spec?.containers ?? []).some((c) => c.securityContext?.privileged === true);
const unknownField: unknown = pod.spec?.someFutureField;
const labels = pod.metadata?.labels ?? {};
if (privileged) deny("privileged containers are not allowed");
if (!labels.team) deny("no team", "MissingLabel", 422);
warn(`checked ${op} by ${user} ${String(unknownField)}`);
const ns = get("Namespace", "v1", pod.metadata?.namespace ?? "default", { cache: "smart" });
const deployments = list<V1Deployment>("Deployment", "apps/v1", { namespace: "shop", labelSelector: "app in (a,b)" });
deployments.forEach((d) => print(d.metadata?.name, d.spec?.replicas, ns?.metadata?.labels));
const created: ActionResult<V1Pod> = create(pod);
if (!created.ok) print(created.reason, created.message);
update({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" }, data: { a: "b" } });
remove(pod);
const response: FetchResponse = fetchSync("https://example.com", { method: "POST", headers: { a: "b" }, body: "{}" });
const status: number = response.status;
const body: { ok: boolean } = response.json();
const text: string = response.text() + response.statusText + (response.ok ? "" : "!");
const decoded: string | undefined = atob(btoa(text));
const file: string | undefined = readFileSync("/etc/hostname");
const home: string = env("HOME");
sleep(10);
console.log(status, body, decoded, file, home);
try {
  get("Pod", "v1", "a/b");
} catch (error) {
  print((error as JsPolicyStatusError).reason);
}
exports.answer = 42;
if (request.dryRun) allow();
if (request.options?.dryRun) exit();
requeue("later");
mutate(pod);
"""

# Each bad line, the compiler error it must cause, at that line.
BAD_LINES = [
    ("deny(42);", "TS2345"),
    ('get("Pod");', "TS2554"),
    ('get("Pod", "v1", "a", {}, 1);', "TS2554"),
    ('const s: string = fetchSync("https://example.com").status;', "TS2322"),
    ('list("Pod", "v1", { cache: "smart" });', "TS2322"),
    ('const t: string = atob("eA==");', "TS2322"),
    ('if (request.operation === "PATCH") allow();', "TS2367"),
    ('deny("x", "Reason", "403");', "TS2345"),
    ("setTimeout(() => allow(), 1);", "TS2304"),
    ('require("fs");', "TS2591"),
]


def _project(root: Path, files: dict[str, str]) -> Path:
    """A project with the scaffold's tsconfig and the declarations installed as npm would."""
    shutil.copyfile(str(template().joinpath("tsconfig.json")), root / "tsconfig.json")
    target = root / "node_modules" / "@jspolicy" / "types"
    with resources.as_file(types_package()) as source:
        shutil.copytree(source, target)
    for name, text in files.items():
        (root / "src").mkdir(exist_ok=True)
        (root / "src" / name).write_text(text, "utf-8")
    return root


def test_correct_policies_type_check(tsc: list[str], tmp_path: Path) -> None:
    # As SDK projects write it: a plain (not `import type`) import of the old names.
    old_names = f'import {{ {", ".join(OLD_EXPORTS)} }} from "@jspolicy/types";\n'
    old_names += f"export type Old = [{', '.join(OLD_EXPORTS)}];\n"
    old_names += (
        "const copy: V1AdmissionRequest = request;\nconst meta: V1ObjectMeta | undefined = copy.object?.metadata;\n"
    )
    old_names += (
        "export const created: ActionResult<unknown> = create({ kind: 'ConfigMap', apiVersion: 'v1', meta });\n"
    )
    project = _project(tmp_path, {"good.ts": GOOD_POLICY, "old-names.ts": old_names})
    result = run_tsc(tsc, project)
    assert result.returncode == 0, result.output


def test_wrong_calls_fail_naming_file_and_line(tsc: list[str], tmp_path: Path) -> None:
    prologue = "// a policy with one mistake\nprint(request.uid);\n"
    files = {f"bad{i}.ts": prologue + line + "\n" for i, (line, _) in enumerate(BAD_LINES)}
    project = _project(tmp_path, files)
    result = run_tsc(tsc, project)
    assert result.returncode != 0
    for i, (line, code) in enumerate(BAD_LINES):
        assert re.search(rf"^src/bad{i}\.ts\(3,\d+\): error {code}\b", result.output, re.M), (line, result.output)
    assert len(re.findall(r"^src/\S+: error", result.output, re.M)) == len(BAD_LINES), result.output
