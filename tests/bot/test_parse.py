"""Typed lines and typed options into each command's own arguments dataclass (bot.parse)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import pytest
from orch.bot.chat import Reply
from orch.bot.commands import COMMANDS
from orch.bot.commands.changes import CostArgs
from orch.bot.commands.conversation import AnswerArgs, ApproveArgs, NotifyArgs, ReplyArgs
from orch.bot.commands.live import SayArgs
from orch.bot.commands.tasks import ListArgs, NewTaskArgs, TaskId, UnblockArgs
from orch.bot.declare import Command, CommandContext, CommandSet, NoArgs, about
from orch.bot.parse import parse_call, parse_line
from orch.core.errors import NotFound, UserError

APOSTROPHE_BODY = """echo '{"summary": "it's"}' > "$F"; echo x"""
NEW_USAGE = "/task new TITLE [body:…] [agent:…] [complexity:…] [project:…] [parent:…] [label:…]"

# Every declared command, as typed, and what its handler receives.
TYPED: list[tuple[str, tuple[str, ...], object]] = [
    ("/task new fix the login page", ("task", "new"), NewTaskArgs("fix the login page")),
    ("/task list", ("task", "list"), ListArgs()),
    ("/task list needs_review", ("task", "list"), ListArgs("needs_review")),
    ("/task show 7", ("task", "show"), TaskId(7)),
    ("/task show #7", ("task", "show"), TaskId(7)),
    ("/task route 3", ("task", "route"), TaskId(3)),
    ("/task unblock all", ("task", "unblock"), UnblockArgs("all")),
    ("/task unblock 4", ("task", "unblock"), UnblockArgs("4")),
    ("/task retry 5", ("task", "retry"), TaskId(5)),
    ("/task cancel 6", ("task", "cancel"), TaskId(6)),
    ("/task diff 6", ("task", "diff"), TaskId(6)),
    ("/task review 6", ("task", "review"), TaskId(6)),
    ("/task push 6", ("task", "push"), TaskId(6)),
    ("/task pr 6", ("task", "pr"), TaskId(6)),
    ("/task merge 6", ("task", "merge"), TaskId(6)),
    ("/cost", ("cost",), CostArgs()),
    ("/task reply 6 --now also add a test", ("task", "reply"), ReplyArgs(6, "--now also add a test")),
    ("/answer 6 #2", ("answer",), AnswerArgs(6, "#2")),
    ("/approve 12 always", ("approve",), ApproveArgs(12, "always")),
    ("/notify errors", ("notify",), NotifyArgs("errors")),
    ("/cost model", ("cost",), CostArgs("model")),
    ("/stream 8", ("stream",), TaskId(8)),
    ("/unstream 8", ("unstream",), TaskId(8)),
    ("/say 9 yes, go on", ("say",), SayArgs(9, "yes, go on")),
    ("/jobs", ("jobs",), NoArgs()),
    ("/status", ("status",), NoArgs()),
    ("/hosts", ("hosts",), NoArgs()),
    ("/help", ("help",), NoArgs()),
]


TASK_ACTIONS = "new|list|show|route|unblock|retry|cancel|reply|diff|review|push|pr|merge"


def test_the_table_covers_every_declared_command() -> None:
    assert {path for _, path, _ in TYPED} == {command.path for command in COMMANDS}


@pytest.mark.parametrize(("line", "path", "args"), TYPED, ids=[line for line, _, _ in TYPED])
def test_each_command_parses_into_its_arguments(line: str, path: tuple[str, ...], args: object) -> None:
    invocation = parse_line(COMMANDS, line)
    assert invocation.command.path == path
    assert invocation.args == args
    assert type(invocation.args) is invocation.command.arguments


def test_command_words_ignore_case_and_a_telegram_bot_suffix() -> None:
    assert parse_line(COMMANDS, "/TASK Show 2").args == TaskId(2)
    assert parse_line(COMMANDS, "/status@orch_bot").command.path == ("status",)


def test_options_anywhere_on_the_first_line() -> None:
    line = ("/task new agent:codex fix label:ui the login page parent:#3 label:urgent complexity:simple "
            'project:web body:"see the ticket"')
    args = parse_line(COMMANDS, line).args
    assert args == NewTaskArgs("fix the login page", body="see the ticket", agent="codex", complexity="simple",
                               project="web", parent=3, label=("ui", "urgent"))


@pytest.mark.parametrize(("line", "title"), [
    ("/task new don't crash when the list is empty", "don't crash when the list is empty"),
    ('/task new fix the "login page"', 'fix the "login page"'),
    ('/task new a lone " quote', 'a lone " quote'),
    ("/task new it's 'half quoted", "it's 'half quoted"),
    ('/task new "agent:codex" is a word here', '"agent:codex" is a word here'),
])
def test_quotes_and_apostrophes_in_free_text_are_text(line: str, title: str) -> None:
    assert parse_line(COMMANDS, line).args == NewTaskArgs(title)


@pytest.mark.parametrize(("line", "args"), [
    ("""/task new t body:"it's done" agent:shell""", NewTaskArgs("t", body="it's done", agent="shell")),
    ("/task new t body:'don't stop' x", NewTaskArgs("t x", body="don't stop")),
    ('/task new t label:"a b" label:c', NewTaskArgs("t", label=("a b", "c"))),
    ('/task new t body:""', NewTaskArgs("t")),
    # Quoted parts joined as a shell joins them, as shlex.quote writes a value with an apostrophe.
    ("/task new t body:" + shlex.quote(APOSTROPHE_BODY), NewTaskArgs("t", body=APOSTROPHE_BODY)),
    ("/task new t body:'a'\"b c\"'d' x", NewTaskArgs("t x", body="ab cd")),
])
def test_a_quote_opening_an_option_value_groups_it(line: str, args: NewTaskArgs) -> None:
    assert parse_line(COMMANDS, line).args == args


def test_options_on_later_lines_are_body_text() -> None:
    args = parse_line(COMMANDS, "/task new fix it agent:shell\nagent:codex label:x\nproject:web, said Bob").args
    assert args == NewTaskArgs("fix it", body="agent:codex label:x\nproject:web, said Bob", agent="shell")


def test_later_lines_are_the_body_kept_as_typed() -> None:
    args = parse_line(COMMANDS, "/task new tidy up agent:shell\n  indented line\n\nlast line\n").args
    assert args == NewTaskArgs("tidy up", body="  indented line\n\nlast line", agent="shell")


def test_later_lines_follow_a_body_option() -> None:
    args = parse_line(COMMANDS, '/task new t body:"first"\nsecond').args
    assert args == NewTaskArgs("t", body="first\nsecond")


def test_a_word_with_a_colon_before_a_slash_is_title_text() -> None:
    args = parse_line(COMMANDS, "/task new read https://example.org/x").args
    assert args == NewTaskArgs("read https://example.org/x")


def test_greedy_text_is_kept_as_typed() -> None:
    args = parse_line(COMMANDS, "/say 3   two  spaces\n and a line ").args
    assert args == SayArgs(3, "two  spaces\n and a line")


@pytest.mark.parametrize(("line", "reply"), [
    ("/task new x foo:bar", "unknown option foo: (options: body: agent: complexity: project: parent: label:)"),
    ("/task new x agent:shell agent:codex", "option agent: given twice"),
    ("/task new agent:shell", f"missing title: {NEW_USAGE}"),
    ("/task new", f"missing title: {NEW_USAGE}"),
    ("/task new\nonly a body", f"missing title: {NEW_USAGE}"),
    ("/task show", "missing id: /task show ID"),
    ("/say 3", "missing text: /say ID TEXT"),
    ("/task show 1 2", "too many arguments: /task show ID"),
    ("/stream 1 2", "too many arguments: /stream ID"),
    ("/task list done new", "too many arguments: /task list [STATUS]"),
    ("/task unblock 1\n2", "too many arguments: /task unblock ID"),
    ("/task show abc", "task id must be a number, not 'abc'"),
    ("/say two hello", "task id must be a number, not 'two'"),
    ("/task show ²", "task id must be a number, not '²'"),
    ("/task new x parent:one", "task id must be a number, not 'one'"),
    ("/task new x agent:gpt", "agent must be one of claude, codex, opencode, shell, not 'gpt'"),
    ("/task list bogus", "status must be one of new, routed, in_progress, done, needs_review, blocked, waiting, "
                         "cancelled, not 'bogus'"),
    ('/task new x body:"unbalanced', 'option body: opens a " that is not closed (close it, or write body:VALUE '
                                    "without quotes)"),
    ("/task new x label:'it's", "option label: opens a ' that is not closed (close it, or write label:VALUE "
                                "without quotes)"),
    ('/task new x nope:"quoted"', "unknown option nope: (options: body: agent: complexity: project: parent: "
                                  "label:)"),
    ("/frobnicate", "unknown command /frobnicate — try /help"),
    ("/task fly", f"unknown command /task fly (try /task {TASK_ACTIONS})"),
    ("/task", f"unknown command /task (try /task {TASK_ACTIONS})"),
    ("hello", "commands start with / — try /help"),
])
def test_bad_lines_get_one_clear_line(line: str, reply: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_line(COMMANDS, line)
    assert str(raised.value) == reply


@pytest.mark.parametrize("text", ["0", "9223372036854775808", "#99999999999999999999999"])
def test_ids_no_store_can_hold_name_no_task(text: str) -> None:
    with pytest.raises(NotFound, match=rf"^task {int(text.lstrip('#'))} not found$"):
        parse_line(COMMANDS, f"/task show {text}")


def test_typed_options_become_the_same_arguments() -> None:
    values: dict[str, Any] = {"title": "from discord", "body": "", "agent": "shell", "complexity": None,
                              "parent": 2, "label": ["a", "b"]}
    args = parse_call(COMMANDS, ("task", "new"), values).args
    assert args == NewTaskArgs("from discord", agent="shell", parent=2, label=("a", "b"))
    args = parse_call(COMMANDS, ("task", "new"), {"title": "t", "label": "solo"}).args
    assert args == NewTaskArgs("t", label=("solo",))
    assert parse_call(COMMANDS, ("say",), {"id": 4, "text": " as typed "}).args == SayArgs(4, " as typed ")
    assert parse_call(COMMANDS, ("task", "show"), {"id": "#5"}).args == TaskId(5)
    assert parse_call(COMMANDS, ("help",), {}).args == NoArgs()


@pytest.mark.parametrize(("path", "values", "reply"), [
    (("task", "new"), {"title": "t", "colour": "red"}, "unknown option colour for /task new"),
    (("task", "new"), {"agent": "shell"}, f"missing title: {NEW_USAGE}"),
    (("task", "new"), {"title": "t", "agent": "gpt"}, "agent must be one of claude, codex, opencode, shell, "
                                                      "not 'gpt'"),
    (("task", "show"), {"id": "abc"}, "task id must be a number, not 'abc'"),
    (("task", "show"), {"id": 0}, "task 0 not found"),
    (("dance",), {}, "unknown command /dance — try /help"),
])
def test_bad_typed_options_get_one_clear_line(path: tuple[str, ...], values: dict[str, Any], reply: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_call(COMMANDS, path, values)
    assert str(raised.value) == reply


@dataclass(frozen=True)
class CopyArgs:
    source: int = field(metadata=about("what to copy", id_of="job"))
    names: tuple[str, ...] = field(default=(), metadata=about("a name", option=True))


async def _copy(ctx: CommandContext, args: CopyArgs) -> list[Reply]:
    return []


def test_any_command_set_parses_by_its_own_declarations() -> None:
    commands = CommandSet([Command(("copy",), "copy a job", CopyArgs, _copy)])
    assert parse_line(commands, "/copy #4 names:a names:b").args == CopyArgs(4, ("a", "b"))
    for line, reply in [("/copy four", "job id must be a number, not 'four'"),
                        ("/copy 4\nmore lines, no argument takes them", "too many arguments: /copy SOURCE [names:…]"),
                        ("/task new x", "unknown command /task — try /help")]:
        with pytest.raises(UserError) as raised:
            parse_line(commands, line)
        assert str(raised.value) == reply
