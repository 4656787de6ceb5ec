"""`orch serve`: check that the chat transports it will run are installed, then run transports.serve."""

from __future__ import annotations

import argparse
import asyncio

from orch.core.config import load_config
from orch.core.home import OrchHome
from orch.transports.extras import require_extras
from orch.transports.serve import serve, transport_names


def run(args: argparse.Namespace) -> int:
    home = OrchHome.from_env()
    config = load_config(home.config_file)
    # Before anything is created or started: a missing extra is one line, and the home stays as it was.
    require_extras(transport_names(config, args.transport))
    asyncio.run(serve(home, config, args.transport))
    return 0
