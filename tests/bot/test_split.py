"""The one splitter: pieces that fit, split at line boundaries, a too-long line cut at a code point."""

from __future__ import annotations

import html

from orch.bot.split import Fits, cut_point, fit_count, shorten, split_text, utf16_length


def within(limit: int) -> Fits:
    """Fits like Telegram's `<pre>`: UTF-16 units of the HTML-escaped text plus 11 for the tags."""
    def fits(text: str) -> bool:
        return utf16_length(html.escape(text, quote=False)) + 11 <= limit
    return fits


def test_lines_stay_whole_and_fill_each_piece() -> None:
    lines = [f"line {n:03}" for n in range(100)]  # 8 code points each
    fits = within(11 + 80)
    pieces = split_text("\n".join(lines), fits)
    assert all(fits(piece) for piece in pieces)
    assert [line for piece in pieces for line in piece.split("\n")] == lines
    assert all(len(piece.split("\n")) == 9 for piece in pieces[:-1])  # 9 lines and 8 breaks: 80 of 80


def test_only_a_line_longer_than_a_message_is_cut_and_its_rest_goes_on() -> None:
    fits = within(11 + 20)
    pieces = split_text("head\n" + "&" * 9 + "x" * 10 + "\ntail", fits)
    # "&" escapes to five units: four fit, four more, then the rest of the line, with the next line after it.
    assert pieces == ["head", "&&&&", "&&&&", "&xxxxxxxxxx\ntail"]
    assert all(fits(piece) for piece in pieces)


def test_a_cut_never_splits_a_surrogate_pair() -> None:
    fits = within(11 + 9)  # room for four emoji (eight units) and one unit to spare
    pieces = split_text("😀" * 10, fits)
    assert pieces == ["😀" * 4, "😀" * 4, "😀" * 2]
    for piece in pieces:
        piece.encode("utf-16-le")  # a lone surrogate would raise


def test_edge_cases() -> None:
    assert split_text("", within(100)) == [""]
    assert split_text("a\n\nb", within(100)) == ["a\n\nb"]
    # A limit too small for one code point: the code point goes out anyway rather than being lost.
    assert split_text("ab", within(11)) == ["a", "b"]


def test_fit_count_and_cut_point_work_after_a_base() -> None:
    fits = within(11 + 10)
    assert fit_count(["1234", "5678", "9"], fits, "ab") == 1
    assert fit_count(["12", "34", "56789"], fits) == 2
    assert cut_point("123456789012", fits, "ab") == 7
    assert cut_point("123456789012", fits) == 10


def test_shorten_keeps_what_fits_and_marks_the_cut() -> None:
    fits = within(11 + 10)
    assert shorten("short", fits) == "short"
    assert shorten("a much longer caption", fits) == "a much lo…"
