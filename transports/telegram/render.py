"""How text looks in a Telegram message: HTML escaping, `<pre>` for output, and limits counted in UTF-16 units.

Text is sent with parse_mode HTML (terminal output breaks Markdown). Lengths are counted in UTF-16 units of
the escaped, wrapped text, which is never less than what Telegram counts against its limits (it counts after
parsing the markup away).
"""

from __future__ import annotations

import html

from orch.bot.split import shorten, utf16_length

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
# Telegram rejects a message whose text is empty or only whitespace; this one shows as blank.
BLANK = "\u200b"


def render(text: str, preformatted: bool) -> str:
    """The HTML Telegram gets for `text`."""
    escaped = html.escape(text if text.strip() else BLANK, quote=False)
    return f"<pre>{escaped}</pre>" if preformatted else escaped


def rendered_length(text: str, preformatted: bool) -> int:
    return utf16_length(render(text, preformatted))


def render_caption(caption: str) -> str:
    """The HTML caption of a file, cut to Telegram's caption limit (a caption cannot go on in a next message)."""
    def fits(text: str) -> bool:
        return rendered_length(text, False) <= MAX_CAPTION_LENGTH

    return render(shorten(caption, fits), False)


def render_mention(user_id: int) -> str:
    """A mention of a person by id (Telegram notifies them): a bell linking to them, since orch knows no name."""
    return f'<a href="tg://user?id={user_id}">🔔</a>'
