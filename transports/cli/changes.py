"""`orch task diff|review|push|pr|merge`: what a task changed, a review on demand, delivery now (DeliveryService)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial

from orch.bot import format as fmt
from orch.core.services import Services
from orch.transports.cli.output import show
from orch.transports.cli.runner import with_services


async def _diff(args: argparse.Namespace, services: Services) -> int:
    diff = await services.delivery.diff(args.id)
    if not diff.patch.strip():
        show(f"task {diff.task_id} changed nothing against {diff.base[:12]}")
        return 0
    # The stat, then the patch as git wrote it: `git apply` skips the lines before the first `diff --git`.
    show(fmt.diff_summary(diff.task_id, diff.branch, diff.base, diff.stat))
    show("")
    show(diff.patch.rstrip("\n"))
    return 0


async def _review(args: argparse.Namespace, services: Services) -> int:
    show(f"task {(await services.tasks.request_review(args.id)).id} will be reviewed now")
    return 0


async def _deliver(args: argparse.Namespace, services: Services) -> int:
    show(fmt.delivered(await services.delivery.deliver_now(args.id, args.action)))
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace, Services], Awaitable[int]]] = {
    "diff": _diff, "review": _review, "push": _deliver, "pr": _deliver, "merge": _deliver,
}


def run(args: argparse.Namespace) -> int:
    return with_services(partial(ACTIONS[args.action], args))
