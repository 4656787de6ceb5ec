"""The AgentAdapter seam: how one agent CLI is launched for an attempt and how its output becomes a result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orch.core.config import AgentConfig, WorkflowConfig
from orch.core.tasks.models import Delegation, Task

ResultStatus = Literal["done", "failed", "needs_review", "blocked"]


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
    resume_session: str | None = None  # a follow-up: continue this session of the agent's, the prompt its next turn

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
    """How an attempt ended, and what it measured."""

    status: ResultStatus
    summary: str = ""
    files_changed: tuple[str, ...] = ()
    delegations: tuple[Delegation, ...] = ()
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    # An ErrorKind from the adapter, or one of the engine's own when it had to stop the attempt (timeout, ...).
    error_kind: str | None = None
    error: str | None = None
    session_id: str | None = None  # the agent CLI's conversation, which a later attempt can resume
    question: str | None = None  # what the agent asks when it waits for input (error_kind waiting_for_input)
    options: tuple[str, ...] = ()  # the answers it offers to that question, if any
    final_text: str = ""  # the agent's whole last message (a reviewer's verdict is read from it)


class AgentAdapter(ABC):
    """One agent CLI. Subclasses are stateless; per-attempt data comes in an AttemptContext."""

    name: str
    default_command: str
    #: True when the CLI prints structured (JSON lines) output that orch renders readably in the pane
    #: (the adapter is then a StructuredAgent).
    structured_output: bool = False
    #: True when the pane's terminal is the CLI's stdin, so it may stop at a prompt and wait for a person.
    reads_terminal: bool = False

    def executable(self, config: AgentConfig) -> str:
        """The command that starts this agent: agents.NAME.command, else the CLI's usual name."""
        return config.command or self.default_command

    @abstractmethod
    def build_launch(self, ctx: AttemptContext) -> Launch:
        """The command line and environment for this attempt (ORCH_* variables are added by the runner)."""

    @abstractmethod
    def parse_result(self, ctx: AttemptContext, exit_code: int, output: str) -> AgentResult:
        """The attempt's result from its exit code and its output: the raw structured output of a structured agent,
        the pane's last lines of any other."""
