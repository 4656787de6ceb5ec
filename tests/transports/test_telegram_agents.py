"""The issue's end-to-end conversations through Telegram: the real claude CLI against the fake Anthropic API, run
by the real engine, asked for in a Telegram chat (the real python-telegram-bot against the fake Bot API), and
answered with a button press there — a question claude asks, and a tool call it asks approval for.

Run inside a loopback-only namespace (the agent CLIs are skipped elsewhere):
    unshare -n sh -c 'ip link set lo up && PATH=$PWD/.npm-cli/node_modules/.bin:$PATH \\
        python -m pytest tests/transports/test_telegram_agents.py'
"""

from __future__ import annotations

import json
from pathlib import Path

from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.core.agents.conftest import CLI_TIMEOUT
from tests.core.agents.live import Setup, claude_agent, make_config
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.telegram_api import FakeTelegram
from tests.transports.telegram_chat import CHAT, Served, Tg

RESULT = 'Done.\n\n```orch-result\n{"status": "done", "summary": "%s"}\n```'


async def task_done(tg: Tg) -> None:
    await tg.message(lambda m: m.text.startswith("task 1 done"), within=CLI_TIMEOUT)
    await tg.status(1, TaskStatus.DONE)


async def test_claude_asks_and_a_button_press_answers(setup: Setup, store: SqliteStore, titled_fake: FakeAnthropicAPI,
                                                     fake_telegram: FakeTelegram) -> None:
    titled_fake.queue_tool_use("AskUserQuestion", {"questions": [{
        "question": "Which database?", "header": "DB", "multiSelect": False,
        "options": [{"label": "sqlite", "description": "a file"}, {"label": "postgres", "description": "a server"}],
    }]})
    titled_fake.queue_text("Which database should I use?")
    titled_fake.queue_text(RESULT % "Set up postgres.")
    config = make_config(setup, {"claude": claude_agent(setup, titled_fake)})
    async with Served(setup.home, store, fake_telegram, config) as tg:
        asked_with = await tg.say("/task new set up a database project:app agent:claude\n"
                                  "Pick a database and set it up.")
        question = await tg.message(lambda m: "asks: Which database?" in m.text and bool(m.keyboard),
                                    within=CLI_TIMEOUT)
        assert (await tg.services.tasks.get(1)).status is TaskStatus.WAITING
        assert question.reply_to == asked_with
        assert list(question.buttons()) == ["sqlite", "postgres", "Answer"]
        assert await tg.press(question, "postgres") == "task 1: answered 'postgres'"
        await task_done(tg)
        assert (await tg.services.tasks.get(1)).summary == "Set up postgres."
    [answered] = await store.list_questions(1)
    assert (answered.answer, answered.answered_by) == ("postgres", "telegram:2002")
    resumed = [request for request in titled_fake.requests if request.tool_names][-1]
    assert "postgres" in json.dumps(resumed.json["messages"])


async def approve_in_telegram(setup: Setup, store: SqliteStore, fake: FakeAnthropicAPI, telegram: FakeTelegram,
                              decision: str) -> Path:
    """claude with permissions: ask runs a Bash command; the person presses `decision` under the request."""
    fake.queue_tool_use("Bash", {"command": "echo approved > approved.txt", "description": "write a file"})
    fake.queue_text(RESULT % "Tried to write the file.")
    agent = {**claude_agent(setup, fake), "permissions": "ask"}
    async with Served(setup.home, store, telegram, make_config(setup, {"claude": agent})) as tg:
        await tg.say("/task new write a file project:app agent:claude\nWrite approved.txt.")
        request = await tg.message(lambda m: "asks approval" in m.text and bool(m.keyboard), within=CLI_TIMEOUT)
        assert request.text.endswith("claude wants to use Bash: $ echo approved > approved.txt")
        assert list(request.buttons()) == ["Allow", "Allow for this task", "Deny"]
        await tg.press(request, decision)
        await task_done(tg)
        worktree = (await tg.services.tasks.get(1)).worktree
    assert worktree is not None and CHAT in telegram.chats
    return Path(worktree)


async def test_allow_pressed_the_command_ran(setup: Setup, store: SqliteStore, titled_fake: FakeAnthropicAPI,
                                            fake_telegram: FakeTelegram) -> None:
    worktree = await approve_in_telegram(setup, store, titled_fake, fake_telegram, "Allow")
    assert (worktree / "approved.txt").read_text() == "approved\n"
    [question] = await store.list_questions(1)
    assert (question.answer, question.answered_by) == ("allow", "telegram:2002")


async def test_deny_pressed_the_command_did_not_run(setup: Setup, store: SqliteStore, titled_fake: FakeAnthropicAPI,
                                                   fake_telegram: FakeTelegram) -> None:
    worktree = await approve_in_telegram(setup, store, titled_fake, fake_telegram, "Deny")
    assert not (worktree / "approved.txt").exists()
    [result] = [r for r in titled_fake.requests if r.tool_names][-1].tool_results()
    assert "telegram:2002 denied Bash in the chat" in json.dumps(result)

