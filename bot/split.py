"""Chat text in pieces that each fit one message: the one splitter every chat path uses.

A transport says what fits (`fits(text)`: its rendered form, escaped and wrapped, is within its message limit,
counted in its own unit); the functions here decide where to split. Text is split at line boundaries; only a
line that does not fit in a message of its own is cut, at a code point (a Python string index), so a UTF-16
surrogate pair is never split: the pair is one code point here and only becomes two units in the transport's
encoding. What is left of a cut line starts the next piece.

The searches assume that a longer text never renders shorter than its own prefix, which holds for escaping and
for wrapping in a code block: adding a line or a character can only add to the rendered length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Fits = Callable[[str], bool]

ELLIPSIS = "…"


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram and Discord count message limits in (an emoji outside the
    Basic Multilingual Plane is two)."""
    return len(text.encode("utf-16-le")) // 2


def join(base: str | None, lines: Sequence[str]) -> str:
    """`lines` joined by newlines, after `base` (a message's text so far) when there is one."""
    return "\n".join(lines if base is None else [base, *lines])


def fit_count(lines: Sequence[str], fits: Fits, base: str | None = None) -> int:
    """How many of `lines`, from the first, fit in one message after `base`."""
    return _most(lambda count: fits(join(base, lines[:count])), 0, len(lines))


def cut_point(line: str, fits: Fits, base: str | None = None) -> int:
    """Where to cut a line that does not fit after `base`: the most code points that do, at least one."""
    return _most(lambda count: fits(join(base, [line[:count]])), 1, len(line))


def split_text(text: str, fits: Fits) -> list[str]:
    """`text` in pieces that each fit, split at line boundaries (see the module doc); at least one piece."""
    lines = text.split("\n")
    pieces: list[str] = []
    start = 0
    while start < len(lines):
        count = _fit_from(lines, start, fits)
        if count:
            pieces.append("\n".join(lines[start:start + count]))
            start += count
            continue
        line = lines[start]
        at = cut_point(line, fits)
        if at >= len(line):  # a message too small for even one code point: send it as it is
            pieces.append(line)
            start += 1
            continue
        pieces.append(line[:at])
        lines[start] = line[at:]
    return pieces


def _fit_from(lines: Sequence[str], start: int, fits: Fits) -> int:
    """fit_count of lines[start:], without copying the rest of a long text for every piece."""
    return _most(lambda count: fits("\n".join(lines[start:start + count])), 0, len(lines) - start)


def shorten(text: str, fits: Fits) -> str:
    """`text` when it fits; else its longest prefix that fits with an ellipsis after it (for a caption, which
    must be one message)."""
    if fits(text):
        return text
    return text[:_most(lambda count: fits(text[:count] + ELLIPSIS), 0, len(text))] + ELLIPSIS


def _most(ok: Callable[[int], bool], low: int, high: int) -> int:
    """The largest count in [low, high] that is ok, given that ok only turns false as counts grow; `low` when
    none is (it is not checked).

    Gallops up from `low` before bisecting, so the cost grows with the answer, not with `high`: a backlog of
    thousands of lines costs a few joins of about one message each.
    """
    step = 1
    while low < high:
        probe = min(low + step, high)
        if not ok(probe):
            high = probe - 1
            break
        low = probe
        step *= 2
    while low < high:
        middle = (low + high + 1) // 2
        if ok(middle):
            low = middle
        else:
            high = middle - 1
    return low
