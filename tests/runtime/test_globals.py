"""The policy globals of jsPolicy (docs/compatibility.md), exercised in real V8 through the admission engine."""

from __future__ import annotations

import base64
import copy
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from jspolicy.admission.request import UserInfo
from tests.conftest import POD, Evaluate, pod
from tests.runtime.conftest import UNDEFINED, HttpServer, PoolFactory, evaluator, js_value

NAME = "test.policies.jspolicy.com"
PREFIX = f"[{NAME}]: "


def configmap(name: str, labels: dict[str, str] | None = None, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": {"key": name},
    }


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}}
CLUSTER = [
    NAMESPACE,
    configmap("a", {"tier": "fe", "env": "prod"}),
    configmap("b", {"tier": "be"}),
    configmap("c"),
    configmap("d", {"tier": "fe"}, namespace="other"),
]
NEW_CONFIGMAP = "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'fresh', namespace: 'shop'}, data: {k: 'v'}}"


# ---- request -----------------------------------------------------------------------------------------------


def test_request_on_create_has_the_admission_fields(evaluate: Evaluate) -> None:
    user = UserInfo(username="alice", groups=["dev", "ops"], uid="u-1", extra={"scopes": ["a", "b"]})
    request = js_value(evaluate, "request", user=user)
    assert isinstance(request["uid"], str) and request["uid"]
    assert request["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert request["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert request["requestKind"] == request["kind"]
    assert (request["name"], request["namespace"], request["operation"]) == ("web", "shop", "CREATE")
    assert request["userInfo"] == {
        "username": "alice",
        "uid": "u-1",
        "groups": ["dev", "ops"],
        "extra": {"scopes": ["a", "b"]},
    }
    assert request["object"] == POD
    assert "oldObject" in request and request["oldObject"] is None
    assert request["dryRun"] is False


def test_request_on_update_carries_both_objects(evaluate: Evaluate) -> None:
    new = pod(metadata={"name": "web", "namespace": "shop", "labels": {"app": "new"}})
    request = js_value(evaluate, "request", obj=new, old=POD, operation="UPDATE")
    assert request["operation"] == "UPDATE"
    assert request["object"]["metadata"]["labels"] == {"app": "new"}
    assert request["oldObject"]["metadata"]["labels"] == {"app": "web"}


def test_request_on_delete_has_a_null_object(evaluate: Evaluate) -> None:
    value = js_value(
        evaluate, "[request.operation, request.object, request.oldObject.metadata.name]", operation="DELETE"
    )
    assert value == ["DELETE", None, "web"]


def test_request_of_a_dry_run(evaluate: Evaluate) -> None:
    assert js_value(evaluate, "request.dryRun", dry_run=True) is True


# ---- allow, exit, requeue, deny ----------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["allow()", "exit()", "requeue('later')"])
def test_allowing_calls_end_the_policy(evaluate: Evaluate, call: str) -> None:
    outcome = evaluate(f"warn('before'); {call}; warn('after'); deny('unreachable')")
    assert (outcome.allowed, outcome.code, outcome.message) == (True, 200, "")
    assert outcome.warnings == [PREFIX + "before"]
    assert outcome.violation is None


def test_deny_defaults_to_forbidden_403(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('no latest tags')")
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (
        False,
        403,
        "Forbidden",
        "no latest tags",
    )


def test_deny_uses_reason_and_code(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('bad', 'Invalid', 422)")
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (False, 422, "Invalid", "bad")


@pytest.mark.parametrize("code", ["0", "-5", "undefined", "null"])
def test_deny_ignores_codes_that_are_not_positive(evaluate: Evaluate, code: str) -> None:
    outcome = evaluate(f"deny('bad', 'Custom', {code})")
    assert (outcome.allowed, outcome.code, outcome.reason) == (False, 403, "Custom")


def test_deny_without_arguments(evaluate: Evaluate) -> None:
    outcome = evaluate("deny()")
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (False, 403, "Forbidden", "")


# ---- warn --------------------------------------------------------------------------------------------------


def test_warnings_accumulate_with_the_policy_prefix_and_survive_deny(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('one'); warn('two'); deny('stop'); warn('three')")
    assert not outcome.allowed
    assert outcome.warnings == [PREFIX + "one", PREFIX + "two"]


def test_warnings_use_the_policy_name(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('hello')", name="other-name.example.com")
    assert outcome.warnings == ["[other-name.example.com]: hello"]


def test_warnings_survive_mutate(evaluate: Evaluate) -> None:
    outcome = evaluate(
        "warn('patching'); request.object.metadata.labels.team = 'a'; mutate(request.object)", type="Mutating"
    )
    assert outcome.allowed and outcome.patch
    assert outcome.warnings == [PREFIX + "patching"]


def test_warn_accepts_values_that_are_not_strings(evaluate: Evaluate) -> None:
    outcome = evaluate(
        "warn({a: 1}); warn(5); warn(['x', 2]); warn(new Error('msg')); warn(new TypeError('t')); warn(true)"
    )
    assert outcome.allowed, outcome.message
    assert outcome.warnings == [
        PREFIX + '{"a":1}',
        PREFIX + "5",
        PREFIX + '["x",2]',
        PREFIX + "Error: msg",
        PREFIX + "TypeError: t",
        PREFIX + "true",
    ]


# ---- mutate ------------------------------------------------------------------------------------------------


def test_mutate_in_a_mutating_policy_produces_a_patch(evaluate: Evaluate) -> None:
    outcome = evaluate(
        "const copy = JSON.parse(JSON.stringify(request.object));"
        "copy.metadata.labels.team = 'a'; copy.spec.containers[0].image = 'nginx:1.28'; mutate(copy)",
        type="Mutating",
    )
    assert outcome.allowed and outcome.code == 200
    assert outcome.patch is not None
    ops = sorted((op["op"], op["path"], json.dumps(op.get("value"))) for op in outcome.patch)
    assert ops == [
        ("add", "/metadata/labels/team", '"a"'),
        ("replace", "/spec/containers/0/image", '"nginx:1.28"'),
    ]
    expected = copy.deepcopy(POD)
    expected["metadata"]["labels"]["team"] = "a"
    expected["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert outcome.patched_object == expected


def test_mutate_of_request_object_modified_in_place(evaluate: Evaluate) -> None:
    outcome = evaluate("delete request.object.metadata.labels.app; mutate(request.object)", type="Mutating")
    assert outcome.patch == [{"op": "remove", "path": "/metadata/labels/app"}]


def test_mutate_without_changes_has_no_patch(evaluate: Evaluate) -> None:
    outcome = evaluate("mutate(request.object)", type="Mutating")
    assert outcome.allowed and outcome.patch is None


def test_mutate_in_a_validating_policy_just_allows(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('w'); request.object.metadata.labels.x = 'y'; mutate(request.object); deny('after')")
    assert (outcome.allowed, outcome.code) == (True, 200)
    assert outcome.patch is None and outcome.patched_object is None
    assert outcome.warnings == [PREFIX + "w"]


# ---- print and console -------------------------------------------------------------------------------------


def test_print_joins_strings_raw_and_other_values_as_json(evaluate: Evaluate) -> None:
    outcome = evaluate("print('text', {b: 1}, [1, 'two'], 3, true, null); print('second line')")
    assert outcome.allowed
    assert outcome.raw.prints == ['text {"b":1} [1,"two"] 3 true null', "second line"]


def test_print_skips_values_that_cannot_be_stringified(evaluate: Evaluate) -> None:
    outcome = evaluate("const cyclic = {}; cyclic.self = cyclic; print('a', cyclic, 10n, 'b')")
    assert outcome.allowed, outcome.message
    assert outcome.raw.prints == ["a b"]


def test_print_does_not_change_the_decision(evaluate: Evaluate) -> None:
    allowed = evaluate("print('deny me'); print({deny: true})")
    assert allowed.allowed and allowed.warnings == []
    denied = evaluate("print('before'); deny('real reason')")
    assert (denied.allowed, denied.message) == (False, "real reason")
    assert denied.raw.prints == ["before"]


def test_print_goes_to_the_policy_log(evaluate: Evaluate, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="jspolicy.policy"):
        evaluate("print('logged', {n: 1})")
    assert f'[{NAME}] logged {{"n":1}}' in [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize("method", ["log", "info", "warn", "error", "debug"])
def test_console_maps_to_print(evaluate: Evaluate, method: str) -> None:
    outcome = evaluate(f"console.{method}('via console', {{x: 1}})")
    assert outcome.allowed and outcome.warnings == []
    assert outcome.raw.prints == ['via console {"x":1}']


# ---- exports -----------------------------------------------------------------------------------------------


def test_exports_supports_webpack_commonjs_output(evaluate: Evaluate) -> None:
    source = (
        "Object.defineProperty(exports, '__esModule', { value: true });\n"
        "exports.check = function (req) { return req.namespace === 'shop' ? 'no shop' : ''; };\n"
        "exports.x = 1;\n"
        "const message = exports.check(request);\n"
        "if (message) deny(message + ':' + exports.x);\n"
    )
    outcome = evaluate(source)
    assert (outcome.allowed, outcome.message) == (False, "no shop:1")


def test_exports_is_fresh_for_every_evaluation(evaluate: Evaluate) -> None:
    source = "const before = Object.keys(exports); exports.added = 1; deny(JSON.stringify(before))"
    for _ in range(3):
        assert evaluate(source).message == "[]"


# ---- sleep -------------------------------------------------------------------------------------------------


def test_sleep_blocks_for_the_given_milliseconds(evaluate: Evaluate) -> None:
    started = time.monotonic()
    value = js_value(evaluate, "[typeof r, Date.now() - t]", setup="const t = Date.now(); const r = sleep(50);")
    elapsed = time.monotonic() - started
    assert value[0] == "undefined"
    assert value[1] >= 40
    assert elapsed >= 0.04


@pytest.mark.parametrize("call", ["sleep('900')", "sleep()", "sleep(900, 1)", "sleep({})", "sleep(null)"])
def test_sleep_without_a_single_number_returns_at_once(evaluate: Evaluate, call: str) -> None:
    outcome = evaluate(f"const r = {call}; deny(typeof r)")
    assert outcome.message == "undefined"
    assert outcome.duration_seconds < 0.5


# ---- env ---------------------------------------------------------------------------------------------------


def test_env_reads_the_process_environment(evaluate: Evaluate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSP_TEST_VALUE", "héllo")
    monkeypatch.delenv("JSP_TEST_UNSET", raising=False)
    assert js_value(evaluate, "[env('JSP_TEST_VALUE'), env('JSP_TEST_UNSET')]") == ["héllo", ""]


@pytest.mark.parametrize("call", ["env()", "env(1)", "env('PATH', 'x')", "env(null)"])
def test_env_with_wrong_arguments_is_undefined(evaluate: Evaluate, call: str) -> None:
    assert js_value(evaluate, call) is UNDEFINED


def test_env_allow_list(make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSP_TEST_ALLOWED", "yes")
    monkeypatch.setenv("JSP_TEST_SECRET", "hidden")
    run = evaluator(make_pool(env_allowed=("JSP_TEST_ALLOWED",)))
    assert js_value(run, "[env('JSP_TEST_ALLOWED'), env('JSP_TEST_SECRET')]") == ["yes", ""]


# ---- readFileSync ------------------------------------------------------------------------------------------


def test_read_file_sync(evaluate: Evaluate, tmp_path: Path) -> None:
    target = tmp_path / "token.txt"
    target.write_text("héllo\nwörld 😀", encoding="utf-8")
    value = js_value(evaluate, f"[readFileSync({json.dumps(str(target))}), typeof readFileSync('/no/such/file')]")
    assert value == ["héllo\nwörld 😀", "undefined"]


@pytest.mark.parametrize("call", ["readFileSync()", "readFileSync(1)", "readFileSync('/etc/hostname', 'utf8')"])
def test_read_file_sync_with_wrong_arguments_is_undefined(evaluate: Evaluate, call: str) -> None:
    assert js_value(evaluate, call) is UNDEFINED


def test_read_file_sync_allow_list(make_pool: PoolFactory, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok.txt").write_text("visible")
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden")
    (allowed / "link.txt").symlink_to(secret)
    run = evaluator(make_pool(read_file_allowed_paths=(str(allowed),)))
    paths = [allowed / "ok.txt", secret, f"{allowed}/../secret.txt", allowed / "link.txt"]
    value = js_value(run, f"{json.dumps([str(p) for p in paths])}.map((p) => readFileSync(p) ?? 'UNDEFINED')")
    assert value == ["visible", "UNDEFINED", "UNDEFINED", "UNDEFINED"]


def test_read_file_sync_never_reads_denied_paths(make_pool: PoolFactory, tmp_path: Path) -> None:
    keys = tmp_path / "serving-certs"
    keys.mkdir()
    (keys / "tls.key").write_text("PRIVATE")
    (tmp_path / "public.txt").write_text("public")
    (tmp_path / "alias.key").symlink_to(keys / "tls.key")
    run = evaluator(make_pool(read_file_denied_paths=(str(keys),)))
    paths = [keys / "tls.key", tmp_path / "alias.key", f"{keys}/../serving-certs/tls.key", tmp_path / "public.txt"]
    value = js_value(run, f"{json.dumps([str(p) for p in paths])}.map((p) => readFileSync(p) ?? 'UNDEFINED')")
    assert value == ["UNDEFINED", "UNDEFINED", "UNDEFINED", "public"]


# ---- atob / btoa -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "a", "hello", "é😀", "日本語テキスト", "line\nbreak\u0000nul"])
def test_btoa_encodes_utf8_bytes(evaluate: Evaluate, text: str) -> None:
    expected = base64.b64encode(text.encode("utf-8")).decode("ascii")
    assert js_value(evaluate, f"btoa({json.dumps(text)})") == expected


@pytest.mark.parametrize("text", ["", "a", "ab", "abc", "é😀", "日本語テキスト"])
def test_atob_decodes_utf8_and_round_trips(evaluate: Evaluate, text: str) -> None:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    assert js_value(evaluate, f"[atob({json.dumps(encoded)}), atob(btoa({json.dumps(text)}))]") == [text, text]


def test_btoa_of_a_lone_surrogate_uses_the_replacement_character(evaluate: Evaluate) -> None:
    assert js_value(evaluate, "btoa('\\ud800')") == base64.b64encode("\ufffd".encode()).decode()


def test_atob_ignores_carriage_returns_and_newlines(evaluate: Evaluate) -> None:
    assert js_value(evaluate, "[atob('YW\\r\\nJj'), atob('YQ==\\n'), atob('w6nw\\nn5iA')]") == ["abc", "a", "é😀"]


@pytest.mark.parametrize(
    "call",
    [
        "atob('YQ')",  # padding is required (Go StdEncoding)
        "atob('YWJjZA=')",
        "atob('Y!Q=')",
        "atob('Y Q==')",
        "atob('YQ==YQ==')",
        "atob('=YQ=')",
        "atob(5)",
        "atob()",
        "atob('YQ==', 'x')",
        "btoa(5)",
        "btoa()",
        "btoa({})",
    ],
)
def test_invalid_base64_input_is_undefined(evaluate: Evaluate, call: str) -> None:
    assert js_value(evaluate, call) is UNDEFINED


# ---- get ---------------------------------------------------------------------------------------------------


def test_get_namespaced_and_cluster_scoped_objects(evaluate: Evaluate) -> None:
    value = js_value(evaluate, "[get('ConfigMap', 'v1', 'shop/a'), get('Namespace', 'v1', 'shop')]", cluster=CLUSTER)
    for obj in value:  # the in-memory API server may add server-side fields such as resourceVersion
        obj["metadata"].pop("resourceVersion", None)
    assert value == [CLUSTER[1], NAMESPACE]


@pytest.mark.parametrize("options", ["", ", {cache: true}", ", {cache: false}", ", {cache: 'smart'}", ", {}"])
def test_get_with_cache_options(evaluate: Evaluate, options: str) -> None:
    value = js_value(
        evaluate,
        f"[get('ConfigMap', 'v1', 'shop/b'{options})?.data, typeof get('ConfigMap', 'v1', 'shop/missing'{options})]",
        cluster=CLUSTER,
    )
    assert value == [{"key": "b"}, "undefined"]


def test_get_of_a_missing_object_is_undefined_not_null(evaluate: Evaluate) -> None:
    assert js_value(evaluate, "get('ConfigMap', 'v1', 'other/a')", cluster=CLUSTER) is UNDEFINED


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ("get('Pod', 'v1')", "WrongArguments"),
        ("get('Pod', 'v1', 'a/b', {}, 1)", "WrongArguments"),
        ("get('Pod', 1, 'a/b')", "WrongArguments"),
        ("get('Pod', 'v1', 7)", "WrongArguments"),
        ("get('Pod', 'v1', 'a/b', {cache: 'yes'})", "UnmarshalOptions"),
        ("get('Pod', 'v1', 'a/b', 'cache')", "UnmarshalOptions"),
        ("get('NoSuchKind', 'v1', 'a/b')", "RetrieveObject"),
    ],
)
def test_get_errors_are_thrown_status_objects(evaluate: Evaluate, call: str, reason: str) -> None:
    setup = f"let e = null; try {{ {call}; }} catch (caught) {{ e = caught; }}"
    value = js_value(evaluate, "[e !== null && typeof e, e.reason, typeof e.message, String(e)]", setup=setup)
    assert value[:3] == ["object", reason, "string"]
    assert value[3].startswith(f"{reason}: ")
    assert len(value[3]) > len(reason) + 2


def test_get_unknown_kind_names_the_kind(evaluate: Evaluate) -> None:
    setup = "let e; try { get('NoSuchKind', 'example.com/v1', 'x') } catch (caught) { e = caught }"
    assert "NoSuchKind" in js_value(evaluate, "e.message", setup=setup)


# ---- list --------------------------------------------------------------------------------------------------


def _names(evaluate: Evaluate, options: str) -> Any:
    return js_value(
        evaluate,
        f"list('ConfigMap', 'v1', {options}).map((o) => o.metadata.namespace + '/' + o.metadata.name).sort()",
        cluster=CLUSTER,
    )


def test_list_everything_and_by_namespace(evaluate: Evaluate) -> None:
    assert _names(evaluate, "{}") == ["other/d", "shop/a", "shop/b", "shop/c"]
    assert _names(evaluate, "{namespace: 'shop'}") == ["shop/a", "shop/b", "shop/c"]


def test_list_of_nothing_is_an_empty_array(evaluate: Evaluate) -> None:
    value = js_value(
        evaluate,
        "[Array.isArray(r), r.length, list('ConfigMap', 'v1', {labelSelector: 'none=here'}).length]",
        setup="const r = list('ConfigMap', 'v1', {namespace: 'empty'}); r.forEach(() => {});",
        cluster=CLUSTER,
    )
    assert value == [True, 0, 0]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=fe", ["other/d", "shop/a"]),
        ("tier==fe,env=prod", ["shop/a"]),
        ("tier!=fe", ["shop/b", "shop/c"]),
        ("tier in (fe, be)", ["other/d", "shop/a", "shop/b"]),
        ("tier notin (fe)", ["shop/b", "shop/c"]),
        ("!tier", ["shop/c"]),
        ("tier", ["other/d", "shop/a", "shop/b"]),
        ("tier,!env", ["other/d", "shop/b"]),
    ],
)
def test_list_label_selectors_including_set_based_terms(evaluate: Evaluate, selector: str, expected: list[str]) -> None:
    assert _names(evaluate, json.dumps({"labelSelector": selector})) == expected


@pytest.mark.parametrize("kind", ["ConfigMapList", "ConfigMap"])
def test_list_accepts_the_list_kind(evaluate: Evaluate, kind: str) -> None:
    value = js_value(evaluate, f"list('{kind}', 'v1', {{namespace: 'shop'}}).length", cluster=CLUSTER)
    assert value == 3


def test_list_pods_by_podlist(evaluate: Evaluate) -> None:
    assert js_value(evaluate, "list('PodList', 'v1').map((p) => p.metadata.name)", cluster=[POD]) == ["web"]


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ("list('ConfigMap', 'v1', {labelSelector: 'tier in (fe'})", "ParseLabelSelector"),
        ("list('ConfigMap', 'v1', {labelSelector: '!!x'})", "ParseLabelSelector"),
        ("list('ConfigMap')", "WrongArguments"),
        ("list('ConfigMap', 1)", "WrongArguments"),
        ("list('ConfigMap', 'v1', {namespace: 5})", "UnmarshalOptions"),
        ("list('NoSuchKind', 'v1')", "ErrorListing"),
    ],
)
def test_list_errors_are_thrown(evaluate: Evaluate, call: str, reason: str) -> None:
    setup = f"let e = null; try {{ {call}; }} catch (caught) {{ e = caught; }}"
    value = js_value(evaluate, "[e === null ? 'no error' : e.reason, typeof e?.message]", setup=setup, cluster=CLUSTER)
    assert value == [reason, "string"]


# ---- create / update / remove ------------------------------------------------------------------------------


def test_create_returns_the_stored_object(evaluate: Evaluate) -> None:
    value = js_value(
        evaluate, "[r.ok, r.object, get('ConfigMap', 'v1', 'shop/fresh')]", setup=f"const r = create({NEW_CONFIGMAP});"
    )
    ok, created, fetched = value
    assert ok is True
    assert created["metadata"]["name"] == "fresh" and created["data"] == {"k": "v"}
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    assert fetched == created


def test_create_of_an_existing_object_is_already_exists(evaluate: Evaluate) -> None:
    setup = "const r = create({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'a', namespace: 'shop'}});"
    value = js_value(evaluate, "[r.ok, r.reason, typeof r.message, 'object' in r]", setup=setup, cluster=CLUSTER)
    assert value == [False, "AlreadyExists", "string", False]


def test_update_and_conflict_on_a_stale_resource_version(evaluate: Evaluate) -> None:
    setup = (
        f"const created = create({NEW_CONFIGMAP}).object;"
        "const first = update({...created, data: {k: 'v2'}});"
        "const stale = update({...created, data: {k: 'v3'}});"
        "const fresh = update({...first.object, data: {k: 'v4'}});"
    )
    value = js_value(
        evaluate,
        "[first.ok, stale.ok, stale.reason, fresh.ok, get('ConfigMap', 'v1', 'shop/fresh').data.k]",
        setup=setup,
    )
    assert value == [True, False, "Conflict", True, "v4"]


def test_update_of_a_missing_object_is_not_found(evaluate: Evaluate) -> None:
    setup = "const r = update({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'ghost', namespace: 'shop'}});"
    assert js_value(evaluate, "[r.ok, r.reason]", setup=setup) == [False, "NotFound"]


def test_remove_deletes_and_reports_not_found(evaluate: Evaluate) -> None:
    setup = (
        "const target = get('ConfigMap', 'v1', 'shop/a');const first = remove(target);const second = remove(target);"
    )
    value = js_value(
        evaluate,
        "[first.ok, typeof get('ConfigMap', 'v1', 'shop/a'), second.ok, second.reason]",
        setup=setup,
        cluster=CLUSTER,
    )
    assert value == [True, "undefined", False, "NotFound"]


@pytest.mark.parametrize("verb", ["create", "update", "remove"])
@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ("", "WrongArguments"),
        ("{}, {}", "WrongArguments"),
        ("5", "UnmarshalObject"),
        ("null", "UnmarshalObject"),
        ("[1]", "UnmarshalObject"),
        ("{kind: 'ConfigMap', metadata: {name: 'x', namespace: 'shop'}}", "UnmarshalObject"),
    ],
)
def test_write_helpers_throw_on_bad_arguments(evaluate: Evaluate, verb: str, arguments: str, reason: str) -> None:
    setup = f"let e = null, r; try {{ r = {verb}({arguments}); }} catch (caught) {{ e = caught; }}"
    value = js_value(
        evaluate, "[e === null ? 'returned ' + JSON.stringify(r) : e.reason, typeof e?.message]", setup=setup
    )
    assert value == [reason, "string"]


def test_dry_run_requests_do_not_persist_writes(evaluate: Evaluate) -> None:
    setup = (
        f"const created = create({NEW_CONFIGMAP});"
        "const removed = remove(get('ConfigMap', 'v1', 'shop/a'));"
        "const updated = update({...get('ConfigMap', 'v1', 'shop/b'), data: {key: 'changed'}});"
    )
    value = js_value(
        evaluate,
        "[created.ok, removed.ok, updated.ok, updated.object.data.key, typeof get('ConfigMap', 'v1', 'shop/fresh'),"
        " get('ConfigMap', 'v1', 'shop/a')?.metadata.name, get('ConfigMap', 'v1', 'shop/b').data.key]",
        setup=setup,
        cluster=CLUSTER,
        dry_run=True,
    )
    assert value == [True, True, True, "changed", "undefined", "a", "b"]


# ---- fetchSync ---------------------------------------------------------------------------------------------


def _fetch_setup(call: str) -> str:
    return f"let e = null, r = null; try {{ r = {call}; }} catch (caught) {{ e = caught; }}"


def test_fetch_get(evaluate: Evaluate, http_server: HttpServer) -> None:
    setup = f"const r = fetchSync('{http_server.url}/json?a=1', {{headers: {{'X-Test': 'sent'}}}});"
    value = js_value(evaluate, "[r.status, r.statusText, r.ok, r.headers, r.text(), r.json()]", setup=setup)
    status, status_text, ok, headers, text, parsed = value
    assert (status, status_text, ok) == (200, "200 OK", True)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Custom-Thing"] == "custom"
    assert "x-custom-thing" not in headers and "content-type" not in headers
    assert headers["X-Multi"] == "first"
    assert parsed == {"path": "/json?a=1", "xTest": "sent"}
    assert json.loads(text) == parsed


def test_fetch_post_with_body_and_headers(evaluate: Evaluate, http_server: HttpServer) -> None:
    options = "{method: 'post', body: 'héllo body', headers: {'X-Test': 'h2', 'Content-Type': 'text/plain'}}"
    setup = f"const r = fetchSync('{http_server.url}/echo', {options});"
    value = js_value(evaluate, "[r.status, r.statusText, r.ok, r.json()]", setup=setup)
    assert value == [
        201,
        "201 Created",
        True,
        {"method": "POST", "body": "héllo body", "xTest": "h2", "contentType": "text/plain"},
    ]


def test_fetch_non_2xx_is_a_response_not_an_error(evaluate: Evaluate, http_server: HttpServer) -> None:
    setup = f"const r = fetchSync('{http_server.url}/missing');"
    assert js_value(evaluate, "[r.status, r.statusText, r.ok, r.text()]", setup=setup) == [
        404,
        "404 Not Found",
        False,
        "nothing here: é",
    ]


def test_fetch_network_error_throws_a_string(evaluate: Evaluate) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    setup = _fetch_setup(f"fetchSync('http://127.0.0.1:{port}/x')")
    kind, message = js_value(evaluate, "[typeof e, e]", setup=setup)
    assert kind == "string"
    assert message.startswith("fetchSync: ")


def test_uncaught_fetch_error_is_a_500(evaluate: Evaluate) -> None:
    outcome = evaluate("fetchSync('ftp://127.0.0.1/x')")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("fetchSync: ")


@pytest.mark.parametrize("call", ["fetchSync()", "fetchSync(5)", "fetchSync('http://127.0.0.1/', {method: 1})"])
def test_fetch_bad_arguments_throw_strings(evaluate: Evaluate, call: str) -> None:
    kind, message = js_value(evaluate, "[typeof e, e]", setup=_fetch_setup(call))
    assert kind == "string" and message.startswith("fetchSync: ")


def test_fetch_allow_list_blocks_other_hosts(make_pool: PoolFactory, http_server: HttpServer) -> None:
    run = evaluator(make_pool(fetch_allowed_hosts=("other.example",)))
    before = len(http_server.hits)
    kind, message = js_value(run, "[typeof e, e, r]", setup=_fetch_setup(f"fetchSync('{http_server.url}/json')"))[:2]
    assert kind == "string" and message.startswith("fetchSync: ")
    assert "not allowed" in message
    assert len(http_server.hits) == before  # the server was never contacted


def test_fetch_allow_list_is_checked_on_redirects(make_pool: PoolFactory, http_server: HttpServer) -> None:
    run = evaluator(make_pool(fetch_allowed_hosts=("127.0.0.1",)))
    port = http_server.url.rsplit(":", 1)[1]
    allowed = js_value(run, f"fetchSync('{http_server.url}/json').status")
    assert allowed == 200
    target = f"http://localhost:{port}/json"
    kind, message = js_value(
        run, "[typeof e, e]", setup=_fetch_setup(f"fetchSync('{http_server.url}/redirect?to={target}')")
    )
    assert kind == "string" and "not allowed" in message


def test_fetch_timeout(make_pool: PoolFactory, http_server: HttpServer) -> None:
    run = evaluator(make_pool(fetch_timeout_seconds=0.3))
    started = time.monotonic()
    kind, message = js_value(
        run, "[typeof e, e]", setup=_fetch_setup(f"fetchSync('{http_server.url}/slow?seconds=1.5')")
    )
    elapsed = time.monotonic() - started
    assert kind == "string" and message.startswith("fetchSync: ")
    assert elapsed < 1.2


def test_fetch_cannot_outlive_the_policy_timeout(evaluate: Evaluate, http_server: HttpServer) -> None:
    started = time.monotonic()
    outcome = evaluate(f"fetchSync('{http_server.url}/slow?seconds=3'); allow()", timeoutSeconds=1)
    elapsed = time.monotonic() - started
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert elapsed < 2.5
