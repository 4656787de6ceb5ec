"""The command set orch serves, in the order /help and the menus list it."""

from __future__ import annotations

from orch.bot.chat import Reply
from orch.bot.commands.changes import CHANGE_COMMANDS, COST_COMMANDS
from orch.bot.commands.conversation import ANSWER_COMMANDS, CONVERSATION_COMMANDS
from orch.bot.commands.live import LIVE_COMMANDS
from orch.bot.commands.status import STATUS_COMMANDS
from orch.bot.commands.tasks import TASK_COMMANDS
from orch.bot.declare import Command, CommandContext, CommandSet, NoArgs


async def help_(ctx: CommandContext, args: NoArgs) -> list[Reply]:
    # Here rather than beside /status: it lists the set, itself included.
    return [Reply("\n".join(f"{c.usage} — {c.help}" for c in COMMANDS), preformatted=True)]


HELP = Command(("help",), "this list", NoArgs, help_)  # alone, so that mypy checks help_ against NoArgs

COMMANDS = CommandSet((*TASK_COMMANDS, *CONVERSATION_COMMANDS, *CHANGE_COMMANDS, *LIVE_COMMANDS,
                       *ANSWER_COMMANDS, *COST_COMMANDS, *STATUS_COMMANDS, HELP))


def top_level_commands() -> list[tuple[str, str]]:
    """(name, description) of each first word, for menus such as Telegram's setMyCommands."""
    return COMMANDS.top_level()
