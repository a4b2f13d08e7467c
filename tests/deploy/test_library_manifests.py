"""`jspolicy manifests --library`: the chosen library policies, the RBAC their code needs, and the options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.deploy import library, render

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "registry.example/jspolicy:1.2.3"
AGGREGATE = {"policy.jspolicy.com/aggregate-to-jspolicy": "true"}


def manifests(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jspolicy", "manifests", "--image", IMAGE, *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def names_of(objects: list[dict[str, Any]], kind: str) -> list[str]:
    return [o["metadata"]["name"] for o in objects if o["kind"] == kind]


def test_every_library_directory_is_available() -> None:
    directories = sorted(p.parent.name for p in (ROOT / "policies").glob("*/policy.yaml"))
    assert library.available() == directories
    assert "pod-security-baseline" in directories


def test_the_chosen_policies_follow_the_install_with_their_rbac_first() -> None:
    everything = library.available()
    result = manifests("--library", *everything)
    assert result.returncode == 0, result.stderr
    objects = documents(result.stdout)
    install = render("jspolicy", IMAGE)
    assert objects[: len(install)] == install  # the install itself is unchanged
    added = objects[len(install) :]
    assert names_of(added, "JsPolicy") == [f"{name}.library.jspolicy.com" for name in everything]
    roles = [o for o in added if o["kind"] == "ClusterRole"]
    assert [role["metadata"]["name"] for role in roles] == [
        f"jspolicy-library-{name}" for name in everything if (ROOT / "policies" / name / "policy.rbac.yaml").is_file()
    ]
    for role in roles:
        assert role["metadata"]["labels"].items() >= AGGREGATE.items(), role["metadata"]
    first_policy = next(i for i, o in enumerate(added) if o["kind"] == "JsPolicy")
    assert all(o["kind"] == "JsPolicy" for o in added[first_policy:])  # access exists before any policy


def test_library_only_prints_just_the_policies_and_the_options() -> None:
    result = manifests("--library", "pod-security-baseline", "pod-security-baseline", "--library-only",
                       "--library-option", "allowed-registries=ghcr.io/acme, registry.example.com")  # fmt: skip
    assert result.returncode == 0, result.stderr
    config_map, *rbac, policy = documents(result.stdout)
    assert [o["kind"] for o in rbac] == (
        ["ClusterRole"] if (ROOT / "policies/pod-security-baseline/policy.rbac.yaml").is_file() else []
    )
    assert (config_map["kind"], config_map["metadata"]["namespace"], config_map["metadata"]["name"]) == (
        "ConfigMap", "jspolicy", "jspolicy-guardrails")  # fmt: skip
    assert config_map["data"] == {"allowed-registries": "ghcr.io/acme, registry.example.com"}
    assert policy["metadata"]["name"] == "pod-security-baseline.library.jspolicy.com"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--library", "no-such-policy"], "no library policy named no-such-policy; the library has: "),
        (["--library-only"], "--library-option and --library-only need --library NAME..."),
        (["--library", "pod-security-baseline", "--library-option", "novalue"], "--library-option takes NAME=VALUE"),
        (["--library", "pod-security-baseline", "--library-option", "a key=v"], "'a key' is not a valid ConfigMap key"),
    ],
)
def test_mistakes_are_one_line_errors(args: list[str], message: str) -> None:
    result = manifests(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
