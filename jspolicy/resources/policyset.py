"""A set of JsPolicy and JsPolicyBundle objects, validated, with the files they came from.

Where each policy's code comes from is decided in ``jspolicy/bundler/origin.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jspolicy.resources.fielderrors import aggregate
from jspolicy.resources.manifests import Manifest, ManifestError
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.resources.validation import DecodeError, decode_strictly, validate_policy

JSPOLICY, JSPOLICY_BUNDLE = "JsPolicy", "JsPolicyBundle"


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
    paths: dict[str, Path] = field(default_factory=dict)  # the files policies were read from
    documents: dict[str, int] = field(default_factory=dict)  # and their YAML document there

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
                if manifest.path is not None:
                    result.paths[policy.name] = manifest.path
                    result.documents[policy.name] = manifest.document
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
    def merge(
        cls, parts: Mapping[Path, PolicySet], served: Mapping[str, Path] | None = None
    ) -> tuple[PolicySet, list[Duplicate]]:
        """One set from each file's own set. A JsPolicy defined in more than one file is a Duplicate
        rather than a reason to drop the others: it keeps coming from the file in ``served`` (the one
        serving it now), else from the file that sorts first, and so does its JsPolicyBundle."""
        files: dict[str, list[Path]] = {}
        for path in sorted(parts):
            for name in parts[path].policies:
                files.setdefault(name, []).append(path)
        result, duplicates, owners = cls(), list[Duplicate](), dict[str, Path]()
        for name, candidates in files.items():
            serving = (served or {}).get(name)
            owner = serving if serving is not None and serving in candidates else candidates[0]
            owners[name], part = owner, parts[owner]
            result.policies[name], result.sources[name] = part.policies[name], part.sources[name]
            if name in part.paths:
                result.paths[name], result.documents[name] = part.paths[name], part.documents[name]
            duplicates.extend(
                Duplicate(name, part.sources[name], parts[other].sources[name], (owner, other))
                for other in candidates
                if other != owner
            )
        for path in sorted(parts):
            for name, bundle in parts[path].bundles.items():
                policy_file = owners.get(name)
                if policy_file is None or policy_file == path or name not in parts[policy_file].bundles:
                    result.bundles[name] = bundle
        return result, duplicates

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


@dataclass(frozen=True)
class Duplicate:
    """A JsPolicy defined in two files: served from ``kept``, the definition in ``ignored`` left out."""

    name: str
    kept: str  # the sources, as PolicySet.sources names them
    ignored: str
    files: tuple[Path, Path]  # the files of kept and ignored

    def __str__(self) -> str:
        return f"{self.ignored}: JsPolicy {self.name} is also defined in {self.kept}, which is used"
