"""Agent text shortened to one line, for a pane line or an error message."""

from __future__ import annotations


def first_line(text: str, limit: int = 200) -> str:
    """The first non-blank line of `text`, stripped and cut to `limit` characters (an ellipsis marks a cut)."""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""
