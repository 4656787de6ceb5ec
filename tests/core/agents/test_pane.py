"""core.agents.pane: the pane's readable lines, from hand-made events."""

from __future__ import annotations

from orch.core.agents.events import (
    Error,
    Failed,
    FileChanged,
    Final,
    Notice,
    PermissionDenied,
    Question,
    Retrying,
    SessionId,
    Started,
    Text,
    ToolCall,
    ToolFailed,
    Unknown,
    Usage,
)
from orch.core.agents.pane import pane_lines


def test_the_header_names_the_agent_and_what_it_said_of_itself() -> None:
    assert pane_lines([Started("claude-sonnet-5", "2.1.197")], "claude") == ["● claude 2.1.197 · claude-sonnet-5"]
    assert pane_lines([Started(model="gpt-5.5")], "codex") == ["● codex · gpt-5.5"]
    assert pane_lines([Started()], "codex") == ["● codex session started"]


def test_messages_tools_and_notices() -> None:
    events = [Text("I'll look.\nThen fix it."), ToolCall("Bash", "$ pytest -q"), ToolFailed("exit 1: 2 failed"),
              ToolFailed("Exit code 1\nsome output\ncat: x: No such file"),
              Retrying("API retry 1/10: overloaded (529)"), Notice("model rerouted"),
              Error("rate_limit", "unexpected status 429\nmore detail")]
    assert pane_lines(events, "claude") == [
        "I'll look.", "Then fix it.", "$ pytest -q", "✗ exit 1: 2 failed", "✗ Exit code 1 … cat: x: No such file",
        "↻ API retry 1/10: overloaded (529)", "! model rerouted", "✗ unexpected status 429"]


def test_a_question_shows_its_options() -> None:
    assert pane_lines([Question("Which database?", ("sqlite", "postgres"))], "claude") == [
        "? Which database? [sqlite | postgres]"]
    assert pane_lines([Question("Proceed?")], "claude") == ["? Proceed?"]


def test_the_result_block_is_shown_as_one_line() -> None:
    text = 'Done.\n```orch-result\n{"summary": "Added login.", "delegations": [{"title": "Docs"}]}\n```'
    assert pane_lines([Text(text)], "codex") == ["Done.", "⚑ done: Added login.", "⇢ sub-task: Docs"]


def test_the_closing_line_shows_the_usage_reported_with_it() -> None:
    assert pane_lines([Usage(300, 60, 0.0018), Final("ok")], "claude") == ["✓ done (300 in / 60 out tokens, $0.0018)"]
    assert pane_lines([Usage(100, 20, 0.0), Final("ok")], "opencode") == ["✓ done (100 in / 20 out tokens)"]
    assert pane_lines([Final("ok")], "codex") == ["✓ done"]
    assert pane_lines([Usage(0, 0), Failed("auth", "Invalid API key\nmore")], "claude") == [
        "✗ failed: Invalid API key (0 in / 0 out tokens)"]
    assert pane_lines([Failed("rate_limit", "429 Too Many Requests")], "codex") == ["✗ failed: 429 Too Many Requests"]


def test_what_is_for_the_result_only_shows_nothing() -> None:
    quiet = [SessionId("s-1"), FileChanged("a.py"), PermissionDenied("$ cat secret"), Usage(1, 1),
             Unknown('{"type": "turn.started"}', is_json=True)]
    assert pane_lines(quiet, "claude") == []


def test_plain_text_the_cli_printed_is_shown_as_printed() -> None:
    assert pane_lines([Unknown("  warning: something odd")], "codex") == ["  warning: something odd"]
