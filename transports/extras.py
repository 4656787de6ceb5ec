"""Chat transports are optional extras of the `orch-agents` distribution: which install a missing one needs.

The terminal needs none of them; a user who enables Telegram or Discord in config.yml adds its extra. Asked
before anything starts, so a missing library is one line naming the install to run, not a traceback.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass

from orch.core.errors import UserError

DISTRIBUTION = "orch-agents"


@dataclass(frozen=True)
class Extra:
    transport: str
    module: str  # the library's top-level import name
    library: str  # its name on PyPI

    @property
    def need(self) -> str:
        return f"transports.{self.transport} needs {self.library}"


EXTRAS = (Extra("telegram", "telegram", "python-telegram-bot"), Extra("discord", "discord", "discord.py"))


def install_hint(extras: Iterable[str]) -> str:
    return f"pip install '{DISTRIBUTION}[{','.join(extras)}]'"


def missing_extras(transports: Iterable[str]) -> list[Extra]:
    """The extras of `transports` whose library cannot be imported (found without importing it)."""
    wanted = set(transports)
    return [extra for extra in EXTRAS if extra.transport in wanted and importlib.util.find_spec(extra.module) is None]


def require_extras(transports: Iterable[str]) -> None:
    """UserError naming what is missing and the one install that adds it all."""
    missing = missing_extras(transports)
    if missing:
        needs = ", ".join(extra.need for extra in missing)
        raise UserError(f"{needs}: {install_hint(extra.transport for extra in missing)}")
