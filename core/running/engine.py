"""The engine: picks up tasks, routes them, runs attempts in tmux, turns output into chunks, moves statuses.

Every change of a task goes through the store first and is then published on the hub, so a subscriber that
reads the store after subscribing misses nothing. Other processes (the CLI) change the store directly; a
reconcile pass every `poll_interval` seconds notices new and cancelled tasks, so they act within a second.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from dataclasses import dataclass, replace

from orch.core.agents.base import AgentAdapter, AgentResult, AttemptContext
from orch.core.agents.prompt import build_system_prompt, build_task_prompt
from orch.core.agents.registry import adapter_for
from orch.core.config import Config
from orch.core.errors import NoAgentAvailable, OrchError, UserError
from orch.core.events import Event, EventHub, OutputChunk, TaskChanged
from orch.core.home import OrchHome
from orch.core.projects.registry import ProjectRef
from orch.core.projects.worktrees import Worktree, Worktrees
from orch.core.redact import Redactor
from orch.core.routing.router import Router, agent_installed
from orch.core.running.policy import decide
from orch.core.store.base import Store
from orch.core.tasks.models import Attempt, Chunk, RouteDecision, Task, TaskStatus
from orch.core.tasks.service import TaskService
from orch.core.terminal.capture import CaptureBatch, CapturePoller, PaneCapture
from orch.core.terminal.tmux import PaneProcess, StartedPane, TmuxRunner, python_module_argv, session_name

log = logging.getLogger("orch.engine")

_SUMMARY_LINES = 200


@dataclass
class _AttemptRun:
    """One attempt while it runs: where its output goes and what it has printed so far."""

    task_id: int
    number: int
    started: StartedPane
    next_seq: int
    last_output: float
    tail: collections.deque[str]
    finished: asyncio.Event
    redactor: Redactor  # one per stream: it remembers being inside a private key across reads
    exit_code: int | None = None


class Engine:
    def __init__(
        self,
        home: OrchHome,
        config: Config,
        store: Store,
        hub: EventHub,
        *,
        router: Router | None = None,
        runner: TmuxRunner | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.home = home
        self.config = config
        self.store = store
        self.hub = hub
        self.service = TaskService(store, config, home, hub)
        self.router = router or Router(config, store, home)
        self.runner = runner or TmuxRunner(home)
        self.worktrees = Worktrees(home)
        self.poller = CapturePoller()
        self._poll_interval = poll_interval
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._cooldown_until: dict[str, float] = {}
        self._announced_cancels: set[int] = set()

    # lifecycle of the engine itself
    async def start(self) -> None:
        routing = self.router.status_line()
        if "no ANTHROPIC_API_KEY" in routing:
            # Said once at start, where a person looks first: without a key every task is routed round-robin.
            log.warning("%s: tasks without an agent: label are routed round-robin", routing)
        else:
            log.info(routing)
        await self._recover()
        self._background = [
            asyncio.create_task(self.poller.run(), name="capture-poller"),
            asyncio.create_task(self._listen(), name="engine-listen"),
            asyncio.create_task(self._loop(), name="engine-loop"),
        ]

    async def stop(self) -> None:
        """Stop orch's own work; tmux sessions of running agents go on and are picked up at the next start."""
        for task in [*self._background, *self._running.values()]:
            task.cancel()
        for task in [*self._background, *self._running.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()
        self._running.clear()
        await self.router.close()

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        def relevant(event: Event) -> bool:
            return isinstance(event, TaskChanged) and event.task.status in (TaskStatus.NEW, TaskStatus.CANCELLED)

        async with self.hub.subscribed(relevant) as subscription:
            async for event in subscription:
                assert isinstance(event, TaskChanged)
                if event.task.status is TaskStatus.CANCELLED:
                    self._announced_cancels.add(event.task.id)
                self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self._reconcile()
            except Exception:
                log.exception("reconcile failed")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the event.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def _reconcile(self) -> None:
        for task_id, runner in list(self._running.items()):
            task = await self.store.get_task(task_id)
            if task is not None and task.status is TaskStatus.CANCELLED and not runner.done():
                runner.cancel()
                await self.runner.kill(session_name(task_id))
                if self._cancelled_elsewhere(task):
                    self.hub.publish(TaskChanged(task, TaskStatus.IN_PROGRESS))
        for parent in await self.store.list_tasks(status=TaskStatus.BLOCKED):
            await self._unblock_if_children_done(parent)
        candidates = [*await self.store.list_tasks(status=TaskStatus.NEW),
                      *await self.store.list_tasks(status=TaskStatus.ROUTED)]
        for task in sorted(candidates, key=lambda t: t.id):
            if len(self._running) >= self.config.workflow.max_parallel:
                break
            if task.id in self._running:
                continue
            children = await self.store.list_tasks(parent_id=task.id)
            if any(child.status is not TaskStatus.DONE for child in children):
                await self._set_status(task, TaskStatus.BLOCKED, only_from=(task.status,))
                continue
            self._spawn(task, resume=False)

    def _cancelled_elsewhere(self, task: Task) -> bool:
        """True the first time the engine sees a cancel it did not hear on the hub (the CLI is another process)."""
        if task.id in self._announced_cancels:
            self._announced_cancels.discard(task.id)
            return False
        return True

    def _spawn(self, task: Task, *, resume: bool) -> None:
        runner = asyncio.create_task(self._run_task(task, resume=resume), name=f"task-{task.id}")
        self._running[task.id] = runner
        runner.add_done_callback(lambda _: self._finished(task.id))

    def _finished(self, task_id: int) -> None:
        self._running.pop(task_id, None)
        self._wake.set()

    async def _set_status(self, task: Task, status: TaskStatus, *, only_from: tuple[TaskStatus, ...],
                          **fields: object) -> Task | None:
        changed = await self.store.transition(task.id, status, only_from=only_from, **fields)
        if changed is not None:
            self.hub.publish(TaskChanged(changed, task.status))
        return changed

    # one task
    async def _run_task(self, task: Task, *, resume: bool) -> None:
        try:
            if resume:
                decision = await self._stored_decision(task)
            else:
                try:
                    decision = await self.router.route(task)
                except NoAgentAvailable as exc:
                    await self._set_status(task, TaskStatus.NEEDS_REVIEW, only_from=(task.status,),
                                           review_reason=f"no agent available: {exc} (install claude, codex or "
                                           "opencode, or give the task agent:shell)")
                    return
                routed = await self._set_status(
                    task, TaskStatus.ROUTED, only_from=(TaskStatus.NEW, TaskStatus.ROUTED), agent=decision.agent,
                    model=decision.model, complexity=decision.complexity, route_reason=decision.reason,
                )
                if routed is None:
                    return
                task = routed
            project = await self.service.projects.resolve(task.project)
            worktree = await self.worktrees.ensure(project, task)
            if not resume:
                started_task = await self._set_status(
                    task, TaskStatus.IN_PROGRESS, only_from=(TaskStatus.ROUTED,), project=project.name,
                    branch=worktree.branch, worktree=str(worktree.path),
                )
                if started_task is None:
                    return
                task = started_task
            await self._attempts(task, decision, project, worktree, resume=resume)
        except (OrchError, OSError) as exc:
            log.exception("task %s failed", task.id)
            current = await self.store.get_task(task.id)
            if current is not None and not current.status.is_terminal:
                await self._set_status(current, TaskStatus.NEEDS_REVIEW, only_from=(current.status,),
                                       review_reason=f"orch error: {exc}")

    async def _stored_decision(self, task: Task) -> RouteDecision:
        stored = await self.store.get_route(task.id) or {}
        return RouteDecision(
            agent=task.agent or str(stored.get("agent", "shell")), model=task.model,
            complexity=task.complexity or "medium", reason=task.route_reason or "", decided_by="stored",
        )

    async def _attempts(self, task: Task, decision: RouteDecision, project: ProjectRef, worktree: Worktree,
                        *, resume: bool) -> None:
        adapter = adapter_for(decision.agent)
        tried_models: set[str | None] = {decision.model}
        while True:
            # `number` names the attempt for good (its folder, its row); task.attempts counts this round's
            # attempts against max_attempts and starts again at 0 when a person unblocks or retries the task.
            history = await self.store.list_attempts(task.id)
            number = history[-1].number if resume and history else len(history) + 1
            if not resume:
                task = await self.store.update_task(task.id, attempts=task.attempts + 1)
            ctx = await self._context(task, number, decision, project, worktree, adapter)
            result, exit_code = await self._attempt(task, ctx, adapter, resume=resume)
            resume = False
            files = await self.worktrees.commit(worktree.path, f"orch: task {task.id}: {task.title}\n\n"
                                                f"Attempt {number} by {decision.agent}.")
            if files:
                (ctx.attempt_dir / "files_changed.txt").write_text("\n".join(files) + "\n", encoding="utf-8")
            await self.store.finish_attempt(Attempt(
                task_id=task.id, number=number, agent=decision.agent, model=decision.model, started_at=0.0,
                finished_at=time.time(), exit_code=exit_code, outcome=result.error_kind or result.status,
                error=result.error, summary=result.summary, cost_usd=result.cost_usd, tokens_in=result.tokens_in,
                tokens_out=result.tokens_out,
            ))
            cost = (task.cost_usd or 0.0) + result.cost_usd if result.cost_usd is not None else task.cost_usd
            if result.status == "done":
                done = await self._set_status(task, TaskStatus.DONE, only_from=(TaskStatus.IN_PROGRESS,),
                                              summary=result.summary, cost_usd=cost)
                if done is not None:
                    await self._after_done(done)
                return
            if result.status == "blocked" and result.delegations:
                await self._delegate(task, result, cost)
                return
            step = decide(result, agent=decision.agent, attempt=task.attempts,
                          max_attempts=self.config.workflow.max_attempts, available=self._available_agents(),
                          cooldown=self._cooling_agents(), next_model=self._next_model(decision, tried_models))
            if step.action == "needs_review":
                await self._set_status(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                       review_reason=step.reason, cost_usd=cost)
                return
            log.info("task %s attempt %s: %s (%s)", task.id, number, step.action, step.reason)
            if step.action == "failover" and step.agent is not None:
                self._cooldown_until[decision.agent] = time.monotonic() + step.cooldown_seconds
                decision = replace(decision, agent=step.agent,
                                   model=self.config.model_map.model_for(decision.complexity, step.agent),
                                   reason=f"failover from {decision.agent}: {step.reason}")
                adapter = adapter_for(decision.agent)
            elif step.action == "next_model" and step.model is not None:
                decision = replace(decision, model=step.model)
            tried_models.add(decision.model)
            task = await self.store.update_task(task.id, cost_usd=cost, agent=decision.agent, model=decision.model)
            if step.delay_seconds:
                await asyncio.sleep(step.delay_seconds)

    def _private_env_names(self) -> tuple[str, ...]:
        """orch's chat tokens: the tmux server inherits orch's environment, agents must not see them."""
        transports = self.config.transports
        tokens = {token for token in (transports.telegram.token, transports.discord.token) if token}
        names = {"TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"}
        names.update(name for name, value in os.environ.items() if value in tokens)
        return tuple(sorted(names))

    def _available_agents(self) -> list[str]:
        return [name for name in self.config.router.agents if agent_installed(self.config, name)]

    def _cooling_agents(self) -> list[str]:
        now = time.monotonic()
        return [name for name, until in self._cooldown_until.items() if until > now]

    def _next_model(self, decision: RouteDecision, tried: set[str | None]) -> str | None:
        """Another model for the same agent: the other tiers' models, nearest tier first."""
        order = {"simple": ("medium", "complex"), "medium": ("complex", "simple"), "complex": ("medium", "simple")}
        for tier in order.get(decision.complexity, ()):
            model = self.config.model_map.model_for(tier, decision.agent)
            if model is not None and model not in tried:
                return model
        return None

    async def _context(self, task: Task, number: int, decision: RouteDecision, project: ProjectRef,
                       worktree: Worktree, adapter: AgentAdapter) -> AttemptContext:
        attempt_dir = self.home.attempt_dir(task.id, number)
        attempt_dir.mkdir(parents=True, exist_ok=True)
        children = await self.store.list_tasks(parent_id=task.id)
        results = [f"task {c.id} ({c.title}): {c.status.value}: {c.summary or 'no summary'}" for c in children]
        prompt_file = attempt_dir / "prompt.md"
        prompt_file.write_text(build_task_prompt(task, results), encoding="utf-8")
        route = await self.store.get_route(task.id) or {}
        return AttemptContext(
            task=task, attempt=number, agent=decision.agent, model=decision.model, worktree=worktree.path,
            attempt_dir=attempt_dir, prompt_file=prompt_file,
            system_prompt=build_system_prompt(task, worktree.path, project.path, route.get("profile") or {}),
            main_checkout=project.path, agent_config=self.config.agents.get(decision.agent),
            workflow=self.config.workflow, result_file=attempt_dir / "result.json",
        )

    async def _attempt(self, task: Task, ctx: AttemptContext, adapter: AgentAdapter, *,
                       resume: bool) -> tuple[AgentResult, int | None]:
        session = session_name(task.id)
        nonce_file = ctx.attempt_dir / "nonce"
        if resume and nonce_file.exists():
            started = StartedPane(session, ctx.attempt_dir / "pane.log", ctx.attempt_dir / "exit_code",
                                  nonce_file.read_text().strip())
            offset = await self.store.capture_offset(task.id, ctx.attempt)
        else:
            launch = adapter.build_launch(ctx)
            env = {**launch.env, "ORCH_TASK_ID": str(task.id), "ORCH_AGENT": ctx.agent,
                   "ORCH_MODEL": ctx.model or "", "ORCH_ATTEMPT": str(ctx.attempt),
                   "ORCH_RESULT_FILE": str(ctx.result_file), "ORCH_PROMPT_FILE": str(ctx.prompt_file),
                   "PATH": os.environ.get("PATH", "")}
            argv, stdin = launch.argv, launch.stdin_file
            if adapter.structured_output:
                extra = ["--stdin", str(stdin)] if stdin else []
                argv = python_module_argv("orch.core.agents.render", ctx.agent, str(ctx.raw_output_file), *extra,
                                          "--", *argv)
                stdin = None
            await self.store.add_attempt(Attempt(task.id, ctx.attempt, ctx.agent, ctx.model, time.time()))
            started = await self.runner.start(PaneProcess(session, ctx.worktree, argv, env, ctx.attempt_dir, stdin,
                                                          self._private_env_names()))
            nonce_file.write_text(started.nonce, encoding="utf-8")
            offset = 0
        run = _AttemptRun(task.id, ctx.attempt, started, await self.store.last_seq(task.id) + 1, time.monotonic(),
                          collections.deque(maxlen=_SUMMARY_LINES), asyncio.Event(),
                          Redactor(self.config.redact.patterns))
        capture = PaneCapture(started.pipe_file, started.nonce, offset)
        key = f"{task.id}:{ctx.attempt}"
        self.poller.watch(key, capture, lambda batch: self._on_output(run, batch))
        try:
            failure = await self._supervise(run, ctx)
        finally:
            self.poller.unwatch(key)
        # Not on cancellation: when orch serve stops, the agent goes on and the next start picks it up.
        await self.runner.kill(session)
        if failure is not None:
            return AgentResult(status="failed", error_kind=failure[0], error=failure[1]), run.exit_code
        assert run.exit_code is not None
        output = ctx.raw_output_file.read_text(encoding="utf-8", errors="replace") if adapter.structured_output \
            and ctx.raw_output_file.exists() else "\n".join(run.tail)
        return adapter.parse_result(ctx, run.exit_code, output), run.exit_code

    async def _supervise(self, run: _AttemptRun, ctx: AttemptContext) -> tuple[str, str] | None:
        """Wait for the attempt to end; (kind, message) when it had to be stopped or vanished."""
        workflow = ctx.workflow
        deadline = time.monotonic() + workflow.timeout_seconds
        tick = min(1.0, workflow.idle_timeout_seconds / 4, workflow.timeout_seconds / 4)
        while not run.finished.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await run.finished.wait()
            if run.finished.is_set():
                break
            now = time.monotonic()
            if now > deadline:
                return "timeout", f"timed out after {workflow.timeout_seconds:g} s"
            if now - run.last_output > workflow.idle_timeout_seconds:
                return "idle_timeout", f"printed nothing for {workflow.idle_timeout_seconds:g} s"
            if not await self.runner.is_alive(run.started.session):
                # One last read: the marker may have arrived just before the session went away.
                await asyncio.sleep(0)
                if not run.finished.is_set():
                    return "lost", "the agent's tmux session ended without finishing"
        return None

    async def _on_output(self, run: _AttemptRun, batch: CaptureBatch) -> None:
        run.last_output = time.monotonic()
        lines = run.redactor.redact_lines(batch.lines)
        chunks: list[Chunk] = []
        now = time.time()
        if lines:
            chunks.append(Chunk(run.task_id, run.next_seq, "\n".join(lines), now))
            run.next_seq += 1
            run.tail.extend(lines)
        if batch.finished:
            chunks.append(Chunk(run.task_id, run.next_seq, "", now, is_final=True))
            run.next_seq += 1
        if chunks:
            await self.store.append_chunks(chunks, attempt=run.number, byte_offset=batch.resume_offset)
            for chunk in chunks:
                self.hub.publish(OutputChunk(chunk))
        if batch.finished:
            run.exit_code = batch.exit_code
            run.finished.set()

    async def _delegate(self, task: Task, result: AgentResult, cost: float | None) -> None:
        if await self.store.list_tasks(parent_id=task.id):
            await self._set_status(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                   review_reason="asked for sub-tasks again after its sub-tasks were done",
                                   cost_usd=cost)
            return
        for delegation in result.delegations:
            await self.service.create(delegation.title, delegation.body, labels=delegation.labels,
                                      project=task.project, parent_id=task.id)
        await self._set_status(task, TaskStatus.BLOCKED, only_from=(TaskStatus.IN_PROGRESS,),
                               summary=result.summary, cost_usd=cost)

    async def _after_done(self, task: Task) -> None:
        if task.parent_id is None:
            return
        parent = await self.store.get_task(task.parent_id)
        if parent is not None and parent.status is TaskStatus.BLOCKED:
            await self._unblock_if_children_done(parent)

    async def _unblock_if_children_done(self, parent: Task) -> None:
        children = await self.store.list_tasks(parent_id=parent.id)
        all_done = bool(children) and all(child.status is TaskStatus.DONE for child in children)
        if all_done and await self._set_status(parent, TaskStatus.NEW, only_from=(TaskStatus.BLOCKED,), attempts=0):
            self._wake.set()

    async def _recover(self) -> None:
        """After a restart: tasks that were running go on (their tmux sessions survived) or are retried."""
        for task in await self.store.list_tasks(status=TaskStatus.IN_PROGRESS):
            history = await self.store.list_attempts(task.id)
            last = history[-1] if history else None
            if last is not None and last.finished_at is None and \
                    (self.home.attempt_dir(task.id, last.number) / "nonce").exists():
                log.info("resuming task %s attempt %s", task.id, last.number)
                self._spawn(task, resume=True)
            else:
                await self._set_status(task, TaskStatus.NEW, only_from=(TaskStatus.IN_PROGRESS,))

    # EngineControl, for chat commands
    async def say(self, task_id: int, text: str) -> None:
        task = await self.service.get(task_id)
        if task.status is not TaskStatus.IN_PROGRESS:
            raise UserError(f"task {task.id} is {task.status.value}; /say needs a running task")
        await self.runner.paste(session_name(task.id), text)

    async def reroute(self, task_id: int) -> RouteDecision:
        task = await self.service.get(task_id)
        if task.status not in (TaskStatus.NEW, TaskStatus.ROUTED):
            raise UserError(f"task {task.id} is {task.status.value}; only tasks that have not started can be routed")
        try:
            decision = await self.router.route(task)
        except NoAgentAvailable as exc:
            raise UserError(f"no agent available: {exc}") from None
        await self.store.update_task(task.id, agent=decision.agent, model=decision.model,
                                     complexity=decision.complexity, route_reason=decision.reason)
        return decision

    def status_lines(self) -> list[str]:
        return [f"engine: {len(self._running)} running (max {self.config.workflow.max_parallel})",
                self.router.status_line()]

