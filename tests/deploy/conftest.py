"""The helm binary for the chart tests: built once from the Go module proxy (never skipped when missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jspolicy.controlplane import binaries


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return binaries.ensure_helm()
    except binaries.BuildError as error:
        pytest.fail(f"cannot build helm: {error}", pytrace=False)
