"""Command declarations: Params derived from each arguments dataclass, and declarations that cannot work refused."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from orch.bot.chat import Reply
from orch.bot.commands import COMMANDS, top_level_commands
from orch.bot.declare import Command, CommandContext, NoArgs, Param, about
from orch.core.names import AGENT_NAMES


async def _reply(ctx: CommandContext, args: object) -> list[Reply]:
    return []


def test_params_come_from_the_fields_of_task_new() -> None:
    command = COMMANDS.at(("task", "new"))
    assert command is not None
    assert command.params == (
        Param("title", "what to do", greedy=True),
        Param("body", "details for the agent (or put them on further lines)", required=False, option=True,
              later_lines=True),
        Param("agent", "which agent runs it", required=False, choices=AGENT_NAMES, option=True),
        Param("complexity", "model tier", required=False, choices=("simple", "medium", "complex"), option=True),
        Param("project", "project name", required=False, option=True),
        Param("parent", "parent task id", kind="int", required=False, option=True),
        Param("label", "a label (repeatable)", required=False, option=True, repeated=True),
    )
    assert command.usage == "/task new TITLE [body:…] [agent:…] [complexity:…] [project:…] [parent:…] [label:…]"


def test_menus_list_each_first_word_once() -> None:
    assert top_level_commands() == [
        ("task", "new|list|show|route|unblock|retry|cancel|reply|diff|review|push|pr|merge — tasks"),
        ("stream", "follow a task's live output in this chat"),
        ("unstream", "stop following a task"),
        ("say", "type text into the running agent"),
        ("answer", "answer what a task's agent asked"),
        ("approve", "allow or deny a tool call an agent asks for"),
        ("notify", "what this chat is told of its tasks: all, errors or none"),
        ("cost", "tokens and USD spent, by agent, model, project or day"),
        ("jobs", "scheduled jobs: id, schedule, enabled, next run, title"),
        ("status", "what orch is doing"),
        ("hosts", "the cluster's workers: agents, running tasks, last heartbeat"),
        ("help", "this list"),
    ]


@dataclass(frozen=True)
class Undescribed:
    id: int


@dataclass(frozen=True)
class FloatArg:
    ratio: float = field(metadata=about("a ratio"))


@dataclass(frozen=True)
class OptionalWithoutDefault:
    name: str | None = field(metadata=about("a name"))


@pytest.mark.parametrize(("arguments", "message"), [
    (Undescribed, "Undescribed.id: no about"),
    (FloatArg, "FloatArg.ratio: arguments are str or int"),
    (OptionalWithoutDefault, "OptionalWithoutDefault.name: an optional argument needs a default"),
    (Reply, "Reply.text: no about"),
    (int, "int: command arguments must be a dataclass"),
])
def test_a_declaration_the_parser_cannot_serve_fails_at_once(arguments: type, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Command(("x",), "x", arguments, _reply)


def test_a_command_without_arguments_has_no_params() -> None:
    assert Command(("x",), "x", NoArgs, _reply).params == ()
