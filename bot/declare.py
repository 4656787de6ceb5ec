"""What a chat command is: its typed arguments, its declaration, a set of them, and what a handler may use.

A command's arguments are a frozen dataclass; each field carries its help and how it is typed in a chat in
its metadata (`about(...)`), and its Python type says how the value is read: `int` is an id, `str` text, a
`tuple[str, ...]` an option given several times, `X | None` or a default makes it optional. The `Param`s
that transports build menus and slash options from are derived from those fields, so a command is declared
once and its handler receives an instance of its own dataclass, fully typed.

This module imports no handler and no dispatcher: parsing, transports and the handlers (bot/commands/) all
build on it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from orch.bot.chat import ChatRef, Reply

if TYPE_CHECKING:
    from orch.core.services import Services

_ABOUT = "orch.bot.param"


@dataclass(frozen=True)
class About:
    """How one argument is described and typed in a chat (the metadata of its dataclass field)."""

    help: str
    choices: tuple[str, ...] = ()
    greedy: bool = False  # the last positional one: keeps the rest of the line exactly as typed
    option: bool = False  # given as name:value anywhere on the first line (later lines are text)
    later_lines: bool = False  # the lines after the first are added to it (the body of /task new)
    id_of: str = "task"  # for an int: what the id names, in the messages of orch.core.ids.parse_id


def about(help: str, *, choices: tuple[str, ...] = (), greedy: bool = False, option: bool = False,
          later_lines: bool = False, id_of: str = "task") -> Mapping[str, About]:
    """Field metadata for an argument: `field(metadata=about("task id"))`."""
    return {_ABOUT: About(help, choices, greedy, option, later_lines, id_of)}


@dataclass(frozen=True)
class Param:
    """One argument as transports see it: Telegram's usage text, Discord's typed slash option, the line parser."""

    name: str
    help: str
    kind: Literal["str", "int"] = "str"
    required: bool = True
    choices: tuple[str, ...] = ()
    greedy: bool = False
    option: bool = False
    repeated: bool = False  # given several times; the handler gets a tuple
    later_lines: bool = False
    id_of: str = "task"


@dataclass(frozen=True)
class NoArgs:
    """The arguments of a command that takes none."""


class CommandContext(Protocol):
    """What a handler may use: orch's services, the chat the command came from, and following tasks there."""

    @property
    def services(self) -> Services: ...

    @property
    def chat(self) -> ChatRef: ...

    async def follow(self, task_id: int, *, from_start: bool = False) -> None:
        """Send the task's output (from its first line if `from_start`, else from now on) to this chat."""
        ...

    async def unfollow(self, task_id: int) -> bool:
        """Stop sending the task's output to this chat; False if it was not following."""
        ...

    def engine_status(self) -> list[str]:
        """The engine's own lines for /status."""
        ...


A = TypeVar("A")
Handler = Callable[[CommandContext, A], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Command(Generic[A]):
    """A chat command: the words that name it, its help, the dataclass of its arguments and its handler."""

    path: tuple[str, ...]
    help: str
    arguments: type[A]
    handler: Handler[A]
    params: tuple[Param, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived once, at import: a field the parser cannot read fails there, not when someone types it.
        object.__setattr__(self, "params", params_of(self.arguments))

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for param in self.params:
            if param.option:
                parts.append(f"[{param.name}:…]")
            else:
                parts.append(param.name.upper() if param.required else f"[{param.name.upper()}]")
        return " ".join(parts)

    def build(self, values: Mapping[str, object]) -> Invocation[A]:
        """This command with these (already converted) argument values."""
        make: Callable[..., A] = self.arguments
        return Invocation(self, make(**values))


@dataclass(frozen=True)
class Invocation(Generic[A]):
    """A command as someone called it: the declaration and its typed arguments."""

    command: Command[A]
    args: A

    async def run(self, ctx: CommandContext) -> list[Reply]:
        return await self.command.handler(ctx, self.args)


class CommandSet:
    """The commands a bot serves, in the order /help and the menus list them."""

    def __init__(self, commands: Iterable[Command[Any]]) -> None:
        self._commands = tuple(commands)

    def __iter__(self) -> Iterator[Command[Any]]:
        return iter(self._commands)

    def at(self, path: tuple[str, ...]) -> Command[Any] | None:
        """The command named by exactly these words."""
        return next((command for command in self._commands if command.path == path), None)

    def subcommands(self, head: str) -> list[str]:
        """The second words of the commands under `head` ("task" → new, list, …); empty for a one-word command."""
        return [command.path[1] for command in self._commands if command.path[0] == head and len(command.path) > 1]

    def top_level(self) -> list[tuple[str, str]]:
        """(name, description) of each first word, for menus such as Telegram's setMyCommands."""
        seen: dict[str, str] = {}
        for command in self._commands:
            head = command.path[0]
            if head not in seen:
                subs = self.subcommands(head)
                seen[head] = f"{'|'.join(subs)} — tasks" if subs else command.help
        return list(seen.items())


def params_of(arguments: type[Any]) -> tuple[Param, ...]:
    """The Params of an arguments dataclass, in field order."""
    if not dataclasses.is_dataclass(arguments):
        raise TypeError(f"{arguments.__name__}: command arguments must be a dataclass")
    hints = typing.get_type_hints(arguments)
    params: list[Param] = []
    for item in dataclasses.fields(arguments):
        described = item.metadata.get(_ABOUT)
        if not isinstance(described, About):
            raise TypeError(f"{arguments.__name__}.{item.name}: no about(...) in its field metadata")
        kind, repeated, optional = _read_type(hints[item.name], f"{arguments.__name__}.{item.name}")
        has_default = item.default is not dataclasses.MISSING or item.default_factory is not dataclasses.MISSING
        if optional and not has_default:
            raise TypeError(f"{arguments.__name__}.{item.name}: an optional argument needs a default")
        params.append(Param(
            item.name, described.help, kind=kind, required=not has_default, choices=described.choices,
            greedy=described.greedy, option=described.option, repeated=repeated,
            later_lines=described.later_lines, id_of=described.id_of,
        ))
    return tuple(params)


def _read_type(hint: object, where: str) -> tuple[Literal["str", "int"], bool, bool]:
    """(kind, repeated, optional) of a field's type: str/int, tuple[X, ...] of them, or either | None."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(hint) if member is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) != 1:
            raise TypeError(f"{where}: an argument has one type, optionally | None")
        hint = members[0]
    repeated = typing.get_origin(hint) is tuple
    if repeated:
        element = typing.get_args(hint)
        if len(element) != 2 or element[1] is not Ellipsis:
            raise TypeError(f"{where}: a repeated argument is a tuple[X, ...]")
        hint = element[0]
    if hint is int:
        return "int", repeated, optional
    if hint is str:
        return "str", repeated, optional
    raise TypeError(f"{where}: arguments are str or int, not {hint!r}")
