"""Loading Kubernetes manifests from files and directories of multi-document YAML.

Values stay as Kubernetes sees them: timestamps remain strings (PyYAML would
turn ``2024-01-01T00:00:00Z`` into a datetime), and every error names the file
and the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

SUFFIXES = (".yaml", ".yml", ".json")
# `jspolicy test` suites: found in directories by this name, and never read as manifests from one,
# so a policy and its tests can sit side by side (as in policies/).
TEST_SUITE_SUFFIXES = (".test.yaml", ".test.yml")
# The RBAC a policy's code needs, for kubectl or `jspolicy manifests --library` (policies/*/policy.rbac.yaml):
# never read as policies from a directory either, so it can sit beside its policy.
RBAC_SUFFIXES = (".rbac.yaml", ".rbac.yml")


# npm and TypeScript project files, never manifests: a policy project (or the guardrail library, which is
# also an npm package) can be read as a directory of policies. Named as files, they are still read.
_PROJECT_FILE = re.compile(r"^(package(-lock)?\.json|npm-shrinkwrap\.json|tsconfig(\..+)?\.json|jsconfig\.json)$")


class ManifestError(ValueError):
    """A manifest file that cannot be used; the message names the file."""


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader without the timestamp resolver."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def parse_yaml_documents(text: str, source: str) -> list[Any]:
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as error:
        raise ManifestError(f"{source}: invalid YAML: {error}") from None


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any]
    source: str  # "file" or "file (document N)"
    path: Path | None = None  # the file it was read from
    document: int = 0  # its YAML document in that file (0-based)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Files as given; directories walked recursively for YAML and JSON files, sorted, leaving out
    test suites (``*.test.yaml``), RBAC (``*.rbac.yaml``), ``node_modules`` and npm/TypeScript project files."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # ConfigMap mounts hold each file twice: as a symlink, and in a hidden "..<timestamp>" directory.
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.suffix in SUFFIXES
                    and not p.name.endswith(TEST_SUITE_SUFFIXES + RBAC_SUFFIXES)
                    and not _PROJECT_FILE.match(p.name)
                    and not any(part.startswith("..") or part == "node_modules" for part in p.relative_to(path).parts)
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestError(f"{raw}: no such file or directory")
    return files


def load_manifests(paths: Iterable[str]) -> list[Manifest]:
    manifests: list[Manifest] = []
    for path in expand_paths(paths):
        manifests.extend(load_file(path))
    return manifests


def block_scalar_line(path: Path, document: int, keys: tuple[str, ...]) -> int | None:
    """The file line (1-based) just before the first line of a literal or folded block scalar (``key: |``),
    so that line N of the value is file line ``result + N``; None when the value is not a block scalar."""
    try:
        nodes = list(yaml.compose_all(path.read_text("utf-8"), Loader=_Loader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    # The documents parse_yaml_documents keeps (it drops empty ones), in the same order.
    nodes = [
        n for n in nodes if n is not None and not (isinstance(n, yaml.ScalarNode) and n.value in ("", "null", "~"))
    ]
    if document >= len(nodes):
        return None
    node: yaml.Node = nodes[document]
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = next((value for name, value in node.value if isinstance(name, yaml.ScalarNode) and name.value == key),
                     None)  # fmt: skip
        if found is None:
            return None
        node = found
    if not isinstance(node, yaml.ScalarNode) or node.style not in ("|", ">"):
        return None
    return int(node.start_mark.line) + 1


def load_file(path: Path) -> list[Manifest]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read: {error}") from None
    documents = parse_yaml_documents(text, str(path))
    manifests: list[Manifest] = []
    for index, document in enumerate(documents, start=1):
        source = str(path) if len(documents) == 1 else f"{path} (document {index})"
        manifests.extend(replace(m, document=index - 1) for m in _objects(document, source, path))
    return manifests


def _objects(document: Any, source: str, path: Path | None = None) -> Iterator[Manifest]:
    if not isinstance(document, Mapping):
        raise ManifestError(f"{source}: expected a Kubernetes object, got {type(document).__name__}")
    if document.get("kind") == "List" or (str(document.get("kind", "")).endswith("List") and "items" in document):
        for i, item in enumerate(document.get("items") or []):
            yield from _objects(item, f"{source} item {i}", path)
        return
    for field in ("apiVersion", "kind"):
        if not isinstance(document.get(field), str) or not document.get(field):
            raise ManifestError(f"{source}: the object has no {field}")
    metadata = document.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ManifestError(f"{source}: metadata must be a mapping")
    yield Manifest(dict(document), source, path)
