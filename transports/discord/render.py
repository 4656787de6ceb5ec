"""How text looks in a Discord message: code blocks, escaping, and the 2000-character limit.

Lengths are counted in UTF-16 code units, which never undercount what Discord counts (an emoji outside the
Basic Multilingual Plane is two).
"""

from __future__ import annotations

import re

from discord.utils import escape_markdown
from orch.bot.split import Fits, shorten, utf16_length

MAX_MESSAGE_LENGTH = 2000
_FENCE_OPEN = "```\n"
_FENCE_CLOSE = "\n```"
# A zero-width space after every second backtick of a run: three in a row would close the code block early.
_BACKTICK_RUN = re.compile(r"``(?=`)")
_BROKEN_RUN = "``\u200b"


def render(text: str, preformatted: bool) -> str:
    """The message content for `text`: output inside a code block, anything else with markdown escaped."""
    if preformatted:
        return f"{_FENCE_OPEN}{_BACKTICK_RUN.sub(_BROKEN_RUN, text)}{_FENCE_CLOSE}"
    return escape_markdown(text)


def rendered_length(text: str, preformatted: bool) -> int:
    return utf16_length(render(text, preformatted))


def fits(preformatted: bool) -> Fits:
    """Whether a text fits one message, rendered so (for bot.split)."""
    return lambda text: rendered_length(text, preformatted) <= MAX_MESSAGE_LENGTH


def render_caption(caption: str) -> str:
    """The content sent with a file, cut to one message (a caption cannot go on in a next one)."""
    return render(shorten(caption, fits(False)), False)
