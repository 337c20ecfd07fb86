"""Every relative link in the README, SECURITY.md and docs/ points to a file inside the repository (a
pip-installed user or a reader on the repository's web page has nothing else)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_relative_links_stay_inside_the_repository() -> None:
    broken: list[str] = []
    for document in _documents():
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (document.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to nothing in the repository: {broken}"
