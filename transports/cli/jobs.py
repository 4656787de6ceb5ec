"""`orch job list|add|remove|enable|disable`: the JobBook (ORCH_HOME/jobs.yml and the job state)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial

from orch.bot import format as fmt
from orch.core.services import Services
from orch.transports.cli.look import Table, show_table
from orch.transports.cli.output import print_json, show
from orch.transports.cli.runner import with_services


async def _list(args: argparse.Namespace, services: Services) -> int:
    views = await services.jobs.views()
    if args.json:
        print_json([view.to_json() for view in views])
    else:
        show_table(Table(fmt.job_table(views), fmt.JOB_COLUMNS, fmt.job_rows(views), right=frozenset({0})))
        for note in fmt.job_notes(views):
            show(note)
    return 0


async def _add(args: argparse.Namespace, services: Services) -> int:
    show(fmt.job_added(await services.jobs.add(args.schedule, args.title, body=args.body, labels=args.label,
                                                 project=args.project, overlap=args.overlap)))
    return 0


async def _remove(args: argparse.Namespace, services: Services) -> int:
    show(f"job {(await services.jobs.remove(args.id)).id} removed")
    return 0


async def _enable(args: argparse.Namespace, services: Services) -> int:
    view = await services.jobs.set_enabled(args.id, True)
    show(f"job {view.job.id} enabled (next run {fmt.when(view.next_run)})")
    return 0


async def _disable(args: argparse.Namespace, services: Services) -> int:
    show(f"job {(await services.jobs.set_enabled(args.id, False)).job.id} disabled")
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace, Services], Awaitable[int]]] = {
    "list": _list, "add": _add, "remove": _remove, "enable": _enable, "disable": _disable,
}


def run(args: argparse.Namespace) -> int:
    return with_services(partial(ACTIONS[args.action], args))
