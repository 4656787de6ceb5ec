"""A task as a conversation: follow-ups for the agent's next turn, answers to what it asked, tool approvals.

- A follow-up to a running (or not yet started) task is queued and handed to the agent when its turn ends —
  `interrupt` (`/task reply ID --now`) ends the turn instead. A follow-up to a task that has ended runs it again:
  a new attempt resumes the agent's own session in the same worktree and branch.
- An answer goes to the task's open question: a question the agent ended its turn with resumes it like a
  follow-up; a prompt it waits at in its terminal gets the answer typed in; a tool approval is decided.
Every change goes through the store, so the CLI (another process) and chats behave the same; the loop of
`orch serve` hands queued follow-ups to the agents (orch.core.running).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orch.core.errors import UserError
from orch.core.store.base import Store
from orch.core.tasks.models import FollowUp, Question, Task, TaskStatus
from orch.core.tasks.service import TaskService
from orch.core.tasks.states import TaskStates

ENDED = (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED)
# A follow-up for one of these waits its turn in the queue.
QUEUEING = (TaskStatus.NEW, TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED)
APPROVAL_CHOICES = {"allow": "allow", "always": "allow for this task", "deny": "deny"}
APPROVAL_OPTIONS = ("Allow", "Allow for this task", "Deny")  # the buttons, in APPROVAL_CHOICES' order
# How often a waiting approval looks for a decision in the store (another process may make it).
APPROVAL_POLL_SECONDS = 0.2
APPROVAL_ALWAYS = "approvals.{task}.{tool}"  # kv key: a tool allowed for the rest of a task


@dataclass(frozen=True)
class Queued:
    task: Task
    followup: FollowUp
    ahead: int  # follow-ups queued before it


# Types text into a task's running agent (its terminal), as `/say` does.
Typist = Callable[[int, str], Awaitable[None]]


def approval_tool(question: Question) -> str:
    """The tool an approval is about (its detail is {"tool": NAME, "input": {...}})."""
    detail = json.loads(question.detail or "{}")
    return str(detail.get("tool", "")) if isinstance(detail, dict) else ""


class Conversation:
    def __init__(self, store: Store, states: TaskStates, tasks: TaskService, typist: Typist) -> None:
        self._store = store
        self._states = states
        self._tasks = tasks
        self._type = typist

    async def reply(self, target: int | str, text: str, *, now: bool = False, source: str | None = None) -> Queued:
        """A follow-up for the agent of task `target`."""
        task = await self._tasks.get(target)
        text = text.strip()
        if not text:
            raise UserError(f"a follow-up needs text: /task reply {task.id} TEXT")
        if task.status is TaskStatus.WAITING:
            raise UserError(f"task {task.id} is waiting for an answer to its question: /answer {task.id} TEXT")
        if task.status in ENDED and not task.agent:
            raise UserError(f"task {task.id} never ran; /task retry {task.id} runs it")
        ahead = len(await self._store.pending_followups(task.id))
        followup = await self._store.add_followup(task.id, text, interrupt=now and task.status is
                                                  TaskStatus.IN_PROGRESS, source=source)
        if task.status in ENDED:
            task = await self.resume(task)
        return Queued(task, followup, ahead)

    async def resume(self, task: Task) -> Task:
        """An ended task with follow-ups runs again, from its stored route (no new routing)."""
        moved = await self._states.move(task, TaskStatus.ROUTED, only_from=ENDED, attempts=0, review_reason=None)
        return moved or await self._tasks.get(task.id)

    async def open_question(self, target: int | str) -> Question:
        task = await self._tasks.get(target)
        questions = await self._store.list_questions(task.id, open_only=True)
        if not questions:
            raise UserError(f"task {task.id} has asked nothing that is still open")
        return questions[-1]

    async def answer(self, target: int | str, text: str, answered_by: str) -> Question:
        """Answer the task's open question: `#N` picks its N-th offered option."""
        question = await self.open_question(target)
        answer = self._choice(question, text.strip())
        if question.kind == "approval":
            return await self.decide(question.id, answer, answered_by)
        answered = await self._store.answer_question(question.id, answer, answered_by)
        if answered is None:
            raise UserError(f"task {question.task_id}'s question was answered meanwhile")
        task = await self._tasks.get(question.task_id)
        if question.kind == "prompt":
            # The agent waits at a prompt in its terminal: the answer is typed there and it goes on.
            await self._type(task.id, answer)
            await self._states.move(task, TaskStatus.IN_PROGRESS, only_from=(TaskStatus.WAITING,))
        else:
            # The agent ended its turn with the question: the answer is the next turn of its session.
            await self._store.add_followup(question.task_id, answer, source=answered_by)
            await self._states.move(task, TaskStatus.ROUTED, only_from=(TaskStatus.WAITING,))
        return answered

    async def decide(self, question_id: int, decision: str, answered_by: str) -> Question:
        """A person's decision on a tool approval: allow, always (allow this tool for the rest of the task), deny."""
        question = await self._store.get_question(question_id)
        if question is None or question.kind != "approval":
            raise UserError(f"approval {question_id} not found")
        choice = decision.strip().lower()
        by_label = {label: key for key, label in APPROVAL_CHOICES.items()}
        choice = by_label.get(choice, choice)
        if choice not in APPROVAL_CHOICES:
            raise UserError(f"an approval is allow, always or deny, not {decision!r}")
        answered = await self._store.answer_question(question.id, choice, answered_by)
        if answered is None:
            raise UserError(f"approval {question.id} was decided already ({question.answer})")
        if choice == "always":
            await self._store.kv_set(APPROVAL_ALWAYS.format(task=question.task_id, tool=approval_tool(question)),
                                     "allow")
        return answered

    async def ask_approval(self, task_id: int, tool: str, tool_input: dict[str, object], text: str,
                           timeout: float) -> tuple[bool, str]:
        """Ask the people following the task whether its agent may use `tool`; wait for the decision, at most
        `timeout` seconds (then it is denied). (allowed, why)."""
        if await self._store.kv_get(APPROVAL_ALWAYS.format(task=task_id, tool=tool)) == "allow":
            return True, f"{tool} is allowed for this task"
        question = await self._store.add_question(task_id, "approval", text, APPROVAL_OPTIONS,
                                                  json.dumps({"tool": tool, "input": tool_input}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = await self._store.get_question(question.id)
            if current is not None and not current.open:
                if current.answer in ("allow", "always"):
                    return True, f"{current.answered_by} allowed it"
                return False, f"{current.answered_by or 'a person'} denied {tool} in the chat"
            await asyncio.sleep(APPROVAL_POLL_SECONDS)
        await self._store.answer_question(question.id, "deny", "orch (no decision in time)")
        return False, f"nobody decided within {timeout:g} s, so {tool} is denied"

    @staticmethod
    def _choice(question: Question, text: str) -> str:
        if not text:
            raise UserError("an answer needs text")
        if text.startswith("#") and text[1:].isdigit():
            index = int(text[1:])
            if not 1 <= index <= len(question.options):
                raise UserError(f"option {text} does not exist; the options are 1 to {len(question.options)}")
            return question.options[index - 1]
        return text
