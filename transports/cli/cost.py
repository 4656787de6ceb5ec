"""`orch cost`: tokens and USD of every attempt and review, by agent, model, project or day (CostService)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from orch.bot import format as fmt
from orch.core.services import Services
from orch.transports.cli.output import print_json, show
from orch.transports.cli.runner import with_services


async def cost(args: argparse.Namespace, services: Services) -> int:
    lines = await services.costs.summary(since=args.since, by=args.by)
    if args.json:
        print_json([asdict(line) for line in lines])
    else:
        show(fmt.cost_table(lines, args.by))
    return 0


def run(args: argparse.Namespace) -> int:
    return with_services(lambda services: cost(args, services))
