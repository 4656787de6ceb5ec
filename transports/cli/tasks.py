"""`orch task new|list|show|route|unblock|retry|cancel|say`: TaskService, RoutingService and TaskControl.

Text is bot.format's, the lines chats show too; `--json` is the tasks' own JSON view.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial

from orch.bot import format as fmt
from orch.core.services import Services
from orch.core.tasks.models import TaskStatus
from orch.transports.cli.output import print_json
from orch.transports.cli.runner import with_services


async def _new(args: argparse.Namespace, services: Services) -> int:
    task = await services.tasks.create(args.title, args.body, labels=args.label, agent=args.agent,
                                       complexity=args.complexity, project=args.project, parent_id=args.parent)
    print(fmt.created(task))
    return 0


async def _list(args: argparse.Namespace, services: Services) -> int:
    tasks = await services.tasks.list_tasks(args.status, args.project)
    if args.json:
        print_json([task.to_json() for task in tasks])
        return 0
    print(fmt.task_table(tasks))
    return 0


async def _show(args: argparse.Namespace, services: Services) -> int:
    task = await services.tasks.get(args.id)
    attempts = await services.tasks.attempts(task.id)
    reviews = await services.tasks.reviews(task.id)
    if args.json:
        data = task.to_json()
        data["attempts_detail"] = [attempt.to_json() for attempt in attempts]
        data["reviews"] = [review.to_json() for review in reviews]
        data["route"] = await services.tasks.route_record(task.id)
        print_json(data)
        return 0
    print(fmt.task_details(task, attempts, reviews))
    if task.status is TaskStatus.IN_PROGRESS:
        from orch.core.terminal.tmux import session_name  # libtmux, for a running task only

        print(f"watch it: tmux -L {services.home.tmux_socket_name} attach -t {session_name(task.id)}")
    return 0


async def _route(args: argparse.Namespace, services: Services) -> int:
    task_id, decision = await services.routing.reroute(args.id)
    print(fmt.route_decision(task_id, decision))
    return 0


async def _unblock(args: argparse.Namespace, services: Services) -> int:
    print(fmt.unblocked(await services.tasks.unblock(args.id)))
    return 0


async def _retry(args: argparse.Namespace, services: Services) -> int:
    print(f"task {(await services.tasks.retry(args.id)).id} will run again")
    return 0


async def _cancel(args: argparse.Namespace, services: Services) -> int:
    print(f"task {(await services.tasks.cancel(args.id)).id} cancelled")
    return 0


async def _say(args: argparse.Namespace, services: Services) -> int:
    print(f"sent to task {await services.control.say(args.id, args.text)}")
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace, Services], Awaitable[int]]] = {
    "new": _new, "list": _list, "show": _show, "route": _route, "unblock": _unblock, "retry": _retry,
    "cancel": _cancel, "say": _say,
}


def run(args: argparse.Namespace) -> int:
    return with_services(partial(ACTIONS[args.action], args))
