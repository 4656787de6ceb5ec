"""A task as a conversation in Discord: buttons (components), modals for text, messages in a task's thread and
replies as follow-ups, questions addressed to their creator, approvals — the real discord.py against the fake
Discord, a real BotApp, and the real engine running the shell agent in tmux and git."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from orch.bot.app import NOT_ALLOWED, BotApp
from orch.bot.chat import Button
from orch.bot.message_outbox import MessageOutbox
from orch.core.config import Config, DiscordTransportConfig
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus
from orch.transports.discord.receive import EXPIRED
from orch.transports.discord.transport import DiscordTransport

from tests.conftest import wait_until
from tests.fakes.discord_api import (
    DISCORD_TOKEN,
    EPHEMERAL,
    GUILD_ID,
    MESSAGE_CONTENT_INTENT,
    MODAL,
    FakeDiscord,
    FakeMessage,
    decoded,
)
from tests.helpers import fast_config

USER = 950000000000000001
STRANGER = 950000000000000002
CHANNEL = "940000000000000001"
WAIT = 30.0


@dataclass
class Dc:
    fake: FakeDiscord
    services: Services
    transport: DiscordTransport

    async def new_task(self, title: str, body: str) -> str:
        """/task new with the shell agent; the id of the thread its output goes to."""
        await self.fake.invoke_slash(USER, CHANNEL, "task", "new", options={"title": title, "agent": "shell",
                                                                            "body": body})
        return str(await self.fake.wait_for(lambda: next(iter(self.fake.threads), None), WAIT))

    async def message(self, channel: str, match: Callable[[FakeMessage], bool]) -> FakeMessage:
        """The latest message of the channel that matches, once there is one."""
        def found() -> FakeMessage | None:
            return next((m for m in reversed(self.fake.channel_messages(channel)) if match(m)), None)

        result: FakeMessage = await self.fake.wait_for(found, WAIT)
        return result

    async def text(self, channel: str, part: str) -> FakeMessage:
        return await self.message(channel, lambda m: part in decoded(m))

    async def press(self, message: FakeMessage, label: str, *, user: int = USER) -> dict[str, object]:
        """Press a button; the interaction's first answer (a message, a deferral or a modal)."""
        interaction = await self.fake.press(user, message.id, label)
        [answer, *_] = await self.fake.wait_for(lambda: self.fake.callbacks_for(interaction), WAIT)
        return answer

    async def status(self, task_id: int, *statuses: TaskStatus) -> None:
        async def reached() -> bool:
            return (await self.services.tasks.get(task_id)).status in statuses

        await wait_until(reached, WAIT, f"task {task_id} to be {' or '.join(statuses)}")


def content(answer: dict[str, object]) -> str:
    data = answer["data"]
    assert isinstance(data, dict)
    return str(data.get("content", ""))


@asynccontextmanager
async def served(home: OrchHome, store: SqliteStore, fake: FakeDiscord, config: Config) -> AsyncIterator[Dc]:
    hub = EventHub()
    services = Services(home, store, config=config, hub=hub)
    engine = services.engine(poll_interval=0.1)
    app = BotApp(services, engine, hub)
    settings = DiscordTransportConfig(enabled=True, token=DISCORD_TOKEN, allowed_user_ids=[USER],
                                      guild_ids=[int(GUILD_ID)], api_base=fake.api_base)
    transport = DiscordTransport(settings, cursor=services.cursors, guild_ready_timeout=0.05, ready_timeout=10.0,
                                 interval=0.02)
    outbox = MessageOutbox(transport)
    app.attach(transport, outbox)
    await engine.start()
    try:
        await transport.start(app, outbox)
        await app.start()
        yield Dc(fake, services, transport)
    finally:
        await transport.stop()
        await app.stop()
        await engine.stop()
        await services.router.close()


@pytest.fixture
async def dc(home: OrchHome, store: SqliteStore, fake_discord: FakeDiscord) -> AsyncIterator[Dc]:
    async with served(home, store, fake_discord, fast_config(idle_timeout_seconds=30, prompt_idle_seconds=0.3)) \
            as chat:
        yield chat


# buttons
async def test_stop_cancels_a_running_task_and_a_strangers_press_changes_nothing(dc: Dc) -> None:
    thread = await dc.new_task("loop", "echo started; while [ ! -f go ]; do sleep 0.05; done; echo going; "
                                       "while true; do sleep 0.1; done")
    output = await dc.message(thread, lambda m: "started" in decoded(m))
    assert output.buttons() == {"Stop": "/task cancel 1"}
    task = await dc.services.tasks.get(1)
    assert task.worktree is not None
    (Path(task.worktree) / "go").touch()
    await dc.fake.wait_for(lambda: decoded(output) == "started\ngoing", WAIT)
    [edit] = [r.body for r in dc.fake.requests if r.method == "PATCH" and r.path.endswith(output.id)]
    assert edit["components"] == output.components and output.buttons() == {"Stop": "/task cancel 1"}, \
        "the output grew by an edit, which kept its button"

    refusal = await dc.press(output, "Stop", user=STRANGER)
    assert content(refusal).startswith(f"{NOT_ALLOWED}\nuser id {STRANGER}, ")
    assert refusal["data"]["flags"] == EPHEMERAL  # type: ignore[index]
    assert (await dc.services.tasks.get(1)).status is TaskStatus.IN_PROGRESS

    assert content(await dc.press(output, "Stop")) == "task 1 cancelled"
    ended = await dc.message(thread, lambda m: decoded(m) == "task 1 cancelled" and bool(m.components))
    assert ended.buttons() == {"Retry": "/task retry 1"}
    assert (await dc.services.tasks.get(1)).status is TaskStatus.CANCELLED


async def test_reply_opens_a_modal_and_its_text_is_the_follow_up(dc: Dc) -> None:
    thread = await dc.new_task("write", "echo one > one.txt; echo wrote one")
    done = await dc.message(thread, lambda m: decoded(m).startswith("task 1 done") and bool(m.components))
    assert list(done.buttons()) == ["Diff", "Retry", "Reply", "Merge", "PR"]
    assert "+one" in content(await dc.press(done, "Diff"))

    assert (await dc.press(done, "Reply"))["type"] == MODAL
    [modal] = dc.fake.modals
    assert modal["custom_id"] == "?/task reply 1" and modal["title"] == "/task reply 1"
    submitted = await dc.fake.submit_modal(USER, thread, modal, "echo two; echo wrote two")
    [answer] = await dc.fake.wait_for(lambda: dc.fake.callbacks_for(submitted), WAIT)
    assert content(answer) == "task 1 runs again with your follow-up"
    await dc.message(thread, lambda m: decoded(m).startswith("task 1 done") and m.id != done.id)
    assert any("wrote two" in decoded(m) for m in dc.fake.channel_messages(thread))


# follow-ups by message
async def test_a_message_in_a_tasks_thread_is_a_follow_up(dc: Dc) -> None:
    thread = await dc.new_task("first", "echo first")
    done = await dc.text(thread, "task 1 done")
    await dc.fake.post(USER, thread, "echo second")
    await dc.text(thread, "task 1 runs again with your follow-up")
    await dc.message(thread, lambda m: decoded(m).startswith("task 1 done") and m.id != done.id)
    output = [line for m in dc.fake.channel_messages(thread) if m.content.startswith("```")
              for line in decoded(m).split("\n")]
    assert output == ["first", "second"]
    # A stranger's message there is refused once, and runs nothing; chatter elsewhere is left alone.
    before = len(dc.fake.channel_messages(thread))
    await dc.fake.post(STRANGER, thread, "echo intruder")
    await dc.text(thread, f"{NOT_ALLOWED}\nuser id {STRANGER}, channel id {thread}: ")
    await dc.fake.post(STRANGER, thread, "echo again")
    await dc.fake.post(USER, CHANNEL, "hello everyone")
    await dc.fake.post(USER, thread, "echo third")
    await dc.text(thread, "third")
    shown = [decoded(m) for m in dc.fake.channel_messages(thread)[before:]]
    assert sum(text.startswith(NOT_ALLOWED) for text in shown) == 1 and not any("intruder" in text for text in shown)
    assert [decoded(m) for m in dc.fake.channel_messages(CHANNEL)] == ["task 1 created: first (new, project scratch)"]


async def test_a_reply_to_a_tasks_message_is_a_follow_up(dc: Dc) -> None:
    dc.fake.threads_allowed = False  # the output stays in the channel
    await dc.fake.invoke_slash(USER, CHANNEL, "task", "new", options={"title": "here", "agent": "shell",
                                                                      "body": "echo here"})
    created = await dc.text(CHANNEL, "task 1 created: here (new, project scratch)")
    done = await dc.text(CHANNEL, "task 1 done")
    await dc.fake.post(USER, CHANNEL, "echo replied", reply_to=created.id)
    await dc.text(CHANNEL, "task 1 runs again with your follow-up")
    await dc.message(CHANNEL, lambda m: decoded(m).startswith("task 1 done") and m.id != done.id)
    assert any(decoded(m) == "replied" for m in dc.fake.channel_messages(CHANNEL))


# questions
async def test_a_prompt_mentions_its_creator_and_the_answer_button_opens_a_modal(dc: Dc) -> None:
    thread = await dc.new_task("deploy", "printf 'Deploy to production? [y/N] '; read answer; "
                                         "echo \"answered: $answer\"")
    question = await dc.text(thread, "waits at a prompt: Deploy to production? [y/N]")
    assert question.content.startswith(f"<@{USER}> task 1 waits at a prompt")
    assert question.allowed_mentions == {"parse": [], "users": [USER]}, "it pings the creator, nobody else"
    assert question.buttons() == {"Answer": "?/answer 1"}
    assert (await dc.press(question, "Answer"))["type"] == MODAL
    submitted = await dc.fake.submit_modal(USER, thread, dc.fake.modals[-1], "yes")
    [answer] = await dc.fake.wait_for(lambda: dc.fake.callbacks_for(submitted), WAIT)
    assert content(answer) == "task 1: answered 'yes'"
    await dc.text(thread, "task 1 done")
    assert any("answered: yes" in decoded(m) for m in dc.fake.channel_messages(thread))


@pytest.mark.parametrize("decision", ["Allow", "Deny"])
async def test_an_approval_is_decided_with_its_buttons(dc: Dc, decision: str) -> None:
    thread = await dc.new_task("guarded", "echo running; while true; do sleep 0.1; done")
    await dc.text(thread, "running")
    asking = asyncio.create_task(dc.services.conversation.ask_approval(
        1, "Bash", {"command": "rm -rf build"}, "shell wants to run: $ rm -rf build", timeout=WAIT))
    request = await dc.text(thread, "asks approval 1")
    assert list(request.buttons()) == ["Allow", "Allow for this task", "Deny"]
    assert content(await dc.press(request, decision, user=STRANGER)).startswith(NOT_ALLOWED) and not asking.done()
    await dc.press(request, decision)
    allowed, why = await asyncio.wait_for(asking, WAIT)
    assert allowed is (decision == "Allow")
    assert why == (f"discord:{USER} allowed it" if allowed else f"discord:{USER} denied Bash in the chat")
    await dc.services.tasks.cancel(1)
    await dc.text(thread, "task 1 cancelled")  # all it had to say has been said


async def test_a_questions_options_are_buttons(dc: Dc, store: SqliteStore) -> None:
    thread = await dc.new_task("choose", "echo thinking; while true; do sleep 0.1; done")
    await dc.text(thread, "thinking")
    await store.add_question(1, "question", "Which database?", ("sqlite", "postgres"))
    asked = await dc.text(thread, "asks: Which database?")
    assert asked.buttons() == {"sqlite": "/answer 1 #1", "postgres": "/answer 1 #2", "Answer": "?/answer 1"}
    assert content(await dc.press(asked, "postgres")) == "task 1: answered 'postgres'"
    [question] = await store.list_questions(1)
    assert (question.answer, question.answered_by) == ("postgres", f"discord:{USER}")
    await dc.services.tasks.cancel(1)
    await dc.text(thread, "task 1 cancelled")  # all it had to say has been said


async def test_a_command_longer_than_a_custom_id_travels_as_a_code(dc: Dc) -> None:
    long_command = "/task show " + "1" * 100
    message_id = await dc.transport.send(CHANNEL, "a long one", buttons=(Button("Show", long_command),))
    sent = dc.fake.messages[message_id]
    [code] = sent.buttons().values()
    assert code.startswith("#") and len(code) <= 100
    assert content(await dc.press(sent, "Show")) == f"task {'1' * 100} not found"
    sent.components[0]["components"][0]["custom_id"] = "#forgotten"
    assert content(await dc.press(sent, "Show")) == EXPIRED


# intents
async def test_without_the_message_content_intent_everything_but_thread_messages_works(
        home: OrchHome, store: SqliteStore, fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    fake_discord.message_content_allowed = False
    async with served(home, store, fake_discord, fast_config()) as dc:
        assert [bool(intents & MESSAGE_CONTENT_INTENT) for intents in fake_discord.intents] == [True, False]
        thread = await dc.new_task("still works", "echo fine")
        await dc.text(thread, "task 1 done")
    assert "enable the Message Content intent" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
