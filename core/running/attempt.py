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
import time

from orch.core.agents.base import AgentAdapter, AgentResult, AttemptContext
from orch.core.config import Config
from orch.core.errors import describe
from orch.core.events import EventHub
from orch.core.home import write_private
from orch.core.running.launch import AttemptSetup
from orch.core.running.recording import OutputRecorder
from orch.core.store.base import Store
from orch.core.tasks.models import Attempt
from orch.core.terminal.capture import CapturePoller, PaneCapture
from orch.core.terminal.tmux import PaneProcess, StartedPane, TmuxRunner, session_name

log = logging.getLogger("orch.running")

# (kind, message) of an attempt orch had to stop, or whose session vanished.
Stopped = tuple[str, str]


class AttemptRunner:
    def __init__(self, config: Config, store: Store, hub: EventHub, tmux: TmuxRunner, poller: CapturePoller,
                 setup: AttemptSetup) -> None:
        self._config = config
        self._store = store
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
        self._poller.watch(key, PaneCapture(started.pipe_file, started.nonce, offset), recorder.record)
        try:
            stopped = await self._supervise(recorder, started, ctx)
        except Exception as exc:  # watching the session failed: the attempt cannot be followed any more
            log.exception("task %s attempt %s: supervision failed", task_id, ctx.attempt)
            stopped = ("lost", f"orch could not follow the agent: {describe(exc)}")
        finally:
            self._poller.unwatch(key)
        # Not on cancellation: when orch serve stops, the agent goes on and the next start picks it up.
        await self._tmux.kill(started.session)
        if stopped is not None:
            return AgentResult(status="failed", error_kind=stopped[0], error=stopped[1]), recorder.exit_code
        assert recorder.exit_code is not None
        setup_failed = ctx.attempt_dir / "setup_failed"
        if setup_failed.exists():
            tail = "; ".join(line for line in list(recorder.tail)[-5:] if line.strip())
            return AgentResult(status="failed", error_kind="setup",
                               error=f"the project's setup command failed (exit {setup_failed.read_text().strip()})"
                                     + (f": {tail}" if tail else "")), recorder.exit_code
        output = ctx.raw_output_file.read_text(encoding="utf-8", errors="replace") if adapter.structured_output \
            and ctx.raw_output_file.exists() else "\n".join(recorder.tail)
        try:
            return adapter.parse_result(ctx, recorder.exit_code, output), recorder.exit_code
        except Exception as exc:
            log.exception("task %s attempt %s: its result could not be read", task_id, ctx.attempt)
            return AgentResult(status="failed", error_kind="unparseable",
                               error=f"orch could not read the result: {describe(exc)}"), recorder.exit_code

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

    async def _supervise(self, recorder: OutputRecorder, started: StartedPane, ctx: AttemptContext) -> Stopped | None:
        """Wait for the attempt to end; (kind, message) when it had to be stopped or vanished."""
        workflow = ctx.workflow
        deadline = time.monotonic() + workflow.timeout_seconds
        tick = min(1.0, workflow.idle_timeout_seconds / 4, workflow.timeout_seconds / 4)
        while not recorder.finished.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await recorder.finished.wait()
            if recorder.finished.is_set():
                break
            now = time.monotonic()
            if now > deadline:
                return "timeout", f"timed out after {workflow.timeout_seconds:g} s"
            if now - recorder.last_output > workflow.idle_timeout_seconds:
                return "idle_timeout", f"printed nothing for {workflow.idle_timeout_seconds:g} s"
            if not await self._tmux.is_alive(started.session):
                # One last read: the marker may have arrived just before the session went away.
                await asyncio.sleep(0)
                if not recorder.finished.is_set():
                    return "lost", "the agent's tmux session ended without finishing"
        return None
