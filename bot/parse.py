"""Turning what someone typed into a command and its typed arguments.

Two ways in: a typed line (`/task new fix it agent:codex`, from Telegram and the terminal) and a transport's
already-typed options (Discord's slash commands). Both end in the command's own arguments dataclass, through the
same conversion of each value. Works over any CommandSet (orch's is bot.commands.COMMANDS) and imports only the
declarations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from orch.bot.declare import Command, CommandSet, Invocation, Param
from orch.core.errors import UserError
from orch.core.ids import parse_id

_OPTION = re.compile(r"([a-z_]+):(.+)", re.DOTALL)
# A quote is syntax only where it opens an option's value (`body:"…"`, `label:'…'`). It closes at the same quote
# followed by a space, the end of the line or another quote, so `body:"it's done"` and `body:'don't'` keep their
# apostrophes, and quoted parts joined as a shell joins them (what shlex.quote writes: 'it'"'"'s') are one value.
_QUOTED_OPTION = re.compile(r"""([a-z_]+):(?=["'])""")
_CLOSING = {quote: re.compile(re.escape(quote) + r"""(?=\s|$|["'])""") for quote in "\"'"}


def find_command(commands: CommandSet, words: list[str]) -> tuple[Command[Any], int]:
    """The declared command named by the first words, and how many words its name took."""
    if not words or not words[0].startswith("/"):
        raise UserError("commands start with / — try /help")
    head = words[0][1:].split("@", 1)[0].lower()  # Telegram appends @botname in groups
    for command in commands:
        if command.path[0] != head:
            continue
        if len(command.path) == 1:
            return command, 1
        if len(words) > 1 and words[1].lower() == command.path[1]:
            return command, 2
    known = commands.subcommands(head)
    if known:
        given = f" {words[1]}" if len(words) > 1 else ""
        raise UserError(f"unknown command /{head}{given} (try /{head} {'|'.join(known)})")
    raise UserError(f"unknown command /{head} — try /help")


def parse_line(commands: CommandSet, text: str) -> Invocation[Any]:
    """A typed line (further lines are the body of /task new, or part of a final greedy argument)."""
    text = text.strip()
    first_line, _, rest = text.partition("\n")
    command, taken = find_command(commands, first_line.split())
    if any(param.option for param in command.params):
        return command.build(_with_options(command, first_line, rest, taken))
    return command.build(_positional(command, text, taken))


def parse_call(commands: CommandSet, path: tuple[str, ...], values: Mapping[str, object]) -> Invocation[Any]:
    """A command called with typed options by name; an empty or None value counts as not given."""
    command = commands.at(path)
    if command is None:
        raise UserError(f"unknown command /{' '.join(path)} — try /help")
    declared = {param.name: param for param in command.params}
    unknown = set(values) - set(declared)
    if unknown:
        raise UserError(f"unknown option {sorted(unknown)[0]} for /{command.name}")
    converted: dict[str, object] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        param = declared[name]
        if param.repeated:
            items = value if isinstance(value, list | tuple) else [value]
            converted[name] = tuple(convert(param, item) for item in items)
        else:
            converted[name] = convert(param, value)
    _check_required(command, converted)
    return command.build(converted)


def convert(param: Param, value: object) -> str | int:
    """One value as its parameter's type: an int is an id (orch.core.ids' rule); a choice must be one of them."""
    if param.kind == "int":
        return parse_id(value if isinstance(value, int) else str(value), param.id_of)
    text = str(value)
    if param.choices and text not in param.choices:
        raise UserError(f"{param.name} must be one of {', '.join(param.choices)}, not {text!r}")
    return text


def _positional(command: Command[Any], text: str, taken: int) -> dict[str, object]:
    if not command.params:
        return {}  # words after the name of a command without parameters are ignored: `/help me` still answers
    # A final `greedy` parameter keeps the rest of the text exactly as typed, later lines included.
    if command.params[-1].greedy:
        pieces = text.split(maxsplit=taken + len(command.params) - 1)[taken:]
    else:
        pieces = text.split()[taken:]
    values: dict[str, object] = {}
    for index, param in enumerate(command.params):
        if index < len(pieces):
            values[param.name] = convert(param, pieces[index] if param.greedy else pieces[index].strip())
    _check_required(command, values)
    if len(pieces) > len(command.params):
        raise UserError(f"too many arguments: {command.usage}")
    return values


def _with_options(command: Command[Any], first_line: str, rest: str, taken: int) -> dict[str, object]:
    """Options as name:value anywhere on the first line (a quoted value may hold spaces); the other words are the
    one positional argument, quotes and apostrophes in them kept as text; later lines are text too, for the
    argument that takes them (an option written there is body text, not an option)."""
    options = {param.name: param for param in command.params if param.option}
    values: dict[str, object] = {}
    repeated: dict[str, list[str | int]] = {}
    free: list[str] = []
    after_name = first_line.split(None, taken)[taken:]  # the words that named the command are left out
    for word, quoted in _words(after_name[0] if after_name else ""):
        if quoted is not None:
            key, value = word, quoted
        elif (match := _OPTION.fullmatch(word)) is not None and not match.group(2).startswith("/"):
            key, value = match.groups()
        else:
            free.append(word)
            continue
        param = options.get(key)
        if param is None:
            raise UserError(f"unknown option {key}: (options: {' '.join(name + ':' for name in options)})")
        if param.repeated:
            repeated.setdefault(key, []).append(convert(param, value))
        elif key in values:
            raise UserError(f"option {key}: given twice")
        else:
            values[key] = convert(param, value)
    values.update((key, tuple(items)) for key, items in repeated.items())
    positional = [param for param in command.params if not param.option]
    if positional and free:
        values[positional[0].name] = convert(positional[0], " ".join(free))
    elif free:
        raise UserError(f"too many arguments: {command.usage}")
    if rest.strip():
        _add_later_lines(command, values, rest.strip("\n"))
    _check_required(command, values)
    return values


def _words(text: str) -> Iterator[tuple[str, str | None]]:
    """The words of `text`: (word, None), or (option name, value) for an option whose value is quoted. An
    option's quote left open is the one thing that cannot be read, and the error names it."""
    at = 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        opened = _QUOTED_OPTION.match(text, at)
        if opened is not None:
            key = opened.group(1)
            value, at = _quoted_value(text, opened.end(), key)
            yield key, value
            continue
        end = next((i for i in range(at, len(text)) if text[i].isspace()), len(text))
        yield text[at:end], None
        at = end


def _quoted_value(text: str, at: int, key: str) -> tuple[str, int]:
    """The value of option `key` whose first quote is at `at`, its quoted parts joined, and where it ends."""
    parts: list[str] = []
    while at < len(text) and text[at] in _CLOSING:
        quote = text[at]
        closing = _CLOSING[quote].search(text, at + 1)
        if closing is None:
            raise UserError(f"option {key}: opens a {quote} that is not closed (close it, or write {key}:VALUE "
                            "without quotes)")
        parts.append(text[at + 1:closing.start()])
        at = closing.end()
    return "".join(parts), at


def _add_later_lines(command: Command[Any], values: dict[str, object], lines: str) -> None:
    taker = next((param for param in command.params if param.later_lines), None)
    if taker is None:
        raise UserError(f"too many arguments: {command.usage}")
    given = values.get(taker.name)
    values[taker.name] = f"{given}\n{lines}" if given else lines


def _check_required(command: Command[Any], values: Mapping[str, object]) -> None:
    for param in command.params:
        if param.required and param.name not in values:
            raise UserError(f"missing {param.name}: {command.usage}")
