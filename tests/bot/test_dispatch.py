"""Running commands through the real BotApp, as every transport does: the allow-list, replies, typed calls."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from orch.bot.app import BotApp
from orch.bot.chat import ChatRef, Reply
from orch.bot.dispatch import FAILED, NOT_ALLOWED
from orch.core.errors import OrchError
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore

from tests.conftest import make_repo
from tests.fakes.chat_port import FakeChatPort
from tests.helpers import fast_config, running_engine

CHAT = ChatRef("fake", "1", "7")
STRANGER = ChatRef("fake", "666", "9")

HELP = """\
/task new TITLE [body:…] [agent:…] [complexity:…] [project:…] [parent:…] [label:…] — create a task: options on \
the first line; further lines are the body, as typed
/task list [STATUS] — list tasks, optionally with one status
/task show ID — a task's status, agent, model, branch, attempts, cost
/task route ID — route a task (again) without running it
/task unblock ID — blocked/needs_review -> new (attempts reset)
/task retry ID — run a finished task again
/task cancel ID — stop a task
/task reply ID TEXT — a follow-up for the agent: its next turn (--now stops the current one)
/task diff ID — what a task changed against its base: stat, and the patch
/task review ID — have a finished task's change reviewed by another agent
/task push ID — push a finished task's branch to origin
/task pr ID — push and open a pull request on GitHub
/task merge ID — merge a finished task's branch into the branch it started from
/stream ID — follow a task's live output in this chat
/unstream ID — stop following a task
/say ID TEXT — type text into the running agent
/answer ID TEXT — answer what a task's agent asked
/approve ID DECISION — allow or deny a tool call an agent asks for
/notify LEVEL — what this chat is told of its tasks: all, errors or none
/cost [BY] — tokens and USD spent, by agent, model, project or day
/jobs — scheduled jobs: id, schedule, enabled, next run, title
/status — what orch is doing
/hosts — the cluster's workers: agents, running tasks, last heartbeat
/help — this list"""


class AllowListPort(FakeChatPort):
    """The strict fake chat, with an allow-list of one chat as a transport's config gives."""

    def __init__(self, allowed_chat: str) -> None:
        super().__init__(max_length=4096)
        self.allowed_chat = allowed_chat

    def is_allowed(self, chat: ChatRef) -> bool:
        return chat.chat_id == self.allowed_chat


class EngineLines:
    """What the engine reports for /status; `broken` makes asking fail as a bug would, `refused` as orch does on
    purpose (tmux or git said no)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.refused: OrchError | None = None

    def status_lines(self) -> list[str]:
        if self.broken:
            raise RuntimeError("status lines exploded")
        if self.refused is not None:
            raise self.refused
        return ["engine: idle"]


@dataclass
class Bot:
    app: BotApp
    services: Services
    port: AllowListPort
    engine: EngineLines


@pytest.fixture
async def bot(home: OrchHome, store: SqliteStore) -> AsyncIterator[Bot]:
    hub = EventHub()
    services = Services(home, store, config=fast_config(), hub=hub)
    engine = EngineLines()
    app = BotApp(services, engine, hub)
    port = AllowListPort(CHAT.chat_id)
    app.attach(port)
    await app.start()
    yield Bot(app, services, port, engine)
    await app.stop()


async def test_a_chat_off_the_allow_list_is_refused_for_text_and_calls(bot: Bot) -> None:
    # With the ids the owner needs to allow the chat, from the transport (the fake's hint here).
    refused = [Reply(f"{NOT_ALLOWED}\nchat id 666, user id 9: add one to the fake's allow-list")]
    assert await bot.app.handle_text(STRANGER, "/task new sneaky") == refused
    assert await bot.app.handle_text(STRANGER, "/help") == refused
    assert await bot.app.handle_call(STRANGER, ("task", "new"), {"title": "sneaky"}) == refused
    assert await bot.app.handle_call(STRANGER, ("help",), {}) == refused
    # A transport that was never attached has no allow-list to pass.
    assert await bot.app.handle_text(ChatRef("ghost", CHAT.chat_id), "/help") == [Reply(NOT_ALLOWED)]
    assert await bot.services.tasks.list_tasks() == []
    assert await bot.services.follows.all() == []
    assert bot.port.calls == []


async def test_a_user_error_becomes_the_reply_and_changes_nothing(bot: Bot) -> None:
    assert await bot.app.handle_text(CHAT, "/task show 42") == [Reply("task 42 not found")]
    assert await bot.app.handle_text(CHAT, "/task show abc") == [Reply("task id must be a number, not 'abc'")]
    assert await bot.app.handle_text(CHAT, "/task new x project:nope") == [
        Reply("project 'nope' not found (known: none; run `orch init` in a git repository)")]
    assert await bot.services.tasks.list_tasks() == []
    assert await bot.app.handle_text(CHAT, "/task new fix it agent:shell") == [
        Reply("task 1 created: fix it (new, project scratch)", task_id=1)]
    assert await bot.app.handle_text(CHAT, "/task retry 1") == [
        Reply("task 1 is new; only needs_review, cancelled or done tasks can be retried")]
    assert await bot.app.handle_text(CHAT, "/say 1 hello") == [Reply("task 1 is new; say needs a running task")]


async def test_with_several_projects_a_chat_task_names_one(bot: Bot, tmp_path: Path) -> None:
    for name in ("api", "web"):
        await bot.services.projects.register_checkout(make_repo(tmp_path / name))
    assert await bot.app.handle_text(CHAT, "/task new where does it go") == [Reply(
        "which project? 2 are registered (api, web): name one with --project NAME (in chat: project:NAME)")]
    assert await bot.services.tasks.list_tasks() == []
    assert await bot.app.handle_text(CHAT, "/task new here project:web") == [
        Reply("task 1 created: here (new, project web)", task_id=1)]
    [child] = await bot.app.handle_call(CHAT, ("task", "new"), {"title": "a part", "parent": 1})
    assert child.text == "task 2 created: a part (new, project web)"


async def test_handle_call_passes_typed_arguments_to_the_handler(bot: Bot) -> None:
    [created] = await bot.app.handle_call(CHAT, ("task", "new"), {
        "title": "from a call", "body": "echo hi", "agent": "shell", "label": ["alpha", "beta"], "complexity": None,
        "project": "", "parent": None})
    assert created == Reply("task 1 created: from a call (new, project scratch)", task_id=1)
    task = await bot.services.tasks.get(1)
    assert (task.title, task.body, task.labels) == ("from a call", "echo hi", ("alpha", "beta", "agent:shell"))
    [child] = await bot.app.handle_call(CHAT, ("task", "new"), {"title": "a part of it", "parent": 1})
    assert child.task_id == 2 and (await bot.services.tasks.get(2)).parent_id == 1
    [shown] = await bot.app.handle_call(CHAT, ("task", "show"), {"id": 2})
    assert shown.preformatted and shown.task_id == 2 and shown.text.startswith("task 2: a part of it\n")
    [listed] = await bot.app.handle_call(CHAT, ("task", "list"), {"status": "new"})
    assert listed.preformatted and len(listed.text.splitlines()) == 3
    assert await bot.app.handle_call(CHAT, ("task", "new"), {"title": "t", "colour": "red"}) == [
        Reply("unknown option colour for /task new")]
    assert await bot.app.handle_call(CHAT, ("task", "show"), {}) == [Reply("missing id: /task show ID")]
    assert await bot.app.handle_call(CHAT, ("task", "show"), {"id": 2**63}) == [
        Reply(f"task {2**63} not found")]


async def test_an_unknown_command_gets_one_line(bot: Bot) -> None:
    assert await bot.app.handle_text(CHAT, "/dance") == [Reply("unknown command /dance — try /help")]
    assert await bot.app.handle_call(CHAT, ("dance",), {}) == [Reply("unknown command /dance — try /help")]
    assert await bot.app.handle_text(CHAT, "dance") == [Reply("commands start with / — try /help")]


async def test_a_failing_command_is_one_line_and_logged(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    bot.engine.broken = True
    with caplog.at_level(logging.ERROR, logger="orch.bot"):
        assert await bot.app.handle_text(CHAT, "/status") == [Reply(FAILED)]
    assert "status lines exploded" in caplog.text


async def test_an_error_orch_raised_on_purpose_is_its_own_line(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    bot.engine.refused = OrchError("tmux list-sessions failed: server exited unexpectedly\nmore detail")
    with caplog.at_level(logging.WARNING, logger="orch.bot"):
        assert await bot.app.handle_text(CHAT, "/status") == [
            Reply("tmux list-sessions failed: server exited unexpectedly")]
    assert [record.levelno for record in caplog.records] == [logging.WARNING]


async def test_hosts_on_one_host_says_so(bot: Bot) -> None:
    assert await bot.app.handle_text(CHAT, "/hosts") == [
        Reply("one host: orch serve runs every agent (the store is SQLite)")]


async def test_lone_surrogates_from_a_chat_service_are_replaced_not_fatal(bot: Bot) -> None:
    # JSON may carry "\ud800"; SQLite (and every file) can only take text that encodes as UTF-8.
    assert await bot.app.handle_text(CHAT, "/task new fix \ud800 it body:\udcff") == [
        Reply("task 1 created: fix \ufffd it (new, project scratch)", task_id=1)]
    [created] = await bot.app.handle_call(CHAT, ("task", "new"), {"title": "odd \udfff", "label": ["\ud83d"]})
    assert created == Reply("task 2 created: odd \ufffd (new, project scratch)", task_id=2)
    first, second = await bot.services.tasks.list_tasks()
    assert (first.body, second.labels) == ("\ufffd", ("\ufffd",))


async def test_say_with_a_lone_surrogate_reaches_the_running_agent(home: OrchHome, store: SqliteStore) -> None:
    # What a chat types into a pane goes to tmux as UTF-8: a lone surrogate must not make /say fail.
    async with running_engine(home, store) as (services, events):
        assert services.hub is not None
        app = BotApp(services, EngineLines(), services.hub)
        app.attach(AllowListPort(CHAT.chat_id))
        try:
            await app.handle_text(CHAT, '/task new ask agent:shell body:"echo ready; read a; echo got $a"')
            await events.wait_for(lambda _: "ready" in events.lines(1))
            assert await app.handle_text(CHAT, "/say 1 hi \ud800 there") == [Reply("sent to task 1", task_id=1)]
            await events.wait_for(lambda _: "got hi \ufffd there" in events.lines(1))
        finally:
            await app.stop()


async def test_a_title_of_only_invisible_characters_is_refused(bot: Bot) -> None:
    refused = Reply("a task title must show something; this one is only spaces, zero-width or control characters")
    for title in ("\u200b\u200b", "\x1b\x07", "\u3164 \ufeff", "\u2800\u200d\u2060"):
        assert await bot.app.handle_text(CHAT, f"/task new {title}") == [refused], repr(title)
        assert await bot.app.handle_call(CHAT, ("task", "new"), {"title": title}) == [refused], repr(title)
    assert await bot.services.tasks.list_tasks() == []
    assert await bot.app.handle_text(CHAT, "/task new \u200bx\u200b") == [
        Reply("task 1 created: \u200bx\u200b (new, project scratch)", task_id=1)]


async def test_help_and_status(bot: Bot) -> None:
    assert await bot.app.handle_text(CHAT, "/help") == [Reply(HELP, preformatted=True)]
    assert await bot.app.handle_text(CHAT, "/status") == [Reply("engine: idle\ntasks: no tasks", preformatted=True)]


async def test_commands_follow_and_unfollow_in_their_chat(bot: Bot) -> None:
    await bot.app.handle_text(CHAT, "/task new watch me")
    [follow] = await bot.services.follows.all()
    assert (follow.transport, follow.chat_id, follow.task_id) == ("fake", CHAT.chat_id, 1)
    assert await bot.app.handle_text(CHAT, "/unstream 1") == [Reply("stopped following task 1", task_id=1)]
    assert await bot.app.handle_text(CHAT, "/unstream 1") == [Reply("this chat was not following task 1", task_id=1)]
    assert await bot.services.follows.all() == []
    assert await bot.app.handle_text(CHAT, "/stream 1") == [Reply("following task 1 (new)", task_id=1)]
    assert [f.task_id for f in await bot.services.follows.all()] == [1]
