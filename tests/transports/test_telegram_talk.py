"""A task as a conversation in Telegram: buttons, follow-ups by reply, prompts for text, questions and approvals,
forum topics — the real python-telegram-bot against the fake Bot API, a real BotApp, and the real engine
running the shell agent in tmux and git."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from orch.bot.app import NOT_ALLOWED
from orch.bot.chat import Button
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus
from orch.transports.telegram.receive import ASKED, EXPIRED

from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import fast_config
from tests.transports.telegram_chat import CHAT, FORUM, GROUP, STRANGER, USER, WAIT, Served, Tg, labels


@pytest.fixture
async def tg(home: OrchHome, store: SqliteStore, fake_telegram: FakeTelegram) -> AsyncIterator[Tg]:
    config = fast_config(idle_timeout_seconds=30, prompt_idle_seconds=0.3)
    async with Served(home, store, fake_telegram, config) as served:
        yield served


# buttons
async def test_stop_cancels_a_running_task_and_a_strangers_press_changes_nothing(tg: Tg) -> None:
    await tg.say("/task new loop agent:shell\necho started; while true; do sleep 0.1; done", chat=GROUP)
    output = await tg.message(lambda m: "started" in m.text and "Stop" in m.buttons(), chat=GROUP)
    assert output.raw.startswith("<pre>") and output.buttons() == {"Stop": "/task cancel 1"}
    before = len(tg.fake.messages(GROUP))

    assert await tg.press(output, "Stop", user=STRANGER) == NOT_ALLOWED
    assert (await tg.services.tasks.get(1)).status is TaskStatus.IN_PROGRESS
    assert len(tg.fake.messages(GROUP)) == before, "a stranger's press sends nothing to the chat"

    assert await tg.press(output, "Stop") == "task 1 cancelled"
    await tg.text("task 1 cancelled", chat=GROUP)
    assert (await tg.services.tasks.get(1)).status is TaskStatus.CANCELLED
    ended = await tg.message(lambda m: m.text == "task 1 cancelled" and bool(m.keyboard), chat=GROUP)
    assert ended.buttons() == {"Retry": "/task retry 1"}


async def test_diff_reply_and_retry_after_a_task_ends(tg: Tg) -> None:
    await tg.say("/task new write agent:shell\necho one > one.txt; echo wrote one")
    done = await tg.message(lambda m: m.text.startswith("task 1 done") and bool(m.keyboard))
    assert labels(done) == ["Diff", "Retry", "Reply", "Merge", "PR"]
    assert done.buttons()["Reply"] == "?/task reply 1"  # asks for the text first

    assert (await tg.press(done, "Diff")).startswith("task 1: 1 file changed, +1 -0")
    diff = await tg.text("+one")
    assert diff.text.startswith("task 1: 1 file changed")

    assert await tg.press(done, "Reply") == ASKED
    prompt = await tg.message(lambda m: m.force_reply)
    assert "your text for /task reply 1" in prompt.text and prompt.text.startswith(f"user{USER}")
    await tg.say("echo two > two.txt; echo wrote two", reply_to=prompt.message_id)
    await tg.text("task 1 runs again with your follow-up")
    await tg.message(lambda m: m.text.startswith("task 1 done") and m.message_id > done.message_id)
    assert any("wrote two" in text for text in tg.fake.texts(CHAT))

    second = await tg.message(lambda m: m.text.startswith("task 1 done") and bool(m.keyboard))
    assert await tg.press(second, "Retry") == "task 1 will run again (new)"


async def test_a_reply_to_a_tasks_message_is_a_follow_up(tg: Tg) -> None:
    await tg.say("/task new wait agent:shell\nwhile [ ! -f go ]; do sleep 0.05; done; echo first")
    created = await tg.text("task 1 created: wait (new, project scratch)")
    await tg.status(1, TaskStatus.IN_PROGRESS)
    # Replying to the reply that created it, while it runs: queued for its next turn.
    await tg.say("echo second", reply_to=created.message_id)
    await tg.text("follow-up queued for task 1 (0 ahead)")
    task = await tg.services.tasks.get(1)
    assert task.worktree is not None
    (Path(task.worktree) / "go").touch()
    done = await tg.message(lambda m: m.text.startswith("task 1 done"))
    lines = [line for m in tg.fake.messages(CHAT) if m.raw.startswith("<pre>") for line in m.text.split("\n")]
    assert lines == ["first", "second"]

    # Replying to its status line once it ended: it runs again.
    await tg.say("echo third", reply_to=done.message_id)
    await tg.text("task 1 runs again with your follow-up")
    await tg.message(lambda m: m.text.startswith("task 1 done") and m.message_id > done.message_id)
    assert any("third" in m.text for m in tg.fake.messages(CHAT) if m.raw.startswith("<pre>"))

    # A reply to a message about no task is plain text: a hint in a private chat, nothing in a group.
    help_id = len(tg.fake.messages(CHAT))
    await tg.say("/help")
    await tg.fake.wait_for(lambda: len(tg.fake.messages(CHAT)) > help_id, WAIT)
    help_message = tg.fake.messages(CHAT)[-1]
    await tg.say("what?", reply_to=help_message.message_id)
    await tg.text("commands start with / — try /help")


async def test_a_strangers_reply_is_refused_and_runs_nothing(tg: Tg, store: SqliteStore) -> None:
    await tg.say("/task new quick agent:shell\necho quick", chat=GROUP)
    done = await tg.message(lambda m: m.text.startswith("task 1 done"), chat=GROUP)
    update = await tg.fake.push_message(GROUP, STRANGER, "echo intruder", reply_to=done.message_id)
    await tg.fake.wait_for(lambda: tg.fake.confirmed_offset > update, WAIT)
    assert tg.fake.texts(GROUP)[-1].startswith(f"{NOT_ALLOWED}\nchat id {GROUP}, user id {STRANGER}: ")
    assert (await tg.services.tasks.get(1)).status is TaskStatus.DONE
    assert len(await tg.services.tasks.attempts(1)) == 1 and await store.pending_followups(1) == []


# questions
@pytest.mark.parametrize("how", ["the Answer button", "a reply to the question"])
async def test_a_prompt_reaches_its_creator_and_the_answer_goes_on(tg: Tg, how: str) -> None:
    asked_with = await tg.say("/task new deploy agent:shell\n"
                              "printf 'Deploy to production? [y/N] '; read answer; echo \"answered: $answer\"")
    question = await tg.text("task 1 waits at a prompt: Deploy to production? [y/N]")
    origin = await tg.services.tasks.origin(1)
    assert origin is not None and (origin.chat_id, origin.user_id, origin.message_id) == (str(CHAT), str(USER),
                                                                                         str(asked_with))
    assert question.reply_to == asked_with, "the notice replies to the message that asked for the task"
    assert question.buttons() == {"Answer": "?/answer 1"}
    if how == "the Answer button":
        assert await tg.press(question, "Answer") == ASKED
        prompt = await tg.message(lambda m: m.force_reply)
        await tg.say("yes", reply_to=prompt.message_id)
    else:
        await tg.say("yes", reply_to=question.message_id)
    await tg.text("task 1: answered 'yes'")
    await tg.message(lambda m: m.text.startswith("task 1 done"))
    assert any("answered: yes" in m.text for m in tg.fake.messages(CHAT) if m.raw.startswith("<pre>"))


async def test_a_task_that_needs_review_replies_to_its_creator(tg: Tg) -> None:
    asked_with = await tg.say("/task new fails agent:shell\necho broken; exit 3", chat=GROUP)
    notice = await tg.message(lambda m: m.text.startswith("task 1 needs_review"), chat=GROUP)
    assert notice.reply_to == asked_with
    assert labels(notice) == ["Diff", "Retry", "Reply"]


@pytest.mark.parametrize("decision", ["Allow", "Deny"])
async def test_an_approval_is_decided_with_its_buttons(tg: Tg, decision: str) -> None:
    await tg.say("/task new guarded agent:shell\necho running; while true; do sleep 0.1; done", chat=GROUP)
    await tg.text("running", chat=GROUP)
    # What claude's approval server does (another process): store the request and wait for the decision.
    asking = asyncio.create_task(tg.services.conversation.ask_approval(
        1, "Bash", {"command": "rm -rf build"}, "shell wants to run: $ rm -rf build", timeout=WAIT))
    request = await tg.message(lambda m: "asks approval 1" in m.text, chat=GROUP)
    assert request.text == "task 1 asks approval 1: shell wants to run: $ rm -rf build"
    assert request.buttons() == {"Allow": "/approve 1 allow", "Allow for this task": "/approve 1 always",
                                 "Deny": "/approve 1 deny"}
    assert await tg.press(request, decision, user=STRANGER) == NOT_ALLOWED and not asking.done()
    toast = await tg.press(request, decision)
    allowed, why = await asyncio.wait_for(asking, WAIT)
    assert allowed is (decision == "Allow")
    verdict = "allow" if decision == "Allow" else "deny"
    assert toast == f"task 1: {verdict} — shell wants to run: $ rm -rf build"
    assert why == (f"telegram:{USER} allowed it" if allowed else f"telegram:{USER} denied Bash in the chat")
    await tg.services.tasks.cancel(1)
    await tg.text("task 1 cancelled", chat=GROUP)  # all it had to say has been said


async def test_a_questions_options_are_buttons(tg: Tg, store: SqliteStore) -> None:
    await tg.say("/task new choose agent:shell\necho thinking; while true; do sleep 0.1; done")
    await tg.text("thinking")
    # What a claude attempt stores when its model calls AskUserQuestion; the engine tells the chats.
    await store.add_question(1, "question", "Which database?", ("sqlite", "postgres"))
    asked = await tg.text("task 1 asks: Which database?")
    assert asked.buttons() == {"sqlite": "/answer 1 #1", "postgres": "/answer 1 #2", "Answer": "?/answer 1"}
    assert await tg.press(asked, "postgres") == "task 1: answered 'postgres'"
    [question] = await store.list_questions(1)
    assert (question.answer, question.answered_by) == ("postgres", f"telegram:{USER}")
    await tg.services.tasks.cancel(1)
    await tg.text("task 1 cancelled")  # all it had to say has been said


# forum supergroups
async def test_a_task_made_in_a_forum_lives_in_its_own_topic(tg: Tg) -> None:
    await tg.say("/task new in a topic agent:shell\nprintf 'Name? '; read name; echo \"hello $name\"", chat=FORUM,
                 forum=True)
    await tg.text("task 1 created: in a topic (new, project scratch)", chat=FORUM)
    [(topic, name)] = tg.fake.topics[FORUM].items()
    assert name == "task 1 created: in a topic (new, project scratch)"
    # Its creator is mentioned there: the message they asked with is in another topic.
    question = await tg.text("task 1 waits at a prompt: Name?", chat=FORUM, thread=topic)
    assert question.raw.startswith(f'<a href="tg://user?id={USER}">') and question.reply_to is None

    # Whatever is written in the topic is the task's conversation: here, the answer.
    await tg.say("world", chat=FORUM, thread_id=topic)
    done = await tg.message(lambda m: m.text.startswith("task 1 done"), chat=FORUM, thread=topic)
    texts = tg.fake.texts(FORUM, thread=topic)
    created = "task 1 created: in a topic (new, project scratch)"
    assert texts[0] == created and "hello world" in "\n".join(texts).split("\n")
    assert tg.fake.texts(FORUM) == [created], "nothing else where it was asked"
    assert done.thread_id == topic

    await tg.say("echo more", chat=FORUM, thread_id=topic)
    await tg.text("task 1 runs again with your follow-up", chat=FORUM, thread=topic)
    await tg.message(lambda m: m.text.startswith("task 1 done") and m.message_id > done.message_id, chat=FORUM,
                     thread=topic)
    assert "more" in tg.fake.texts(FORUM, thread=topic)
    # A command typed in the topic is answered there.
    await tg.say("/task show 1", chat=FORUM, thread_id=topic)
    await tg.text("task 1: in a topic", chat=FORUM, thread=topic)


# button data
async def test_a_command_longer_than_callback_data_travels_as_a_code(tg: Tg) -> None:
    long_command = "/task show " + "1" * 70
    message_id = await tg.transport.send(str(CHAT), "a long one", buttons=(Button("Show", long_command),
                                                                           Button("Say", long_command, True)))
    sent = tg.fake.chats[CHAT][int(message_id)]
    codes = sent.buttons()
    assert all(code.startswith("#") and len(code.encode()) <= 64 for code in codes.values())
    assert await tg.press(sent, "Show") == f"task {'1' * 70} not found"
    assert await tg.press(sent, "Say") == ASKED
    prompt = await tg.message(lambda m: m.force_reply)
    assert long_command in prompt.text
    query = await tg.fake.push_press(CHAT, USER, sent.message_id, "#not-a-code")
    await tg.fake.wait_for(lambda: query in tg.fake.answers, WAIT)
    assert tg.fake.answers[query] == EXPIRED
