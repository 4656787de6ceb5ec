"""`orch init`: register the current git checkout as a project; write config.yml from the packaged example."""

from __future__ import annotations

import argparse
from pathlib import Path

from orch.core.config import example_config_text
from orch.core.services import Services
from orch.transports.cli.runner import with_services


async def init(services: Services) -> int:
    project = await services.projects.register_checkout(Path.cwd())
    print(f"project {project.name} registered: {project.path}")
    config_file = services.home.config_file
    if not config_file.exists():
        config_file.write_text(example_config_text(), encoding="utf-8")
        print(f"wrote {config_file}")
    return 0


def run(args: argparse.Namespace) -> int:
    return with_services(init)
