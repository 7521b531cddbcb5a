"""Text a visitor supplied (a model's name, a link's value, an error quoting a file), made safe to show."""

from __future__ import annotations


def plain(text: str, limit: int = 80) -> str:
    """A visitor-supplied name shown as literal text: Markdown and LaTeX markers escaped, length capped."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in text)
