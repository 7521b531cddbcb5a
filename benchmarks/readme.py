"""The benchmarks' own sections of benchmarks/README.md: each script rewrites its section and nothing else."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def write_section(heading: str, section: str, path: Path = README) -> None:
    """Replace the section that starts with the line ``heading`` (up to the next '## ' heading), or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    section = section.rstrip("\n") + "\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + section
    else:
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("\n" + text[following + 1:] if following >= 0 else "")
    path.write_text(text, encoding="utf-8")
