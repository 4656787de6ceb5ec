"""The Telegram transport: the real python-telegram-bot against a fake Bot API server, with a real BotApp."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest
from orch.bot import format as fmt
from orch.bot.app import NOT_ALLOWED, BotApp
from orch.bot.chat import ChatRef, RateLimited, Reply, Unavailable
from orch.bot.commands import top_level_commands
from orch.bot.message_outbox import MessageOutbox
from orch.bot.split import Fits, split_text
from orch.core.config import Config, TelegramTransportConfig
from orch.core.errors import ConfigError
from orch.core.events import EventHub, OutputChunk, TaskChanged
from orch.core.home import OrchHome
from orch.core.running.engine import Engine
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Chunk, TaskStatus
from orch.transports.telegram.render import MAX_MESSAGE_LENGTH, rendered_length
from orch.transports.telegram.transport import TelegramTransport
from telegram.error import NetworkError

from tests.fakes.telegram_api import (
    MAX_CAPTION,
    TELEGRAM_TOKEN,
    Blocked,
    Document,
    FakeTelegram,
    Pass,
    RateLimit,
    ServerError,
    Slow,
    utf16_len,
)
from tests.helpers import fast_config

CHAT = 1001  # on the allow-list by chat id
USER = 2002  # on the allow-list by user id
STRANGER = 6666
WAIT = 15.0


class StubStatus:
    """The engine's status lines, for command tests that run no agents."""

    def status_lines(self) -> list[str]:
        return ["engine: stub"]


@dataclass
class Orch:
    home: OrchHome
    store: SqliteStore
    hub: EventHub
    services: Services
    app: BotApp
    outbox: MessageOutbox | None = None  # the last transport's, which the bot and the transport share


@pytest.fixture
async def orch(home: OrchHome, store: SqliteStore) -> AsyncIterator[Orch]:
    hub = EventHub()
    services = Services(home, store, config=Config(), hub=hub)
    app = BotApp(services, StubStatus(), hub)
    yield Orch(home, store, hub, services, app)
    await app.stop()


def outbox(orch: Orch) -> MessageOutbox:
    assert orch.outbox is not None, "make_transport first"
    return orch.outbox


def make_transport(fake: FakeTelegram, orch: Orch, **overrides: Any) -> TelegramTransport:
    settings: dict[str, Any] = {"allowed_chat_ids": [CHAT], "allowed_user_ids": [USER]}
    settings.update({key: overrides.pop(key) for key in list(overrides) if key in settings})
    config = TelegramTransportConfig(enabled=True, token=TELEGRAM_TOKEN, base_url=fake.base_url, **settings)
    options: dict[str, Any] = {"poll_timeout": 10.0, "request_timeout": 2.0, "retry_delays": (0.05, 0.1, 0.2),
                               "interval": 0.05, "group_interval": 0.2}
    options.update(overrides)
    transport = TelegramTransport(config, orch.services.cursors, **options)
    orch.outbox = MessageOutbox(transport)
    orch.app.attach(transport, orch.outbox)
    return transport


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram, orch: Orch) -> AsyncIterator[TelegramTransport]:
    transport = make_transport(fake_telegram, orch)
    await transport.start(orch.app, outbox(orch))
    yield transport
    await transport.stop()


async def ask(fake: FakeTelegram, text: str, *, chat: int = CHAT, user: int = USER, replies: int = 1) -> list[str]:
    """Type `text` in a chat; the texts of the `replies` messages the bot sends back."""
    before = len(fake.texts(chat))
    await fake.push_message(chat, user, text)
    await fake.wait_for(lambda: len(fake.texts(chat)) >= before + replies, WAIT)
    return fake.texts(chat)[before:]


async def handled(fake: FakeTelegram, update_id: int) -> None:
    """Wait until the transport acknowledged an update (it does so only after handling it)."""
    await fake.wait_for(lambda: fake.confirmed_offset > update_id, WAIT)


def output_lines(fake: FakeTelegram, chat_id: int) -> list[str]:
    """Every line of task output the chat shows: the outbox sends output preformatted, replies and notices not."""
    messages = [message for _, message in sorted(fake.chats.get(chat_id, {}).items())]
    return [line for message in messages if message.raw.startswith("<pre>") for line in message.text.split("\n")]


async def publish_output(orch: Orch, task_id: int, batches: list[list[str]]) -> None:
    """What the engine does with a task's output: store each chunk, then publish it."""
    seq = await orch.store.last_seq(task_id)
    for lines in batches:
        seq += 1
        chunk = Chunk(task_id, seq, "\n".join(lines), time.time())
        await orch.store.append_chunks([chunk])
        orch.hub.publish(OutputChunk(chunk))


async def finish(orch: Orch, task_id: int) -> None:
    task = await orch.store.transition(task_id, TaskStatus.DONE)
    assert task is not None
    orch.hub.publish(TaskChanged(task, TaskStatus.IN_PROGRESS))


# commands
async def test_task_new_from_allowed_chat_creates_the_task_and_its_output_arrives_complete(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    [reply] = await ask(fake_telegram, "/task new count things agent:shell\nseq 1 3\necho done")
    assert reply == "task 1 created: count things (new, project scratch)"
    [task] = await orch.store.list_tasks()
    assert (task.title, task.body, task.labels) == ("count things", "seq 1 3\necho done", ("agent:shell",))

    printed = [[f"line {n}" for n in range(start, start + 40)] for start in range(1, 400, 40)]
    printed.append(["<b>not bold</b> & a tab\tend", "ünïcødé 🚀 fin"])
    await publish_output(orch, task.id, printed)
    await finish(orch, task.id)
    await fake_telegram.wait_for(lambda: "task 1 done" in "\n".join(fake_telegram.texts(CHAT)), WAIT)

    texts = fake_telegram.texts(CHAT)
    assert output_lines(fake_telegram, CHAT) == [line for batch in printed for line in batch]
    assert texts[-1] == "task 1 done"
    assert all(call.status == 200 for call in fake_telegram.calls)


async def test_long_output_in_a_429_storm_arrives_complete_in_messages_within_the_limit(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    [reply] = await ask(fake_telegram, "/task new a lot of output")
    assert reply == "task 1 created: a lot of output (new, project scratch)"
    printed = [[f"{n:04} 🚀 <tag> & {'é' * (n % 50)}" for n in range(start, start + 50)] for start in range(0, 200, 50)]
    printed.append(["x" * 5000 + "🚀" * 10])  # longer than a whole message: the one line that is cut
    fake_telegram.fail(RateLimit(0.1), RateLimit(0.1), Pass(), RateLimit(0.1), RateLimit(0.1))
    await publish_output(orch, 1, printed)
    await finish(orch, 1)
    await fake_telegram.wait_for(lambda: fake_telegram.texts(CHAT)[-1:] == ["task 1 done"], 30.0)

    assert fake_telegram.pending_faults == 0
    statuses = [call.status for call in fake_telegram.calls if call.method in ("sendMessage", "editMessageText")]
    assert statuses.count(429) == 4 and set(statuses) == {200, 429}
    assert all(utf16_len(call.params["text"]) <= MAX_MESSAGE_LENGTH for call in fake_telegram.calls
               if call.method in ("sendMessage", "editMessageText"))
    lines = output_lines(fake_telegram, CHAT)
    cut = [index for index, line in enumerate(lines) if line.startswith("x")]
    assert len(cut) == 2 and cut[1] == cut[0] + 1  # the long line, in two messages
    lines[cut[0]:cut[1] + 1] = [lines[cut[0]] + lines[cut[1]]]
    assert lines == [line for batch in printed for line in batch]


async def test_refused_chat_gets_one_refusal_and_nothing_is_created(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    [reply] = await ask(fake_telegram, "/task new steal the repo", chat=STRANGER, user=STRANGER)
    # The owner of a new bot learns their ids, and where they go, by messaging it.
    assert reply == (f"{NOT_ALLOWED}\nchat id {STRANGER}, user id {STRANGER}: to allow it, add the chat id to "
                     "transports.telegram.allowed_chat_ids or the user id to transports.telegram.allowed_user_ids "
                     "in orch's config.yml and restart orch serve")
    await handled(fake_telegram, await fake_telegram.push_message(STRANGER, STRANGER, "/start"))
    await handled(fake_telegram, await fake_telegram.push_message(STRANGER, STRANGER, "/help"))
    assert fake_telegram.texts(STRANGER) == [reply]  # once: a stranger cannot make the bot spam
    assert await orch.store.list_tasks() == []
    assert await orch.store.list_follows() == []


async def test_a_user_on_the_allow_list_may_use_the_bot_in_any_chat(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    group = -5005
    [reply] = await ask(fake_telegram, "/task new from the group", chat=group, user=USER)
    assert reply == "task 1 created: from the group (new, project scratch)"
    [reply] = await ask(fake_telegram, "/task new intruder", chat=group, user=STRANGER)
    assert reply.startswith(f"{NOT_ALLOWED}\nchat id {group}, user id {STRANGER}: ")
    assert [task.title for task in await orch.store.list_tasks()] == ["from the group"]


async def test_empty_allow_lists_allow_nobody(fake_telegram: FakeTelegram, orch: Orch) -> None:
    transport = make_transport(fake_telegram, orch, allowed_chat_ids=[], allowed_user_ids=[])
    await transport.start(orch.app, outbox(orch))
    try:
        [reply] = await ask(fake_telegram, "/help")
        assert reply.startswith(f"{NOT_ALLOWED}\nchat id {CHAT}, user id {USER}: ")
        assert not transport.is_allowed(ChatRef("telegram", str(CHAT), str(USER)))
    finally:
        await transport.stop()


async def test_a_missing_or_rejected_token_is_a_config_error(fake_telegram: FakeTelegram, orch: Orch) -> None:
    with pytest.raises(ConfigError, match=r"transports\.telegram\.token: empty"):
        TelegramTransport(TelegramTransportConfig(enabled=True), orch.services.cursors)
    config = TelegramTransportConfig(enabled=True, token="999:wrong", base_url=fake_telegram.base_url)
    with pytest.raises(ConfigError, match="does not accept this token"):
        transport = TelegramTransport(config, orch.services.cursors)
        await transport.start(orch.app, MessageOutbox(transport))


async def test_start_help_unknown_commands_and_plain_text(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    [start] = await ask(fake_telegram, "/start")
    [help_] = await ask(fake_telegram, "/help@orch_test_bot")
    assert start == help_
    assert "/task new TITLE" in help_ and "/stream ID" in help_
    assert await ask(fake_telegram, "/frobnicate") == ["unknown command /frobnicate — try /help"]
    assert await ask(fake_telegram, "hello bot@example.com") == ["commands start with / — try /help"]
    assert await ask(fake_telegram, "/task show 42") == ["task 42 not found"]
    # In a group, chatter and commands meant for another bot are none of our business.
    group = -5005
    await handled(fake_telegram, await fake_telegram.push_message(group, USER, "hello everyone"))
    await handled(fake_telegram, await fake_telegram.push_message(group, USER, "/help@other_bot"))
    assert fake_telegram.texts(group) == []


async def test_task_list_and_task_show_are_preformatted_and_escaped(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    first = await orch.services.tasks.create("fix <b> & \"quotes\"", "body with <tags> & ampersands")
    await orch.services.tasks.create("second task", labels=["agent:shell"])
    tasks = await orch.store.list_tasks()

    [listing] = await ask(fake_telegram, "/task list")
    assert listing == fmt.task_table(tasks)
    raw = fake_telegram.calls_to("sendMessage")[-1].params["text"]
    assert raw.startswith("<pre>") and raw.endswith("</pre>")
    assert "fix &lt;b&gt; &amp; \"quotes\"" in raw

    [shown] = await ask(fake_telegram, f"/task show {first.id}")
    assert shown == fmt.task_details(first, [])
    assert await ask(fake_telegram, "/task list done") == ["no tasks"]


async def test_set_my_commands_publishes_every_top_level_command(
    fake_telegram: FakeTelegram, telegram: TelegramTransport
) -> None:
    [call] = fake_telegram.calls_to("setMyCommands")
    assert call.params["commands"] == [{"command": name, "description": help_} for name, help_ in
                                       top_level_commands()]
    assert fake_telegram.calls_to("deleteWebhook")


# restart
async def test_restart_loses_no_command_and_runs_none_twice(
    fake_telegram: FakeTelegram, orch: Orch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # t3 is held inside the bot until released, so the transport can be stopped while handling it.
    entered, release = asyncio.Event(), asyncio.Event()
    handle_text = orch.app.handle_text

    async def gated(chat: ChatRef, text: str) -> list[Reply]:
        if text == "/task new t3":
            entered.set()
            await release.wait()
        return await handle_text(chat, text)

    monkeypatch.setattr(orch.app, "handle_text", gated)
    first = make_transport(fake_telegram, orch)
    await first.start(orch.app, outbox(orch))
    for n in range(1, 6):
        await fake_telegram.push_message(CHAT, USER, f"/task new t{n}")
    await asyncio.wait_for(entered.wait(), WAIT)
    stopping = asyncio.create_task(first.stop())
    await asyncio.sleep(0)  # let stop() begin; it must still let t3 finish, and then handle nothing more
    release.set()
    await asyncio.wait_for(stopping, WAIT)
    assert [task.title for task in await orch.store.list_tasks()] == ["t1", "t2", "t3"]

    second = make_transport(fake_telegram, orch)
    await second.start(orch.app, outbox(orch))
    try:
        await fake_telegram.wait_for(lambda: len(fake_telegram.texts(CHAT)) >= 5, WAIT)
        await handled(fake_telegram, 5)
    finally:
        await second.stop()
    assert [task.title for task in await orch.store.list_tasks()] == ["t1", "t2", "t3", "t4", "t5"]
    assert fake_telegram.texts(CHAT) == [f"task {n} created: t{n} (new, project scratch)" for n in range(1, 6)]


async def test_a_stop_during_the_long_poll_acknowledges_nothing_new(fake_telegram: FakeTelegram, orch: Orch) -> None:
    transport = make_transport(fake_telegram, orch)
    await transport.start(orch.app, outbox(orch))
    await ask(fake_telegram, "/task new one")
    await handled(fake_telegram, 1)  # the transport is in its next long poll
    await transport.stop()
    assert await orch.store.kv_get("telegram.7123456789.update_offset") == "2"

    again = make_transport(fake_telegram, orch)
    await again.start(orch.app, outbox(orch))
    try:
        [reply] = await ask(fake_telegram, "/task new two")
    finally:
        await again.stop()
    assert reply == "task 2 created: two (new, project scratch)"
    assert [task.title for task in await orch.store.list_tasks()] == ["one", "two"]


async def test_a_command_that_fails_is_logged_and_not_retried(
    fake_telegram: FakeTelegram, orch: Orch, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(chat: ChatRef, text: str) -> list[Reply]:
        raise RuntimeError(f"cannot handle {text}")

    monkeypatch.setattr(orch.app, "handle_text", failing)
    transport = make_transport(fake_telegram, orch)
    await transport.start(orch.app, outbox(orch))
    try:
        await handled(fake_telegram, await fake_telegram.push_message(CHAT, USER, "/status"))
    finally:
        await transport.stop()
    assert "handling an update failed" in caplog.text and "cannot handle /status" in caplog.text
    assert await orch.store.kv_get("telegram.7123456789.update_offset") == "2"


async def test_polling_goes_on_after_getupdates_fails(fake_telegram: FakeTelegram, orch: Orch) -> None:
    fake_telegram.fail(ServerError(502), methods=("getUpdates",))
    transport = make_transport(fake_telegram, orch)
    await transport.start(orch.app, outbox(orch))
    try:
        assert await ask(fake_telegram, "/task new after the outage") == [
            "task 1 created: after the outage (new, project scratch)"]
    finally:
        await transport.stop()
    assert [call.status for call in fake_telegram.calls_to("getUpdates")][:2] == [502, 200]


# sending
async def test_long_text_is_split_at_lines_within_4096_utf16_units(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    lines = [f"{n:04} 🚀 <&> " + "x" * (n % 70) for n in range(400)]
    lines.insert(200, "é🚀&" * 2000)  # one line longer than a whole message: it alone is cut
    text = "\n".join(lines)

    await outbox(orch).reply(str(CHAT), Reply(text, preformatted=True))

    calls = fake_telegram.calls_to("sendMessage")
    assert len(calls) > 2 and all(call.status == 200 for call in calls)
    assert all(utf16_len(call.params["text"]) <= MAX_MESSAGE_LENGTH for call in calls)
    pieces = fake_telegram.texts(CHAT)
    # Joined at line breaks, they are the text again once the breaks cut into the long line are removed.
    assert re.sub(r"(?<=[é🚀&])\n(?=[é🚀&])", "", "\n".join(pieces)) == text
    assert sum("é🚀&" in piece for piece in pieces) == 4


def test_split_counts_escaping_and_utf16_units() -> None:
    def within(limit: int, preformatted: bool) -> Fits:
        return lambda text: rendered_length(text, preformatted) <= limit

    assert split_text("a\nb", within(MAX_MESSAGE_LENGTH, True)) == ["a\nb"]
    pieces = split_text("&" * 1000, within(100, False))
    assert all(len(piece) * 5 <= 100 for piece in pieces) and "".join(pieces) == "&" * 1000
    emoji = split_text("🚀" * 100, within(51, True))
    assert all(utf16_len(piece) <= 40 for piece in emoji) and "".join(emoji) == "🚀" * 100


async def test_edit_replaces_the_text_and_an_unchanged_edit_is_fine(
    fake_telegram: FakeTelegram, telegram: TelegramTransport
) -> None:
    message_id = await telegram.send(str(CHAT), "first line", preformatted=True)
    await telegram.edit(str(CHAT), message_id, "first line\nsecond <line>", preformatted=True)
    await telegram.edit(str(CHAT), message_id, "first line\nsecond <line>", preformatted=True)
    assert fake_telegram.texts(CHAT) == ["first line\nsecond <line>"]
    assert [call.status for call in fake_telegram.calls_to("editMessageText")] == [200, 400]


async def test_a_file_arrives_with_its_name_content_and_a_caption_cut_to_fit(
    fake_telegram: FakeTelegram, telegram: TelegramTransport
) -> None:
    data = "diff --git a/x b/x\n+é 🚀\n".encode() + bytes(range(256))
    await telegram.send_file(str(CHAT), "task-1.diff", data, "task 1 <diff> & " + "x" * 2000)
    [message] = fake_telegram.documents(CHAT)
    assert message.document == Document("task-1.diff", data)
    assert message.text.startswith("task 1 <diff> & xxx") and message.text.endswith("…")
    assert utf16_len(message.raw) <= MAX_CAPTION


async def test_flood_answer_becomes_rate_limited(fake_telegram: FakeTelegram, telegram: TelegramTransport) -> None:
    fake_telegram.fail(RateLimit(7))
    with pytest.raises(RateLimited) as raised:
        await telegram.send(str(CHAT), "hello")
    assert raised.value.retry_after == 7
    assert fake_telegram.texts(CHAT) == []
    message_id = await telegram.send(str(CHAT), "hello")
    fake_telegram.fail(RateLimit(2.5))
    with pytest.raises(RateLimited) as raised:
        await telegram.edit(str(CHAT), message_id, "hello again")
    assert raised.value.retry_after == 2.5
    assert fake_telegram.texts(CHAT) == ["hello"]


async def test_a_429_storm_loses_no_reply_and_no_piece_of_a_long_text(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    fake_telegram.fail(*[RateLimit(0.02)] * 12)
    for n in range(1, 4):
        await fake_telegram.push_message(CHAT, USER, f"/task new storm {n}")
    await fake_telegram.wait_for(lambda: len(fake_telegram.texts(CHAT)) == 3, WAIT)
    assert fake_telegram.texts(CHAT) == [f"task {n} created: storm {n} (new, project scratch)" for n in range(1, 4)]

    # Each piece of a long reply waits out its own flood answers: none is lost or sent twice.
    text = "\n".join(f"line {n:05}" for n in range(1500))
    await outbox(orch).reply(str(CHAT), Reply(text, preformatted=True))
    fake_telegram.fail(Pass(), *[RateLimit(0.02)] * 6)
    await outbox(orch).reply(str(CHAT), Reply(text, preformatted=True))
    pieces = fake_telegram.texts(CHAT)[3:]
    half = len(pieces) // 2
    assert "\n".join(pieces[:half]) == text and "\n".join(pieces[half:]) == text
    assert fake_telegram.pending_faults == 0


async def test_a_chat_that_blocked_the_bot_does_not_hold_up_the_others(
    fake_telegram: FakeTelegram, orch: Orch, telegram: TelegramTransport
) -> None:
    fake_telegram.fail(Blocked())
    await handled(fake_telegram, await fake_telegram.push_message(USER, USER, "/status"))
    # Refused for good: not retried (which would hold up every chat's commands), and the next one is answered.
    assert await ask(fake_telegram, "/task new after the block") == [
        "task 1 created: after the block (new, project scratch)"]
    assert [call.status for call in fake_telegram.calls_to("sendMessage")] == [403, 200]


async def test_server_errors_and_slow_answers_are_retried(fake_telegram: FakeTelegram, orch: Orch) -> None:
    transport = make_transport(fake_telegram, orch, request_timeout=0.3)
    await transport.start(orch.app, outbox(orch))
    try:
        fake_telegram.fail(ServerError(500), Slow(5.0), ServerError(502))
        message_id = await transport.send(str(CHAT), "made it")
        fake_telegram.fail(ServerError(503))
        await transport.edit(str(CHAT), message_id, "made it twice")
        fake_telegram.fail(*[ServerError(500)] * 4)
        # After its own few tries the transport tells the outbox that Telegram is unavailable: it keeps the text.
        with pytest.raises(Unavailable, match="Internal Server Error") as unavailable:
            await transport.send(str(CHAT), "gives up after the retries")
        assert isinstance(unavailable.value.__cause__, NetworkError)
    finally:
        await transport.stop()
    assert fake_telegram.texts(CHAT) == ["made it twice"]


async def test_groups_are_paced_slower_than_private_chats(fake_telegram: FakeTelegram, orch: Orch) -> None:
    # Telegram allows 20 messages a minute in a group: the transport says so, the outbox paces.
    transport = make_transport(fake_telegram, orch, group_interval=0.3)
    await transport.start(orch.app, outbox(orch))
    try:
        group = asyncio.gather(*(outbox(orch).reply("-5005", Reply(f"group {n}")) for n in range(3)))
        for n in range(3):
            await outbox(orch).reply(str(CHAT), Reply(f"private {n}"))
        await group
    finally:
        await transport.stop()
    assert transport.min_interval("-5005") == 0.3 and transport.min_interval(str(CHAT)) == 0.05
    assert fake_telegram.texts(-5005) == ["group 0", "group 1", "group 2"]
    sent = fake_telegram.calls_to("sendMessage")
    group_times = [call.at for call in sent if call.params["chat_id"] == "-5005"]
    private_times = [call.at for call in sent if call.params["chat_id"] == str(CHAT)]
    assert all(after - before >= 0.3 - 0.01 for before, after in pairwise(group_times))
    assert private_times[-1] < group_times[-1]  # the private chat was not held back by the group


async def test_the_token_never_reaches_the_logs(
    fake_telegram: FakeTelegram, orch: Orch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = make_transport(fake_telegram, orch)
    await transport.start(orch.app, outbox(orch))
    httpx_log = logging.getLogger("httpx")
    assert httpx_log.getEffectiveLevel() >= logging.WARNING
    httpx_log.setLevel(logging.DEBUG)  # as someone debugging a connection would
    try:
        fake_telegram.fail(ServerError(500), RateLimit(1))
        await ask(fake_telegram, "/task new logged")
        await fake_telegram.wait_for(lambda: fake_telegram.pending_faults == 0, WAIT)
    finally:
        httpx_log.setLevel(logging.WARNING)
        await transport.stop()
    assert "HTTP Request: POST" in caplog.text and "Set Bot API URL" in caplog.text
    assert TELEGRAM_TOKEN not in caplog.text
    assert TELEGRAM_TOKEN.split(":", 1)[1] not in caplog.text


# with the real engine
@pytest.fixture
async def engine(orch: Orch) -> AsyncIterator[Engine]:
    running = Services(orch.home, orch.store, config=fast_config(), hub=orch.hub).engine(poll_interval=0.1)
    orch.app.engine = running
    await running.start()
    yield running
    await running.stop()  # the `home` fixture ends this test's tmux server


async def test_a_shell_task_runs_and_its_output_reaches_the_chat_complete(
    fake_telegram: FakeTelegram, orch: Orch, engine: Engine, telegram: TelegramTransport
) -> None:
    [reply] = await ask(fake_telegram, "/task new count to 300 agent:shell\nfor i in $(seq 1 300); do "
                                       "echo \"line $i <&>\"; done")
    assert reply == "task 1 created: count to 300 (new, project scratch)"
    await fake_telegram.wait_for(lambda: any(text.startswith("task 1 done") for text in fake_telegram.texts(CHAT)),
                                 60.0)
    assert output_lines(fake_telegram, CHAT) == [f"line {n} <&>" for n in range(1, 301)]
    [status] = await ask(fake_telegram, "/status")
    assert "engine: 0 running" in status and "1 done" in status


async def test_task_diff_sends_the_patch_as_a_file_and_a_small_one_inline(
    fake_telegram: FakeTelegram, orch: Orch, engine: Engine, telegram: TelegramTransport
) -> None:
    body = "for i in $(seq 1 400); do echo \"line $i of a long file\"; done > long.txt; echo short > small.txt"
    await ask(fake_telegram, f"/task new write files agent:shell\n{body}")
    await fake_telegram.wait_for(lambda: any(text.startswith("task 1 done") for text in fake_telegram.texts(CHAT)),
                                 60.0)
    done = next(text for text in fake_telegram.texts(CHAT) if text.startswith("task 1 done"))
    assert "2 files +401 -0" in done
    stat, caption = await ask(fake_telegram, "/task diff 1", replies=2)
    assert stat.startswith("task 1: 2 files changed, +401 -0 (orch/1-write-files against ")
    assert caption == stat.split("\n")[0]
    assert "long.txt  | 400 +" in stat and "small.txt |   1 +" in stat
    [document] = fake_telegram.documents(CHAT)
    assert document.document is not None and document.document.filename == "task-1.diff"
    patch = document.document.content.decode()
    assert patch.startswith("diff --git a/long.txt b/long.txt") and "+line 400 of a long file" in patch
    assert "+short" in patch
    # A change that fits one message is shown in it, not sent as a file.
    await ask(fake_telegram, "/task new a little agent:shell\necho tiny > tiny.txt")
    await fake_telegram.wait_for(lambda: any(text.startswith("task 2 done") for text in fake_telegram.texts(CHAT)),
                                 60.0)
    [inline] = await ask(fake_telegram, "/task diff 2")
    assert inline.startswith("task 2: 1 file changed, +1 -0") and "+tiny" in inline
    assert len(fake_telegram.documents(CHAT)) == 1
