"""Comments and docs cite files a reader can open, not section numbers of a document that is not here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ("jspolicy", "tests", "docs", "policies", "examples", "webhook-config")
SUFFIXES = {".py", ".md", ".js", ".ts", ".yaml", ".yml", ".json", ".mjs"}


def test_no_section_sign_citations() -> None:
    files = [ROOT / "README.md", *(p for tree in TREES for p in (ROOT / tree).rglob("*") if p.suffix in SUFFIXES)]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        if "node_modules" not in path.parts and path.is_file()
        for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1)
        if "\u00a7" in line
    ]
    assert len(files) > 100  # the walk really looked
    assert offenders == []
