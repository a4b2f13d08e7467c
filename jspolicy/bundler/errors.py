"""The one error a build ends with."""

from __future__ import annotations


class BuildError(Exception):
    """A policy that does not bundle; the message names the policy, the package or file:line, and the tool's
    own words. ``transient``: the registry or the network failed (worth retrying later), not the policy."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
