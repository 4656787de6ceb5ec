"""`orch worker [--host NAME]`: run this host's share of a cluster until SIGINT or SIGTERM (its agents go on in
tmux; the next start takes them up again)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket

from orch.core.config import load_config
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.ops.logs import setup_logging
from orch.core.redact import RedactingFilter, Redactor
from orch.core.services import Services


async def work(home: OrchHome, host: str) -> None:
    config = load_config(home.config_file)
    home.ensure()
    setup_logging(home, [RedactingFilter(Redactor(config.redact.patterns))])
    services = await Services.open(home, config=config, hub=EventHub(), fence_host=host)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        worker = services.worker(host)
        running = asyncio.create_task(worker.run(stopping))
        ready = asyncio.create_task(worker.ready.wait())
        await asyncio.wait([running, ready], return_when=asyncio.FIRST_COMPLETED)
        if worker.ready.is_set():
            print(f"orch worker {host}: agents {', '.join(worker.agents)}", flush=True)
        else:
            ready.cancel()
        await running
    finally:
        with contextlib.suppress(Exception):
            await services.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(work(OrchHome.from_env(), args.host or socket.gethostname()))
    return 0
