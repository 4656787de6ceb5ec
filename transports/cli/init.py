"""`orch init`: register the current git checkout as a project; write a short config.yml if there is none.

The config it writes holds only what a user must decide (the chat transports they use, their tokens and who may
use the bots), with a pointer to the full list of keys: every other setting stays the running orch's default,
so a better default in a later orch reaches them. It is written 0600: tokens go in it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from orch.core.config import example_config_path
from orch.core.home import write_private
from orch.core.services import Services
from orch.transports.cli.runner import with_services

STARTER = """\
# orch configuration: only what you must set. Every other key keeps orch's default (later versions may improve
# them); to change one, copy it from the full list of keys with their defaults:
#   {example}
# `orch config` prints every value orch runs with and where it came from; `orch doctor` says what blocks work.
# ${{VAR}} is replaced by the environment variable VAR.

transports:
  # Without a chat transport, `orch serve` takes commands on its terminal.
  telegram:
    enabled: false
    token: ${{TELEGRAM_BOT_TOKEN}}     # from @BotFather
    # Who may use the bot (empty: nobody). Message the bot: its refusal names your chat id and user id.
    allowed_chat_ids: []
    allowed_user_ids: []
  discord:
    enabled: false
    token: ${{DISCORD_BOT_TOKEN}}
    allowed_user_ids: []             # empty: nobody; a refused slash command names your user id

# Routing asks an LLM which agent fits a task when ANTHROPIC_API_KEY is set in orch's environment; without it,
# tasks go round-robin over the installed agents (claude, codex, opencode).
"""


def starter_config() -> str:
    return STARTER.format(example=example_config_path())


async def init(services: Services) -> int:
    project = await services.projects.register_checkout(Path.cwd())
    print(f"project {project.name} registered: {project.path}")
    config_file = services.home.config_file
    if not config_file.exists():
        write_private(config_file, starter_config())
        print(f"wrote {config_file}: set a chat transport there, or run `orch serve` to use this terminal")
    return 0


def run(args: argparse.Namespace) -> int:
    return with_services(init)
