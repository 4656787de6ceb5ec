"""What a person can do with tasks, shared by chat commands and the CLI.

Works on the store alone, so the CLI (another process) and `orch serve` behave the same; inside serve the
hub is given and every change is published so the engine and chats hear of it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orch.core.errors import NotFound, UserError
from orch.core.ids import parse_id
from orch.core.names import AGENT_NAMES, COMPLEXITIES
from orch.core.store.base import Store
from orch.core.tasks.labels import label_values, replace_label
from orch.core.tasks.models import Attempt, NewTask, Origin, Question, Review, Task, TaskStatus, parse_status
from orch.core.tasks.states import TaskStates
from orch.core.text import INVISIBLE, has_visible, one_line, well_formed

if TYPE_CHECKING:
    # Only its type: reading tasks must not load config.yml's models (the CLI's `orch task list` starts fast).
    from orch.core.projects.registry import Projects

UNBLOCKABLE = (TaskStatus.BLOCKED, TaskStatus.NEEDS_REVIEW)
RETRYABLE = (TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED, TaskStatus.DONE)
REVIEWABLE = (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW)
CANCELLABLE = (TaskStatus.NEW, TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED, TaskStatus.WAITING)


class TaskService:
    def __init__(self, store: Store, states: TaskStates, projects: Callable[[], Projects]) -> None:
        """`projects` is called when a task names one: reading tasks never needs config.yml."""
        self._store = store
        self._states = states
        self._projects = projects

    async def get(self, task_id: int | str) -> Task:
        number = parse_id(task_id, "task")
        task = await self._store.get_task(number)
        if task is None:
            raise NotFound(f"task {number} not found")
        return task

    async def create(
        self,
        title: str,
        body: str = "",
        *,
        labels: Sequence[str] = (),
        agent: str | None = None,
        complexity: str | None = None,
        project: str | None = None,
        parent_id: int | str | None = None,
        cwd: Path | None = None,
    ) -> Task:
        """A new task. Its project: `project`; else its parent's; else the one `cwd` is in (the CLI gives its
        current folder); else the only one; none (scratch) when no project is registered (Projects.choose)."""
        title = one_line(title)
        if not title:
            raise UserError("a task needs a title: /task new TITLE")
        if not has_visible(title):
            raise UserError(f"a task title must show something; this one is {INVISIBLE}")
        body, labels = well_formed(body), [well_formed(label) for label in labels]
        all_labels = tuple(labels)
        agent = agent or next(iter(label_values(labels, "agent")), None)
        complexity = complexity or next(iter(label_values(labels, "complexity")), None)
        if agent is not None:
            if agent not in AGENT_NAMES:
                raise UserError(f"unknown agent {agent!r} (one of {', '.join(AGENT_NAMES)})")
            all_labels = replace_label(all_labels, "agent", agent)
        if complexity is not None:
            if complexity not in COMPLEXITIES:
                raise UserError(f"unknown complexity {complexity!r} (one of {', '.join(COMPLEXITIES)})")
            all_labels = replace_label(all_labels, "complexity", complexity)
        parent = await self.get(parent_id) if parent_id is not None else None
        if parent is not None and project is None:
            project = parent.project
        else:
            project = await self._projects().choose(project, cwd)
        task = await self._store.create_task(NewTask(
            title=title, body=body.strip("\n"), labels=all_labels, project=project,
            parent_id=parent.id if parent else None,
        ))
        self._states.announce(task, None)
        return task

    async def list_tasks(self, status: str | None = None, project: str | None = None) -> list[Task]:
        return await self._store.list_tasks(status=parse_status(status), project=project)

    async def children(self, task_id: int) -> list[Task]:
        return await self._store.list_tasks(parent_id=task_id)

    async def unblock(self, target: str | int) -> list[Task]:
        if str(target).strip().lower() == "all":
            candidates = [t for status in UNBLOCKABLE for t in await self._store.list_tasks(status=status)]
            if not candidates:
                raise UserError("no blocked or needs_review tasks to unblock")
        else:
            task = await self.get(target)
            if task.status not in UNBLOCKABLE:
                raise UserError(f"task {task.id} is {task.status.value}; only blocked or needs_review tasks "
                                "can be unblocked")
            candidates = [task]
        done: list[Task] = []
        for task in candidates:
            changed = await self._states.move(task, TaskStatus.NEW, only_from=UNBLOCKABLE, attempts=0,
                                              review_reason=None)
            if changed is not None:
                done.append(changed)
        return done

    async def retry(self, target: str | int) -> Task:
        task = await self.get(target)
        if task.status not in RETRYABLE:
            raise UserError(f"task {task.id} is {task.status.value}; only needs_review, cancelled or done tasks "
                            "can be retried")
        changed = await self._states.move(task, TaskStatus.NEW, only_from=RETRYABLE, attempts=0, review_reason=None)
        if changed is None:
            raise UserError(f"task {task.id} changed meanwhile; try again")
        return changed

    async def cancel(self, target: str | int) -> Task:
        task = await self.get(target)
        if task.status not in CANCELLABLE:
            raise UserError(f"task {task.id} is already {task.status.value}")
        changed = await self._states.move(task, TaskStatus.CANCELLED, only_from=CANCELLABLE)
        if changed is None:
            raise UserError(f"task {task.id} changed meanwhile; try again")
        # Follow-ups queued for it were for the work just stopped: a later follow-up starts afresh.
        for followup in await self._store.pending_followups(task.id):
            await self._store.take_followup(followup.id)
        return changed

    async def request_review(self, target: str | int) -> Task:
        """`/task review ID`: the task runs again, starting with a review of its branch as it is."""
        task = await self.get(target)
        if task.status not in REVIEWABLE or not task.branch or not task.agent:
            raise UserError(f"task {task.id} is {task.status.value}; only a done or needs_review task with a branch "
                            "can be reviewed")
        changed = await self._states.move(task, TaskStatus.ROUTED, only_from=REVIEWABLE, next_step="review",
                                          attempts=0, review_reason=None)
        if changed is None:
            raise UserError(f"task {task.id} changed meanwhile; try again")
        return changed

    async def attempts(self, task_id: int) -> list[Attempt]:
        return await self._store.list_attempts(task_id)

    async def set_origin(self, origin: Origin) -> None:
        """Remember where the task was asked for: that chat and person are told when it needs them."""
        await self._store.set_origin(origin)

    async def origin(self, task_id: int) -> Origin | None:
        return await self._store.get_origin(task_id)

    async def questions(self, task_id: int) -> list[Question]:
        return await self._store.list_questions(task_id)

    async def remember_message(self, transport: str, chat_id: str, message_id: str, task_id: int) -> None:
        """A chat message about the task: a reply to it in the chat is a follow-up for the task."""
        await self._store.remember_message(transport, chat_id, message_id, task_id)

    async def task_of_message(self, transport: str, chat_id: str, message_id: str) -> int | None:
        return await self._store.task_of_message(transport, chat_id, message_id)

    async def reviews(self, task_id: int) -> list[Review]:
        return await self._store.list_reviews(task_id)

    async def route_record(self, task_id: int) -> dict[str, Any] | None:
        """The stored routing decision of a task (what `.orch/<id>.json` holds), if it was routed."""
        return await self._store.get_route(task_id)
