"""The policies a server answers for, swapped atomically when their files change.

Each file is loaded on its own: a file that does not load is reported once per change and keeps
its last good version, while changes of the other files are applied. A reload builds a complete
new snapshot before it replaces the current one, so no request ever sees a half-loaded set.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jspolicy.bundler.build import Bundler
from jspolicy.bundler.origin import CodeSource, resolve_program
from jspolicy.resources.manifests import ManifestError, expand_paths, load_file
from jspolicy.resources.policy import JsPolicy
from jspolicy.resources.policyset import PolicySet
from jspolicy.runtime.program import PolicyProgram, ProgramError

log = logging.getLogger(__name__)

Fingerprint = tuple[int, int]  # mtime_ns and size
GONE: Fingerprint = (-1, -1)


@dataclass(frozen=True)
class Snapshot:
    policies: Mapping[str, JsPolicy] = field(default_factory=dict)
    programs: Mapping[str, PolicyProgram | ProgramError] = field(default_factory=dict)
    generation: int = 0


@dataclass(frozen=True)
class _File:
    """A policy file as last seen: what it contributes, and why its current version does not."""

    fingerprint: Fingerprint
    policies: PolicySet | None  # its last good version; None when it never loaded (or is gone)
    problem: str | None = None


class PolicyStore:
    def __init__(
        self,
        paths: Iterable[str],
        compile_error: Callable[[PolicyProgram], str | None] | None = None,
        bundler: Bundler | None = None,
    ) -> None:
        """``bundler``: builds policies from files that need it (standalone); without one (cluster mode)
        such policies run from the JsPolicyBundle the leader made."""
        self.paths = list(paths)
        self._bundler = bundler
        # Checks a changed policy's code (in V8) before it replaces a version that worked.
        self._compile_error = compile_error
        self.snapshot = Snapshot()
        self.loaded = False
        self._lock = threading.Lock()
        self._files: dict[Path, _File] = {}
        self._policies = PolicySet()  # what the files make together, as last installed
        self._duplicates: list[str] = []
        self._kept: list[str] = []  # policies whose new code failed; reported until it is fixed
        self._unlisted: str | None = None  # why the paths could not be listed
        self._sources: dict[Path, Fingerprint] = {}  # project files that policies are built from

    @property
    def last_error(self) -> str | None:
        """The current problems, joined; None when everything loaded."""
        files = [f.problem for f in self._files.values() if f.problem]
        problems = [*filter(None, [self._unlisted]), *files, *self._duplicates, *self._kept]
        return "; ".join(problems) or None

    def reload(self) -> bool:
        """Load every file now; True when a new snapshot is in place."""
        return self._reload(everything=True)

    def reload_if_changed(self) -> bool:
        """Load the files added or modified since the last look, drop those removed; True when a new
        snapshot is in place."""
        return self._reload(everything=False)

    def _reload(self, everything: bool) -> bool:
        with self._lock:
            try:
                found = _scan(self.paths)
                sources_changed = {path: _stat(path) for path in self._sources} != self._sources
            except OSError as error:
                self._unlisted = str(error)
                return False
            self._unlisted = None
            before = self._files
            changed = {path for path, fingerprint in found.items()
                       if everything or path not in before or before[path].fingerprint != fingerprint}  # fmt: skip
            if self.loaded and not changed and found.keys() == before.keys() and not sources_changed:
                return False
            self._files = {path: _read(path, found[path], before.get(path)) if path in changed else before[path]
                           for path in found}  # fmt: skip
            parts = {path: f.policies for path, f in self._files.items() if f.policies is not None}
            policies, duplicates = PolicySet.merge(parts, self._policies.paths)
            self._duplicates = [str(duplicate) for duplicate in duplicates]
            for path in sorted(changed):
                problem = self._files[path].problem
                if problem is not None:
                    kept = "its previous version keeps serving" if path in parts else "nothing from it is served"
                    log.error("policies not reloaded from a file, %s: %s", kept, problem)
            for duplicate in duplicates:
                if changed.intersection(duplicate.files):
                    log.error("policies not reloaded, a policy is defined in two files: %s", duplicate)
            if not self.loaded and any(f.policies is None and f.problem for f in self._files.values()):
                return False  # the first snapshot waits for every file: no "unknown policy" for one that exists
            if self.loaded and not everything and not sources_changed and policies == self._policies:
                return False  # only files that keep their previous version changed
            # Stamped before the build, so that a change made while it runs is built next time.
            self._sources = {path: _stat(path) for name in policies.policies
                             for path in CodeSource.of(policies, name).watched_files()}  # fmt: skip
            self._policies = policies
            self._install(policies)
            return True

    def install(self, policies: PolicySet) -> None:
        """Serve ``policies`` (cluster mode: the watched JsPolicy and JsPolicyBundle objects changed)."""
        with self._lock:
            self._install(policies)

    def _install(self, policies: PolicySet) -> None:
        served = dict(policies.policies)
        programs: dict[str, PolicyProgram | ProgramError] = {}
        previous = self.snapshot
        kept: list[str] = []
        for name in policies.policies:
            last_good = previous.programs.get(name)
            try:
                programs[name] = program = resolve_program(CodeSource.of(policies, name), self._bundler)
                if isinstance(last_good, PolicyProgram) and program.key != last_good.key and self._compile_error:
                    problem = self._compile_error(program)
                    if problem is not None:
                        raise ProgramError(problem)
            except ProgramError as error:
                if isinstance(last_good, PolicyProgram):
                    # Like jsPolicy, whose bundle is only replaced by one that compiles.
                    log.error("policy %s not updated, its previous version keeps serving: %s", name, error)
                    served[name], programs[name] = previous.policies[name], last_good
                    kept.append(f"{name}: {error}")
                else:
                    programs[name] = error  # answered with jsPolicy's 500, like a missing bundle
        self.snapshot = Snapshot(served, programs, previous.generation + 1)
        self._kept = kept
        self.loaded = True
        log.info("loaded %d policies (generation %d)", len(programs), self.snapshot.generation)

    def watch(self, interval: float, stop: threading.Event) -> threading.Thread:
        """Poll the files every ``interval`` seconds in a daemon thread until ``stop`` is set.

        Polling, not inotify: policies often come from ConfigMap mounts, which change
        by swapping symlinks that file-event watchers miss."""

        def loop() -> None:
            while not stop.wait(interval):
                self.reload_if_changed()

        thread = threading.Thread(target=loop, name="policy-watch", daemon=True)
        thread.start()
        return thread


def _scan(paths: Iterable[str]) -> dict[Path, Fingerprint]:
    """The policy files with their fingerprints; a path given that does not exist is listed as GONE."""
    files: list[Path] = []
    for raw in paths:
        try:
            files.extend(expand_paths([raw]))
        except ManifestError:  # it does not exist
            files.append(Path(raw))
    return {path: _stat(path) for path in files}


def _parse(path: Path, fingerprint: Fingerprint) -> PolicySet:
    """One file's policies and bundles, validated; raises ManifestError with a one-line message naming it."""
    if fingerprint == GONE:
        raise ManifestError(f"{path}: no such file or directory")
    try:
        return PolicySet.from_manifests(load_file(path))
    except ManifestError as error:
        # PyYAML explains over several lines, each position indented under its problem.
        raise ManifestError(re.sub(r"\s*\n\s*", " ", re.sub(r"\n(?=\S)", "; ", str(error)))) from None


def _read(path: Path, fingerprint: Fingerprint, before: _File | None) -> _File:
    """A changed file: its new version, or its last good one and the problem (a file that is gone has none)."""
    try:
        return _File(fingerprint, _parse(path, fingerprint))
    except ManifestError as error:
        kept = before.policies if before is not None and fingerprint != GONE else None
        return _File(fingerprint, kept, str(error))


def load_problems(paths: Iterable[str]) -> list[str]:
    """Why files would not load into a store, one line each (none when all is well): YAML, JsPolicy
    validation and names defined in two files, without building or compiling, so a server can refuse
    bad input before anything serves it."""
    try:
        found = _scan(paths)
    except OSError as error:
        return [str(error)]
    parts, problems = dict[Path, PolicySet](), list[str]()
    for path, fingerprint in found.items():
        try:
            parts[path] = _parse(path, fingerprint)
        except ManifestError as error:
            problems.append(str(error))
    problems.extend(str(duplicate) for duplicate in PolicySet.merge(parts)[1])
    return problems


def _stat(path: Path) -> Fingerprint:
    """mtime and size; a file that is gone (renamed, deleted) is a change, not an error."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return GONE
    return (info.st_mtime_ns, info.st_size)
