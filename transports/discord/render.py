"""How text looks in a Discord message: code blocks, escaping, and the 2000-character limit."""

from __future__ import annotations

import re

from discord.utils import escape_markdown

MAX_MESSAGE_LENGTH = 2000
_FENCE_OPEN = "```\n"
_FENCE_CLOSE = "\n```"
# A zero-width space after every second backtick of a run: three in a row would close the code block early.
_BACKTICK_RUN = re.compile(r"``(?=`)")
_BROKEN_RUN = "``\u200b"


def discord_length(text: str) -> int:
    """Length as Discord counts it. UTF-16 code units never undercount (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def render(text: str, preformatted: bool) -> str:
    """The message content for `text`: output inside a code block, anything else with markdown escaped."""
    if preformatted:
        return f"{_FENCE_OPEN}{_BACKTICK_RUN.sub(_BROKEN_RUN, text)}{_FENCE_CLOSE}"
    return escape_markdown(text)


def rendered_length(text: str, preformatted: bool) -> int:
    return discord_length(render(text, preformatted))


def split_text(text: str, preformatted: bool, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Cut `text` into pieces whose rendered form fits in one message each.

    Pieces end at line boundaries; only a line that does not fit in a whole message is cut inside.
    Escaping works line by line, so a piece's rendered length is the sum over its lines.
    """
    overhead = rendered_length("", preformatted)
    room = limit - overhead
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for line in text.split("\n"):
        parts = [line] if rendered_length(line, preformatted) <= limit else _cut_line(line, preformatted, limit)
        for part in parts:
            size = rendered_length(part, preformatted) - overhead
            if current and used + 1 + size > room:
                pieces.append("\n".join(current))
                current, used = [], 0
            used = size if not current else used + 1 + size
            current.append(part)
    pieces.append("\n".join(current))
    return pieces


def _cut_line(line: str, preformatted: bool, limit: int) -> list[str]:
    """A line too long for one message, cut into the longest prefixes that fit."""
    parts: list[str] = []
    rest = line
    while rendered_length(rest, preformatted) > limit:
        low, high = 1, len(rest)  # the longest prefix that fits lies in [low, high)
        while high - low > 1:
            middle = (low + high) // 2
            if rendered_length(rest[:middle], preformatted) <= limit:
                low = middle
            else:
                high = middle
        parts.append(rest[:low])
        rest = rest[low:]
    parts.append(rest)
    return parts
