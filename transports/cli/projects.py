"""`orch project add|list|remove`: the Projects registry (managed clones, checkouts, config.yml's projects)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from orch.bot import format as fmt
from orch.core.services import Services
from orch.transports.cli.look import Table, show_table
from orch.transports.cli.output import print_json, show
from orch.transports.cli.runner import with_services


async def _add(args: argparse.Namespace, services: Services) -> int:
    added = await services.projects.add_clone(args.source, args.name, Path.cwd())
    show(f"project {added.name} added: {added.path} (default branch {added.default_branch})")
    return 0


async def _list(args: argparse.Namespace, services: Services) -> int:
    views = await services.projects.views()
    if args.json:
        print_json([view.to_json() for view in views])
    else:
        show_table(Table(fmt.project_table(views), fmt.PROJECT_COLUMNS, fmt.project_rows(views)))
    return 0


async def _remove(args: argparse.Namespace, services: Services) -> int:
    removed = await services.projects.remove(args.name, force=args.force)
    if removed.managed:
        show(f"project {removed.name} removed; deleted {removed.path}")
    else:
        show(f"project {removed.name} unregistered; {removed.path} left as it is")
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace, Services], Awaitable[int]]] = {
    "add": _add, "list": _list, "remove": _remove,
}


def run(args: argparse.Namespace) -> int:
    return with_services(partial(ACTIONS[args.action], args))
