"""The turns of one task's conversation with its agent, as its runner takes them: the next follow-up (taken so a
restart cannot give it twice), the agent session a follow-up continues, and a question the agent ended its turn
with (the task then waits for a person; orch.core.tasks.conversation takes the answer)."""

from __future__ import annotations

from orch.core.agents.base import AgentResult
from orch.core.store.base import Store
from orch.core.tasks.models import FollowUp, Task, TaskStatus
from orch.core.tasks.states import TaskStates


class AgentTurns:
    def __init__(self, store: Store, states: TaskStates) -> None:
        self._store = store
        self._states = states

    async def next_followup(self, task: Task) -> FollowUp | None:
        """The oldest follow-up not taken yet, taken now (so a restart does not give it to a second attempt). A
        task that has not run yet runs its own prompt first: the follow-up is its next turn."""
        if not any(attempt.kind == "work" for attempt in await self._store.list_attempts(task.id)):
            return None
        for followup in await self._store.pending_followups(task.id):
            if await self._store.take_followup(followup.id):
                return followup
        return None

    async def session_of(self, task: Task, agent: str) -> str | None:
        """The agent's own session to continue: the last one an attempt of this agent recorded."""
        for attempt in reversed(await self._store.list_attempts(task.id)):
            if attempt.agent == agent and attempt.kind == "work" and attempt.session_id:
                return attempt.session_id
        return None

    async def wait_for_answer(self, task: Task, result: AgentResult) -> None:
        """The agent ended its turn with a question: the task waits for a person; the answer resumes it."""
        assert result.question is not None
        question = await self._store.add_question(task.id, "question", result.question, result.options)
        await self._states.move(task, TaskStatus.WAITING, only_from=(TaskStatus.IN_PROGRESS,),
                                summary=result.summary or task.summary)
        self._states.asked(question)
