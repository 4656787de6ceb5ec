"""The agent's prompts and the orch-result contract every LLM adapter reads."""

from __future__ import annotations

import json
from pathlib import Path

from orch.core.agents.contract import final_answer
from orch.core.agents.decoding import describe_tool, status_error_kind
from orch.core.agents.pane import text_lines
from orch.core.agents.prompt import build_system_prompt, build_task_prompt
from orch.core.agents.registry import adapter_for
from orch.core.agents.structured import StructuredAgent
from orch.core.names import AGENT_NAMES
from orch.core.tasks.models import Delegation, Task, TaskStatus

from tests.core.agents.conftest import render_output

TASK = Task(id=7, title="Add login", body="Use sessions.\n", status=TaskStatus.IN_PROGRESS)


def test_system_prompt_names_task_paths_profile_and_contract() -> None:
    prompt = build_system_prompt(TASK, Path("/w/t7"), Path("/src/app"),
                                 {"role": "backend engineer", "skills": ["python", "sql"], "constraints": "no deps"})
    assert "orch task 7: Add login" in prompt
    assert "Use sessions." in prompt
    assert "git worktree `/w/t7`" in prompt
    assert "main checkout `/src/app`" in prompt
    assert "- Role: backend engineer" in prompt and "- Skills: python, sql" in prompt
    assert "- Tools: (none given)" in prompt and "- Constraints: no deps" in prompt
    assert "```orch-result" in prompt and "$" not in prompt.replace("$ ", "")


def test_task_prompt_with_children_results() -> None:
    assert build_task_prompt(TASK, []).startswith("Task 7: Add login\n\nUse sessions.\n\n")
    again = build_task_prompt(TASK, ["task 8: tests added"])
    assert "The sub-tasks you delegated are done. Their results:\n- task 8: tests added" in again


def test_block_with_delegations_blocks() -> None:
    text = ('Split it.\n```orch-result\n{"summary": "Needs tests first.", "delegations": '
            '[{"title": "Write tests", "body": "for login", "labels": ["agent:codex"]}]}\n```\n')
    result = final_answer(text)
    assert result.status == "blocked" and result.summary == "Needs tests first."
    assert result.delegations == (Delegation("Write tests", "for login", ("agent:codex",)),)


def test_last_block_wins_and_prose_is_the_fallback_summary() -> None:
    text = '```orch-result\n{"status": "failed"}\n```\nNever mind, all good.\n```orch-result\n{}\n```'
    result = final_answer(text)
    assert result.status == "done"
    assert "Never mind, all good." in result.summary


def test_failed_and_needs_input_go_to_review() -> None:
    failed = final_answer('```orch-result\n{"status": "failed", "reason": "no such API"}\n```')
    assert (failed.status, failed.error) == ("needs_review", "the agent could not finish: no such API")
    asks = final_answer('```orch-result\n{"status": "needs_input", "question": "Which db?"}\n```')
    assert (asks.status, asks.error_kind, asks.error) == ("needs_review", "waiting_for_input",
                                                          "the agent asks: Which db?")


def test_malformed_block_is_unparseable_never_done() -> None:
    for body in ("{not json", "[1]", '{"status": "finished"}', '{"delegations": [{"body": "no title"}]}',
                 '{"delegations": [{"title": "x", "labels": "a"}]}'):
        result = final_answer(f"Done.\n```orch-result\n{body}\n```")
        assert (result.status, result.error_kind) == ("failed", "unparseable"), body


def test_result_block_is_shown_readably_in_the_pane() -> None:
    text = ('Split it.\n\n```orch-result\n{"summary": "Needs tests first.", "delegations": '
            '[{"title": "Write tests", "labels": ["agent:codex"]}, {"title": "Docs"}]}\n```')
    assert text_lines(text) == ["Split it.", "", "⚑ done: Needs tests first.", "⇢ sub-task: Write tests [agent:codex]",
                                "⇢ sub-task: Docs"]
    assert text_lines('```orch-result\n{"status": "needs_input", "question": "Which db?"}\n```') == [
        "⚑ needs_input: Which db?"]
    assert text_lines('```orch-result\n{"status": "failed", "reason": "no API"}\n```') == ["⚑ failed: no API"]
    # A block orch cannot read stays as the agent wrote it: that is what a person must look at.
    assert text_lines("```orch-result\n{not json\n```") == ["```orch-result", "{not json", "```"]
    for name in ("claude", "codex", "opencode"):
        event = {"claude": '{"type": "assistant", "message": {"content": [{"type": "text", "text": %s}]}}',
                 "codex": '{"type": "item.completed", "item": {"type": "agent_message", "text": %s}}',
                 "opencode": '{"type": "text", "part": {"text": %s}}'}[name]
        block = json.dumps('Done.\n```orch-result\n{"summary": "ok"}\n```')
        adapter = adapter_for(name)
        assert isinstance(adapter, StructuredAgent)
        assert render_output(adapter, event % block) == ["Done.", "⚑ done: ok"], name


def test_plain_answer_is_done_but_empty_answer_is_not() -> None:
    assert final_answer("All done.").status == "done"
    assert final_answer("  ").error_kind == "unparseable"


def test_status_codes_and_tool_lines() -> None:
    assert [status_error_kind(code) for code in (429, 401, 404, 413, 529, 503, 400, None)] == [
        "rate_limit", "auth", "model_not_found", "context_too_long", "overloaded", "overloaded", None, None]
    assert describe_tool("Bash", {"command": "pytest -q\nmore"}) == "$ pytest -q"
    assert describe_tool("Edit", {"file_path": "src/app.py"}) == "✎ Edit src/app.py"
    assert describe_tool("Grep", {"pattern": "login", "path": "src"}) == "⌕ Grep login in src"
    assert describe_tool("TodoWrite", {"todos": []}) == '• TodoWrite {"todos": []}'


def test_registry_knows_every_agent() -> None:
    assert [adapter_for(name).name for name in AGENT_NAMES] == ["claude", "codex", "opencode", "shell"]
    assert all(adapter_for(name).structured_output for name in ("claude", "codex", "opencode"))
