"""The line assembler turns terminal bytes into what a person reads, once, in order."""

from __future__ import annotations

from pathlib import Path

from orch.core.terminal.capture import LineAssembler, PaneCapture


def feed_all(pieces: list[bytes], nonce: str = "n1") -> tuple[list[str], LineAssembler]:
    assembler = LineAssembler(nonce=nonce)
    lines: list[str] = []
    for piece in pieces:
        lines += assembler.feed(piece)
    return lines, assembler


def test_plain_lines_with_pty_line_endings() -> None:
    lines, _ = feed_all([b"one\r\ntwo\r\nthr", b"ee\r\n"])
    assert lines == ["one", "two", "three"]


def test_empty_lines_are_kept() -> None:
    lines, _ = feed_all([b"a\r\n\r\n\r\nb\r\n"])
    assert lines == ["a", "", "", "b"]


def test_progress_bar_redrawn_with_carriage_returns_keeps_final_state() -> None:
    bar = b"".join(b"\r[" + b"#" * (i // 10) + b" " * (20 - i // 10) + b"] %3d%%" % i for i in range(0, 201))
    lines, _ = feed_all([bar, b"\r\ndone\r\n"])
    assert lines == ["[" + "#" * 20 + "] 200%", "done"]


def test_shorter_redraw_overwrites_like_a_terminal() -> None:
    lines, _ = feed_all([b"loading....\rok\x1b[K\r\n"])
    assert lines == ["ok"]


def test_ansi_colours_and_cursor_codes_are_stripped() -> None:
    lines, _ = feed_all([b"\x1b[1;31mred\x1b[0m \x1b[?25lbold\x1b[?25h\x1b]0;title\x07\r\n"])
    assert lines == ["red bold"]


def test_clear_in_the_middle_keeps_lines_before_and_after() -> None:
    lines, _ = feed_all([b"before\r\n\x1b[H\x1b[2J\x1b[3Jafter\r\n"])
    assert lines == ["before", "after"]


def test_escape_sequence_split_across_reads() -> None:
    lines, _ = feed_all([b"a\x1b", b"[3", b"2mb\x1b]0;ti", b"tle\x07c\r\n"])
    assert lines == ["abc"]


def test_long_line_is_one_line() -> None:
    text = "x" * 5000
    lines, _ = feed_all([text.encode()[:3000], text.encode()[3000:] + b"\r\n"])
    assert lines == [text]


def test_utf8_split_inside_characters() -> None:
    data = "accents: éàü, CJK: 漢字, emoji: 😀👍\r\n".encode()
    lines, _ = feed_all([data[i:i + 3] for i in range(0, len(data), 3)])
    assert lines == ["accents: éàü, CJK: 漢字, emoji: 😀👍"]


def test_exit_marker_needs_the_right_nonce() -> None:
    lines, assembler = feed_all([b"x\r\n\x1b]6060;orch-exit;forged;0\x07y\r\n"], nonce="real")
    assert lines == ["x", "y"] and assembler.exit_code is None
    lines, assembler = feed_all([b"last words\x1b]6060;orch-exit;real;3\x07"], nonce="real")
    assert assembler.exit_code == 3
    assert lines + assembler.close() == ["last words"]


def test_pane_capture_resumes_after_last_newline(tmp_path: Path) -> None:
    log = tmp_path / "pane.log"
    log.write_bytes(b"first\r\nsecond part")
    capture = PaneCapture(log, "n")
    batch = capture.poll()
    assert batch is not None and batch.lines == ["first"]
    resumed = PaneCapture(log, "n", offset=batch.resume_offset)
    with log.open("ab") as handle:
        handle.write(b" done\r\n\x1b]6060;orch-exit;n;0\x07")
    again = resumed.poll()
    assert again is not None and again.lines == ["second part done"] and again.finished and again.exit_code == 0
