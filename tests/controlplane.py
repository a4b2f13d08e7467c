"""The session's real control plane (etcd + kube-apiserver on loopback), shared by every test that asks for it.

Loaded from tests/conftest.py as a plugin. The binaries are built on first use (a cold
build takes tens of minutes; CI builds them before the tests). A build or start failure
fails the tests that need the plane: they are never skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from jspolicy.controlplane import binaries
from jspolicy.controlplane.plane import ControlPlane


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """One ControlPlane for the whole session: starting one takes seconds, building the binaries much longer."""
    try:
        found = binaries.ensure()
    except binaries.BuildError as error:
        pytest.fail(f"cannot build the control-plane binaries: {error}", pytrace=False)
    with ControlPlane(found) as plane:
        print(f"control plane ready in {plane.startup_seconds:.1f} s at {plane.server}", file=sys.stderr)
        yield plane
