from __future__ import annotations

import asyncio
import logging
import random
from itertools import pairwise

import pytest
from orch.bot.chat import Reply
from orch.bot.message_outbox import MessageOutbox

from tests.fakes.chat_port import Call, FakeChatPort

CHAT = "42"


def numbered(count: int, seed: int = 1) -> list[str]:
    """Lines of varied length and content (HTML specials, emoji, blanks) with a unique number each."""
    rng = random.Random(seed)
    alphabet = "abc <&> xyz 😀 é"
    return [f"{n:05d} " + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for n in range(count)]


def assert_all_fit(port: FakeChatPort) -> None:
    assert [c for c in port.calls if c.outcome in ("too_long", "not_modified")] == []
    for text in port.messages.values():
        assert port.rendered_length(text, True) <= port.capabilities.max_message_length


def assert_paced(calls: list[Call], interval: float) -> None:
    for before, after in pairwise(calls):
        assert after.at - before.at >= interval - 0.001, (before, after)


@pytest.mark.parametrize("can_edit", [True, False])
async def test_output_arrives_complete_in_order_split_at_lines(can_edit: bool) -> None:
    port = FakeChatPort(max_length=200, can_edit=can_edit, min_interval=0.002)
    outbox = MessageOutbox(port)
    lines = numbered(400)
    for start in range(0, len(lines), 7):
        await outbox.output(CHAT, 7, lines[start:start + 7])
        if start % 49 == 0:
            await asyncio.sleep(0)  # let the worker send some of it while more arrives
    await outbox.flush()

    texts = port.texts(CHAT)
    assert "\n".join(texts) == "\n".join(lines)
    assert all(line in lines for text in texts for line in text.split("\n"))  # no line was cut
    assert_all_fit(port)
    assert_paced(port.calls, 0.002)
    if not can_edit:
        assert all(c.kind == "send" for c in port.calls)
    await outbox.close()


async def test_live_output_grows_one_message_by_edits() -> None:
    port = FakeChatPort(max_length=4096, can_edit=True)
    outbox = MessageOutbox(port)
    for n in range(5):
        await outbox.output(CHAT, 3, [f"step {n}"])
        await outbox.flush()
    assert [c.kind for c in port.calls] == ["send", "edit", "edit", "edit", "edit"]
    assert port.texts(CHAT) == ["\n".join(f"step {n}" for n in range(5))]
    await outbox.close()


async def test_a_full_message_continues_in_a_new_one() -> None:
    limit = len("<pre></pre>") + 20  # 20 units of text per message
    port = FakeChatPort(max_length=limit, can_edit=True)
    outbox = MessageOutbox(port)
    for line in ["aaaaaaaaa", "bbbbbbbbb", "ccccccccc"]:  # 9 + 1 + 9 = 19 fits; a third line does not
        await outbox.output(CHAT, 1, [line])
        await outbox.flush()
    assert [c.kind for c in port.ok_calls()] == ["send", "edit", "send"]
    assert port.texts(CHAT) == ["aaaaaaaaa\nbbbbbbbbb", "ccccccccc"]
    assert port.rendered_length(port.texts(CHAT)[0], True) <= limit
    await outbox.close()


async def test_backlog_is_merged_not_sent_edit_by_edit() -> None:
    port = FakeChatPort(max_length=4096, can_edit=True, min_interval=0.05)
    outbox = MessageOutbox(port)
    lines = [f"line {n}" for n in range(300)]
    await outbox.output(CHAT, 1, lines[:1])
    await outbox.flush()
    for line in lines[1:]:  # arrives while the worker must wait out min_interval after the first send
        await outbox.output(CHAT, 1, [line])
        await asyncio.sleep(0)  # the worker gets to run between lines
    await outbox.flush()
    assert [c.kind for c in port.calls] == ["send", "edit"]
    assert port.texts(CHAT) == ["\n".join(lines)]
    assert_paced(port.calls, 0.05)
    await outbox.close()


async def test_emoji_are_never_split_and_a_too_long_line_is_cut_to_fit() -> None:
    port = FakeChatPort(max_length=11 + 101, can_edit=False)  # odd: a cut after 50 emoji leaves 1 unit free
    outbox = MessageOutbox(port)
    line = "😀" * 300
    await outbox.output(CHAT, 1, ["before", line, "after"])
    await outbox.flush()
    texts = port.texts(CHAT)
    assert texts[0] == "before"
    assert texts[-1].endswith("\nafter") or texts[-1] == "after"
    pieces = texts[1:-1] if texts[-1] == "after" else [*texts[1:-1], texts[-1].removesuffix("\nafter")]
    assert "".join(pieces) == line
    for piece in pieces:
        piece.encode("utf-16-le")  # a lone surrogate would raise here
        assert set(piece) == {"😀"}
    assert_all_fit(port)
    await outbox.close()


async def test_a_5000_char_line_is_cut_at_the_limit_and_neighbours_stay_whole() -> None:
    port = FakeChatPort(max_length=4096, can_edit=True)
    outbox = MessageOutbox(port)
    long_line = "x<y&" * 1250  # 5,000 chars that escape to 13,750 units
    await outbox.output(CHAT, 1, ["head", long_line, "tail"])
    await outbox.flush()
    texts = port.texts(CHAT)
    assert texts[0] == "head"  # the long line starts a message of its own
    assert "".join(texts[1:]) == long_line + "\ntail"
    assert len(texts) == 5  # 13,750 escaped units need four messages of up to 4,085 units
    for text in texts[1:4]:  # the cut pieces fill their message, give or take one escape
        assert port.rendered_length(text, True) > 4096 - len("&amp;")
    assert_all_fit(port)
    await outbox.close()


async def test_a_429_storm_loses_and_duplicates_nothing() -> None:
    def storm(n: int) -> float | None:
        return 0.003 if n % 4 != 3 else None  # three of every four calls are refused

    port = FakeChatPort(max_length=300, can_edit=True, min_interval=0.001, rate_limit=storm)
    outbox = MessageOutbox(port)
    lines = numbered(200, seed=2)
    for start in range(0, len(lines), 5):
        await outbox.output(CHAT, 9, lines[start:start + 5])
        await asyncio.sleep(0)
    await outbox.flush()
    assert "\n".join(port.texts(CHAT)) == "\n".join(lines)
    assert_all_fit(port)
    for before, after in pairwise(port.calls):
        if before.outcome == "429":
            assert after.at - before.at >= 0.003 - 0.001
    assert sum(c.outcome == "429" for c in port.calls) >= 3 * sum(c.outcome == "ok" for c in port.calls) - 3
    await outbox.close()


async def test_notices_come_after_earlier_output_and_close_the_live_message() -> None:
    port = FakeChatPort(max_length=4096, can_edit=True)
    outbox = MessageOutbox(port)
    await outbox.output(CHAT, 5, ["working", "still working"])
    await outbox.notice(CHAT, "task 5 needs_review: timeout")
    await outbox.output(CHAT, 5, ["after the notice"])
    await outbox.flush()
    sent = [(c.text, c.preformatted) for c in port.ok_calls() if c.kind == "send"]
    assert sent == [("working\nstill working", True), ("task 5 needs_review: timeout", False),
                    ("after the notice", True)]
    assert all(c.kind == "send" for c in port.calls)  # the message before the notice was not edited
    await outbox.close()


async def test_several_tasks_in_one_chat_get_separate_labelled_messages() -> None:
    port = FakeChatPort(max_length=4096, can_edit=True, min_interval=0.001)
    outbox = MessageOutbox(port)
    expected: dict[int, list[str]] = {1: [], 2: []}
    for n in range(60):
        task = 1 if n % 3 else 2
        expected[task].append(f"t{task} line {n}")
        await outbox.output(CHAT, task, [f"t{task} line {n}"])
        if n % 10 == 0:
            await outbox.flush()
    await outbox.flush()
    texts = port.texts(CHAT)
    got: dict[int, list[str]] = {1: [], 2: []}
    previous: int | None = None
    for text in texts:
        lines = text.split("\n")
        header = lines.pop(0) if lines[0].startswith("[task ") else None
        task = int(lines[0][1])
        assert all(line.startswith(f"t{task} ") for line in lines), text  # one task per message
        # A label exactly where the stream switches task; none on the chat's very first message.
        assert header == (f"[task {task}]" if previous not in (None, task) else None), text
        got[task].extend(lines)
        previous = task
    assert got == expected
    await outbox.close()


async def test_other_errors_are_retried_with_backoff() -> None:
    port = FakeChatPort(max_length=4096, fail=lambda n: n < 2)
    outbox = MessageOutbox(port, backoff_seconds=0.001)
    await outbox.output(CHAT, 1, ["survives two failures"])
    await outbox.flush()
    assert [c.outcome for c in port.calls] == ["error", "error", "ok"]
    assert port.texts(CHAT) == ["survives two failures"]
    await outbox.close()


async def test_an_operation_failing_every_attempt_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = FakeChatPort(max_length=4096, fail=lambda n: n < 3)
    outbox = MessageOutbox(port, max_attempts=3, backoff_seconds=0.001)
    await outbox.output(CHAT, 1, ["lost", "lines"])
    await outbox.flush()
    await outbox.notice(CHAT, "next one goes through")
    await outbox.flush()
    assert [c.outcome for c in port.calls] == ["error", "error", "error", "ok"]
    assert port.texts(CHAT, preformatted=False) == ["next one goes through"]
    dropped = [r for r in caplog.records if r.levelno == logging.ERROR and "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "2 lines" in dropped[0].getMessage()
    await outbox.close()


async def test_an_outage_is_waited_out_however_long_it_lasts(caplog: pytest.LogCaptureFixture) -> None:
    # Twenty tries find the service down: far past max_attempts, which is for bugs, not for outages.
    port = FakeChatPort(max_length=4096, down=lambda n: n < 20)
    outbox = MessageOutbox(port, max_attempts=2, backoff_seconds=0.001, max_backoff_seconds=0.004)
    lines = numbered(12)
    await outbox.output(CHAT, 1, lines[:6])
    await outbox.notice(CHAT, "task 1 done")
    await outbox.output(CHAT, 1, lines[6:])
    with caplog.at_level(logging.INFO, logger="orch.outbox"):
        await outbox.flush()
    assert [c.outcome for c in port.calls][:20] == ["down"] * 20
    shown = [text for m, text in port.messages.items() if port.preformatted[m]]
    assert [line for text in shown for line in text.split("\n")] == lines
    assert port.texts(CHAT, preformatted=False) == ["task 1 done"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 20 and "nothing is dropped" in warnings[0]
    assert any(r.getMessage().endswith("answers again after 20 failed tries") for r in caplog.records)
    await outbox.close()


async def test_enqueueing_never_waits_for_the_network() -> None:
    port = FakeChatPort(max_length=4096)
    port.gate = asyncio.Event()  # the service hangs until the gate opens
    outbox = MessageOutbox(port)
    for n in range(1000):
        await outbox.output(CHAT, 1, [f"line {n}"])
    await outbox.notice(CHAT, "done")
    assert port.calls == []
    port.gate.set()
    await outbox.flush()
    assert "\n".join(port.texts(CHAT)) == "\n".join(f"line {n}" for n in range(1000))
    assert port.texts(CHAT, preformatted=False) == ["done"]
    await outbox.close()


async def test_chats_are_independent_and_close_delivers_then_stops() -> None:
    port = FakeChatPort(max_length=4096, min_interval=0.01)
    outbox = MessageOutbox(port)
    for chat in ("a", "b", "c"):
        await outbox.output(chat, 1, [f"to {chat}"])
        await outbox.output(chat, 1, [f"again {chat}"])
    await outbox.close()
    for chat in ("a", "b", "c"):
        assert port.texts(chat) == [f"to {chat}\nagain {chat}"]
        assert_paced(port.ok_calls(chat), 0.01)
    # Chats are paced separately: all three first sends went out before any chat's second operation.
    assert {c.chat_id for c in port.calls[:3]} == {"a", "b", "c"}
    assert all(task.done() for task in asyncio.all_tasks() if task.get_name().startswith("outbox-"))
    with pytest.raises(RuntimeError):
        await outbox.output("a", 1, ["too late"])


async def test_a_reply_goes_ahead_of_queued_output_and_returns_once_sent() -> None:
    port = FakeChatPort(max_length=4096, can_edit=True, min_interval=0.01)
    port.gate = asyncio.Event()  # the service hangs until the gate opens: output piles up meanwhile
    outbox = MessageOutbox(port)
    await outbox.output(CHAT, 1, ["first line"])
    await asyncio.sleep(0)  # the worker takes the first line and waits at the gate
    await outbox.output(CHAT, 1, ["queued line"])
    await outbox.notice(CHAT, "task 1 done")
    replied = asyncio.create_task(outbox.reply(CHAT, Reply("task 2 created: x (new)")))
    second = asyncio.create_task(outbox.reply(CHAT, Reply("a table", preformatted=True)))
    await asyncio.sleep(0)
    assert not replied.done()
    port.gate.set()
    await replied
    assert [c.text for c in port.ok_calls()][-1] == "task 2 created: x (new)"
    await second
    await outbox.flush()
    # The first line was on its way already; the replies overtook what was queued behind it, in their order,
    # and closed the live message: the rest of the output is a new one.
    assert [(c.kind, c.text, c.preformatted) for c in port.ok_calls()] == [
        ("send", "first line", True), ("send", "task 2 created: x (new)", False), ("send", "a table", True),
        ("send", "queued line", True), ("send", "task 1 done", False)]
    assert_paced(port.calls, 0.01)
    await outbox.close()


async def test_a_long_reply_is_split_at_lines_and_waits_out_429s() -> None:
    def storm(n: int) -> float | None:
        return 0.002 if n % 2 == 0 else None

    port = FakeChatPort(max_length=300, can_edit=True, rate_limit=storm)
    outbox = MessageOutbox(port)
    lines = numbered(120, seed=3)
    await outbox.reply(CHAT, Reply("\n".join(lines), preformatted=True))
    texts = port.texts(CHAT)
    assert len(texts) > 5 and [line for text in texts for line in text.split("\n")] == lines
    assert [c.kind for c in port.ok_calls()] == ["send"] * len(texts)  # a reply is never edited into
    assert_all_fit(port)
    await outbox.close()


async def test_files_are_sent_with_their_caption_like_a_reply() -> None:
    port = FakeChatPort(max_length=4096, rate_limit=lambda n: 0.002 if n == 0 else None)
    outbox = MessageOutbox(port)
    await outbox.output(CHAT, 4, ["queued output"])
    await outbox.send_file(CHAT, "task-4.diff", b"+added\n-removed\n", "task 4: 1 file changed")
    await outbox.flush()
    assert list(port.files.values()) == [("task-4.diff", b"+added\n-removed\n", "task 4: 1 file changed")]
    assert [(c.kind, c.outcome) for c in port.calls] == [("file", "429"), ("file", "ok"), ("send", "ok")]
    await outbox.close()


async def test_each_chat_is_paced_at_the_interval_the_port_asks_for_it() -> None:
    port = FakeChatPort(max_length=20, can_edit=False, min_interval=0.001, group_interval=0.03)
    outbox = MessageOutbox(port)
    for chat in ("-100", "7"):
        for n in range(4):
            await outbox.notice(chat, f"notice {n} in {chat}")
    await outbox.flush()
    assert_paced(port.ok_calls("-100"), 0.03)
    assert_paced(port.ok_calls("7"), 0.001)
    # The private chat was not held back by the group's pace.
    assert port.ok_calls("7")[-1].at < port.ok_calls("-100")[-1].at
    await outbox.close()


async def test_a_chat_that_refuses_for_good_is_not_retried_and_a_reply_there_returns(
        caplog: pytest.LogCaptureFixture) -> None:
    port = FakeChatPort(max_length=4096, refuse=lambda chat_id: chat_id == "blocked")
    outbox = MessageOutbox(port, backoff_seconds=10.0)  # a retry would outlast the test's timeout
    await outbox.reply("blocked", Reply("task 1 created: x (new)"))
    await outbox.output("blocked", 1, ["lost", "lines"])
    await outbox.reply(CHAT, Reply("elsewhere all is well"))
    await outbox.flush()
    assert [c.outcome for c in port.calls if c.chat_id == "blocked"] == ["refused", "refused"]
    assert port.texts(CHAT, preformatted=False) == ["elsewhere all is well"]
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(dropped) == 2 and "a reply (1 lines" in dropped[0] and "output of task 1 (2 lines" in dropped[1]
    await outbox.close()


async def test_each_message_about_a_task_is_reported_once_sent(caplog: pytest.LogCaptureFixture) -> None:
    port = FakeChatPort(max_length=60, can_edit=True)
    outbox = MessageOutbox(port)
    reported: list[tuple[str, str, int]] = []

    async def remember(chat_id: str, message_id: str, task_id: int) -> None:
        if task_id == 9:
            raise RuntimeError("the store is gone")
        reported.append((chat_id, message_id, task_id))

    outbox.report_sent(remember)
    await outbox.output(CHAT, 3, ["first line"])
    await outbox.flush()
    await outbox.output(CHAT, 3, ["grows by an edit"])
    await outbox.flush()
    await outbox.notice(CHAT, "task 3 done", task_id=3)
    await outbox.notice(CHAT, "about no task")
    await outbox.flush()  # a reply would go ahead of them
    await outbox.reply(CHAT, Reply("task 4 created", task_id=4))
    await outbox.send_file(CHAT, "task-4.diff", b"+x\n", "task 4: 1 file changed", task_id=4)
    await outbox.reply(CHAT, Reply("task 9 cancelled", task_id=9))  # its listener fails: still sent once
    await outbox.flush()

    sends = [call.message_id for call in port.ok_calls() if call.kind in ("send", "file")]
    assert [call.kind for call in port.ok_calls()] == ["send", "edit", "send", "send", "send", "file", "send"]
    assert reported == [(CHAT, sends[0], 3), (CHAT, sends[1], 3), (CHAT, sends[3], 4), (CHAT, sends[4], 4)]
    assert "could not remember message" in caplog.text
    await outbox.close()
