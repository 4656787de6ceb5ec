"""A task as a conversation, with the shell agent through the real engine, tmux and git: follow-ups queued while it
runs, a follow-up that runs an ended task again on its branch, `--now`, a prompt the agent waits at, and a
question nobody answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from orch.core.config import Config
from orch.core.errors import UserError
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import wait_until
from tests.helpers import Recorder, fast_config, running_engine

DONE = TaskStatus.DONE
WAITING = TaskStatus.WAITING
REVIEW = TaskStatus.NEEDS_REVIEW


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def config(**workflow: object) -> Config:
    return fast_config(idle_timeout_seconds=30, **workflow)


async def wait_done(events: Recorder, task_id: int, times: int = 1) -> None:
    await events.wait_for(lambda _: events.statuses(task_id).count(DONE) >= times, timeout=30)


async def test_a_follow_up_runs_an_ended_task_again_on_its_branch(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store, config()) as (orch, events):
        task = await orch.tasks.create("make a file", "echo one > one.txt; echo made one", agent="shell")
        await wait_done(events, task.id)
        queued = await orch.conversation.reply(task.id, "echo two > two.txt; echo made two", source="test")
        assert (queued.ahead, queued.task.status) == (0, TaskStatus.ROUTED)
        await wait_done(events, task.id, times=2)
    done = await store.get_task(task.id)
    assert done is not None and done.status is DONE
    assert events.lines(task.id) == ["made one", "made two"]
    log = git(Path(done.worktree or ""), "log", "--format=%s", "-2").splitlines()
    assert log == [f"orch: task {task.id}: make a file"] * 2, "both turns are commits on the task's branch"
    assert (Path(done.worktree or "") / "one.txt").exists() and (Path(done.worktree or "") / "two.txt").exists()
    [_, second] = await store.list_attempts(task.id)
    assert second.number == 2 and (home.attempt_dir(task.id, 2) / "command.sh").read_text().startswith("echo two")
    assert await store.pending_followups(task.id) == []


async def test_follow_ups_sent_while_it_runs_are_its_next_turns_in_order(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store, config()) as (orch, events):
        task = await orch.tasks.create("wait for go", "while [ ! -f go ]; do sleep 0.05; done; echo first",
                                       agent="shell")
        await events.wait_status(task.id, TaskStatus.IN_PROGRESS)
        first = await orch.conversation.reply(task.id, "echo second")
        second = await orch.conversation.reply(task.id, "echo third")
        assert (first.ahead, second.ahead) == (0, 1)
        running = await store.get_task(task.id)
        assert running is not None and running.worktree
        (Path(running.worktree) / "go").touch()
        await wait_done(events, task.id)
    assert events.lines(task.id) == ["first", "second", "third"]
    assert len(await store.list_attempts(task.id)) == 3


async def test_now_ends_the_turn_and_the_follow_up_goes_next(home: OrchHome, store: SqliteStore) -> None:
    async with running_engine(home, store, config()) as (orch, events):
        task = await orch.tasks.create("loop", "echo looping; while true; do sleep 0.05; done", agent="shell")
        await events.wait_for(lambda _: events.lines(task.id) == ["looping"])
        await orch.conversation.reply(task.id, "echo stopped and went on", now=True)
        await wait_done(events, task.id)
    assert events.lines(task.id) == ["looping", "stopped and went on"]
    first, second = await store.list_attempts(task.id)
    assert first.outcome == "lost" and second.outcome == "done"
    done = await store.get_task(task.id)
    assert done is not None and done.attempts == 2, "the interrupted turn is not a failed attempt"


async def test_an_agent_at_a_prompt_waits_and_the_answer_is_typed_in(home: OrchHome, store: SqliteStore) -> None:
    body = "printf 'Deploy to production? [y/N] '; read answer; echo \"answered: $answer\""
    async with running_engine(home, store, config(prompt_idle_seconds=0.3)) as (orch, events):
        task = await orch.tasks.create("ask me", body, agent="shell")
        await events.wait_status(task.id, WAITING)
        question = await orch.conversation.open_question(task.id)
        assert (question.kind, question.text) == ("prompt", "Deploy to production? [y/N]")
        with pytest.raises(UserError, match="waiting for an answer to its question"):
            await orch.conversation.reply(task.id, "too early")
        answered = await orch.conversation.answer(task.id, "yes", "test")
        assert (answered.answer, answered.answered_by) == ("yes", "test")
        await wait_done(events, task.id)
    assert events.lines(task.id)[-1] == "answered: yes"
    assert TaskStatus.IN_PROGRESS in events.statuses(task.id)[events.statuses(task.id).index(WAITING):]


async def test_a_question_nobody_answers_needs_review(home: OrchHome, store: SqliteStore) -> None:
    body = "printf 'Which branch? '; read branch"
    async with running_engine(home, store, config(prompt_idle_seconds=0.3, answer_timeout_seconds=0.5)) \
            as (orch, events):
        task = await orch.tasks.create("ask and wait", body, agent="shell")
        await events.wait_status(task.id, REVIEW, timeout=30)
    waited = await store.get_task(task.id)
    assert waited is not None and waited.review_reason == "no answer within 0.5 s to: Which branch?"
    [question] = await store.list_questions(task.id)
    assert (question.answer, question.answered_by) == ("(no answer)", "orch")


async def test_replies_that_cannot_be_taken_change_nothing(home: OrchHome, store: SqliteStore) -> None:
    services = Services(home, store, config=config())
    task = await services.tasks.create("never ran", "true", agent="shell")
    await services.tasks.cancel(task.id)
    with pytest.raises(UserError, match="task 1 never ran; /task retry 1 runs it"):
        await services.conversation.reply(task.id, "go on")
    with pytest.raises(UserError, match="a follow-up needs text"):
        await services.conversation.reply(task.id, "   ")
    with pytest.raises(UserError, match="task 1 has asked nothing that is still open"):
        await services.conversation.answer(task.id, "yes", "test")
    assert await store.pending_followups() == []


async def test_a_follow_up_from_another_process_after_the_end_still_runs(home: OrchHome,
                                                                            store: SqliteStore) -> None:
    # A follow-up queued by another process (the CLI) for a task that ends meanwhile is still handed over.
    async with running_engine(home, store, config()) as (orch, events):
        task = await orch.tasks.create("quick", "echo quick", agent="shell")
        await wait_done(events, task.id)
        await store.add_followup(task.id, "echo from the cli", source="cli")

        async def ran_again() -> bool:
            return "from the cli" in events.lines(task.id)

        await wait_until(ran_again, what="the follow-up to run")


async def test_a_follow_up_to_a_task_not_started_yet_comes_after_its_own_prompt(home: OrchHome,
                                                                                  store: SqliteStore) -> None:
    services = Services(home, store, config=config())
    task = await services.tasks.create("first things first", "echo the task itself", agent="shell")
    await services.conversation.reply(task.id, "echo then the follow-up")
    async with running_engine(home, store, config()) as (_, events):
        await wait_done(events, task.id)
    assert events.lines(task.id) == ["the task itself", "then the follow-up"]


async def test_cancel_drops_the_follow_ups_queued_for_the_stopped_work(home: OrchHome, store: SqliteStore) -> None:
    services = Services(home, store, config=config())
    task = await services.tasks.create("never mind", "true", agent="shell")
    await services.conversation.reply(task.id, "echo not any more")
    await services.tasks.cancel(task.id)
    assert await store.pending_followups(task.id) == []
