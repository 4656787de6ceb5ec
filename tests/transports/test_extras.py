"""The missing-extra hint names what pyproject.toml really has: the distribution, each extra and its library."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from orch.core.errors import UserError
from orch.transports.extras import DISTRIBUTION, EXTRAS, missing_extras, require_extras

PROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_the_hint_names_this_distribution_and_its_extras() -> None:
    assert PROJECT["name"] == DISTRIBUTION
    extras = PROJECT["optional-dependencies"]
    for extra in EXTRAS:
        assert extra.library.lower() in names(extras[extra.transport]), extra
    # `all` is every other extra but the test tools: the chat transports and the PostgreSQL store's `cluster`.
    others = [name for name in extras if name not in ("all", "test")]
    assert {extra.transport for extra in EXTRAS} | {"cluster"} == set(others)
    assert extras["all"] == [f"{DISTRIBUTION}[{','.join(others)}]"]
    # The terminal needs no chat library.
    assert names(PROJECT["dependencies"]).isdisjoint(extra.library.lower() for extra in EXTRAS)


def test_installed_libraries_are_not_missing_and_stdout_needs_none() -> None:
    assert missing_extras(["stdout", "telegram", "discord"]) == []
    require_extras(["stdout"])


def test_a_blocked_library_is_named_with_its_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "discord", None)
    with pytest.raises(UserError, match=r"^transports\.discord needs discord\.py: "
                                        r"pip install 'orch-agents\[discord\]'$"):
        require_extras(["stdout", "discord"])
