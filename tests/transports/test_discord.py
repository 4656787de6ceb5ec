"""The Discord transport: the real discord.py against tests/fakes/discord_api.py, with a real BotApp."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from orch.bot import format as fmt
from orch.bot.app import NOT_ALLOWED, BotApp
from orch.bot.chat import ChatRef, RateLimited, Reply, Undeliverable
from orch.bot.message_outbox import MessageOutbox
from orch.bot.split import split_text, utf16_length
from orch.core.config import DiscordTransportConfig
from orch.core.errors import ConfigError
from orch.core.events import EventHub, OutputChunk, TaskChanged
from orch.core.home import OrchHome
from orch.core.names import AGENT_NAMES, COMPLEXITIES
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Chunk, TaskStatus
from orch.core.tasks.service import TaskService
from orch.transports.discord.render import MAX_MESSAGE_LENGTH, fits, render
from orch.transports.discord.transport import DiscordTransport

from tests.fakes.discord_api import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DISCORD_TOKEN,
    GUILD_ID,
    Attachment,
    FakeDiscord,
    FakeMessage,
    decoded,
)
from tests.helpers import fast_config

ALLOWED = 950000000000000001
STRANGER = 950000000000000002
CHANNEL = "940000000000000001"


class FakeEngine:
    """The engine's status lines, for command tests that run no agents."""

    def status_lines(self) -> list[str]:
        return ["engine: idle"]


@dataclass
class Harness:
    fake: FakeDiscord
    store: SqliteStore
    hub: EventHub
    service: TaskService
    app: BotApp
    transport: DiscordTransport
    outbox: MessageOutbox

    async def publish_output(self, task_id: int, lines: Sequence[str], *, per_chunk: int = 7) -> None:
        """What the engine does with output: store the chunks first, then publish them."""
        seq = await self.store.last_seq(task_id)
        for start in range(0, len(lines), per_chunk):
            seq += 1
            chunk = Chunk(task_id, seq, "\n".join(lines[start:start + per_chunk]), time.time())
            await self.store.append_chunks([chunk])
            self.hub.publish(OutputChunk(chunk))

    async def finish(self, task_id: int) -> None:
        task = await self.service.get(task_id)
        done = await self.store.transition(task_id, TaskStatus.DONE, only_from=(task.status,))
        assert done is not None
        self.hub.publish(TaskChanged(done, task.status))


@pytest.fixture
def fake(fake_discord: FakeDiscord) -> FakeDiscord:
    return fake_discord


@asynccontextmanager
async def connected(home: OrchHome, store: SqliteStore, fake: FakeDiscord, *, engine: object | None = None,
                    defer_after: float = 2.0,
                    token: str = DISCORD_TOKEN) -> AsyncIterator[Harness]:
    """A BotApp with the Discord transport attached and started; the real engine unless `engine` is given."""
    hub = EventHub()
    config = fast_config()
    services = Services(home, store, config=config, hub=hub)
    real_engine = services.engine(poll_interval=0.1) if engine is None else None
    app = BotApp(services, real_engine or engine, hub)  # type: ignore[arg-type]
    transport = DiscordTransport(
        DiscordTransportConfig(enabled=True, token=token, allowed_user_ids=[ALLOWED], guild_ids=[int(GUILD_ID)],
                               api_base=fake.api_base),
        defer_after=defer_after, guild_ready_timeout=0.05, ready_timeout=10.0,
    )
    outbox = MessageOutbox(transport)
    app.attach(transport, outbox)
    try:
        if real_engine is not None:
            await real_engine.start()
        await transport.start(app, outbox)
        yield Harness(fake, store, hub, services.tasks, app, transport, outbox)
    finally:
        await transport.stop()
        await app.stop()
        if real_engine is not None:
            await real_engine.stop()


Connect = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture
def connect(home: OrchHome, store: SqliteStore, fake: FakeDiscord) -> Connect:
    return functools.partial(connected, home, store, fake)


def read_lines(messages: Sequence[FakeMessage]) -> list[str]:
    return [line for message in messages for line in decoded(message).split("\n")]


def option(command: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in command["options"] if item["name"] == name)


def reply_to(fake: FakeDiscord, interaction_id: str) -> list[dict[str, Any]]:
    return fake.callbacks_for(interaction_id)


async def test_commands_are_synced_from_the_declarations(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()):
        commands = {command["name"]: command for command in fake.synced[GUILD_ID]}
        assert set(commands) == {"task", "stream", "unstream", "say", "answer", "approve", "notify", "cost", "jobs",
                                 "status", "hosts", "help"}
        assert None not in fake.synced  # guild commands only: they are usable at once
        task = commands["task"]
        assert {sub["name"] for sub in task["options"]} == {"new", "list", "show", "route", "unblock", "retry",
                                                            "cancel", "reply", "diff", "review", "push", "pr", "merge"}
        new = option(task, "new")
        assert option(new, "title") == {**option(new, "title"), "type": 3, "required": True}
        assert [c["value"] for c in option(new, "agent")["choices"]] == list(AGENT_NAMES)
        assert [c["value"] for c in option(new, "complexity")["choices"]] == list(COMPLEXITIES)
        assert option(new, "parent")["type"] == 4
        assert option(new, "label")["type"] == 3 and "comma-separated" in option(new, "label")["description"]
        assert not option(new, "body").get("required")
        assert [c["value"] for c in option(option(task, "list"), "status")["choices"]] == [s.value for s in
                                                                                           TaskStatus]
        assert option(option(task, "show"), "id")["type"] == 4
        assert option(option(task, "unblock"), "id")["type"] == 3  # "all" is allowed
        assert [o["name"] for o in commands["say"]["options"]] == ["id", "text"]
        # Only api_base was configured: the gateway is the one GET gateway/bot announced.
        assert fake.gateway_paths == ["/gateway-announced"]


async def test_a_task_made_by_slash_command_streams_complete_into_its_thread(fake: FakeDiscord,
                                                                             connect: Connect) -> None:
    async with connect(engine=FakeEngine()) as h:
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "task", "new", options={
            "title": "count things", "agent": "shell", "label": "alpha, beta", "body": "seq 1 100"})
        thread_id = await fake.wait_for(lambda: next(iter(fake.threads), None))
        [callback] = reply_to(fake, interaction)
        assert callback["type"] == CHANNEL_MESSAGE
        assert decoded(fake.messages[fake.threads[thread_id]]) == "task 1 created: count things (new, project scratch)"
        task = await h.service.get(1)
        assert task.labels == ("alpha", "beta", "agent:shell") and task.body == "seq 1 100"

        lines = [f"line {n:03d} " + "x" * (n % 50) for n in range(1, 121)]
        lines[10] = "a ``` fence and `code` inside"
        lines[20] = "*stars* _under_ ~tilde~ <@123> @everyone"
        await h.publish_output(1, lines[:1])
        [first] = await fake.wait_for(lambda: fake.channel_messages(thread_id))
        await h.publish_output(1, lines[1:])
        await h.finish(1)

        def thread_done() -> bool:
            return any("task 1 done" in m.content for m in fake.channel_messages(thread_id))

        await fake.wait_for(thread_done)
        got = read_lines(fake.channel_messages(thread_id))
        assert got[:-1] == lines and got[-1] == "task 1 done"
        assert len(first.versions) > 1  # live output grows by edits of the message in place
        assert all(utf16_length(m.content) <= MAX_MESSAGE_LENGTH for m in fake.messages.values())
        sends = [r.body for r in fake.requests if r.method == "POST" and r.path.endswith(f"/{thread_id}/messages")]
        assert sends and all(body["allowed_mentions"]["parse"] == [] for body in sends)  # nobody gets pinged
        # The channel holds the reply only; the output went to the thread.
        assert [m.id for m in fake.channel_messages(CHANNEL)] == [fake.threads[thread_id]]


@pytest.mark.parametrize("where", ["a channel without threads", "a direct message"])
async def test_without_a_thread_output_stays_where_the_command_was_typed(fake: FakeDiscord, connect: Connect,
                                                                        where: str) -> None:
    fake.threads_allowed = False
    guild = None if where == "a direct message" else GUILD_ID
    async with connect(engine=FakeEngine()) as h:
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "task", "new", options={"title": "no threads here"},
                                              guild_id=guild)
        await fake.wait_for(lambda: reply_to(fake, interaction))
        await h.publish_output(1, ["only line"])
        await h.finish(1)
        await fake.wait_for(lambda: any("task 1 done" in m.content for m in fake.channel_messages(CHANNEL)))
        assert read_lines(fake.channel_messages(CHANNEL)) == [
            "task 1 created: no threads here (new, project scratch)", "only line", "task 1 done"]
        tried = any(r.path.endswith("/threads") for r in fake.requests)
        assert tried is (guild is not None)


async def test_a_slow_command_is_deferred_then_answered(fake: FakeDiscord, connect: Connect,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    gate = asyncio.Event()
    async with connect(engine=FakeEngine(), defer_after=0.05) as h:
        await h.service.create("route me", labels=["agent:shell", "complexity:simple"])
        handle_call = h.app.handle_call

        async def slow(chat: ChatRef, path: tuple[str, ...], args: dict[str, Any]) -> list[Reply]:
            await gate.wait()
            return await handle_call(chat, path, args)

        monkeypatch.setattr(h.app, "handle_call", slow)
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "task", "route", options={"id": 1})
        await fake.wait_for(lambda: reply_to(fake, interaction))
        assert [c["type"] for c in reply_to(fake, interaction)] == [DEFERRED_CHANNEL_MESSAGE]
        gate.set()
        [original] = fake.channel_messages(CHANNEL)
        await fake.wait_for(lambda: original.content)
        assert decoded(original) == "task 1 routed to shell (model -, complexity simple, by label): label agent:shell"
        assert len(reply_to(fake, interaction)) == 1


async def test_a_user_not_on_the_allow_list_is_refused_ephemerally(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()) as h:
        for path, options in ((("task", "new"), {"title": "sneaky"}), (("help",), {})):
            interaction = await fake.invoke_slash(STRANGER, CHANNEL, *path, options=options)
            [callback] = await fake.wait_for(lambda: reply_to(fake, interaction))  # noqa: B023
            assert callback["type"] == CHANNEL_MESSAGE
            assert callback["data"]["flags"] == 64 and callback["data"]["content"] == (
                f"{NOT_ALLOWED}\nuser id {STRANGER}, channel id {CHANNEL}: to allow the user, add the user id to "
                "transports.discord.allowed_user_ids in orch's config.yml and restart orch serve")
        assert await h.service.list_tasks() == []
        assert fake.threads == {} and fake.channel_messages(CHANNEL) == []


async def test_an_unknown_command_gets_one_clear_line(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()):
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "dance")
        [callback] = await fake.wait_for(lambda: reply_to(fake, interaction))
        assert callback["data"] == {**callback["data"], "content": "unknown command /dance — try /help", "flags": 64}


async def test_output_survives_429s_on_send(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()) as h:
        await fake.invoke_slash(ALLOWED, CHANNEL, "task", "new", options={"title": "flood"})
        thread_id = await fake.wait_for(lambda: next(iter(fake.threads), None))
        # Five 429s outlast discord.py's own retries, so the outbox is told, waits and sends again;
        # the sixth discord.py waits out by itself.
        fake.fail_next("POST", f"/channels/{thread_id}/messages", times=6)
        lines = [f"row {n}" for n in range(40)]
        await h.publish_output(1, lines)
        await h.finish(1)
        await fake.wait_for(lambda: any("task 1 done" in m.content for m in fake.channel_messages(thread_id)))
        assert read_lines(fake.channel_messages(thread_id)) == [*lines, "task 1 done"]
        posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith(f"/{thread_id}/messages")]
        assert len(posts) == len(fake.channel_messages(thread_id)) + 6  # every refused one was sent again


async def test_a_long_rate_limit_is_raised_for_the_outbox(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()) as h:
        fake.fail_next("POST", f"/channels/{CHANNEL}/messages", retry_after=45.0)
        with pytest.raises(RateLimited) as raised:
            await h.transport.send(CHANNEL, "hello", preformatted=True)
        assert raised.value.retry_after == 45.0
        assert fake.channel_messages(CHANNEL) == []
        # Short ones discord.py waits out itself; once it has retried five times, the outbox is told.
        fake.fail_next("POST", f"/channels/{CHANNEL}/messages", retry_after=0.01, times=5)
        with pytest.raises(RateLimited) as raised:
            await h.transport.send(CHANNEL, "hello", preformatted=True)
        assert raised.value.retry_after == 0.01
        message_id = await h.transport.send(CHANNEL, "hello", preformatted=True)
        fake.fail_next("PATCH", f"/messages/{message_id}", retry_after=45.0)
        with pytest.raises(RateLimited):
            await h.transport.edit(CHANNEL, message_id, "hello again", preformatted=True)
        await h.transport.edit(CHANNEL, message_id, "hello again", preformatted=True)
        assert fake.messages[message_id].versions == ["```\nhello\n```", "```\nhello again\n```"]


async def test_a_channel_the_bot_may_not_write_in_refuses_for_good(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()) as h:
        fake.fail_next("POST", f"/channels/{CHANNEL}/messages", status=403)
        with pytest.raises(Undeliverable):  # the outbox drops it instead of retrying
            await h.transport.send(CHANNEL, "hello")
        assert fake.channel_messages(CHANNEL) == []


async def test_long_text_is_split_at_2000_characters(fake: FakeDiscord, connect: Connect) -> None:
    long_line = "z" * 4500
    lines = [f"{n:04d} " + "y" * 90 for n in range(60)] + [long_line, "tail ```` end"]
    async with connect(engine=FakeEngine()) as h:
        await h.outbox.reply(CHANNEL, Reply("\n".join(lines), preformatted=True))
        messages = fake.channel_messages(CHANNEL)
        assert len(messages) >= 6
        assert all(len(m.content) <= MAX_MESSAGE_LENGTH for m in messages)
        assert all(m.content.startswith("```\n") and m.content.endswith("\n```") for m in messages)
        got = read_lines(messages)
        # Whole lines go together; only the line longer than a message was cut, and nothing is lost.
        assert [line for line in got if not line.startswith("z")] == [x for x in lines if x != long_line]
        assert "".join(line for line in got if line.startswith("z")) == long_line


async def test_a_long_reply_goes_out_in_several_messages(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()) as h:
        for n in range(60):
            await h.service.create(f"task number {n} with a title long enough to fill the table")
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "task", "list")
        expected = fmt.task_table(await h.service.list_tasks()).split("\n")
        await fake.wait_for(lambda: len(read_lines(fake.channel_messages(CHANNEL))) >= len(expected))
        messages = fake.channel_messages(CHANNEL)
        assert len(messages) >= 3 and all(len(m.content) <= MAX_MESSAGE_LENGTH for m in messages)
        assert read_lines(messages) == expected
        # The first part answers the interaction; the rest are its followups.
        assert len(reply_to(fake, interaction)) == 1
        followups = [r for r in fake.requests if r.method == "POST" and "/webhooks/" in r.path]
        assert len(followups) == len(messages) - 1


async def test_output_growing_past_a_message_continues_in_new_ones(fake: FakeDiscord, connect: Connect) -> None:
    lines = [f"edited line {n:03d} " + "w" * 60 for n in range(80)]
    async with connect(engine=FakeEngine()) as h:
        await h.outbox.output(CHANNEL, 1, ["short"])
        await h.outbox.flush()
        [first] = fake.channel_messages(CHANNEL)
        await h.outbox.output(CHANNEL, 1, lines)
        await h.outbox.flush()
        messages = fake.channel_messages(CHANNEL)
        assert messages[0].id == first.id and len(first.versions) == 2 and len(messages) >= 3
        assert read_lines(messages) == ["short", *lines]
        assert all(utf16_length(m.content) <= MAX_MESSAGE_LENGTH for m in messages)


async def test_a_file_is_a_message_with_an_attachment(fake: FakeDiscord, connect: Connect) -> None:
    data = "diff --git a/x b/x\n+é 🚀\n".encode() + bytes(range(256))
    async with connect(engine=FakeEngine()) as h:
        await h.transport.send_file(CHANNEL, "task-1.diff", data, "task 1 *diff* " + "x" * 3000)
        [message] = fake.channel_messages(CHANNEL)
        assert message.attachments == (Attachment("task-1.diff", data),)
        assert message.content.startswith("task 1 \\*diff\\* xxx") and message.content.endswith("…")
        assert utf16_length(message.content) <= MAX_MESSAGE_LENGTH
        assert [r.body["allowed_mentions"]["parse"] for r in fake.requests if r.files] == [[]]


def test_splitting_keeps_lines_whole_and_the_fence_closed() -> None:
    text = "\n".join(["a" * 1000, "b" * 1000, "``````", "c" * 2500, "😀" * 1200])
    pieces = split_text(text, fits(True))
    assert all(utf16_length(render(piece, True)) <= MAX_MESSAGE_LENGTH for piece in pieces)
    assert pieces[0] == "a" * 1000 and pieces[1] == "b" * 1000 + "\n``````"
    assert "```" not in render("``````", True)[4:-4]
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert split_text("*bold*", fits(False)) == ["*bold*"] and render("*bold*", False) == "\\*bold\\*"


def test_a_missing_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"transports\.discord\.token"):
        DiscordTransport(DiscordTransportConfig(enabled=True))


async def test_a_refused_token_is_a_config_error(fake: FakeDiscord, connect: Connect) -> None:
    with pytest.raises(ConfigError, match="refused this token") as raised:
        async with connect(engine=FakeEngine(), token="wrong-token"):
            pass
    assert "wrong-token" not in str(raised.value)


async def test_the_gateway_reconnects_after_a_drop(fake: FakeDiscord, connect: Connect) -> None:
    async with connect(engine=FakeEngine()):
        await fake.drop_gateway()
        await fake.wait_for(lambda: fake.resumes == 1, seconds=15.0)
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "status")
        [callback] = await fake.wait_for(lambda: reply_to(fake, interaction))
        assert "engine: idle" in callback["data"]["content"]
        assert fake.identifies == 1


async def test_say_passes_typed_options_and_the_token_is_never_logged(
        fake: FakeDiscord, connect: Connect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with connect(engine=FakeEngine()) as h:
        await h.service.create("talk to me")
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "say", options={"id": 1, "text": "yes, go on"})
        [callback] = await fake.wait_for(lambda: reply_to(fake, interaction))
        # The typed id reached the command: the task exists but has no agent running to type into.
        assert callback["data"]["content"] == "task 1 is new; say needs a running task"
        logging.getLogger("discord.http").warning("leaking %s", DISCORD_TOKEN)
    assert DISCORD_TOKEN not in caplog.text
    assert "leaking [REDACTED]" in caplog.text


async def test_with_the_real_engine(fake: FakeDiscord, connect: Connect) -> None:
    async with connect():
        await fake.invoke_slash(ALLOWED, CHANNEL, "task", "new", options={
            "title": "count", "agent": "shell", "body": "for i in $(seq 1 60); do echo \"out-$i\"; done"})
        thread_id = await fake.wait_for(lambda: next(iter(fake.threads), None))

        def finished() -> bool:
            return any(re.search(r"task 1 (done|needs_review)", m.content) for m in fake.channel_messages(thread_id))

        await fake.wait_for(finished, seconds=30.0)
        got = read_lines(fake.channel_messages(thread_id))
        assert [line for line in got if line.startswith("out-")] == [f"out-{i}" for i in range(1, 61)]
        assert got[-1].startswith("task 1 done")


async def test_task_diff_sends_the_patch_as_an_attachment(fake: FakeDiscord, connect: Connect) -> None:
    async with connect():
        await fake.invoke_slash(ALLOWED, CHANNEL, "task", "new", options={
            "title": "write files", "agent": "shell",
            "body": "for i in $(seq 1 300); do echo \"line $i of a long file\"; done > long.txt"})
        thread_id = await fake.wait_for(lambda: next(iter(fake.threads), None))
        await fake.wait_for(lambda: any("task 1 done" in m.content for m in fake.channel_messages(thread_id)),
                            seconds=30.0)
        interaction = await fake.invoke_slash(ALLOWED, CHANNEL, "task", "diff", options={"id": 1})
        await fake.wait_for(lambda: any(m.attachments for m in fake.channel_messages(CHANNEL)), seconds=15.0)
        [with_file] = [m for m in fake.channel_messages(CHANNEL) if m.attachments]
        [attachment] = with_file.attachments
        assert attachment.filename == "task-1.diff"
        patch = attachment.content.decode()
        assert patch.startswith("diff --git a/long.txt b/long.txt") and "+line 300 of a long file" in patch
        [answer] = reply_to(fake, interaction)
        assert decoded_content(answer).startswith("task 1: 1 file changed, +300 -0")


def decoded_content(callback: dict[str, Any]) -> str:
    content = str(callback["data"]["content"])
    return content.removeprefix("```\n").removesuffix("\n```")
