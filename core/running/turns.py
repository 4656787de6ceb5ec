"""The loop's part in conversations with agents, done at each of its passes (orch.core.running.loop):

- follow-ups queued for a task that has ended run it again (a follow-up can arrive as a task finishes);
- a follow-up marked `--now` for a running task ends the agent's current turn, once;
- questions asked in another process (the tool-approval server claude starts) reach the chats;
- a question nobody answers within `workflow.answer_timeout_seconds` moves its task to needs_review (an approval
  nobody decides is denied by the approval server itself; one left open by a server that died is denied here).
"""

from __future__ import annotations

import logging
import time

from orch.core.config import WorkflowConfig
from orch.core.running.executor import Executor
from orch.core.store.base import Store
from orch.core.tasks.models import Question, TaskStatus
from orch.core.tasks.states import TaskStates

log = logging.getLogger("orch.loop")

ENDED = (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED)
NO_ANSWER = "(no answer)"


class Turns:
    def __init__(self, store: Store, states: TaskStates, executor: Executor, workflow: WorkflowConfig) -> None:
        self._store = store
        self._states = states
        self._executor = executor
        self._workflow = workflow
        self._interrupted: set[int] = set()  # follow-ups whose --now has been carried out

    async def tend(self) -> None:
        await self._hand_over_followups()
        await self._questions()

    async def _hand_over_followups(self) -> None:
        running = self._executor.running()
        for followup in await self._store.pending_followups():
            task = await self._store.get_task(followup.task_id)
            if task is None:
                continue
            if task.status in ENDED and task.agent:
                log.info("task %s: a follow-up arrived as it ended; it runs again", task.id)
                await self._states.move(task, TaskStatus.ROUTED, only_from=ENDED, attempts=0, review_reason=None)
            elif followup.interrupt and task.id in running and followup.id not in self._interrupted:
                self._interrupted.add(followup.id)
                log.info("task %s: ending its agent's turn for follow-up %s", task.id, followup.id)
                await self._executor.interrupt(task.id)

    async def _questions(self) -> None:
        now = time.time()
        for question in await self._store.list_questions(open_only=True):
            self._states.asked(question)  # once per question; asked in this process already, a no-op
            limit = self._workflow.approval_timeout_seconds * 2 if question.kind == "approval" \
                else self._workflow.answer_timeout_seconds
            if now - question.created_at > limit:
                await self._expire(question)

    async def _expire(self, question: Question) -> None:
        if question.kind == "approval":
            await self._store.answer_question(question.id, "deny", "orch (no decision)")
            return
        if await self._store.answer_question(question.id, NO_ANSWER, "orch") is None:
            return
        task = await self._store.get_task(question.task_id)
        if task is None or task.status is not TaskStatus.WAITING:
            return
        if task.id in self._executor.running():
            await self._executor.cancel(task.id)  # its agent still waits at the prompt
        timeout = self._workflow.answer_timeout_seconds
        await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.WAITING,),
                                review_reason=f"no answer within {timeout:g} s to: {question.text}")
