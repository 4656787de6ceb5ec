"""Turning a typed line into a command and its arguments."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from orch.bot.commands import COMMANDS, Command, Param
from orch.core.errors import UserError

_OPTION = re.compile(r"([a-z_]+):(.+)", re.DOTALL)


@dataclass(frozen=True)
class ParsedCommand:
    command: Command
    args: dict[str, Any]


def find_command(words: list[str]) -> tuple[Command, int]:
    """The declared command named by the first words, and how many words its name took."""
    if not words or not words[0].startswith("/"):
        raise UserError("commands start with / — try /help")
    head = words[0][1:].split("@", 1)[0].lower()  # Telegram appends @botname in groups
    for command in COMMANDS:
        if command.path[0] != head:
            continue
        if len(command.path) == 1:
            return command, 1
        if len(words) > 1 and words[1].lower() == command.path[1]:
            return command, 2
    subcommands = [c.path[1] for c in COMMANDS if c.path[0] == head and len(c.path) > 1]
    if subcommands:
        given = f" {words[1]}" if len(words) > 1 else ""
        raise UserError(f"unknown command /{head}{given} (try /{head} {'|'.join(subcommands)})")
    raise UserError(f"unknown command /{head} — try /help")


def parse_line(text: str) -> ParsedCommand:
    text = text.strip()
    first_line, _, rest = text.partition("\n")
    command, taken = find_command(first_line.split())
    if any(param.option for param in command.params):
        return ParsedCommand(command, _parse_with_options(command, first_line, rest, taken))
    # Positional parameters; a final `greedy` one keeps the rest of the text exactly as typed.
    pieces = text.split(maxsplit=taken + len(command.params) - 1)[taken:]
    args: dict[str, Any] = {}
    for index, param in enumerate(command.params):
        if index < len(pieces):
            args[param.name] = convert(param, pieces[index] if param.greedy else pieces[index].strip())
        elif param.required:
            raise UserError(f"missing {param.name}: {command.usage}")
    if len(pieces) > len(command.params):
        raise UserError(f"too many arguments: {command.usage}")
    return ParsedCommand(command, args)


def _parse_with_options(command: Command, first_line: str, rest: str, taken: int) -> dict[str, Any]:
    try:
        words = shlex.split(first_line)[taken:]
    except ValueError as exc:
        raise UserError(f"cannot read that line: {exc} (check your quotes)") from None
    options = {param.name: param for param in command.params if param.option}
    args: dict[str, Any] = {}
    free: list[str] = []
    for word in words:
        match = _OPTION.fullmatch(word)
        if match is None or match.group(2).startswith("/"):
            free.append(word)
            continue
        key, value = match.groups()
        param = options.get(key)
        if param is None:
            raise UserError(f"unknown option {key}: (options: {' '.join(name + ':' for name in options)})")
        value = convert(param, value)
        if param.repeated:
            args.setdefault(key, []).append(value)
        elif key in args:
            raise UserError(f"option {key}: given twice")
        else:
            args[key] = value
    positional = [param for param in command.params if not param.option]
    if positional:
        main = positional[0]
        if free:
            args[main.name] = " ".join(free)
        elif main.required:
            raise UserError(f"missing {main.name}: {command.usage}")
    elif free:
        raise UserError(f"too many arguments: {command.usage}")
    if rest.strip():
        extra = rest.strip("\n")
        args["body"] = f"{args['body']}\n{extra}" if args.get("body") else extra
    return args


def convert(param: Param, value: Any) -> Any:
    if param.kind == "int":
        if isinstance(value, int):
            return value
        text = str(value).strip().lstrip("#")
        if not text.isdigit():
            raise UserError(f"{param.name} must be a number, not {value!r}")
        return int(text)
    text = str(value)
    if param.choices and text not in param.choices:
        raise UserError(f"{param.name} must be one of {', '.join(param.choices)}, not {text!r}")
    return text
