"""Every chat command orch serves, declared once: name, help, typed arguments, handler.

Telegram registers these with setMyCommands, Discord builds slash commands with typed options from them, the
stdout transport's lines are parsed by bot.parse. A handler raises UserError for bad input; its message is the
reply. What a command is lives in bot/declare.py (re-exported here for transports); tasks.py, live.py and
status.py declare the commands by area; registry.py gathers them into COMMANDS.
"""

from orch.bot.commands.registry import COMMANDS, top_level_commands
from orch.bot.declare import Command, Param

__all__ = ["COMMANDS", "Command", "Param", "top_level_commands"]
