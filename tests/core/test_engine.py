"""The engine with real parts: tmux server, git worktrees, SQLite file, the shell agent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from orch.core.events import EventHub, OutputChunk
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus
from orch.core.terminal.tmux import TmuxRunner, session_name

from tests.conftest import wait_until
from tests.helpers import fast_config, running_engine

DONE = TaskStatus.DONE
REVIEW = TaskStatus.NEEDS_REVIEW


def git(path: str | Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True).stdout.strip()


async def test_shell_task_streams_output_commits_and_records_the_attempt(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create("count to three", "for i in 1 2 3; do echo line $i; done\n"
                                           "echo result > out.txt", agent="shell")
        await events.wait_status(task.id, DONE, REVIEW)
    done = await store.get_task(task.id)
    assert done is not None and done.status is DONE
    assert events.lines(task.id) == ["line 1", "line 2", "line 3"]
    assert events.statuses(task.id) == [TaskStatus.NEW, TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, DONE]
    assert done.branch == "orch/1-count-to-three" and done.agent == "shell" and done.attempts == 1
    assert git(done.worktree or "", "log", "-1", "--format=%s") == "orch: task 1: count to three"
    assert git(done.worktree or "", "show", "--name-only", "--format=", "HEAD") == "out.txt"
    attempt_dir = home.attempt_dir(task.id, 1)
    assert (attempt_dir / "exit_code").read_text().strip() == "0"
    assert "command.sh" in (attempt_dir / "command.txt").read_text()
    assert b"line 3" in (attempt_dir / "pane.log").read_bytes()
    [attempt] = await store.list_attempts(task.id)
    assert attempt.exit_code == 0 and attempt.outcome == "done" and attempt.finished_at is not None
    stored = await store.chunks_after(task.id, 0)
    assert [line for chunk in stored for line in chunk.lines] == ["line 1", "line 2", "line 3"]
    assert stored[-1].is_final and [c.seq for c in stored] == list(range(1, len(stored) + 1))
    # The session is gone once the attempt has been read to its end.
    assert not TmuxRunner(home).is_alive_sync(session_name(task.id))


async def test_burst_of_20000_lines_arrives_once_in_order(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create("burst", "seq 1 20000", agent="shell")
        await events.wait_status(task.id, DONE, REVIEW, timeout=60)
    expected = [str(n) for n in range(1, 20001)]
    assert events.lines(task.id) == expected
    stored = await store.chunks_after(task.id, 0, limit=100000)
    assert [line for chunk in stored for line in chunk.lines] == expected


async def test_failing_body_is_retried_then_needs_review(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create("fails", "echo trying; exit 3", agent="shell")
        await events.wait_status(task.id, REVIEW, DONE)
    failed = await store.get_task(task.id)
    assert failed is not None and failed.status is REVIEW and failed.attempts == 2
    assert failed.review_reason == "max attempts reached (2); last error: exit code 3"
    assert [a.exit_code for a in await store.list_attempts(task.id)] == [3, 3]
    assert events.lines(task.id) == ["trying", "trying"]


async def test_delegations_block_the_parent_until_children_are_done(home: OrchHome, store: SqliteStore) -> None:
    # First run: ask for two sub-tasks. Second run (its prompt now lists their results): finish.
    delegations = {"summary": "split", "delegations": [
        {"title": "child one", "body": "echo one", "labels": ["agent:shell"]},
        {"title": "child two", "body": "echo two", "labels": ["agent:shell"]},
    ]}
    body = (f"if grep -q '(child tw[o]): done' \"$ORCH_PROMPT_FILE\"; then echo parent finished; "
            f"else echo '{json.dumps(delegations)}' > \"$ORCH_RESULT_FILE\"; fi")
    async with running_engine(home, store) as (orch, events):
        parent = await orch.tasks.create("parent", body, agent="shell")
        await events.wait_status(parent.id, TaskStatus.BLOCKED)
        children = await store.list_tasks(parent_id=parent.id)
        assert [c.title for c in children] == ["child one", "child two"]
        await events.wait_for(lambda _: events.statuses(parent.id)[-1:] == [DONE])
    assert events.statuses(parent.id) == [
        TaskStatus.NEW, TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED,
        TaskStatus.NEW, TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, DONE,
    ]
    for child in children:
        assert (await store.get_task(child.id)).status is DONE  # type: ignore[union-attr]
    assert events.lines(parent.id) == ["parent finished"]
    prompt = (home.attempt_dir(parent.id, 2) / "prompt.md").read_text()
    assert "The sub-tasks you delegated are done" in prompt and "(child one): done" in prompt


async def test_parent_created_with_children_waits_for_them(home: OrchHome, store: SqliteStore) -> None:
    hub = EventHub()
    tasks = Services(home, store, config=fast_config(), hub=hub).tasks
    parent = await tasks.create("parent", "echo parent ran", agent="shell")
    first = await tasks.create("first", "echo a", agent="shell", parent_id=parent.id)
    second = await tasks.create("second", "echo b", agent="shell", parent_id=parent.id)
    async with running_engine(home, store, hub=hub) as (_, events):
        await events.wait_status(parent.id, TaskStatus.BLOCKED)
        await events.wait_for(lambda _: events.statuses(parent.id)[-1:] == [DONE])
    assert events.lines(parent.id) == ["parent ran"]
    for child in (first, second):
        assert (await store.get_task(child.id)).status is DONE  # type: ignore[union-attr]


async def test_title_is_text_never_shell(home: OrchHome, store: SqliteStore, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    title = f"$(touch {marker}); rm -rf ~ `touch {marker}`"
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create(title, "echo safe", agent="shell")
        await events.wait_status(task.id, DONE, REVIEW)
    stored = await store.get_task(task.id)
    assert stored is not None and stored.title == title and stored.status is DONE
    assert not marker.exists()
    assert events.lines(task.id) == ["safe"]


async def test_cancel_stops_a_running_agent(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create("long", "echo started; sleep 60; echo never", agent="shell")
        await events.wait_for(lambda _: events.lines(task.id) == ["started"])
        await orch.tasks.cancel(task.id)
        await wait_until(lambda: _session_gone(orch, task.id), what="the task's agent to stop")
    cancelled = await store.get_task(task.id)
    assert cancelled is not None and cancelled.status is TaskStatus.CANCELLED


async def test_say_types_text_literally_into_the_agent(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create("ask", 'echo ready; read answer; echo "got: $answer"', agent="shell")
        await events.wait_for(lambda _: events.lines(task.id)[-1:] == ["ready"])
        await orch.control.say(task.id, "hello $(touch /tmp/x) C-c Enter ;")
        await events.wait_status(task.id, DONE, REVIEW)
    assert events.lines(task.id)[-1] == "got: hello $(touch /tmp/x) C-c Enter ;"


async def test_timeout_moves_the_task_to_needs_review(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store, fast_config(timeout_seconds=0.5)) as (orch, events):
        task = await orch.tasks.create("hangs", "sleep 60", agent="shell")
        await events.wait_status(task.id, REVIEW, DONE)
    stored = await store.get_task(task.id)
    assert stored is not None and stored.review_reason == "the attempt ran out of time: timed out after 0.5 s"


async def test_restart_continues_a_running_agent_without_loss_or_duplicates(
    home: OrchHome, store: SqliteStore
) -> None:
    hub = EventHub()
    body = "for i in 1 2 3; do echo before $i; done; read go; for i in 1 2 3; do echo after $i; done"
    async with running_engine(home, store, hub=hub) as (orch, events):
        task = await orch.tasks.create("survives", body, agent="shell")
        await events.wait_for(lambda _: events.lines(task.id)[-1:] == ["before 3"])
    # orch serve is down; the agent's tmux session is not.
    assert TmuxRunner(home).is_alive_sync(session_name(task.id))
    async with running_engine(home, store, hub=EventHub()) as (orch, events):
        await orch.control.say(task.id, "go")
        await events.wait_status(task.id, DONE, REVIEW)
    stored = await store.chunks_after(task.id, 0)
    # "go" is the terminal echoing what was typed, as a person watching the pane sees it.
    assert [line for chunk in stored for line in chunk.lines] == [
        "before 1", "before 2", "before 3", "go", "after 1", "after 2", "after 3"]
    assert [c.seq for c in stored] == list(range(1, len(stored) + 1))


async def test_output_just_before_exit_is_not_lost(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create("last words", "seq 1 500; printf 'no newline at the end'", agent="shell")
        await events.wait_status(task.id, DONE, REVIEW)
    lines = events.lines(task.id)
    assert lines[-2:] == ["500", "no newline at the end"] and len(lines) == 501
    final = [e for e in events.events if isinstance(e, OutputChunk) and e.chunk.is_final]
    assert len(final) == 1


async def test_no_agent_available_goes_to_needs_review(home: OrchHome, store: SqliteStore) -> None:
    config = fast_config()
    for name in ("claude", "codex", "opencode"):
        config.agents.get(name).command = f"definitely-not-installed-{name}"
    config.router.fallback_executor = "claude"
    async with running_engine(home, store, config) as (orch, events):
        task = await orch.tasks.create("no agent", "do it")
        await events.wait_status(task.id, REVIEW)
    stored = await store.get_task(task.id)
    assert stored is not None and stored.review_reason is not None
    assert stored.review_reason.startswith("no agent available")


async def test_an_agent_installed_while_serve_runs_is_routed_to_without_a_restart(
        home: OrchHome, store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    config = fast_config()
    config.agents.get("claude").command = "orch-test-claude"
    config.router.agents = ["claude"]
    config.router.fallback_executor = "claude"
    async with running_engine(home, store, config) as (orch, events):
        before = await orch.tasks.create("before the install", "do it")
        await events.wait_status(before.id, REVIEW)
        agent = bin_dir / "orch-test-claude"  # installed now, as `npm install -g` would while serve runs
        agent.write_text("#!/bin/sh\nexit 0\n")
        agent.chmod(0o755)
        after = await orch.tasks.create("after the install", "do it")
        await events.wait_status(after.id, DONE, REVIEW)
    stored = await store.get_task(before.id)
    assert stored is not None and (stored.review_reason or "").startswith("no agent available")
    routed = await store.get_task(after.id)
    assert routed is not None and routed.agent == "claude"


async def _session_gone(orch: Services, task_id: int) -> bool:
    return not await orch.tmux.is_alive(session_name(task_id))


async def test_secrets_are_redacted_before_output_leaves_the_engine(home: OrchHome, store: SqliteStore) -> None:
    key = "sk-ant-api03-" + "A1b2C3d4" * 8
    body = (f"echo 'key={key}'; echo 'url=https://bob:hunter2@example.com/x'; "
            "printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n"
            "-----END OPENSSH PRIVATE KEY-----\\n'; echo after")
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create("leaky", body, agent="shell")
        await events.wait_status(task.id, DONE, REVIEW)
    streamed = "\n".join(events.lines(task.id))
    stored = "\n".join(line for chunk in await store.chunks_after(task.id, 0) for line in chunk.lines)
    for text in (streamed, stored):
        assert key not in text and "hunter2" not in text and "b3BlbnNzaC1rZXktdjEAAAAA" not in text
        assert "url=https://bob:***@example.com/x" in text and text.endswith("after")


async def test_chat_tokens_do_not_reach_agents(home: OrchHome, store: SqliteStore,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TG", "123456:secret-token")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "987654:other-token")
    config = fast_config()
    config.transports.telegram.token = "123456:secret-token"
    async with running_engine(home, store, config) as (orch, events):
        task = await orch.tasks.create("env", 'echo "tg=${MY_TG:-unset} bot=${TELEGRAM_BOT_TOKEN:-unset}"; '
                                           'echo "id=$ORCH_TASK_ID agent=$ORCH_AGENT"', agent="shell")
        await events.wait_status(task.id, DONE, REVIEW)
    assert events.lines(task.id) == ["tg=unset bot=unset", f"id={task.id} agent=shell"]
