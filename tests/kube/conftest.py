"""Fixtures shared by the tests of the live cluster backend."""

from __future__ import annotations

from collections.abc import Iterator

import kubernetes.client
import pytest

from jspolicy.controlplane.plane import ControlPlane
from tests.kube.livecluster import client, install_crds


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    """A Python client of the session's API server, with jspolicy's CRDs installed."""
    install_crds(control_plane)
    with client(control_plane) as api_client:
        yield api_client
