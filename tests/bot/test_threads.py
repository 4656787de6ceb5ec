"""Plain messages as follow-ups, through the real BotApp over real SQLite: which task a message continues (a reply
to one of its messages, a message in its own thread), which command it stands for, and the allow-list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from orch.bot.app import BotApp
from orch.bot.chat import ChatRef, Reply
from orch.bot.message_outbox import MessageOutbox
from orch.bot.refusals import refusal_text
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.bot.test_dispatch import AllowListPort, EngineLines
from tests.helpers import fast_config

CHAT = ChatRef("fake", "1", "7")
THREAD = ChatRef("fake", "1:55", "7")  # a place made for one task
STRANGER = ChatRef("fake", "666", "9")


class ThreadedPort(AllowListPort):
    """The strict fake chat, whose "CHAT:THREAD" chat ids are places inside an allowed chat."""

    def is_allowed(self, chat: ChatRef) -> bool:
        return chat.chat_id.split(":")[0] == self.allowed_chat


@dataclass
class Bot:
    app: BotApp
    services: Services
    store: SqliteStore
    port: ThreadedPort
    outbox: MessageOutbox


@pytest.fixture
async def bot(home: OrchHome, store: SqliteStore) -> AsyncIterator[Bot]:
    hub = EventHub()
    services = Services(home, store, config=fast_config(), hub=hub)
    app = BotApp(services, EngineLines(), hub)
    port = ThreadedPort(CHAT.chat_id)
    outbox = MessageOutbox(port)
    app.attach(port, outbox)
    await app.start()
    yield Bot(app, services, store, port, outbox)
    await app.stop()


async def test_a_reply_to_a_message_the_outbox_sent_about_a_task_is_its_follow_up(bot: Bot) -> None:
    task = await bot.services.tasks.create("talk", "true", agent="shell")
    await bot.outbox.reply(CHAT.chat_id, Reply("task 1 created: talk (new)", task_id=task.id))
    await bot.outbox.reply(CHAT.chat_id, Reply("not about a task"))
    sent_about, sent_otherwise = bot.port.ok_calls()

    assert await bot.app.handle_message(CHAT, "hello", reply_to=sent_otherwise.message_id) is None
    assert await bot.app.handle_message(CHAT, "hello") is None
    assert await bot.app.handle_message(CHAT, "echo more", reply_to=sent_about.message_id) == [
        Reply("follow-up queued for task 1 (0 ahead)", task_id=1)]
    [followup] = await bot.store.pending_followups(task.id)
    assert (followup.text, followup.source) == ("echo more", "fake:7")


async def test_a_message_in_a_tasks_own_thread_is_its_follow_up_and_the_creator_is_addressed_there(
        bot: Bot) -> None:
    task = await bot.services.tasks.create("threaded", "true", agent="shell")
    await bot.app.task_thread(THREAD, task.id)
    assert await bot.app.handle_message(THREAD, "echo in the thread") == [
        Reply("follow-up queued for task 1 (0 ahead)", task_id=1)]
    # Another chat's message with the same id is about nothing.
    assert await bot.app.handle_message(ChatRef("fake", "1:56", "7"), "echo elsewhere") is None


async def test_a_plain_message_to_a_waiting_task_answers_its_question(bot: Bot) -> None:
    task = await bot.services.tasks.create("asks", "true", agent="shell")
    await bot.app.task_thread(THREAD, task.id)
    await bot.store.add_question(task.id, "question", "Which one?", ("left", "right"))
    await bot.store.transition(task.id, TaskStatus.WAITING)
    assert await bot.app.handle_message(THREAD, "#2") == [Reply("task 1: answered 'right'", task_id=1)]
    [question] = await bot.store.list_questions(task.id)
    assert (question.answer, question.answered_by) == ("right", "fake:7")


async def test_a_strangers_follow_up_is_refused_and_changes_nothing(bot: Bot) -> None:
    task = await bot.services.tasks.create("private", "true", agent="shell")
    stranger_thread = ChatRef("fake", STRANGER.chat_id, STRANGER.user_id)
    await bot.app.task_thread(stranger_thread, task.id)
    refused = await bot.app.handle_message(stranger_thread, "echo steal")
    assert refused == [Reply(refusal_text(bot.port.allow_hint(stranger_thread)))]
    assert await bot.store.pending_followups() == []
