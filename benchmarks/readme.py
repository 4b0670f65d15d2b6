"""Write a benchmark's figures into its own marked section of ``benchmarks/README.md``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["README", "replace_section"]

README = Path(__file__).resolve().parent / "README.md"


def replace_section(section: str, begin: str, end: str) -> None:
    """Replace the text between ``begin`` and ``end`` (markers included) or append it."""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text)
