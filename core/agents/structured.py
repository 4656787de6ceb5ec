"""StructuredAgent: an agent CLI that prints JSON lines, decoded into events for the pane and for its result."""

from __future__ import annotations

from abc import abstractmethod

from orch.core.agents.base import AgentAdapter, AgentResult, AttemptContext
from orch.core.agents.decoding import Decoder
from orch.core.agents.fold import fold


class StructuredAgent(AgentAdapter):
    """An adapter whose CLI's output is decoded by a Decoder; the result is folded from the decoded events."""

    structured_output = True

    @abstractmethod
    def decoder(self) -> Decoder:
        """A fresh decoder for one attempt's output."""

    def parse_result(self, ctx: AttemptContext, exit_code: int, output: str) -> AgentResult:
        events = self.decoder().decode_all(output, exit_code)
        return fold(events, exit_code=exit_code, worktree=ctx.worktree)
