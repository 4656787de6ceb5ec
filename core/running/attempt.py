"""One attempt of a task: its agent runs in a tmux session while orch records its output and watches the clock.

A new attempt is launched; after a restart of `orch serve` a running one is re-attached from the capture offset
stored with its last chunk. The attempt ends when the wrapper script's end marker is read (see
orch.core.terminal.capture), on a timeout, when the agent prints nothing for too long, or when its session
vanishes. Its result is read from the agent's structured output (or the tail of what it printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import replace

from orch.core.agents.base import AgentAdapter, AgentResult, AttemptContext
from orch.core.config import Config
from orch.core.errors import describe
from orch.core.events import EventHub
from orch.core.home import write_private
from orch.core.running.launch import AttemptSetup
from orch.core.running.recording import OutputRecorder
from orch.core.store.base import Store
from orch.core.tasks.models import Attempt, Question, TaskStatus
from orch.core.tasks.states import TaskStates
from orch.core.terminal.capture import CapturePoller, PaneCapture
from orch.core.terminal.tmux import PaneProcess, StartedPane, TmuxRunner, session_name

log = logging.getLogger("orch.running")

# The same failure line this many times in a row (numbers aside): the agent is stuck retrying; fail over.
REPEAT_LIMIT = 8
_FAILURE = re.compile(r"error|fail|retry|retrying|\b429\b|rate.?limit|overload|unavailable|time[ds]? ?out|"
                      r"refused|denied|exception|↻|✗", re.IGNORECASE)

# (kind, message) of an attempt orch had to stop, or whose session vanished.
Stopped = tuple[str, str]


class AttemptRunner:
    def __init__(self, config: Config, store: Store, states: TaskStates, hub: EventHub, tmux: TmuxRunner,
                 poller: CapturePoller, setup: AttemptSetup) -> None:
        self._config = config
        self._store = store
        self._states = states
        self._hub = hub
        self._tmux = tmux
        self._poller = poller
        self._setup = setup

    async def run(self, ctx: AttemptContext, adapter: AgentAdapter, *, resume: bool, kind: str = "work",
                  prefix: str = "", setup: str | None = None) -> tuple[AgentResult, int | None]:
        """Run (or, with `resume`, re-attach to) the attempt until it ends; its result and exit code.

        `kind` is recorded with the attempt (work, review); `prefix` starts each of its lines in the chats;
        `setup` is the project's setup command, run in the pane before the agent.
        """
        task_id = ctx.task.id
        try:
            started, offset = await self._reattach(ctx) if resume else (None, 0)
            if started is None:
                started = await self._launch(ctx, adapter, kind, setup)
        except Exception as exc:  # tmux refused, the attempt's folder cannot be written, ...: this attempt failed
            log.exception("task %s attempt %s could not start", task_id, ctx.attempt)
            return AgentResult(status="failed", error_kind="start_failed",
                               error=f"the agent could not be started: {describe(exc)}"), None
        recorder = OutputRecorder(self._store, self._hub, task_id, ctx.attempt, await self._store.last_seq(task_id) + 1,
                                  self._config.redact.patterns, prefix)
        key = f"{task_id}:{ctx.attempt}"
        capture = PaneCapture(started.pipe_file, started.nonce, offset)
        self._poller.watch(key, capture, recorder.record)
        try:
            stopped = await self._supervise(recorder, started, ctx, capture if adapter.reads_terminal else None)
        except Exception as exc:  # watching the session failed: the attempt cannot be followed any more
            log.exception("task %s attempt %s: supervision failed", task_id, ctx.attempt)
            stopped = ("lost", f"orch could not follow the agent: {describe(exc)}")
        finally:
            self._poller.unwatch(key)
        # Not on cancellation: when orch serve stops, the agent goes on and the next start picks it up.
        await self._tmux.kill(started.session)
        setup_failed = ctx.attempt_dir / "setup_failed"
        if stopped is None and setup_failed.exists():
            tail = "; ".join(line for line in list(recorder.tail)[-5:] if line.strip())
            stopped = ("setup", f"the project's setup command failed (exit {setup_failed.read_text().strip()})"
                       + (f": {tail}" if tail else ""))
        result = self._read_result(ctx, adapter, recorder)
        if stopped is not None:
            # Whatever it printed still tells its session, tokens and cost; the outcome is why it was stopped.
            return replace(result, status="failed", error_kind=stopped[0], error=stopped[1]), recorder.exit_code
        return result, recorder.exit_code

    def _read_result(self, ctx: AttemptContext, adapter: AgentAdapter, recorder: OutputRecorder) -> AgentResult:
        output = ctx.raw_output_file.read_text(encoding="utf-8", errors="replace") if adapter.structured_output \
            and ctx.raw_output_file.exists() else "\n".join(recorder.tail)
        exit_code = recorder.exit_code if recorder.exit_code is not None else -1
        try:
            return adapter.parse_result(ctx, exit_code, output)
        except Exception as exc:
            log.exception("task %s attempt %s: its result could not be read", ctx.task.id, ctx.attempt)
            return AgentResult(status="failed", error_kind="unparseable",
                               error=f"orch could not read the result: {describe(exc)}")

    async def _reattach(self, ctx: AttemptContext) -> tuple[StartedPane | None, int]:
        nonce_file = ctx.attempt_dir / "nonce"
        if not nonce_file.exists():
            return None, 0
        started = StartedPane(session_name(ctx.task.id), ctx.attempt_dir / "pane.log", ctx.attempt_dir / "exit_code",
                              nonce_file.read_text().strip())
        return started, await self._store.capture_offset(ctx.task.id, ctx.attempt)

    async def _launch(self, ctx: AttemptContext, adapter: AgentAdapter, kind: str, setup: str | None) -> StartedPane:
        launch = adapter.build_launch(ctx)
        argv, stdin = self._setup.pane_argv(adapter, ctx, launch)
        await self._store.add_attempt(Attempt(ctx.task.id, ctx.attempt, ctx.agent, ctx.model, time.time(), kind=kind))
        started = await self._tmux.start(PaneProcess(
            session_name(ctx.task.id), ctx.worktree, argv, self._setup.environment(ctx, launch), ctx.attempt_dir,
            stdin, self._setup.private_names(), setup=setup, setup_done=self._setup.setup_marker(ctx.task.id)))
        write_private(ctx.attempt_dir / "nonce", started.nonce)
        return started

    async def _supervise(self, recorder: OutputRecorder, started: StartedPane, ctx: AttemptContext,
                         terminal: PaneCapture | None) -> Stopped | None:
        """Wait for the attempt to end; (kind, message) when it had to be stopped or vanished.

        `terminal`: the capture of an agent that reads its terminal, which may stop at a prompt and wait for a
        person (then the task waits, and the idle timeout does not run until the prompt is answered).
        """
        workflow = ctx.workflow
        deadline = time.monotonic() + workflow.timeout_seconds
        tick = min(1.0, workflow.idle_timeout_seconds / 4, workflow.timeout_seconds / 4,
                   workflow.prompt_idle_seconds / 4)
        prompt: Question | None = None
        while not recorder.finished.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await recorder.finished.wait()
            if recorder.finished.is_set():
                break
            now = time.monotonic()
            if now > deadline:
                return "timeout", f"timed out after {workflow.timeout_seconds:g} s"
            if prompt is not None:
                prompt = await self._still_waiting(prompt, recorder)
                continue
            if recorder.repeats >= REPEAT_LIMIT and _FAILURE.search(recorder.repeated):
                return "repeating", f"it keeps printing the same failure: {recorder.repeated.strip()[:300]}"
            if terminal is not None and now - recorder.last_output > workflow.prompt_idle_seconds \
                    and terminal.pending_line.strip():
                prompt = await self._wait_at_prompt(ctx, terminal.pending_line.strip())
                continue
            if now - recorder.last_progress > workflow.idle_timeout_seconds:
                if now - recorder.last_output > workflow.idle_timeout_seconds:
                    return "idle_timeout", f"printed nothing for {workflow.idle_timeout_seconds:g} s"
                return "idle_timeout", (f"made no progress for {workflow.idle_timeout_seconds:g} s; it kept "
                                        f"printing {recorder.repeated.strip()[:200]!r}")
            if not await self._tmux.is_alive(started.session):
                # One last read: the marker may have arrived just before the session went away.
                await asyncio.sleep(0)
                if not recorder.finished.is_set():
                    return "lost", "the agent's tmux session ended without finishing"
        return None

    async def _wait_at_prompt(self, ctx: AttemptContext, line: str) -> Question | None:
        """The agent stopped at a prompt: ask the people following the task; the task waits."""
        question = await self._store.add_question(ctx.task.id, "prompt", line)
        current = await self._store.get_task(ctx.task.id)
        if current is None or await self._states.move(current, TaskStatus.WAITING,
                                                      only_from=(TaskStatus.IN_PROGRESS,)) is None:
            return None
        self._states.asked(question)
        log.info("task %s waits at a prompt: %s", ctx.task.id, line)
        return question

    async def _still_waiting(self, prompt: Question, recorder: OutputRecorder) -> Question | None:
        current = await self._store.get_question(prompt.id)
        if current is None or current.open:
            return prompt
        recorder.last_output = recorder.last_progress = time.monotonic()  # the idle clock starts again
        return None
