"""The benchmarks' own sections of benchmarks/README.md: each script rewrites its section and nothing else."""

from __future__ import annotations

import json
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


def publish(result: dict, results: Path, heading: str, section: str, readme: bool = True) -> None:
    """Print a run's figures, keep them as JSON under results/, and rewrite the run's README section."""
    print(json.dumps(result, indent=2))
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if readme:
        write_section(heading, section)
