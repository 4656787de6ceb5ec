"""Discord slash commands built from the declarations in bot/commands/.

Each declared command becomes an app command with typed options: a two-word path such as ("task", "new")
becomes a subcommand of an app_commands.Group. A repeated parameter (label) is one string option whose
comma-separated values the transport splits.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import discord
from discord import app_commands
from orch.bot.commands import COMMANDS, Command, Param, top_level_commands

# Discord refuses longer names and descriptions for commands and options.
_DESCRIPTION_LIMIT = 100

OnCommand = Callable[[discord.Interaction, Command[Any], dict[str, Any]], Awaitable[None]]
Check = Callable[[discord.Interaction], Awaitable[bool]]
OnError = Callable[[discord.Interaction, app_commands.AppCommandError], Awaitable[None]]


def _description(text: str) -> str:
    return text if len(text) <= _DESCRIPTION_LIMIT else text[: _DESCRIPTION_LIMIT - 1] + "…"


def _param_description(param: Param) -> str:
    return _description(f"{param.help}; several: comma-separated" if param.repeated else param.help)


def _callback(command: Command[Any], on_command: OnCommand) -> Callable[..., Coroutine[Any, Any, None]]:
    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await on_command(interaction, command, values)

    # discord.py reads options from the callback's signature and these attributes (what its decorators set),
    # so the declarations are turned into exactly that.
    parameters = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=discord.Interaction)]
    for param in command.params:
        parameters.append(inspect.Parameter(
            param.name, inspect.Parameter.KEYWORD_ONLY, annotation=int if param.kind == "int" else str,
            default=inspect.Parameter.empty if param.required else None,
        ))
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    descriptions = {param.name: _param_description(param) for param in command.params}
    choices = {param.name: [app_commands.Choice(name=choice, value=choice) for choice in param.choices]
               for param in command.params if param.choices}
    setattr(callback, "__discord_app_commands_param_description__", descriptions)  # noqa: B010
    setattr(callback, "__discord_app_commands_param_choices__", choices)  # noqa: B010
    return callback


class OrchCommandTree(app_commands.CommandTree[discord.Client]):
    """The command tree with orch's allow-list in front of every interaction."""

    def __init__(self, client: discord.Client, check: Check, on_error: OnError) -> None:
        super().__init__(client)
        self._check = check
        self._on_error = on_error

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await self._check(interaction)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        await self._on_error(interaction, error)


def build_tree(client: discord.Client, on_command: OnCommand, check: Check, on_error: OnError) -> OrchCommandTree:
    tree = OrchCommandTree(client, check, on_error)
    group_help = dict(top_level_commands())
    groups: dict[str, app_commands.Group] = {}
    for command in COMMANDS:
        slash: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=command.path[-1], description=_description(command.help), callback=_callback(command, on_command),
        )
        if len(command.path) == 1:
            tree.add_command(slash)
            continue
        head = command.path[0]
        if head not in groups:
            groups[head] = app_commands.Group(name=head, description=_description(group_help[head]))
            tree.add_command(groups[head])
        groups[head].add_command(slash)
    return tree
