"""The AgentAdapter seam: how one agent CLI is launched for an attempt and how its output becomes a result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orch.core.config import AgentConfig, WorkflowConfig
from orch.core.tasks.models import Delegation, Task

ResultStatus = Literal["done", "failed", "needs_review", "blocked"]

# Error kinds an adapter may report; the engine decides retry, failover or needs_review from them.
ERROR_KINDS = (
    "rate_limit",
    "overloaded",
    "auth",
    "model_not_found",
    "context_too_long",
    "timeout",
    "idle_timeout",
    "tool_missing",
    "waiting_for_input",
    "permission_denied",
    "exit_code",
    "unparseable",
)


@dataclass(frozen=True)
class AttemptContext:
    """Everything an adapter needs to launch one attempt."""

    task: Task
    attempt: int
    agent: str
    model: str | None
    worktree: Path
    attempt_dir: Path
    prompt_file: Path  # the task prompt, written by the runner before launch
    system_prompt: str  # prompts/agent_system.md filled for this task
    main_checkout: Path  # the project's own checkout, which a sandboxed agent must not touch
    agent_config: AgentConfig
    workflow: WorkflowConfig
    result_file: Path  # where a scripted agent may write {"summary", "delegations"} as JSON
    read_only: bool = False  # a review: the agent's sandbox must deny every edit

    @property
    def raw_output_file(self) -> Path:
        return self.attempt_dir / "raw.jsonl"


@dataclass(frozen=True)
class Launch:
    """The process to start in the task's tmux pane."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin_file: Path | None = None  # None means /dev/null: agents must never wait on a terminal


@dataclass(frozen=True)
class AgentResult:
    status: ResultStatus
    summary: str = ""
    files_changed: tuple[str, ...] = ()
    delegations: tuple[Delegation, ...] = ()
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error_kind: str | None = None
    error: str | None = None


class AgentAdapter(ABC):
    """One agent CLI. Subclasses are stateless; per-attempt data comes in an AttemptContext."""

    name: str
    default_command: str
    #: True when the CLI prints structured (JSON lines) output that orch renders readably in the pane.
    structured_output: bool = False

    def executable(self, config: AgentConfig) -> str:
        """The command that starts this agent: agents.NAME.command, else the CLI's usual name."""
        return config.command or self.default_command

    @abstractmethod
    def build_launch(self, ctx: AttemptContext) -> Launch:
        """The command line and environment for this attempt (ORCH_* variables are added by the runner)."""

    def render_line(self, line: str) -> list[str]:
        """Readable pane lines for one line of the CLI's structured output."""
        return [line]

    @abstractmethod
    def parse_result(self, ctx: AttemptContext, exit_code: int, output: str) -> AgentResult:
        """The attempt's result from its raw structured output (`output`) and exit code."""
