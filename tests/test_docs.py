"""The README and docs/ stand alone: every link resolves inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted(
    [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "benchmarks").glob("*.md")]
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#+\s+(.*)$", re.MULTILINE)


def anchors(text: str) -> set[str]:
    """Return the anchors GitHub makes of a Markdown file's headings."""
    result = set()
    for heading in HEADING.findall(text):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        result.add(slug)
    return result


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_link_resolves_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    # No mention of the folder the project was planned in, beside the repository: users
    # never get it (spelled in two parts so that this file does not mention it either).
    assert "../" + "shared" not in text
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            broken.append(target)
    assert broken == [], f"{doc.name}: links that do not resolve: {broken}"


def test_the_check_finds_a_broken_link(tmp_path: Path) -> None:
    # The test above must be able to fail: a missing file and a missing anchor are found.
    text = "[a](missing.md) [b](#nowhere) [c](https://example.com)"
    targets = LINK.findall(text)
    assert targets == ["missing.md", "#nowhere", "https://example.com"]
    assert "nowhere" not in anchors("# Somewhere\n")
