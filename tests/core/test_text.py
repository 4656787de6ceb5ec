"""orch.core.text: text made safe to store (well_formed) and to print on a terminal (terminal_safe), and which
titles show nothing at all (has_visible)."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orch.core.text import has_visible, one_line, terminal_safe, well_formed

ANY_TEXT = st.text(st.characters(exclude_categories=()))


@pytest.mark.parametrize(("text", "shown"), [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("progress 10%\rprogress 100%", "progress 10%\\rprogress 100%"),
    ("bell\x07 backspace\x08 nul\x00 del\x7f", "bell\\x07 backspace\\x08 nul\\x00 del\\x7f"),
    ("\x9b31m C1 CSI", "\\x9b31m C1 CSI"),
    ("\u202eevil\u202c", "\\u202eevil\\u202c"),
    ("a\u2028b", "a\\u2028b"),
    ("lone \ud800", "lone \ufffd"),
    ("kept:\tcolumns\nand lines, é 🚀 — ordinary text", "kept:\tcolumns\nand lines, é 🚀 — ordinary text"),
])
def test_terminal_safe_escapes_what_drives_a_terminal(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown


@settings(max_examples=10_000, deadline=None, database=None)
@given(ANY_TEXT)
def test_terminal_safe_leaves_no_control_character_but_newline_and_tab(text: str) -> None:
    safe = terminal_safe(text)
    assert not [c for c in safe if unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t"]
    assert not re.search("[\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]", safe)
    safe.encode("utf-8")
    if not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]",
                     text):
        assert safe == text


def test_well_formed_replaces_only_lone_surrogates() -> None:
    assert well_formed("a\ud800b\udfff😀") == "a\ufffdb\ufffd😀"
    assert well_formed("plain") == "plain"


@pytest.mark.parametrize("title", ["", "   ", "\u200b\u200c\u200d", "\x1b\x07\x00", "\ufeff\u2060", "\u3164\u115f",
                                   "\u2800 \u00a0", "\u2028\u2029", "\ud800"])
def test_titles_of_nothing_visible(title: str) -> None:
    assert not has_visible(title)


@pytest.mark.parametrize("title", ["x", "\u200bx", "·", "é", "🚀", "\x1b[31mred", "\u0301"])
def test_titles_with_something_visible(title: str) -> None:
    assert has_visible(title)


def test_one_line_folds_every_kind_of_break() -> None:
    assert one_line("  fix\nthe\r\nlogin\u2028page\x85now\ud800 ") == "fix the login page now\ufffd"
