"""`orch task new|list|show|route|unblock|retry|cancel|say`: TaskService, RoutingService and TaskControl (list and
show read the SQLite file directly when they can: orch.core.tasks.reading).

Text is bot.format's, the lines chats show too; `--json` is the tasks' own JSON view.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orch.bot import format as fmt
from orch.core.home import OrchHome
from orch.core.tasks.models import Attempt, Question, Review, Task, TaskStatus
from orch.core.tasks.reading import TaskReading
from orch.transports.cli.look import Table, show_table
from orch.transports.cli.output import print_json, show

if TYPE_CHECKING:  # the services (asyncio, aiosqlite) load only for a command that needs them
    from orch.core.cluster.hosts import Placement
    from orch.core.services import Services


async def _new(args: argparse.Namespace, services: Services) -> int:
    task = await services.tasks.create(args.title, args.body, labels=args.label, agent=args.agent,
                                       complexity=args.complexity, project=args.project, parent_id=args.parent,
                                       cwd=Path.cwd())
    show(fmt.created(task))
    return 0


async def _list(args: argparse.Namespace, services: Services) -> int:
    return _print_list(args, await services.tasks.list_tasks(args.status, args.project))


def _print_list(args: argparse.Namespace, tasks: list[Task]) -> int:
    if args.json:
        print_json([task.to_json() for task in tasks])
        return 0
    show_table(Table(fmt.task_table(tasks), fmt.TASK_COLUMNS, fmt.task_rows(tasks), right=frozenset({0}), status=1))
    return 0


async def _show(args: argparse.Namespace, services: Services) -> int:
    task = await services.tasks.get(args.id)
    tasks = services.tasks
    placement = await services.hosts.placement(task.id) if services.hosts is not None else None
    return _print_show(args, services.home, task, await tasks.attempts(task.id), await tasks.reviews(task.id),
                       await tasks.questions(task.id), await tasks.route_record(task.id), placement)


def _print_show(args: argparse.Namespace, home: OrchHome, task: Task, attempts: list[Attempt], reviews: list[Review],
                questions: list[Question], route: dict[str, Any] | None, placement: Placement | None = None) -> int:
    """`placement`: the host of a cluster that runs (or ran) the task."""
    if args.json:
        data = task.to_json()
        data["host"] = placement.host if placement is not None else None
        data["attempts_detail"] = [attempt.to_json() for attempt in attempts]
        data["reviews"] = [review.to_json() for review in reviews]
        data["route"] = route
        print_json(data)
        return 0
    show(fmt.task_details(task, attempts, reviews, questions))
    changes = _file_changes(task)
    if changes:
        show(fmt.files_changed(changes))
    if placement is not None:
        show(f"host: {placement.host}")
        if task.status in (TaskStatus.IN_PROGRESS, TaskStatus.WAITING):
            show(f"watch it: {placement.attach_command}")
    elif task.status is TaskStatus.IN_PROGRESS:
        from orch.core.terminal.tmux import session_name  # libtmux, for a running task only

        show(f"watch it: tmux -L {home.tmux_socket_name} attach -t {session_name(task.id)}")
    return 0


def _file_changes(task: Task) -> list[tuple[str, int | None, int | None]]:
    """The files the task's branch changed, read in its worktree while it exists; [] when it is gone."""
    if not task.worktree or not task.base_commit or not Path(task.worktree).is_dir():
        return []
    from orch.core.delivery.gitops import file_changes
    from orch.core.errors import OrchError

    try:
        return file_changes(Path(task.worktree), task.base_commit, "HEAD")
    except OrchError:
        return []  # not a worktree any more (someone deleted its .git): nothing to list


def _read_quickly(args: argparse.Namespace) -> int | None:
    """list and show straight from the SQLite file, without an event loop (most of a short command's time);
    None when only the async services can answer (PostgreSQL, a new or older file)."""
    home = OrchHome.from_env()
    reading = TaskReading.open(home)
    if reading is None:
        return None
    try:
        if args.action == "list":
            return _print_list(args, reading.list_tasks(args.status, args.project))
        task = reading.get(args.id)
        return _print_show(args, home, task, reading.attempts(task.id), reading.reviews(task.id),
                           reading.questions(task.id), reading.route_record(task.id))
    finally:
        reading.close()


async def _route(args: argparse.Namespace, services: Services) -> int:
    task_id, decision = await services.routing.reroute(args.id)
    show(fmt.route_decision(task_id, decision))
    return 0


async def _unblock(args: argparse.Namespace, services: Services) -> int:
    show(fmt.unblocked(await services.tasks.unblock(args.id)))
    return 0


async def _retry(args: argparse.Namespace, services: Services) -> int:
    show(f"task {(await services.tasks.retry(args.id)).id} will run again")
    return 0


async def _cancel(args: argparse.Namespace, services: Services) -> int:
    show(f"task {(await services.tasks.cancel(args.id)).id} cancelled")
    return 0


async def _say(args: argparse.Namespace, services: Services) -> int:
    show(f"sent to task {await services.control.say(args.id, args.text)}")
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace, Services], Awaitable[int]]] = {
    "new": _new, "list": _list, "show": _show, "route": _route, "unblock": _unblock, "retry": _retry,
    "cancel": _cancel, "say": _say,
}


def run(args: argparse.Namespace) -> int:
    if args.action in ("list", "show"):
        quick = _read_quickly(args)
        if quick is not None:
            return quick
    from orch.transports.cli.runner import with_services

    return with_services(partial(ACTIONS[args.action], args))
