"""JsPolicyBundle encoding, the bundle hash in the status, and where a policy's code comes from."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from jspolicy.bundler.origin import CodeSource, resolve_program
from jspolicy.resources.bundle import MAX_BUNDLE_BYTES, BundleError, bundle_hash, decode_bundle, encode_bundle
from jspolicy.resources.fielderrors import aggregate
from jspolicy.resources.manifests import Manifest, ManifestError, load_manifests
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.resources.policyset import PolicySet
from jspolicy.resources.validation import validate_policy
from jspolicy.runtime.program import PolicyProgram, ProgramError

NAME = "bundled.policies.company.tld"


def gzip_like_node(data: bytes, *, mtime: int = 1_700_000_000, filename: str = "bundle.js") -> bytes:
    """What Node's zlib.gzipSync (level 6) plus a file name header look like: not our own mtime-0 output."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=filename, mode="wb", fileobj=buffer, compresslevel=6, mtime=mtime) as stream:
        stream.write(data)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---- encode / decode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "javascript",
    [
        "allow();",
        "",
        "deny('Grüße aus Köln ✓ 日本語 🚀');",
        "const s = '\\u2028';\n// \u2028 line separator\nwarn(`${s}`);",
        "x".ljust(100_000, "y"),
    ],
)
def test_round_trip(javascript: str) -> None:
    encoded = encode_bundle(javascript)
    assert encoded.isascii()
    assert decode_bundle(encoded) == javascript


def test_encoding_is_base64_of_gzip_and_reproducible() -> None:
    encoded = encode_bundle("allow();")
    raw = base64.b64decode(encoded, validate=True)
    assert raw[:2] == b"\x1f\x8b"
    assert raw[4:8] == b"\0\0\0\0"  # mtime 0
    assert gzip.decompress(raw) == b"allow();"
    assert encode_bundle("allow();") == encoded


def test_bundles_from_the_webpack_plugin_decode() -> None:
    javascript = "import x from 'y';\nif (request.object.metadata.name === 'ä') deny('no');\n"
    raw = gzip_like_node(javascript.encode("utf-8"))
    assert raw[3] & 0x08, "the FNAME flag must be set, as in the plugin's output"
    assert int.from_bytes(raw[4:8], "little") == 1_700_000_000
    assert decode_bundle(b64(raw)) == javascript


def test_gzip_level_6_without_file_name_decodes() -> None:
    raw = gzip.compress(b"warn('hi');", compresslevel=6, mtime=12345)
    assert decode_bundle(b64(raw)) == "warn('hi');"


@pytest.mark.parametrize("bundle", ["abc", "H4sIAAAAAA", "a===", "ä"])
def test_invalid_base64_is_a_bundle_error(bundle: str) -> None:
    with pytest.raises(BundleError):
        decode_bundle(bundle)


def test_non_alphabet_base64_is_a_bundle_error() -> None:
    with pytest.raises(BundleError):
        decode_bundle("@@@@")


def test_junk_inside_base64_is_a_bundle_error() -> None:
    with pytest.raises(BundleError):
        decode_bundle("####" + encode_bundle("allow();"))


@pytest.mark.parametrize("payload", [b"hello world", b"\x1f\x8bnot really gzip", b"{}"])
def test_data_that_is_not_gzip_is_a_bundle_error(payload: bytes) -> None:
    with pytest.raises(BundleError, match="not gzip"):
        decode_bundle(b64(payload))


def test_truncated_gzip_is_a_bundle_error() -> None:
    raw = gzip_like_node(b"allow();" * 100)
    with pytest.raises(BundleError):
        decode_bundle(b64(raw[:-12]))


def test_non_utf8_javascript_is_a_bundle_error() -> None:
    with pytest.raises(BundleError, match="UTF-8"):
        decode_bundle(b64(gzip.compress(b"deny('\xff\xfe');")))


def test_a_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (MAX_BUNDLE_BYTES + 1), compresslevel=1)
    assert len(bomb) < MAX_BUNDLE_BYTES // 100
    with pytest.raises(BundleError, match=f"more than {MAX_BUNDLE_BYTES} bytes"):
        decode_bundle(b64(bomb))


def test_a_bundle_of_exactly_the_limit_decodes() -> None:
    data = b" " * MAX_BUNDLE_BYTES
    assert len(decode_bundle(b64(gzip.compress(data, compresslevel=1)))) == MAX_BUNDLE_BYTES


# ---- bundle hash -------------------------------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_hash_of_javascript_without_dependencies_marshals_null() -> None:
    assert bundle_hash("allow();", None) == sha('{"dependencies":null,"javascript":"allow();"}')


def test_hash_sorts_keys_like_a_go_map() -> None:
    dependencies = {"zod": "^3", "lodash": "^4.17.21", "@jspolicy/x": "~1.0.0"}
    expected = '{"dependencies":{"@jspolicy/x":"~1.0.0","lodash":"^4.17.21","zod":"^3"},"javascript":"allow();"}'
    assert bundle_hash("allow();", dependencies) == sha(expected)


def test_hash_escapes_html_characters_like_go() -> None:
    javascript = 'if (a < b && c > d) deny("x");\n// é \u2028'
    expected = (
        '{"dependencies":null,"javascript":"if (a \\u003c b \\u0026\\u0026 c \\u003e d) deny(\\"x\\");\\n// é \\u2028"}'
    )
    assert bundle_hash(javascript, None) == sha(expected)
    unescaped = expected.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
    assert bundle_hash(javascript, None) != sha(unescaped)


def test_hash_is_empty_without_javascript() -> None:
    assert bundle_hash("", None) == ""
    assert bundle_hash("", {"lodash": "^4"}) == ""


def test_hash_changes_with_dependencies() -> None:
    assert bundle_hash("allow();", {"a": "1"}) != bundle_hash("allow();", {"a": "2"})
    assert bundle_hash("allow();", {"a": "1"}) != bundle_hash("allow();", None)


def test_hash_of_an_empty_dependencies_map() -> None:
    assert bundle_hash("allow();", {}) == sha('{"dependencies":{},"javascript":"allow();"}')


# ---- resolve_program ---------------------------------------------------------------------


def js_policy(javascript: str | None = None, name: str = NAME) -> JsPolicy:
    spec: dict[str, Any] = {"operations": ["CREATE"], "resources": ["pods"]}
    if javascript is not None:
        spec["javascript"] = javascript
    return JsPolicy({"apiVersion": API_VERSION, "kind": "JsPolicy", "metadata": {"name": name}, "spec": spec})


def resolve(policy: JsPolicy, bundle: dict[str, Any] | None) -> PolicyProgram:
    return resolve_program(CodeSource(policy, bundle), None)


def bundle_object(bundle: Any, name: str = NAME) -> dict[str, Any]:
    spec = {} if bundle is None else {"bundle": bundle}
    return {"apiVersion": API_VERSION, "kind": "JsPolicyBundle", "metadata": {"name": name}, "spec": spec}


def test_inline_javascript_wins_over_the_bundle() -> None:
    program = resolve(js_policy("deny('inline');"), bundle_object(encode_bundle("deny('bundle');")))
    assert (program.name, program.source) == (NAME, "deny('inline');")


def test_without_javascript_the_bundle_is_used() -> None:
    program = resolve(js_policy(), bundle_object(encode_bundle("deny('bundle');")))
    assert (program.name, program.source) == (NAME, "deny('bundle');")
    webpack = resolve(js_policy(""), bundle_object(b64(gzip_like_node(b"warn('w');"))))
    assert webpack.source == "warn('w');"


@pytest.mark.parametrize("bundle", [None, bundle_object(None), bundle_object(""), {"spec": None}])
def test_a_missing_bundle_is_a_program_error(bundle: dict[str, Any] | None) -> None:
    with pytest.raises(ProgramError) as caught:
        resolve(js_policy(), bundle)
    assert str(caught.value) == f"couldn't find javascript bundle for js policy {NAME}"


@pytest.mark.parametrize("bundle", ["abc", b64(b"plain text")])
def test_a_corrupt_bundle_is_a_program_error(bundle: str) -> None:
    with pytest.raises(ProgramError) as caught:
        resolve(js_policy(), bundle_object(bundle))
    assert str(caught.value).startswith(f"error decompressing javascript bundle for js policy {NAME}: ")
    assert len(str(caught.value)) > len(f"error decompressing javascript bundle for js policy {NAME}: ")


# ---- PolicySet ---------------------------------------------------------------------------


def policy_manifest(name: str = NAME, source: str = "policies.yaml", **spec: Any) -> Manifest:
    body: dict[str, Any] = {"operations": ["CREATE"], "resources": ["pods"], "javascript": "allow();"}
    body.update(spec)
    obj = {"apiVersion": API_VERSION, "kind": "JsPolicy", "metadata": {"name": name}, "spec": body}
    return Manifest(obj, source)


def test_policy_sets_collect_policies_and_bundles() -> None:
    bundled = policy_manifest("b.company.tld", "b.yaml")
    del bundled.obj["spec"]["javascript"]
    bundle = Manifest(bundle_object(encode_bundle("deny('b');"), "b.company.tld"), "b-bundle.yaml")
    result = PolicySet.from_manifests([policy_manifest("a.company.tld", "a.yaml"), bundled, bundle])
    assert sorted(result.policies) == ["a.company.tld", "b.company.tld"]
    assert result.sources == {"a.company.tld": "a.yaml", "b.company.tld": "b.yaml"}
    assert resolve_program(CodeSource.of(result, "a.company.tld"), None).source == "allow();"
    assert resolve_program(CodeSource.of(result, "b.company.tld"), None).source == "deny('b');"


def test_invalid_policies_name_the_source() -> None:
    manifest = policy_manifest("a.b", "dir/policy.yaml (document 2)", timeoutSeconds=0)
    with pytest.raises(ManifestError) as caught:
        PolicySet.from_manifests([manifest])
    assert str(caught.value) == (
        'dir/policy.yaml (document 2): JsPolicy "a.b" is invalid: ' + aggregate(validate_policy(manifest.obj))
    )
    assert str(caught.value).startswith('dir/policy.yaml (document 2): JsPolicy "a.b" is invalid: [metadata.name')


def test_undecodable_policies_name_the_source() -> None:
    with pytest.raises(ManifestError) as caught:
        PolicySet.from_manifests([policy_manifest(source="p.yaml", foo="bar")])
    assert str(caught.value) == 'p.yaml: strict decoding error: unknown field "spec.foo"'


def test_duplicate_policies_are_rejected() -> None:
    with pytest.raises(ManifestError) as caught:
        PolicySet.from_manifests([policy_manifest(source="one.yaml"), policy_manifest(source="two.yaml")])
    assert str(caught.value) == f"two.yaml: JsPolicy {NAME} is also defined in one.yaml"


def test_other_kinds_are_rejected_unless_allowed() -> None:
    config_map = Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, "cm.yaml")
    with pytest.raises(ManifestError) as caught:
        PolicySet.from_manifests([policy_manifest(), config_map])
    assert str(caught.value) == (
        "cm.yaml: expected a JsPolicy or JsPolicyBundle (policy.jspolicy.com/v1beta1), got ConfigMap (v1)"
    )
    allowed = PolicySet.from_manifests([policy_manifest(), config_map], others_allowed=True)
    assert list(allowed.policies) == [NAME]


def test_a_jspolicy_of_another_version_is_another_kind() -> None:
    manifest = policy_manifest(source="old.yaml")
    manifest.obj["apiVersion"] = "policy.jspolicy.com/v1alpha1"
    with pytest.raises(ManifestError, match=r"^old\.yaml: expected a JsPolicy or JsPolicyBundle"):
        PolicySet.from_manifests([manifest])


def test_a_bundle_needs_a_name() -> None:
    bundle = Manifest({"apiVersion": API_VERSION, "kind": "JsPolicyBundle", "spec": {}}, "bundle.yaml")
    with pytest.raises(ManifestError) as caught:
        PolicySet.from_manifests([bundle])
    assert str(caught.value) == "bundle.yaml: the JsPolicyBundle has no metadata.name"


def test_policy_sets_from_files_name_the_file_and_document(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(
        f"apiVersion: {API_VERSION}\nkind: JsPolicy\nmetadata: {{name: ok.company.tld}}\n"
        "spec: {operations: [CREATE], resources: [pods], javascript: 'allow();'}\n"
        "---\n"
        f"apiVersion: {API_VERSION}\nkind: JsPolicy\nmetadata: {{name: ok.company.tld}}\n"
        "spec: {operations: [CREATE], resources: [pods], javascript: 'deny();'}\n",
        "utf-8",
    )
    with pytest.raises(ManifestError) as caught:
        PolicySet.from_manifests(load_manifests([str(path)]))
    assert str(caught.value) == f"{path} (document 2): JsPolicy ok.company.tld is also defined in {path} (document 1)"
