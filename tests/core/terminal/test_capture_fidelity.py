"""What agents print in a real tmux pane reaches subscribers as a person reads the final text: once, in order."""

from __future__ import annotations

import pytest
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.helpers import running_engine

CASES = {
    "repeated line": ("for i in $(seq 500); do echo same; done", ["same"] * 500),
    "progress bar": (
        "i=0; while [ $i -le 200 ]; do printf '\\rprogress %3d%%' $((i / 2)); i=$((i + 1)); done; echo",
        ["progress 100%"],
    ),
    "colours and cursor codes": (
        "printf '\\033[1;32mgreen\\033[0m \\033[?25lplain\\033[?25h\\033[K\\n'", ["green plain"]),
    "clear in the middle": ("echo before; clear; echo after", ["before", "after"]),
    "5000-character line": ("printf '%05000d\\n' 7", ["0" * 4999 + "7"]),
    "utf-8": ("echo 'accents éàü, CJK 漢字テスト, emoji 😀👍🏽'", ["accents éàü, CJK 漢字テスト, emoji 😀👍🏽"]),
    "last milliseconds before exit": ("seq 1 3000; printf 'tail without newline'; exit 0",
                                      [str(n) for n in range(1, 3001)] + ["tail without newline"]),
    "tabs and backspaces": ("printf 'a\\tb\\n'; printf 'abc\\b\\bX\\n'", ["a\tb", "aXc"]),
    "empty lines": ("printf 'one\\n\\n\\ntwo\\n'", ["one", "", "", "two"]),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_capture_case(case: str, home: OrchHome, store: SqliteStore) -> None:
    body, expected = CASES[case]
    async with running_engine(home, store) as (orch, events):
        task = await orch.tasks.create(case, body, agent="shell")
        await events.wait_status(task.id, TaskStatus.DONE, TaskStatus.NEEDS_REVIEW)
    assert events.lines(task.id) == expected
    stored = await store.chunks_after(task.id, 0, limit=100000)
    assert [line for chunk in stored for line in chunk.lines] == expected
