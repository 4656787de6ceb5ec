"""`orch config`: the effective configuration, secrets masked, with where each value came from."""

from __future__ import annotations

import argparse

from orch.core.home import OrchHome
from orch.core.ops.effective import effective_settings, render
from orch.core.text import terminal_safe
from orch.transports.cli.output import print_json


def run(args: argparse.Namespace) -> int:
    home = OrchHome.from_env()
    settings = effective_settings(home.config_file)
    if args.json:
        print_json([setting.to_json() for setting in settings])
        return 0
    where = home.config_file if home.config_file.exists() else f"{home.config_file} (absent: every value a default)"
    print(terminal_safe(f"# {where}"))
    print(terminal_safe(render(settings)))
    return 0
