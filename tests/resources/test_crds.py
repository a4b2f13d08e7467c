"""The CRDs in webhook-config/ describe exactly what the resource model reads and validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jspolicy.resources.kinds import KindRegistry
from jspolicy.resources.manifests import load_manifests
from jspolicy.resources.validation import _META_FIELDS, _SPEC_FIELDS, decode_strictly

ROOT = Path(__file__).resolve().parents[2]
CRDS = {d["spec"]["names"]["kind"]: d for d in yaml.safe_load_all((ROOT / "webhook-config" / "crds.yaml").read_text())}


def schema(kind: str) -> dict[str, Any]:
    (version,) = CRDS[kind]["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"])


def test_three_cluster_scoped_crds_as_the_kind_table_knows_them() -> None:
    assert set(CRDS) == {"JsPolicy", "JsPolicyBundle", "JsPolicyViolations"}
    builtin = KindRegistry.builtin()
    for kind, crd in CRDS.items():
        registered = KindRegistry().add_crd(crd)
        assert registered == builtin.lookup("policy.jspolicy.com/v1beta1", kind)
        assert crd["spec"]["scope"] == "Cluster"
        assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.policy.jspolicy.com"
        (version,) = crd["spec"]["versions"]
        assert version["subresources"] == {"status": {}} and version["additionalPrinterColumns"]


def test_the_jspolicy_schema_has_every_field_the_model_decodes() -> None:
    spec = schema("JsPolicy")["properties"]["spec"]["properties"]
    assert set(spec) == set(_SPEC_FIELDS)
    types = {"string": "string", "int32": "integer", "[]string": "array", "map[string]string": "object",
             "LabelSelector": "object"}  # fmt: skip
    for field, kind in _SPEC_FIELDS.items():
        assert spec[field]["type"] == types[kind], field
    assert set(_META_FIELDS) >= {"name", "labels", "annotations"}


def test_no_defaults_or_enums_like_jspolicy() -> None:
    text = (ROOT / "webhook-config" / "crds.yaml").read_text()
    assert "default:" not in text and "enum:" not in text


def test_every_example_and_library_policy_decodes_strictly() -> None:
    library = [str(p) for p in sorted((ROOT / "policies").glob("*/policy.yaml"))]
    manifests = load_manifests([str(ROOT / "examples" / "policies"), *library])
    policies = [m for m in manifests if m.kind == "JsPolicy"]
    assert len(policies) >= 6
    for manifest in policies:
        decode_strictly(manifest.obj)
