"""Text from people and programs, made safe to store and to show: one rule each, used by every front end.

- `well_formed`: lone UTF-16 surrogates (JSON from a chat service may carry `"\\ud800"`, a command line may hold
  bytes that are not UTF-8) become U+FFFD, so the text can be written to the store, a file or a pane.
- `terminal_safe`: control characters shown escaped (`\\x1b[31m`, `\\r`, `\\u202e`), so a title one person typed
  cannot drive another person's terminal. The terminal transport uses it for everything it prints, and so should
  any front end that prints to a terminal (the `orch` CLI).
- `has_visible`: whether some character of the text would show at all (a title of spaces, zero-width and
  control characters would not); `one_line` folds every kind of line break and space into single spaces.
"""

from __future__ import annotations

import re
import unicodedata

_SURROGATE = re.compile("[\ud800-\udfff]")

# C0 and C1 controls and DEL drive a terminal (escape sequences, carriage return, backspace, bell); the bidi
# controls reorder what is shown around them; the line and paragraph separators break lines where nothing shows.
# Newline and tab are the text's own layout and stay.
_UNSAFE_FOR_TERMINAL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)

# Letters and symbols that fonts draw as blank space (Hangul fillers, the braille blank, …).
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs"})


def well_formed(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD: encodable as UTF-8 wherever it goes."""
    return _SURROGATE.sub("\ufffd", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` as a terminal may print it: control characters escaped as `\\xNN`/`\\uNNNN` (`\\r` for a carriage
    return), newlines and tabs kept, lone surrogates replaced."""
    return _UNSAFE_FOR_TERMINAL.sub(_escape, well_formed(text))


def one_line(text: str) -> str:
    """`text` well formed, with every run of whitespace (line breaks of any kind included) one space."""
    return " ".join(well_formed(text).split())


INVISIBLE = "only spaces, zero-width or control characters"


def has_visible(text: str) -> bool:
    """Whether any character of `text` shows: not only spaces, zero-width, format or control characters."""
    return any(char not in _BLANK_GLYPHS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
               for char in text)
