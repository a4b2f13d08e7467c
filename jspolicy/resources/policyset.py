"""A set of JsPolicy and JsPolicyBundle objects, validated and resolved to JavaScript.

Where a policy's code comes from: inline ``spec.javascript`` when set (the
bundle jsPolicy's controller makes from it is derived data), otherwise the
JsPolicyBundle of the same name. The webhook, controller policies and the CLI
all resolve code here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jspolicy.resources.bundle import BundleError, decode_bundle, needs_bundler
from jspolicy.resources.fielderrors import aggregate
from jspolicy.resources.manifests import Manifest, ManifestError
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.resources.validation import DecodeError, decode_strictly, validate_policy
from jspolicy.runtime.program import PolicyProgram

JSPOLICY, JSPOLICY_BUNDLE = "JsPolicy", "JsPolicyBundle"


class ProgramError(Exception):
    """A policy has no runnable code; the webhook answers these with a 500."""


def resolve_program(policy: JsPolicy, bundle: Mapping[str, Any] | None) -> PolicyProgram:
    """Inline JavaScript runs as it is; code that needs npm dependencies or imports runs from its
    bundle (what a bundler, e.g. jsPolicy's controller, made of it); otherwise the bundle."""
    bundled = needs_bundler(policy.javascript, policy.spec.get("dependencies"))
    if policy.javascript and not bundled:
        return PolicyProgram.of(policy.name, policy.javascript)
    if bundle is None and bundled:
        raise ProgramError(
            f"js policy {policy.name} imports modules or has npm dependencies: it needs a JsPolicyBundle "
            "(bundling them in the controller is not supported yet)"
        )
    if bundle is None:
        raise ProgramError(f"couldn't find javascript bundle for js policy {policy.name}")
    encoded = (bundle.get("spec") or {}).get("bundle")
    if not isinstance(encoded, str) or not encoded:
        raise ProgramError(f"couldn't find javascript bundle for js policy {policy.name}")
    try:
        return PolicyProgram.of(policy.name, decode_bundle(encoded))
    except BundleError as error:
        raise ProgramError(f"error decompressing javascript bundle for js policy {policy.name}: {error}") from None


def check_policy(obj: Mapping[str, Any], source: str) -> JsPolicy:
    """Decode strictly and validate; raises ManifestError naming the source."""
    try:
        decode_strictly(obj)
    except DecodeError as error:
        raise ManifestError(f"{source}: {error}") from None
    errors = validate_policy(obj)
    if errors:
        name = (obj.get("metadata") or {}).get("name", "")
        raise ManifestError(f'{source}: JsPolicy "{name}" is invalid: {aggregate(errors)}')
    return JsPolicy(obj)


@dataclass
class PolicySet:
    policies: dict[str, JsPolicy] = field(default_factory=dict)
    bundles: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_manifests(cls, manifests: Iterable[Manifest], *, others_allowed: bool = False) -> PolicySet:
        """Collect policies and bundles; other kinds are an error unless ``others_allowed``."""
        result = cls()
        for manifest in manifests:
            if manifest.api_version == API_VERSION and manifest.kind == JSPOLICY:
                policy = check_policy(manifest.obj, manifest.source)
                if policy.name in result.policies:
                    first = result.sources[policy.name]
                    raise ManifestError(f"{manifest.source}: JsPolicy {policy.name} is also defined in {first}")
                result.policies[policy.name] = policy
                result.sources[policy.name] = manifest.source
            elif manifest.api_version == API_VERSION and manifest.kind == JSPOLICY_BUNDLE:
                if not manifest.name:
                    raise ManifestError(f"{manifest.source}: the JsPolicyBundle has no metadata.name")
                result.bundles[manifest.name] = manifest.obj
            elif not others_allowed:
                raise ManifestError(
                    f"{manifest.source}: expected a JsPolicy or JsPolicyBundle ({API_VERSION}), "
                    f"got {manifest.kind} ({manifest.api_version})"
                )
        return result

    @classmethod
    def from_cluster(
        cls, policies: Iterable[Mapping[str, Any]], bundles: Iterable[Mapping[str, Any]]
    ) -> tuple[PolicySet, list[str]]:
        """Objects watched in a cluster; an invalid JsPolicy (stored while /crds was not
        enforcing) is skipped and reported, never a reason to stop serving the others."""
        result, problems = cls(), []
        for obj in policies:
            name = (obj.get("metadata") or {}).get("name", "")
            try:
                result.policies[name] = check_policy(obj, f"JsPolicy {name}")
                result.sources[name] = "cluster"
            except ManifestError as error:
                problems.append(str(error))
        for obj in bundles:
            name = (obj.get("metadata") or {}).get("name", "")
            if name:
                result.bundles[name] = obj
        return result, problems

    def program(self, name: str) -> PolicyProgram:
        return resolve_program(self.policies[name], self.bundles.get(name))
