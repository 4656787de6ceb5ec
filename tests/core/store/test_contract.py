"""The Store contract: every method of the ABC, run against every implementation in backends.py.

Several processes share one store, so besides what each method returns this covers compare-and-set (a
transition, a job slot, a follow-up taken or a question answered from two store objects at once: exactly one
wins), a failed or cancelled write that leaves nothing behind, and a second process writing while the test writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import pytest
from orch.core.store.base import Store
from orch.core.store.records import AttemptCost, Follow, JobState, Project
from orch.core.tasks.models import (
    Attempt,
    Chunk,
    NewTask,
    Origin,
    Review,
    ReviewComment,
    RouteDecision,
    Task,
    TaskStatus,
)

from tests.conftest import wait_until
from tests.core.store.backends import Backend
from tests.core.store.conftest import OpenStore
from tests.core.store.writer import STOP_KEY, write_round

REPO_ROOT = Path(__file__).resolve().parents[3]
NEW, ROUTED, IN_PROGRESS, DONE = TaskStatus.NEW, TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, TaskStatus.DONE


async def new_task(store: Store, title: str = "fix the login test", *, body: str = "", labels: tuple[str, ...] = (),
                   project: str | None = None, parent_id: int | None = None) -> Task:
    return await store.create_task(NewTask(title, body, labels, project, parent_id))


def chunk(task_id: int, seq: int, content: str | None = None, *, is_final: bool = False) -> Chunk:
    return Chunk(task_id, seq, f"line {seq}" if content is None else content, 1_700_000_000.0 + seq, is_final)


# tasks

async def test_create_task_returns_it_as_get_task_does(store: Store) -> None:
    before = time.time()
    parent = await new_task(store, "parent")
    task = await new_task(store, "child", body="first\nsecond", labels=("agent:shell", "x"), project="demo",
                          parent_id=parent.id)
    assert task == await store.get_task(task.id)
    assert (task.title, task.body, task.labels, task.project, task.parent_id) == (
        "child", "first\nsecond", ("agent:shell", "x"), "demo", parent.id)
    assert task.status is NEW
    assert (task.agent, task.model, task.branch, task.summary, task.cost_usd, task.attempts) == (
        None, None, None, None, None, 0)
    assert task.id > parent.id
    assert before <= task.created_at == task.updated_at <= time.time()
    assert await store.get_task(task.id + 1000) is None


async def test_list_tasks_filters_by_status_project_and_parent(store: Store) -> None:
    parent = await new_task(store, "parent", project="demo")
    first = await new_task(store, "first", project="demo", parent_id=parent.id)
    second = await new_task(store, "second", project="other", parent_id=parent.id)
    loose = await new_task(store, "loose")
    await store.transition(second.id, DONE)

    def ids(tasks: list[Task]) -> list[int]:
        return [task.id for task in tasks]

    assert ids(await store.list_tasks()) == [parent.id, first.id, second.id, loose.id]
    assert ids(await store.list_tasks(status=NEW)) == [parent.id, first.id, loose.id]
    assert ids(await store.list_tasks(status=DONE)) == [second.id]
    assert ids(await store.list_tasks(project="demo")) == [parent.id, first.id]
    assert ids(await store.list_tasks(parent_id=parent.id)) == [first.id, second.id]
    assert ids(await store.list_tasks(status=NEW, project="demo", parent_id=parent.id)) == [first.id]
    assert await store.list_tasks(status=IN_PROGRESS) == []
    assert await store.list_tasks(parent_id=loose.id) == []


async def test_update_task_sets_fields_and_refuses_unknown_ones(store: Store) -> None:
    task = await new_task(store)
    updated = await store.update_task(task.id, labels=["agent:codex"], agent="codex", model="gpt-5.5",
                                      attempts=2, cost_usd=0.25, branch="orch/1-fix", summary="done it")
    assert updated == await store.get_task(task.id)
    assert (updated.labels, updated.agent, updated.model, updated.attempts, updated.cost_usd, updated.branch,
            updated.summary) == (("agent:codex",), "codex", "gpt-5.5", 2, 0.25, "orch/1-fix", "done it")
    assert updated.status is NEW
    assert updated.updated_at >= task.updated_at
    assert updated.created_at == task.created_at

    # The status moves only through transition; ids and times are the store's own.
    for field in ("status", "id", "created_at", "no_such_field"):
        with pytest.raises(ValueError, match=field):
            await store.update_task(task.id, **{field: "x"})
    assert await store.get_task(task.id) == updated
    with pytest.raises(KeyError):
        await store.update_task(task.id + 1000, agent="codex")


async def test_every_updatable_field_comes_back_as_it_was_written(store: Store) -> None:
    task = await new_task(store)
    values = {"labels": ("agent:claude", "complexity:complex"), "project": "web", "parent_id": None,
              "agent": "claude", "model": "opus", "complexity": "complex", "route_reason": "hard", "branch": "orch/1-x",
              "worktree": "/w/1", "attempts": 3, "summary": "did it", "review_reason": "timeout", "cost_usd": 1.0625,
              "base_branch": "main", "base_commit": "a" * 40, "next_step": "review", "review_decision": "approve",
              "delivered": "pr", "pr_url": "https://github.com/acme/web/pull/7", "merge_commit": "b" * 40,
              "diff_files": 4, "diff_added": 2**40, "diff_removed": 0}
    # Every field a task has that update_task may set, so a field added to Task without its column fails here.
    assert set(values) == set(Task.__dataclass_fields__) - {"id", "title", "body", "status", "created_at",
                                                            "updated_at"}
    updated = await store.update_task(task.id, **values)
    assert updated == await store.get_task(task.id)
    assert {name: getattr(updated, name) for name in values} == values
    assert type(updated.attempts) is int and type(updated.cost_usd) is float


async def test_text_comes_back_exactly(store: Store) -> None:
    # Quotes, placeholders of either SQL dialect, backslashes and any script: text is data, never SQL.
    title = "it's \"quoted\" 100% %s ? $1 \\ naïve 日本語 🚀 \t tab"
    task = await new_task(store, title, body="line 1\r\nline 2\n", labels=("label:ü", "'; DROP TABLE tasks; --"))
    assert (await store.get_task(task.id)) == task
    assert (task.title, task.body, task.labels) == (title, "line 1\r\nline 2\n", ("label:ü", "'; DROP TABLE tasks; --"))
    await store.append_chunks([chunk(task.id, 1, title)])
    assert (await store.chunks_after(task.id, 0))[0].content == title
    await store.kv_set(title, title)
    assert await store.kv_get(title) == title


async def test_transition_honours_only_from(store: Store) -> None:
    task = await new_task(store)
    routed = await store.transition(task.id, ROUTED, only_from=(NEW,), agent="shell", complexity="simple")
    assert routed is not None
    assert (routed.status, routed.agent, routed.complexity) == (ROUTED, "shell", "simple")
    assert routed == await store.get_task(task.id)

    # Not from a status outside only_from: None, and nothing written, not even the fields.
    assert await store.transition(task.id, DONE, only_from=(NEW, IN_PROGRESS), summary="no") is None
    assert await store.get_task(task.id) == routed
    assert await store.transition(task.id, DONE, only_from=()) is None
    assert await store.get_task(task.id) == routed

    # Any iterable will do, and without only_from the status is set whatever it was.
    started = await store.transition(task.id, IN_PROGRESS, only_from=iter([ROUTED]))
    assert started is not None and started.status is IN_PROGRESS
    cancelled = await store.transition(task.id, TaskStatus.CANCELLED, review_reason="by hand")
    assert cancelled is not None and (cancelled.status, cancelled.review_reason) == (TaskStatus.CANCELLED, "by hand")

    assert await store.transition(task.id + 1000, DONE) is None
    with pytest.raises(ValueError, match="status"):
        await store.transition(task.id, DONE, status="done")
    assert await store.get_task(task.id) == cancelled


async def test_concurrent_transitions_from_two_stores_exactly_one_wins(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    tasks = [await new_task(store, f"task {n}") for n in range(20)]
    results = await asyncio.gather(*(
        writer.transition(task.id, ROUTED, only_from=(NEW,), agent=name)
        for task in tasks for writer, name in ((store, "first"), (other, "second"))
    ))
    for task, (first, second) in zip(tasks, zip(results[::2], results[1::2], strict=True), strict=True):
        winners = [result for result in (first, second) if result is not None]
        assert len(winners) == 1, (first, second)
        stored = await other.get_task(task.id)
        assert stored is not None and stored.status is ROUTED and stored.agent == winners[0].agent


# attempts

async def test_attempts_are_added_finished_and_listed_in_order(store: Store) -> None:
    task = await new_task(store)
    other = await new_task(store, "another")
    second = Attempt(task.id, 2, "codex", "gpt-5.5", 1_700_000_100.0)
    first = Attempt(task.id, 1, "claude", None, 1_700_000_000.0)
    await store.add_attempt(second)
    await store.add_attempt(first)
    await store.add_attempt(Attempt(other.id, 1, "shell", None, 1_700_000_200.0))
    assert await store.list_attempts(task.id) == [first, second]

    finished = Attempt(task.id, 1, "claude", None, 1_700_000_000.0, finished_at=1_700_000_050.0, exit_code=1,
                       outcome="failed", error="rate limited", summary="half done", cost_usd=0.5, tokens_in=1200,
                       tokens_out=300)
    await store.finish_attempt(finished)
    assert await store.list_attempts(task.id) == [finished, second]
    assert await store.list_attempts(task.id + 1000) == []


async def test_an_attempt_added_again_replaces_it_whole(store: Store) -> None:
    task = await new_task(store)
    await store.add_attempt(Attempt(task.id, 1, "claude", "sonnet", 1_700_000_000.0))
    await store.finish_attempt(Attempt(task.id, 1, "claude", "sonnet", 1_700_000_000.0, finished_at=1_700_000_060.0,
                                       exit_code=0, outcome="done", summary="ok", cost_usd=0.1, tokens_in=10,
                                       tokens_out=5, session_id="abc"))
    again = Attempt(task.id, 1, "codex", None, 1_700_000_100.0, kind="review")
    await store.add_attempt(again)
    # Nothing of the finished attempt is left: what was not given is as a new attempt has it.
    assert await store.list_attempts(task.id) == [again]


async def test_attempt_costs_are_every_attempt_since_with_its_project(store: Store) -> None:
    web = await new_task(store, project="web")
    loose = await new_task(store, "loose")
    old = Attempt(web.id, 1, "claude", "opus", 1000.0, finished_at=1100.0, cost_usd=2.5, tokens_in=7, tokens_out=3)
    review = Attempt(web.id, 2, "codex", "gpt-5.5", 3000.0, cost_usd=0.25, kind="review")
    recent = Attempt(loose.id, 1, "shell", None, 2000.0)
    for attempt in (old, review, recent):
        await store.add_attempt(attempt)
        await store.finish_attempt(attempt)
    assert await store.attempt_costs() == [AttemptCost(old, "web"), AttemptCost(recent, None),
                                           AttemptCost(review, "web")]
    assert await store.attempt_costs(since=2000.0) == [AttemptCost(recent, None), AttemptCost(review, "web")]
    assert await store.attempt_costs(since=3000.5) == []


# reviews

async def test_reviews_are_added_replaced_and_listed_by_attempt(store: Store) -> None:
    task = await new_task(store)
    assert await store.list_reviews(task.id) == []
    second = Review(task.id, 3, "codex", "gpt-5.5", "approve", "fine now", created_at=1_700_000_300.0)
    first = Review(task.id, 2, "claude", None, "request_changes", "two problems",
                   (ReviewComment("src/app.py", 12, "off by one"), ReviewComment("README.md", None, "say why")),
                   1_700_000_200.0)
    await store.add_review(second)
    await store.add_review(first)
    await store.add_review(Review(task.id + 1, 2, "claude", None, "reject", "elsewhere"))
    assert await store.list_reviews(task.id) == [first, second]

    redone = Review(task.id, 3, "claude", "opus", "error", "unreadable answer", created_at=1_700_000_400.0)
    await store.add_review(redone)
    assert await store.list_reviews(task.id) == [first, redone]


# follow-ups

async def test_followups_wait_in_order_until_an_attempt_takes_them(store: Store) -> None:
    task = await new_task(store)
    other = await new_task(store, "another")
    before = time.time()
    first = await store.add_followup(task.id, "also fix the docs")
    elsewhere = await store.add_followup(other.id, "for the other task", source="cli")
    now = await store.add_followup(task.id, "stop, do this instead", interrupt=True, source="telegram:1:2")
    assert (first.task_id, first.text, first.interrupt, first.source, first.taken_at) == (
        task.id, "also fix the docs", False, None, None)
    assert (now.interrupt, now.source) == (True, "telegram:1:2")
    assert before <= first.created_at <= now.created_at <= time.time()
    assert first.id < elsewhere.id < now.id
    assert await store.pending_followups(task.id) == [first, now]
    assert await store.pending_followups() == [first, elsewhere, now]

    assert await store.take_followup(first.id) is True
    assert await store.take_followup(first.id) is False
    assert await store.take_followup(now.id + 1000) is False
    assert await store.pending_followups(task.id) == [now]
    assert await store.pending_followups() == [elsewhere, now]


async def test_a_followup_is_taken_by_exactly_one_of_two_stores(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    task = await new_task(store)
    followups = [await store.add_followup(task.id, f"turn {n}") for n in range(20)]
    taken = await asyncio.gather(*(writer.take_followup(followup.id) for followup in followups
                                   for writer in (store, other)))
    assert all(sorted(pair) == [False, True] for pair in zip(taken[::2], taken[1::2], strict=True)), taken
    assert await other.pending_followups() == []


# questions

async def test_questions_are_asked_listed_and_answered_once(store: Store) -> None:
    task = await new_task(store)
    other = await new_task(store, "another")
    question = await store.add_question(task.id, "question", "Which database?", ("sqlite", "postgres"))
    approval = await store.add_question(task.id, "approval", "Run `rm -rf build`?", detail='{"command": "rm"}')
    prompt = await store.add_question(other.id, "prompt", "Continue? [y/n]")
    assert await store.get_question(question.id) == question
    assert (question.task_id, question.kind, question.text, question.options, question.detail, question.open) == (
        task.id, "question", "Which database?", ("sqlite", "postgres"), None, True)
    assert (approval.options, approval.detail) == ((), '{"command": "rm"}')
    assert await store.get_question(prompt.id + 1000) is None
    assert await store.list_questions() == [question, approval, prompt]
    assert await store.list_questions(task.id) == [question, approval]

    answered = await store.answer_question(question.id, "postgres", "telegram:1:2")
    assert answered is not None and answered == await store.get_question(question.id)
    assert (answered.answer, answered.answered_by, answered.open) == ("postgres", "telegram:1:2", False)
    assert answered.answered_at is not None and answered.answered_at >= question.created_at
    # Answered already: a second answer changes nothing.
    assert await store.answer_question(question.id, "sqlite", "cli") is None
    assert await store.get_question(question.id) == answered
    assert await store.answer_question(prompt.id + 1000, "y", "cli") is None
    assert await store.list_questions(task.id, open_only=True) == [approval]
    assert await store.list_questions(open_only=True) == [approval, prompt]
    assert await store.list_questions(task.id) == [answered, approval]


async def test_a_question_is_answered_by_exactly_one_of_two_stores(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    task = await new_task(store)
    questions = [await store.add_question(task.id, "approval", f"allow {n}?") for n in range(20)]
    answers = await asyncio.gather(*(writer.answer_question(question.id, answer, answer)
                                     for question in questions
                                     for writer, answer in ((store, "allow"), (other, "deny"))))
    for question, pair in zip(questions, zip(answers[::2], answers[1::2], strict=True), strict=True):
        winners = [answered for answered in pair if answered is not None]
        assert len(winners) == 1, pair
        stored = await other.get_question(question.id)
        assert stored == winners[0] and stored.answer == stored.answered_by


# chat messages and origins

async def test_a_chat_message_names_its_task(store: Store) -> None:
    first = await new_task(store)
    second = await new_task(store, "another")
    assert await store.task_of_message("telegram", "100", "7") is None
    await store.remember_message("telegram", "100", "7", first.id)
    await store.remember_message("telegram", "100", "8", second.id)
    await store.remember_message("discord", "100", "7", second.id)
    assert await store.task_of_message("telegram", "100", "7") == first.id
    assert await store.task_of_message("telegram", "100", "8") == second.id
    assert await store.task_of_message("discord", "100", "7") == second.id
    assert await store.task_of_message("telegram", "200", "7") is None
    # The same message again is about the task named last.
    await store.remember_message("telegram", "100", "7", second.id)
    assert await store.task_of_message("telegram", "100", "7") == second.id


async def test_a_task_origin_is_set_replaced_and_read(store: Store) -> None:
    task = await new_task(store)
    assert await store.get_origin(task.id) is None
    origin = Origin(task.id, "telegram", "100", "42", "7")
    await store.set_origin(origin)
    assert await store.get_origin(task.id) == origin
    moved = Origin(task.id, "stdout", "-", None, None)
    await store.set_origin(moved)
    assert await store.get_origin(task.id) == moved
    assert await store.get_origin(task.id + 1000) is None


# output

async def test_a_failed_write_undoes_only_itself_while_others_run(store: Store) -> None:
    """Writes from many coroutines at once (each pane's capture hands its batch over on its own): a batch the
    store refuses (a seq stored already) takes none of the others' lines with it."""
    task = await new_task(store)
    await store.append_chunks([chunk(task.id, 1, "first")])

    async def refused() -> None:
        with pytest.raises(Exception):  # noqa: B017 (each implementation raises its driver's integrity error)
            await store.append_chunks([chunk(task.id, 1, "first again")])

    await asyncio.gather(*(refused() for _ in range(20)),
                         *(store.append_chunks([chunk(task.id, seq, f"line {seq}")]) for seq in range(2, 42)))
    assert [stored.seq for stored in await store.chunks_after(task.id, 0)] == list(range(1, 42))


async def test_chunks_come_back_after_a_seq_in_order_and_limited(store: Store) -> None:
    task = await new_task(store)
    other = await new_task(store, "another")
    assert await store.last_seq(task.id) == 0
    assert await store.chunks_after(task.id, 0) == []

    await store.append_chunks([chunk(task.id, 1, "one\ntwo"), chunk(task.id, 2, "three")])
    await store.append_chunks([chunk(other.id, 1, "elsewhere")])
    await store.append_chunks([chunk(task.id, 3, "four"), chunk(task.id, 4, "", is_final=True)])
    written = [chunk(task.id, 1, "one\ntwo"), chunk(task.id, 2, "three"), chunk(task.id, 3, "four"),
               chunk(task.id, 4, "", is_final=True)]
    assert await store.chunks_after(task.id, 0) == written
    assert await store.chunks_after(task.id, 2) == written[2:]
    assert await store.chunks_after(task.id, 0, limit=2) == written[:2]
    assert await store.chunks_after(task.id, 4) == []
    assert await store.last_seq(task.id) == 4
    assert await store.last_seq(other.id) == 1
    assert (await store.chunks_after(task.id, 3))[0].is_final


async def test_capture_offset_is_kept_per_attempt_with_the_chunks(store: Store) -> None:
    task = await new_task(store)
    assert await store.capture_offset(task.id, 1) == 0
    await store.append_chunks([chunk(task.id, 1)], attempt=1, byte_offset=120)
    await store.append_chunks([chunk(task.id, 2)], attempt=1, byte_offset=480)
    await store.append_chunks([chunk(task.id, 3)], attempt=2, byte_offset=64)
    await store.append_chunks([chunk(task.id, 4)])  # no offset given: the stored ones stay
    assert await store.capture_offset(task.id, 1) == 480
    assert await store.capture_offset(task.id, 2) == 64
    assert await store.capture_offset(task.id, 3) == 0
    assert await store.last_seq(task.id) == 4


async def test_a_failed_append_stores_neither_its_chunks_nor_its_offset(store: Store, open_store: OpenStore) -> None:
    task = await new_task(store)
    await store.append_chunks([chunk(task.id, 1), chunk(task.id, 2)], attempt=1, byte_offset=100)
    # seq 3 is new, seq 2 is taken: the whole batch is refused, with its offset.
    with pytest.raises(Exception):  # noqa: B017 (each implementation raises its driver's integrity error)
        await store.append_chunks([chunk(task.id, 3), chunk(task.id, 2, "again")], attempt=1, byte_offset=200)
    other = await open_store()
    for reader in (store, other):
        assert await reader.chunks_after(task.id, 0) == [chunk(task.id, 1), chunk(task.id, 2)]
        assert await reader.capture_offset(task.id, 1) == 100

    # Nothing of it is left pending either: the next write commits only itself, and others can write.
    await store.kv_set("after", "failure")
    await other.append_chunks([chunk(task.id, 3, "from the other store")], attempt=1, byte_offset=300)
    assert await other.kv_get("after") == "failure"
    assert await store.chunks_after(task.id, 2) == [chunk(task.id, 3, "from the other store")]
    assert await store.capture_offset(task.id, 1) == 300


async def test_a_cancelled_append_is_all_or_nothing_and_holds_no_lock(store: Store, open_store: OpenStore) -> None:
    task = await new_task(store)
    other = await open_store()
    batch = [chunk(task.id, 1), chunk(task.id, 2)]
    append = asyncio.create_task(store.append_chunks(batch, attempt=1, byte_offset=10))
    # Let it get as far as its first statement, then cancel it, as stopping the engine would.
    await asyncio.sleep(0)
    append.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await append
    # Another store can write straight away: nothing of the cancelled append holds the database.
    async with asyncio.timeout(5):
        await other.kv_set("after", "cancel")
    stored = await other.chunks_after(task.id, 0)
    assert stored in ([], batch)
    assert await other.capture_offset(task.id, 1) == (10 if stored else 0)
    # And nothing of it is left pending on the cancelled store's side for its next write to commit.
    await store.append_chunks([chunk(task.id, len(stored) + 1, "next")])
    assert await other.chunks_after(task.id, 0) == [*stored, chunk(task.id, len(stored) + 1, "next")]


# routing

async def test_a_route_is_saved_replaced_and_read_back_as_json(store: Store) -> None:
    task = await new_task(store)
    assert await store.get_route(task.id) is None
    first = RouteDecision("claude", "sonnet", "medium", "tests need care", "llm",
                          profile={"role": "tester", "skills": ["pytest"]}, selected_skills=("pytest",))
    await store.save_route(task.id, first)
    assert await store.get_route(task.id) == first.to_json()
    again = RouteDecision("shell", None, "simple", "agent label", "label", warnings=("claude not installed",))
    await store.save_route(task.id, again)
    assert await store.get_route(task.id) == again.to_json()
    assert await store.get_route(task.id + 1000) is None


# kv

async def test_kv_values_are_set_and_replaced(store: Store, open_store: OpenStore) -> None:
    assert await store.kv_get("telegram.offset") is None
    await store.kv_set("telegram.offset", "41")
    await store.kv_set("router.next", "codex")
    await store.kv_set("telegram.offset", "42")
    other = await open_store()
    assert await other.kv_get("telegram.offset") == "42"
    assert await other.kv_get("router.next") == "codex"


# follows

async def test_follows_are_added_once_listed_and_removed(store: Store) -> None:
    first = await new_task(store)
    second = await new_task(store, "another")
    await store.add_follow("telegram", "100", first.id, last_seq=3)
    # Adding again is harmless and keeps how far the chat got.
    await store.add_follow("telegram", "100", first.id)
    await store.add_follow("telegram", "200", second.id)
    await store.add_follow("discord", "300", first.id)

    def key(follow: Follow) -> tuple[str, str, int]:
        return follow.transport, follow.chat_id, follow.task_id

    assert sorted(await store.list_follows(), key=key) == [
        Follow("discord", "300", first.id, 0), Follow("telegram", "100", first.id, 3),
        Follow("telegram", "200", second.id, 0)]
    assert sorted(await store.list_follows(transport="telegram"), key=key) == [
        Follow("telegram", "100", first.id, 3), Follow("telegram", "200", second.id, 0)]
    assert sorted(await store.list_follows(task_id=first.id), key=key) == [
        Follow("discord", "300", first.id, 0), Follow("telegram", "100", first.id, 3)]
    assert await store.list_follows(transport="discord", task_id=second.id) == []

    assert await store.remove_follow("telegram", "100", first.id) is True
    assert await store.remove_follow("telegram", "100", first.id) is False
    assert await store.list_follows(task_id=first.id) == [Follow("discord", "300", first.id, 0)]


async def test_set_follow_seq_never_moves_backwards(store: Store) -> None:
    task = await new_task(store)
    await store.add_follow("stdout", "-", task.id)
    for seq, expected in ((5, 5), (3, 5), (5, 5), (9, 9)):
        await store.set_follow_seq("stdout", "-", task.id, seq)
        assert await store.list_follows(task_id=task.id) == [Follow("stdout", "-", task.id, expected)]
    # It moves a follow that exists; it does not make one.
    await store.set_follow_seq("stdout", "other", task.id, 4)
    assert await store.list_follows(task_id=task.id) == [Follow("stdout", "-", task.id, 9)]


# projects

async def test_projects_are_added_replaced_listed_and_removed(store: Store) -> None:
    assert await store.list_projects() == []
    clone = Project("web", "/home/u/.orch/projects/acme/web.git", "main", managed=True,
                    url="https://github.com/acme/web.git")
    checkout = Project("api", "/src/api", None, managed=False)
    await store.add_project(clone)
    await store.add_project(checkout)
    assert await store.get_project("web") == clone
    assert await store.get_project("nope") is None
    assert await store.list_projects() == [checkout, clone]

    moved = Project("api", "/src/api-v2", "develop", managed=False, url="git@github.com:acme/api.git")
    await store.add_project(moved)
    assert await store.list_projects() == [moved, clone]

    assert await store.remove_project("web") is True
    assert await store.remove_project("web") is False
    assert await store.list_projects() == [moved]


# scheduled jobs

async def test_job_state_is_reset_claimed_and_deleted(store: Store) -> None:
    assert await store.list_job_states() == {}
    state = await store.reset_job_state(7, "@hourly", 1000.0)
    assert state == JobState(7, "@hourly", 1000.0)
    assert await store.list_job_states() == {7: state}

    assert await store.claim_job_slot(7, 1000.0, 4600.0, 4600.0) is True
    # Someone who saw the old handled_until lost: nothing changes.
    assert await store.claim_job_slot(7, 1000.0, 8200.0, 8200.0) is False
    await store.set_job_task(7, 12)
    assert await store.list_job_states() == {7: JobState(7, "@hourly", 4600.0, 4600.0, 12)}
    # A claim without a slot (a skipped stretch) keeps the slot fired last.
    assert await store.claim_job_slot(7, 4600.0, 5000.0, None) is True
    assert await store.list_job_states() == {7: JobState(7, "@hourly", 5000.0, 4600.0, 12)}

    # A reset (the schedule changed) starts afresh but keeps what the job fired last.
    reset = await store.reset_job_state(7, "@daily", 6000.0)
    assert reset == JobState(7, "@daily", 6000.0, 4600.0, 12)
    await store.reset_job_state(8, "every 10m", 6000.0)
    assert set(await store.list_job_states()) == {7, 8}
    assert await store.claim_job_slot(9, 0.0, 1.0, 1.0) is False

    await store.delete_job_state(7)
    await store.delete_job_state(7)
    assert set(await store.list_job_states()) == {8}


async def test_concurrent_job_slot_claims_from_two_stores_exactly_one_wins(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    handled = 1000.0
    await store.reset_job_state(1, "every 1s", handled)
    for round_ in range(20):
        until = handled + 1.0
        claims = await asyncio.gather(store.claim_job_slot(1, handled, until, until),
                                      other.claim_job_slot(1, handled, until, until))
        assert sorted(claims) == [False, True], f"round {round_}: {claims}"
        handled = until
    assert (await other.list_job_states())[1].handled_until == handled


async def test_what_a_closed_store_wrote_is_there_when_opened_again(
    backend: Backend, database: str, open_store: OpenStore
) -> None:
    first = await backend.open(database)
    try:
        task = await new_task(first, labels=("agent:shell",))
        await first.append_chunks([chunk(task.id, 1)], attempt=1, byte_offset=10)
        await first.kv_set("telegram.offset", "7")
    finally:
        await first.close()
    reopened = await open_store()
    assert await reopened.get_task(task.id) == task
    assert await reopened.chunks_after(task.id, 0) == [chunk(task.id, 1)]
    assert await reopened.capture_offset(task.id, 1) == 10
    assert await reopened.kv_get("telegram.offset") == "7"


# several processes

async def test_a_second_process_writes_while_this_one_does(store: Store, backend: Backend, database: str) -> None:
    rounds = 40
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.core.store.writer", backend.name, database, cwd=REPO_ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    stderr = b""
    try:
        async def child_is_writing() -> bool:
            assert child.returncode is None, "the writer ended before it was told to"
            return bool(await store.list_tasks(project="child"))

        # Start once the child writes and stop it after the last round here, so every write here overlaps its;
        # every few rounds, wait until the child has written again, so the two interleave however busy the machine.
        await wait_until(child_is_writing, what="the writer's first task")
        for number in range(1, rounds + 1):
            await write_round(store, "test", number)
            if number % 10 == 0:
                seen = int(await store.kv_get("child.round") or 0)

                async def child_wrote_again(seen: int = seen) -> bool:
                    return int(await store.kv_get("child.round") or 0) > seen

                await wait_until(child_wrote_again, what="the writer's next round")
        await store.kv_set(STOP_KEY, "1")
        async with asyncio.timeout(30):
            _, stderr = await child.communicate()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, stderr.decode()

    mine = await store.list_tasks(project="test")
    theirs = await store.list_tasks(project="child")
    assert [task.title for task in mine] == [f"test {n}" for n in range(1, rounds + 1)]
    assert [task.title for task in theirs] == [f"child {n}" for n in range(1, len(theirs) + 1)]
    assert any(mine[0].id < task.id < mine[-1].id for task in theirs), "the two processes never interleaved"
    for task in mine + theirs:
        assert task.status is ROUTED
        who, written_in = task.title.split()
        assert [c.content for c in await store.chunks_after(task.id, 0)] == [f"{who} line {written_in}", ""]
        assert await store.capture_offset(task.id, 1) == int(written_in)
        assert await store.list_follows(transport=who, task_id=task.id) == [Follow(who, "chat", task.id, 2)]
    assert await store.kv_get("test.round") == str(rounds)
    assert await store.kv_get("child.round") == str(len(theirs))
