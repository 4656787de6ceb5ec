"""Follow-ups and questions through the real agent CLIs against fake model APIs: a follow-up continues the agent's
own session (what the CLI sends the fake carries the first conversation and the follow-up), and a question claude
asks makes the task wait until the answer resumes it.

Run inside a loopback-only namespace (the agent CLIs are skipped elsewhere):
    unshare -n sh -c 'ip link set lo up && PATH=$PWD/.npm-cli/node_modules/.bin:$PATH \\
        python -m pytest tests/core/running/test_conversation_agents.py'
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from orch.core.config import Config
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import wait_until
from tests.core.agents.conftest import CLI_TIMEOUT
from tests.core.agents.live import Setup, claude_agent, codex_agent, make_config, opencode_agent
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.openai_responses import FakeResponsesAPI
from tests.helpers import Recorder, running_engine

DONE = TaskStatus.DONE
RESULT = 'Done.\n\n```orch-result\n{"status": "done", "summary": "%s"}\n```'


def conversation(body: dict[str, Any]) -> str:
    """Every text of a model request (system aside), in order: what the model is shown of the conversation."""
    texts: list[str] = []
    for message in body.get("messages", body.get("input", [])):
        content = message.get("content", "")
        if isinstance(content, str):
            texts.append(content)
            continue
        for block in content if isinstance(content, list) else []:
            texts.append(str(block.get("text", "") or block.get("content", "")))
    return "\n".join(texts)


async def until_done(events: Recorder, task_id: int, times: int) -> None:
    await events.wait_for(lambda _: events.statuses(task_id).count(DONE) >= times, timeout=CLI_TIMEOUT * 2)


def argv_of(setup: Setup, task_id: int, number: int) -> list[str]:
    argv = shlex.split((setup.home.attempt_dir(task_id, number) / "command.txt").read_text())
    return argv[argv.index("--") + 1:]


async def follow_up_twice(setup: Setup, store: SqliteStore, config: Config, agent: str) -> tuple[int, str]:
    """A task, then a follow-up once it is done; its id, and the session id its first attempt recorded."""
    async with running_engine(setup.home, store, config) as (orch, events):
        task = await orch.tasks.create("remember a word", "Remember the word tangerine.", project="app", agent=agent)
        await until_done(events, task.id, 1)
        [first] = await store.list_attempts(task.id)
        assert first.session_id, "the first attempt recorded the agent's session"
        await orch.conversation.reply(task.id, "Which word did I ask you to remember?", source="test")
        await until_done(events, task.id, 2)
    return task.id, first.session_id


async def test_claude_follow_up_resumes_its_session(setup: Setup, store: SqliteStore,
                                                    titled_fake: FakeAnthropicAPI) -> None:
    titled_fake.queue_text(RESULT % "I will remember tangerine.")
    titled_fake.queue_text(RESULT % "The word was tangerine.")
    config = make_config(setup, {"claude": claude_agent(setup, titled_fake)})
    task_id, session = await follow_up_twice(setup, store, config, "claude")

    argv = argv_of(setup, task_id, 2)
    assert argv[argv.index("--resume") + 1] == session
    _, second = [request for request in titled_fake.requests if request.tool_names]
    shown = conversation(second.json)
    assert "Remember the word tangerine." in shown and "I will remember tangerine." in shown
    assert "Which word did I ask you to remember?" in shown
    task = await store.get_task(task_id)
    assert task is not None and task.summary == "The word was tangerine."


async def test_codex_follow_up_resumes_its_thread(setup: Setup, store: SqliteStore) -> None:
    fake = FakeResponsesAPI()
    await fake.start()
    try:
        fake.queue_text(RESULT % "I will remember tangerine.")
        fake.queue_text(RESULT % "The word was tangerine.")
        config = make_config(setup, {"codex": codex_agent(setup, fake)})
        task_id, session = await follow_up_twice(setup, store, config, "codex")
    finally:
        await fake.stop()
    argv = argv_of(setup, task_id, 2)
    assert argv[argv.index("resume") + 1] == session and argv[-1] == "-"
    shown = json.dumps(fake.requests[-1].json)
    assert "Remember the word tangerine." in shown and "I will remember tangerine." in shown
    assert "Which word did I ask you to remember?" in shown


async def test_opencode_follow_up_continues_its_session(setup: Setup, store: SqliteStore,
                                                       titled_fake: FakeAnthropicAPI) -> None:
    titled_fake.queue_text(RESULT % "I will remember tangerine.")
    titled_fake.queue_text(RESULT % "The word was tangerine.")
    config = make_config(setup, {"opencode": opencode_agent(setup, titled_fake)})
    task_id, session = await follow_up_twice(setup, store, config, "opencode")

    argv = argv_of(setup, task_id, 2)
    assert argv[argv.index("--session") + 1] == session
    worked = [request for request in titled_fake.requests if request.tool_names]
    shown = conversation(worked[-1].json)
    assert "Remember the word tangerine." in shown and "I will remember tangerine." in shown
    assert "Which word did I ask you to remember?" in shown


async def test_claude_asks_the_task_waits_and_the_answer_resumes_it(setup: Setup, store: SqliteStore,
                                                                    titled_fake: FakeAnthropicAPI) -> None:
    titled_fake.queue_tool_use("AskUserQuestion", {"questions": [{
        "question": "Which database?", "header": "DB", "multiSelect": False,
        "options": [{"label": "sqlite", "description": "a file"}, {"label": "postgres", "description": "a server"}],
    }]})
    titled_fake.queue_text("Which database should I use?")
    titled_fake.queue_text(RESULT % "Set up postgres.")
    config = make_config(setup, {"claude": claude_agent(setup, titled_fake)})
    async with running_engine(setup.home, store, config) as (orch, events):
        task = await orch.tasks.create("set up a database", "Pick a database and set it up.", project="app",
                                       agent="claude")
        await events.wait_status(task.id, TaskStatus.WAITING, timeout=CLI_TIMEOUT)
        question = await orch.conversation.open_question(task.id)
        assert (question.kind, question.text, question.options) == ("question", "Which database?",
                                                                    ("sqlite", "postgres"))
        await orch.conversation.answer(task.id, "#2", "test")
        await until_done(events, task.id, 1)
    done = await store.get_task(task.id)
    assert done is not None and done.summary == "Set up postgres."
    [answered] = await store.list_questions(task.id)
    assert (answered.answer, answered.answered_by) == ("postgres", "test")
    resumed = conversation([r for r in titled_fake.requests if r.tool_names][-1].json)
    assert "Which database should I use?" in resumed and "postgres" in resumed
    assert Path(setup.home.attempt_dir(task.id, 2) / "prompt.md").read_text().startswith("postgres")


async def approve_or_deny(setup: Setup, store: SqliteStore, fake: FakeAnthropicAPI, decision: str) -> Path:
    """claude with permissions: ask runs a Bash command; a person decides in the store as the chat button does."""
    fake.queue_tool_use("Bash", {"command": "echo approved > approved.txt", "description": "write a file"})
    fake.queue_text(RESULT % "Tried to write the file.")
    agent = {**claude_agent(setup, fake), "permissions": "ask"}
    async with running_engine(setup.home, store, make_config(setup, {"claude": agent})) as (orch, events):
        task = await orch.tasks.create("write a file", "Write approved.txt.", project="app", agent="claude")

        async def asked() -> bool:
            return bool(await store.list_questions(task.id, open_only=True))

        await wait_until(asked, timeout=CLI_TIMEOUT, what="claude's approval request")
        [question] = await store.list_questions(task.id)
        assert (question.kind, question.options) == ("approval", ("Allow", "Allow for this task", "Deny"))
        assert question.text == "claude wants to use Bash: $ echo approved > approved.txt"
        await orch.conversation.decide(question.id, decision, "test")
        await until_done(events, task.id, 1)
    done = await store.get_task(task.id)
    assert done is not None and done.worktree
    return Path(done.worktree)


async def test_an_allowed_tool_call_runs(setup: Setup, store: SqliteStore, titled_fake: FakeAnthropicAPI) -> None:
    worktree = await approve_or_deny(setup, store, titled_fake, "allow")
    assert (worktree / "approved.txt").read_text() == "approved\n"
    argv = argv_of(setup, 1, 1)
    assert "--dangerously-skip-permissions" not in argv
    assert argv[argv.index("--permission-prompt-tool") + 1] == "mcp__orch__approve"


async def test_a_denied_tool_call_does_not_run(setup: Setup, store: SqliteStore,
                                               titled_fake: FakeAnthropicAPI) -> None:
    worktree = await approve_or_deny(setup, store, titled_fake, "deny")
    assert not (worktree / "approved.txt").exists()
    [result] = [r for r in titled_fake.requests if r.tool_names][-1].tool_results()
    assert "test denied Bash in the chat" in json.dumps(result)
    [question] = await store.list_questions(1)
    assert (question.answer, question.answered_by) == ("deny", "test")
