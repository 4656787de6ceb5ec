"""Hypothesis strategies for what people type at orch: command lines (the terminal, Telegram), typed calls (what a
transport hands BotApp.handle_call) and slash commands as Discord itself would send them; and ErrorLog, which
collects whatever is logged at ERROR while they run."""

from __future__ import annotations

import logging
from typing import Any

from hypothesis import strategies as st
from orch.bot.commands import COMMANDS
from orch.bot.declare import Param

HEADS = sorted({command.path[0] for command in COMMANDS})
SUBS = sorted({command.path[1] for command in COMMANDS if len(command.path) > 1})
OPTIONS = sorted({param.name for command in COMMANDS for param in command.params if param.option})
CHOICES = sorted({choice for command in COMMANDS for param in command.params for choice in param.choices})
# Discord's own bounds for what it sends: integer options within ±2^53, strings up to 6,000 characters.
DISCORD_INT = 2**53


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# What people type: odd unicode (surrogates, controls, NUL, zero-width, right-to-left), every kind of space,
# numbers of any size and in other scripts, quotes and backslashes, option syntax right and wrong.
ODD = st.sampled_from([
    "", " ", "\x00", "\t", "\r", "\n", "\x0b", "\x0c", "\x1b[31m", "\u200b", "\u200d", "\ufeff", "\u202e", "\u2028",
    "\xa0", "\u3000", "'", '"', "\\", "\\\n", "#", "@", ":", "/", "//", "-", "--", "-rf", "—", "²", "٣", "１",
    "all", "ALL", "1e5", "0x10", "1.5", "+1", "-1", "0", "NaN", "∞", "None", "null", "%s", "{0}", "\ud800", "😀",
])
ODD_CHARS = st.sampled_from([
    *"\x00\t\r\n\x0b\x0c\x1b\x7f\x85\u200b\u200d\ufeff\u202e\u2028\xa0\u3000'\"\\#@:/-—²٣１😀",
    "\ud800", "\udcff", "\udfff",
])
INTEGERS = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64]))
NUMBERS = st.one_of(INTEGERS.map(str), INTEGERS.map(lambda n: f"#{n}"), st.integers(1, 12).map(str))
# Surrogates and unassigned code points too: JSON from a chat service may carry "\ud800".
TEXT = st.lists(st.one_of(ODD_CHARS, st.characters(exclude_categories=())), max_size=12).map("".join)
WORD = st.one_of(TEXT, TEXT, ODD, NUMBERS, st.sampled_from(SUBS + CHOICES))
OPTION_WORD = st.builds(
    lambda name, quote, value: f"{name}:{quote}{value}{quote}",
    st.one_of(st.sampled_from(OPTIONS), st.from_regex(r"[a-z_]{1,6}", fullmatch=True)),
    st.sampled_from(["", '"', "'"]), st.one_of(WORD, NUMBERS),
)
# Mostly one space, so that most lines name a command and reach its handler; now and then anything else.
SEPARATOR = st.one_of(st.just(" "), st.just(" "), st.just(" "),
                      st.sampled_from(["  ", "\t", "\n", "\r\n", "\x0b", "\xa0", "\u2028", "\u3000", ""]))
HEAD = st.one_of(
    st.sampled_from(HEADS).map(lambda head: f"/{head}"),
    st.sampled_from(HEADS).map(lambda head: f"/{head.upper()}@orch_bot"),
    st.builds(lambda word: f"/{word}", WORD),
    WORD,
)


@st.composite
def _typed_word(draw: st.DrawFn, param: Param) -> str:
    """A word as someone might type it for this parameter: mostly of its kind, now and then anything."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.one_of(WORD, NUMBERS))
    if param.kind == "int":
        return draw(st.integers(1, 12).map(str))
    if param.choices:
        return draw(st.sampled_from(param.choices))
    return draw(TEXT)


@st.composite
def declared_lines(draw: st.DrawFn) -> list[str]:
    """The words of a declared command with words for its parameters (options as name:value), shuffled a bit."""
    command = draw(st.sampled_from(list(COMMANDS)))
    words = [f"/{command.path[0]}", *command.path[1:]]
    for param in command.params:
        if not draw(st.integers(0, 3)):
            continue
        value = draw(_typed_word(param))
        if param.option:
            quote = draw(st.sampled_from(["", '"', "'"]))
            words.append(f"{param.name}:{quote}{value}{quote}")
        else:
            words.append(value)
    if draw(st.integers(0, 4)) == 0:
        words.append(draw(st.one_of(WORD, OPTION_WORD)))
    return words


@st.composite
def random_lines(draw: st.DrawFn) -> list[str]:
    """Anything that looks a little like a command."""
    parts = [draw(HEAD)]
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(SUBS)))
    parts.extend(draw(st.lists(st.one_of(WORD, OPTION_WORD, NUMBERS), max_size=6)))
    return parts


@st.composite
def command_lines(draw: st.DrawFn) -> str:
    parts = draw(random_lines() if draw(st.integers(0, 3)) == 0 else declared_lines())
    separators = draw(st.lists(SEPARATOR, min_size=len(parts), max_size=len(parts)))
    lead = draw(st.sampled_from([" ", "\n", "\x00", "\ufeff"])) if draw(st.integers(0, 9)) == 0 else ""
    return lead + "".join(
        part + separator for part, separator in zip(parts, separators, strict=True))


def _value(param: Param) -> st.SearchStrategy[object]:
    """Any value a transport could hand over for this parameter, well typed or not."""
    typed: st.SearchStrategy[object] = INTEGERS if param.kind == "int" else st.one_of(TEXT, ODD)
    if param.choices:
        typed = st.one_of(typed, st.sampled_from(param.choices))
    if param.repeated:
        typed = st.one_of(typed, st.lists(st.one_of(TEXT, ODD), max_size=4))
    return st.one_of(typed, st.none(), NUMBERS, ODD, st.booleans(), st.floats())


@st.composite
def typed_calls(draw: st.DrawFn) -> tuple[tuple[str, ...], dict[str, object]]:
    command = draw(st.sampled_from(list(COMMANDS)))
    path = command.path
    if draw(st.integers(0, 20)) == 0:  # now and then a command that does not exist
        path = tuple(draw(st.lists(st.one_of(WORD, st.sampled_from(HEADS + SUBS)), min_size=1, max_size=3)))
    args: dict[str, Any] = {}
    for param in command.params:
        if draw(st.booleans()) or (param.required and draw(st.booleans())):
            args[param.name] = draw(_value(param))
    if draw(st.integers(0, 10)) == 0:
        args[draw(st.one_of(TEXT, st.sampled_from(OPTIONS)))] = draw(WORD)
    return path, args


@st.composite
def slash_calls(draw: st.DrawFn) -> tuple[tuple[str, ...], dict[str, object]]:
    """A declared slash command with values Discord would let through: an int option an integer within its
    bounds, a choice one of its choices, any other option any text (a repeated one comma-separated)."""
    command = draw(st.sampled_from(list(COMMANDS)))
    options: dict[str, object] = {}
    for param in command.params:
        if not (param.required or draw(st.booleans())):
            continue
        if param.kind == "int":
            options[param.name] = draw(st.one_of(st.integers(1, 12), st.integers(-DISCORD_INT, DISCORD_INT)))
        elif param.choices:
            options[param.name] = draw(st.sampled_from(param.choices))
        else:
            options[param.name] = draw(st.one_of(TEXT, ODD).filter(bool))
    return command.path, options
