"""The build cache: bundles by the hash of their inputs, installed dependencies by the dependencies, and npm's
downloads, kept under a size budget by evicting what was used least recently.

In a cluster the cache is an emptyDir with a size limit, and every new set of dependencies a tenant names
adds to it: without eviction the leader's pod would be evicted for filling it, and so would the next leader.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

DEFAULT_BUDGET = 1024 * 1024 * 1024
USED = ".used"  # touched on every use: its mtime orders the eviction


class BuildCache:
    def __init__(self, root: Path, budget: int = DEFAULT_BUDGET) -> None:
        self.root = root
        self.budget = budget

    def bundle(self, key: str) -> Path:
        return self.root / "js" / key[:2] / f"{key}.js"

    def dependencies(self, key: str) -> Path:
        """The directory of one installed set of dependencies (``node_modules`` inside)."""
        return self.root / "deps" / key

    @property
    def npm(self) -> Path:
        return self.root / "npm-cache"

    def used(self, entry: Path) -> None:
        """Mark a bundle file or a dependencies directory as just used."""
        try:
            if entry.is_dir():
                (entry / USED).touch()
            else:
                os.utime(entry)
        except OSError:
            pass  # evicted meanwhile by another process: it is rebuilt next time

    def evict(self, keep: Path | None = None) -> None:
        """Remove least recently used entries (never ``keep``) until the cache fits its budget; npm's
        downloads go first, as they are only a speed-up for installs that may never come."""
        if _size(self.root) <= self.budget:
            return
        shutil.rmtree(self.npm, ignore_errors=True)
        entries = sorted(self._entries(), key=lambda item: item[0])
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.budget:
                break
            if keep is not None and path == keep:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            total -= size

    def _entries(self) -> Iterator[tuple[float, int, Path]]:
        for directory in (self.root / "deps").glob("*"):
            if directory.is_dir() and not directory.name.startswith("."):
                marker = directory / USED
                stamp = marker.stat().st_mtime if marker.exists() else directory.stat().st_mtime
                yield stamp, _size(directory), directory
        for bundle in (self.root / "js").glob("*/*.js"):
            info = bundle.stat()
            yield info.st_mtime, info.st_size, bundle


def tree_stats(root: Path) -> tuple[int, int]:
    """Files and bytes below ``root`` (symlinks not followed: `file:` dependencies are links)."""
    files = total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue  # removed meanwhile
            files += 1
            total += info.st_size
    return files, total


def _size(path: Path) -> int:
    return tree_stats(path)[1]
