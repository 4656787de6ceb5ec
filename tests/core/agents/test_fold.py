"""core.agents.fold: an attempt's result from hand-made events, the same rules whichever CLI emitted them."""

from __future__ import annotations

from pathlib import Path

import pytest
from orch.core.agents.events import (
    Error,
    Failed,
    FileChanged,
    Final,
    PermissionDenied,
    Question,
    SessionId,
    Started,
    Text,
    ToolCall,
    Unknown,
    Usage,
)
from orch.core.agents.fold import fold
from orch.core.tasks.models import Delegation

WORKTREE = Path("/w/task-1")
BLOCK = '```orch-result\n{"summary": "Added login.", "delegations": [{"title": "Write tests"}]}\n```'


def test_measurements_whatever_the_outcome() -> None:
    for end in (Final("All done."), Error("rate_limit", "429")):
        result = fold([Started(), SessionId("s-1"), FileChanged("/w/task-1/src/app.py"), FileChanged("src/app.py"),
                       FileChanged("/elsewhere/x.txt"), Usage(100, 10, 0.01), Usage(50, 5), Usage(20, 2, 0.02),
                       SessionId("s-2"), end], exit_code=0, worktree=WORKTREE)
        assert result.session_id == "s-2"
        assert result.files_changed == ("src/app.py", "/elsewhere/x.txt")
        assert (result.tokens_in, result.tokens_out) == (170, 17)
        assert result.cost_usd == pytest.approx(0.03)


def test_nothing_measured_is_none() -> None:
    result = fold([Usage(5, 1), Final("ok")], exit_code=0, worktree=WORKTREE)
    assert (result.tokens_in, result.cost_usd, result.session_id) == (5, None, None)
    assert fold([Final("ok")], exit_code=0, worktree=WORKTREE).tokens_in is None


def test_final_answer_is_read_by_the_contract() -> None:
    result = fold([Text("thinking aloud"), ToolCall("Write", "✎ Write x"), Final(f"Split it.\n{BLOCK}")],
                  exit_code=0, worktree=WORKTREE)
    assert (result.status, result.summary) == ("blocked", "Added login.")
    assert result.delegations == (Delegation("Write tests", "", ()),)
    assert fold([Final("All done.")], exit_code=0, worktree=WORKTREE).status == "done"
    assert fold([Final("")], exit_code=0, worktree=WORKTREE).error_kind == "unparseable"


def test_an_error_the_cli_recovered_from_does_not_count() -> None:
    result = fold([Error("rate_limit", "429, retrying"), Final("All done.")], exit_code=0, worktree=WORKTREE)
    assert (result.status, result.error_kind) == ("done", None)


def test_an_error_after_the_answer_fails_the_run() -> None:
    result = fold([Final("All done."), Error("exit_code", "opencode exited 1")], exit_code=1, worktree=WORKTREE)
    assert (result.status, result.error_kind, result.error) == ("failed", "exit_code", "opencode exited 1")


def test_the_first_specific_error_wins_else_the_last() -> None:
    result = fold([Error("exit_code", "vague"), Error("context_too_long", "too long"), Failed("exit_code", "vaguer")],
                  exit_code=1, worktree=WORKTREE)
    assert (result.status, result.error_kind, result.error) == ("failed", "context_too_long", "too long")
    result = fold([Error("exit_code", "vague"), Failed("exit_code", "the turn failed")], exit_code=1,
                  worktree=WORKTREE)
    assert (result.error_kind, result.error) == ("exit_code", "the turn failed")


def test_a_spent_budget_needs_a_person() -> None:
    result = fold([Usage(9, 9, 5.0), Failed("budget_exceeded", "the attempt reached its budget")], exit_code=1,
                  worktree=WORKTREE)
    assert (result.status, result.error_kind, result.cost_usd) == ("needs_review", "budget_exceeded", 5.0)


def test_a_question_waits_for_input_with_its_options() -> None:
    asked = Question("Which database?", ("sqlite", "postgres"))
    result = fold([asked, Final("I need to know which database to use.")], exit_code=0, worktree=WORKTREE)
    assert (result.status, result.error_kind, result.error) == ("needs_review", "waiting_for_input",
                                                                "the agent asks: Which database?")
    assert (result.question, result.options) == ("Which database?", ("sqlite", "postgres"))
    # The agent's own needs_input block asks instead; without a question of its own, the tool's stands.
    own = '```orch-result\n{"status": "needs_input", "question": "Which port?"}\n```'
    result = fold([asked, Final(own)], exit_code=0, worktree=WORKTREE)
    assert (result.question, result.options) == ("Which port?", ())
    result = fold([asked, Final('```orch-result\n{"status": "needs_input"}\n```')], exit_code=0, worktree=WORKTREE)
    assert (result.question, result.options) == ("Which database?", ("sqlite", "postgres"))
    # An agent that asked, then finished anyway, is done.
    assert fold([asked, Final(BLOCK.replace(', "delegations": [{"title": "Write tests"}]', ""))], exit_code=0,
                worktree=WORKTREE).status == "done"


def test_refused_tool_calls_need_a_person() -> None:
    refused = [PermissionDenied("$ cat /main/secret"), PermissionDenied("✎ write /main/x")]
    for end in ([Final("I could not read it.")], []):
        result = fold([*refused, *end], exit_code=0, worktree=WORKTREE)
        assert (result.status, result.error_kind, result.error) == (
            "needs_review", "permission_denied", "permission denied for: $ cat /main/secret; ✎ write /main/x")
    finished = fold([*refused, Final('Done anyway.\n```orch-result\n{"summary": "ok"}\n```')], exit_code=0,
                    worktree=WORKTREE)
    assert (finished.status, finished.summary) == ("done", "ok")


@pytest.mark.parametrize(("exit_code", "kind"), [(0, "unparseable"), (1, "exit_code"), (143, "exit_code"),
                                                 (126, "tool_missing"), (127, "tool_missing")])
def test_without_answer_or_error_the_exit_code_decides(exit_code: int, kind: str) -> None:
    result = fold([Started(), Text("working on it"), Unknown("a stray line")], exit_code=exit_code,
                  worktree=WORKTREE)
    assert (result.status, result.error_kind) == ("failed", kind)
    assert result.error
