"""orch serving Telegram for tests of a task's conversation: the real engine, BotApp and transport against the
fake Bot API, and a person's view of the chats (type, press, wait for a message)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orch.bot.app import BotApp
from orch.bot.message_outbox import MessageOutbox
from orch.core.config import Config, TelegramTransportConfig
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus
from orch.transports.telegram.transport import TelegramTransport

from tests.conftest import wait_until
from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram, Message

CHAT = 1001  # a private chat on the allow-list
USER = 2002  # on the allow-list by user id, wherever they write
GROUP = -5005  # not on the allow-list: only USER may use orch there
FORUM = -100777  # a forum supergroup, not on the allow-list either
STRANGER = 6666
WAIT = 30.0


@dataclass
class Tg:
    """The fake Telegram, with orch serving it, and a person's view of its chats."""

    fake: FakeTelegram
    services: Services
    transport: TelegramTransport
    app: BotApp

    async def say(self, text: str, *, chat: int = CHAT, user: int = USER, reply_to: int | None = None,
                  thread_id: int | None = None, forum: bool = False) -> int:
        """Type `text` (as a reply, in a forum topic, in a forum); the id of the message it makes."""
        update = await self.fake.push_message(chat, user, text, reply_to=reply_to, thread_id=thread_id, forum=forum)
        return self.fake.message_id_of(update)

    async def message(self, match: Callable[[Message], bool], *, chat: int = CHAT, thread: int | None = None,
                      within: float = WAIT) -> Message:
        """The latest message of the chat that matches, once there is one."""
        def found() -> Message | None:
            return next((m for m in reversed(self.fake.messages(chat, thread=thread)) if match(m)), None)

        await self.fake.wait_for(lambda: found() is not None, within)
        message = found()
        assert message is not None
        return message

    async def text(self, part: str, **where: int | None) -> Message:
        return await self.message(lambda m: part in m.text, **where)

    async def press(self, message: Message, label: str, *, user: int = USER) -> str:
        """Press a button under `message`; the toast the press was answered with."""
        query = await self.fake.press(message.chat_id, user, message.message_id, label)
        await self.fake.wait_for(lambda: query in self.fake.answers, WAIT)
        return self.fake.answers[query] or ""

    async def status(self, task_id: int, *statuses: TaskStatus) -> None:
        async def reached() -> bool:
            return (await self.services.tasks.get(task_id)).status in statuses

        await wait_until(reached, WAIT, f"task {task_id} to be {' or '.join(statuses)}")


def labels(message: Message) -> list[str]:
    return list(message.buttons())


class Served:
    """orch serve's parts for Telegram: the engine, BotApp, the transport and its outbox."""

    def __init__(self, home: OrchHome, store: SqliteStore, fake: FakeTelegram, config: Config) -> None:
        hub = EventHub()
        self.services = Services(home, store, config=config, hub=hub)
        self.engine = self.services.engine(poll_interval=0.1)
        self.app = BotApp(self.services, self.engine, hub)
        settings = TelegramTransportConfig(enabled=True, token=TELEGRAM_TOKEN, base_url=fake.base_url,
                                           allowed_chat_ids=[CHAT], allowed_user_ids=[USER])
        self.transport = TelegramTransport(settings, self.services.cursors, poll_timeout=10.0, request_timeout=5.0,
                                           interval=0.02, group_interval=0.05)
        self.outbox = MessageOutbox(self.transport)
        self.app.attach(self.transport, self.outbox)
        self.fake = fake

    async def __aenter__(self) -> Tg:
        await self.engine.start()
        await self.transport.start(self.app, self.outbox)
        await self.app.start()
        return Tg(self.fake, self.services, self.transport, self.app)

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.stop()
        await self.app.stop()
        await self.engine.stop()
        await self.services.router.close()
