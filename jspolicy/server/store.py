"""The policies a server answers for, swapped atomically when their files change.

A reload builds a complete new snapshot first; only a snapshot that loaded
without errors replaces the current one, so a bad file is reported and the last
good version keeps serving, and no request ever sees a half-loaded set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jspolicy.bundler.build import Bundler
from jspolicy.bundler.origin import CodeSource, resolve_program
from jspolicy.resources.manifests import ManifestError, expand_paths, load_manifests
from jspolicy.resources.policy import JsPolicy
from jspolicy.resources.policyset import PolicySet
from jspolicy.runtime.program import PolicyProgram, ProgramError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    policies: Mapping[str, JsPolicy] = field(default_factory=dict)
    programs: Mapping[str, PolicyProgram | ProgramError] = field(default_factory=dict)
    generation: int = 0


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
        self.last_error: str | None = None
        self.loaded = False
        self._lock = threading.Lock()
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()
        self._sources: tuple[Path, ...] = ()  # project files that policies are built from

    def reload(self) -> bool:
        """Load every file now; True when a new snapshot is in place."""
        with self._lock:
            try:
                fingerprint = self._current_fingerprint()
            except (ManifestError, OSError) as error:
                self.last_error = str(error)
                return False
            try:
                policies = PolicySet.from_manifests(load_manifests(self.paths))
            except (ManifestError, OSError) as error:
                self.last_error = str(error)
                self._fingerprint = fingerprint  # reported once; the next change is loaded again
                log.error("policies not reloaded, the previous version keeps serving: %s", error)
                return False
            self._install(policies)
            self._sources = tuple(sorted({f for name in policies.policies
                                          for f in CodeSource.of(policies, name).watched_files()}))  # fmt: skip
            self._fingerprint = self._current_fingerprint() if self._sources else fingerprint
            return True

    def install(self, policies: PolicySet) -> None:
        """Serve ``policies`` (cluster mode: the watched JsPolicy and JsPolicyBundle objects changed)."""
        with self._lock:
            self._install(policies)

    def _install(self, policies: PolicySet) -> None:
        served = dict(policies.policies)
        programs: dict[str, PolicyProgram | ProgramError] = {}
        previous = self.snapshot
        kept: list[str] = []  # policies whose new version failed; reported until it is fixed
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
        self.last_error = "; ".join(kept) or None
        self.loaded = True
        log.info("loaded %d policies (generation %d)", len(programs), self.snapshot.generation)

    def reload_if_changed(self) -> bool:
        """Reload when a file was added, removed or modified since the last load attempt."""
        try:
            changed = self._current_fingerprint() != self._fingerprint
        except (ManifestError, OSError) as error:
            self.last_error = str(error)
            return False
        return self.reload() if changed else False

    def _current_fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        files = [*expand_paths(self.paths), *self._sources]
        return tuple((str(p), *_stat(p)) for p in files)

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


def _stat(path: Path) -> tuple[int, int]:
    """mtime and size; a source file that is gone (renamed, deleted) is a change, not an error."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (info.st_mtime_ns, info.st_size)
