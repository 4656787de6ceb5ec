"""The Transport contract: the same tests against every transport (stdout, Telegram, Discord), each with its real
library against its service's stand-in (see harness.py). What a transport must do whatever its service."""

from __future__ import annotations

import time

import pytest
from orch.bot import format as fmt
from orch.bot.app import NOT_ALLOWED
from orch.core.events import OutputChunk, TaskChanged
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Chunk, TaskStatus

from tests.transports.harness import ChatHarness, Cmd, Shown


def lines_of(shown: list[Shown]) -> list[str]:
    return [line for message in shown for line in message.text.split("\n")]


def task_new(title: str) -> Cmd:
    return Cmd(f"/task new {title}", ("task", "new"), {"title": title})


async def test_a_command_in_its_reply_out(chat: ChatHarness, services: Services) -> None:
    await chat.command(task_new("hello there"))
    await chat.wait_for(chat.messages)
    assert [message.text for message in chat.messages()] == ["task 1 created: hello there (new, project scratch)"]
    [task] = await services.tasks.list_tasks()
    assert task.title == "hello there"


async def test_apostrophes_and_lone_quotes_are_text_as_people_write(chat: ChatHarness, services: Services) -> None:
    title = "don't crash when the list is empty"
    body = 'it\'s the "empty list case'
    await chat.command(Cmd(f'/task new {title} agent:shell body:"{body}"', ("task", "new"),
                           {"title": title, "agent": "shell", "body": body}))
    await chat.wait_for(chat.messages)
    assert [message.text for message in chat.messages()] == [f"task 1 created: {title} (new, project scratch)"]
    [task] = await services.tasks.list_tasks()
    assert (task.title, task.body, task.labels) == (title, body, ("agent:shell",))


async def test_a_chat_not_allowed_gets_the_refusal_and_nothing_is_created(
        chat: ChatHarness, services: Services) -> None:
    if not chat.can_refuse:
        pytest.skip(f"{chat.name}: every command comes from the person who started orch serve")
    await chat.command(task_new("sneaky"), allowed=False)
    await chat.wait_for(lambda: chat.messages(allowed=False))
    [refusal] = [message.text for message in chat.messages(allowed=False)]
    assert refusal.startswith(f"{NOT_ALLOWED}\n") and "allowed_user_ids" in refusal  # with the key to add to
    assert chat.messages() == []
    assert await services.tasks.list_tasks() == []
    assert await services.follows.all() == []


async def test_followed_output_arrives_once_in_order_across_message_limits(
        chat: ChatHarness, services: Services, store: SqliteStore) -> None:
    await chat.command(task_new("lots of output"))
    await chat.wait_for(chat.messages)
    # About 12,000 characters with markup every service escapes: several messages on Telegram and on Discord.
    lines = [f"{n:04} {'<b>&*_`' if n % 7 == 0 else ''}" + "é🚀x"[n % 3] * (n % 60) for n in range(360)]
    assert services.hub is not None
    for start in range(0, len(lines), 30):  # what the engine does: store each chunk, then publish it
        chunk = Chunk(1, start // 30 + 1, "\n".join(lines[start:start + 30]), time.time())
        await store.append_chunks([chunk])
        services.hub.publish(OutputChunk(chunk))
    done = await store.transition(1, TaskStatus.DONE)
    assert done is not None
    services.hub.publish(TaskChanged(done, TaskStatus.IN_PROGRESS))

    await chat.wait_for(lambda: any("task 1 done" in message.text for message in chat.followed(1)))
    shown = chat.followed(1)
    output = [message for message in shown if message.preformatted]
    assert lines_of(output) == lines
    # The status line comes last (a terminal lists what its buttons would run on the line after it).
    plain = [line for message in shown if not message.preformatted for line in message.text.split("\n")
             if not line.startswith("  ▸ ")]
    assert plain[-1] == "task 1 done"
    if chat.limit is not None:
        assert len(output) > 2 and all(message.length <= chat.limit for message in shown)


async def test_a_long_reply_is_split_at_line_boundaries_within_the_limit(
        chat: ChatHarness, services: Services) -> None:
    for n in range(80):
        await services.tasks.create(f"task number {n} <&> *with* a title long enough to fill the table")
    expected = fmt.task_table(await services.tasks.list_tasks()).split("\n")
    await chat.command(Cmd("/task list", ("task", "list")))
    await chat.wait_for(lambda: len(lines_of(chat.messages())) >= len(expected))
    shown = chat.messages()
    # Every line arrives whole: a line cut in two would not equal its row of the table.
    assert lines_of(shown) == expected
    if chat.limit is not None:
        assert len(shown) > 1 and all(message.length <= chat.limit for message in shown)


async def test_a_file_arrives_with_its_name_and_content(chat: ChatHarness) -> None:
    data = "diff --git a/app.py b/app.py\n+print('é 🚀 <&> *bold*')\n-print('old')\n".encode()
    await chat.outbox.send_file(chat.chat_id, "task-1.diff", data, "task 1: 1 file changed")
    [(name, content, caption)] = chat.files()
    assert (name, content) == ("task-1.diff", data)
    assert "task 1: 1 file changed" in caption
