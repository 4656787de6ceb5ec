"""Run one command's coroutine against the core services of ORCH_HOME, in a fresh event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from orch.core.home import OrchHome
from orch.core.services import Services


def with_services(action: Callable[[Services], Awaitable[int]]) -> int:
    """`action`'s exit status; the services are closed whatever happens (config.yml is read only if used)."""

    async def run() -> int:
        services = await Services.open(OrchHome.from_env())
        try:
            return await action(services)
        finally:
            await services.close()

    return asyncio.run(run())
