"""The benchmarks' shared workload: a realistic ~3 KB Pod."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml


def bench_pod() -> Mapping[str, Any]:
    """A compliant Pod with two containers, an init container, probes, env and volumes."""
    text = resources.files("jspolicy.cli").joinpath("benchdata/pod.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))
