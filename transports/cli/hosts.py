"""`orch hosts [--json]`: the cluster's workers — alive or silent, their agents, the tasks they run, their last
heartbeat."""

from __future__ import annotations

import argparse

from orch.bot import format as fmt
from orch.core.errors import UserError
from orch.core.services import Services
from orch.transports.cli.output import print_json, show
from orch.transports.cli.runner import with_services


async def hosts(json: bool, services: Services) -> int:
    service = services.hosts
    if service is None:
        raise UserError("hosts: the store is SQLite, so orch serve runs every agent; set store.url (or "
                        "ORCH_STORE_URL) to a PostgreSQL database to run workers on other hosts")
    views = await service.hosts()
    if json:
        print_json([{"name": view.host.name, "alive": view.alive, "agents": list(view.host.agents),
                     "running": list(view.host.running), "max_parallel": view.host.max_parallel,
                     "tmux_socket": view.host.tmux_socket, "heartbeat_at": view.host.heartbeat_at}
                    for view in views])
    else:
        show(fmt.host_table(views))
    return 0


def run(args: argparse.Namespace) -> int:
    return with_services(lambda services: hosts(args.json, services))
