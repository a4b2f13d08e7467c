"""The leader's background builds (jspolicy/controller/bundles.py): one per source, stale ones skipped, a
transient failure kept until its retry is due."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from jspolicy.bundler.build import BuildSettings, Built, InlineSource
from jspolicy.bundler.errors import BuildError
from jspolicy.controller import bundles
from jspolicy.controller.bundles import PolicyBuilds


@dataclass
class CountingBundler:
    """Stands in for npm and esbuild, which these scheduling rules do not depend on."""

    fail: BuildError | None = None
    settings: BuildSettings = field(default_factory=lambda: BuildSettings(concurrency=1))
    built: list[str] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)

    def build(self, source: InlineSource) -> Built:
        self.entered.set()
        self.gate.wait(10)
        self.built.append(source.javascript)
        if self.fail is not None:
            raise self.fail
        return Built(source.javascript, "", cached=False)


def wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def source(javascript: str) -> InlineSource:
    return InlineSource("p.example.com", javascript, {"x": "1"})


def test_a_build_queued_for_a_source_that_changed_meanwhile_is_skipped() -> None:
    bundler = CountingBundler()
    done: list[str] = []
    builds = PolicyBuilds(bundler, done.append)  # type: ignore[arg-type]
    try:
        assert builds.outcome(source("v1"), "h1") is None
        assert bundler.entered.wait(10)  # v1 is building, held at the gate
        assert builds.outcome(source("v2"), "h2") is None  # queued behind it
        assert builds.outcome(source("v3"), "h3") is None  # replaces v2 before it ran
        bundler.gate.set()
        wait(lambda: builds.outcome(source("v3"), "h3") is not None)
        assert bundler.built == ["v1", "v3"]
    finally:
        builds.close()


def test_a_transient_failure_is_kept_until_its_retry_is_due() -> None:
    now = [1000.0]  # the builds' clock, moved by hand: the test never races the machine's
    bundler = CountingBundler(fail=BuildError("registry down", transient=True))
    bundler.gate.set()
    builds = PolicyBuilds(bundler, lambda _name: None, clock=lambda: now[0])  # type: ignore[arg-type]
    try:
        assert builds.outcome(source("v1"), "h1") is None
        wait(lambda: builds.outcome(source("v1"), "h1") is not None)
        for _ in range(20):  # status writes and queue retries meanwhile: the kept failure, no new build
            assert isinstance(builds.outcome(source("v1"), "h1"), BuildError)
        now[0] += bundles.RETRY_BASE - 0.1
        assert isinstance(builds.outcome(source("v1"), "h1"), BuildError) and len(bundler.built) == 1
        now[0] += 0.2
        assert builds.outcome(source("v1"), "h1") is None  # due: built again
        wait(lambda: len(bundler.built) == 2)
        wait(lambda: builds.outcome(source("v1"), "h1") is not None)
        now[0] += bundles.RETRY_BASE + 0.1  # the second failure in a row waits twice as long
        assert isinstance(builds.outcome(source("v1"), "h1"), BuildError)
        now[0] += bundles.RETRY_BASE
        assert builds.outcome(source("v1"), "h1") is None
    finally:
        builds.close()


def test_a_failure_of_the_policy_itself_is_kept_for_its_source() -> None:
    bundler = CountingBundler(fail=BuildError("syntax error"))
    bundler.gate.set()
    builds = PolicyBuilds(bundler, lambda _name: None)  # type: ignore[arg-type]
    try:
        builds.outcome(source("v1"), "h1")
        wait(lambda: builds.outcome(source("v1"), "h1") is not None)
        time.sleep(0.1)
        assert isinstance(builds.outcome(source("v1"), "h1"), BuildError) and len(bundler.built) == 1
        assert builds.outcome(source("v2"), "h2") is None  # an edit builds again
    finally:
        builds.close()
