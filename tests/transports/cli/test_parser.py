"""The grammar of `orch`: every option has a help line, every command an example and a module that runs it."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator

import pytest
from orch.transports.cli.parser import build_parser


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), module: str | None = None) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every (sub)command's words, parser and the module that runs it (a group's actions share the group's)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                runs = child.get_default("module") or module
                yield (*path, name), child, runs
                yield from commands(child, (*path, name), runs)


ALL = [(words, parser) for words, parser, _ in commands(build_parser())]
MODULES = {" ".join(words): module for words, _, module in commands(build_parser())}


def test_every_command_is_reachable() -> None:
    names = {" ".join(words) for words, _ in ALL}
    assert {"task new", "task list", "task show", "task say", "stream", "job add", "project remove", "init",
            "serve", "service", "doctor", "version"} <= names


@pytest.mark.parametrize(("words", "parser"), ALL, ids=[" ".join(words) for words, _ in ALL])
def test_every_option_has_help_and_every_command_an_example(words: tuple[str, ...],
                                                            parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        # A group's ACTION argument is the list of its actions, each with its help line.
        if not isinstance(action, argparse._SubParsersAction):
            assert action.help, f"orch {' '.join(words)}: {action.dest} has no help line"
    assert parser.epilog and parser.epilog.startswith("example"), f"orch {' '.join(words)} has no example"
    for line in parser.epilog.splitlines()[1:]:
        assert line.startswith(f"  orch {words[0]}") or line.startswith("  cd "), line


@pytest.mark.parametrize("command", list(MODULES))
def test_every_command_has_a_module_that_runs_it(command: str) -> None:
    module = MODULES[command]
    assert module is not None, command
    assert callable(importlib.import_module(f"orch.transports.cli.{module}").run)


@pytest.mark.parametrize("words", [words for words, _ in ALL], ids=[" ".join(words) for words, _ in ALL])
def test_the_grammar_built_for_one_command_line_is_that_commands_whole_grammar(words: tuple[str, ...]) -> None:
    """main builds only the command the line names: its help (every option) must be what the whole grammar says,
    and the top-level help must list every command as before."""
    def found(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return next(child for path, child, _ in commands(parser) if path == words)

    assert found(build_parser([*words, "--json"])).format_help() == found(build_parser()).format_help()
    assert build_parser([*words]).format_help() == build_parser().format_help()
