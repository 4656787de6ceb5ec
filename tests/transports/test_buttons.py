"""Button data as chat services carry it (transports/buttons.py): the command itself when it fits, a code kept in
the CursorStore when not, and keyboard rows."""

from __future__ import annotations

import pytest
from orch.bot.chat import Button
from orch.core.cursors import Cursors
from orch.core.store.sqlite import SqliteStore
from orch.transports.buttons import ButtonCodes, Pressed, rows


@pytest.mark.parametrize("kept", ["in the store", "in memory"])
async def test_a_command_that_fits_is_its_own_data_and_a_longer_one_a_code(store: SqliteStore, kept: str) -> None:
    cursor = Cursors(store) if kept == "in the store" else None
    codes = ButtonCodes("chat", 32, cursor)
    assert await codes.data(Button("Stop", "/task cancel 12")) == "/task cancel 12"
    assert await codes.data(Button("Reply", "/task reply 12", needs_text=True)) == "?/task reply 12"
    long = Button("Answer", "/answer 12 " + "é" * 20, needs_text=True)
    code = await codes.data(long)
    assert code.startswith("#") and len(code.encode()) <= 64 and code == await codes.data(long)
    assert await codes.pressed(code) == Pressed(long.command, needs_text=True)
    assert await codes.pressed("/task cancel 12") == Pressed("/task cancel 12", needs_text=False)
    assert await codes.pressed("?/task reply 12") == Pressed("/task reply 12", needs_text=True)
    # After a restart, a code kept in the store still means its command; one kept in memory is forgotten.
    again = await ButtonCodes("chat", 32, cursor).pressed(code)
    assert again == (Pressed(long.command, needs_text=True) if cursor is not None else None)
    for foreign in ("#0123", "hello", "?not a command", ""):
        assert await codes.pressed(foreign) is None


def test_rows_keep_short_labels_together_and_long_ones_apart() -> None:
    buttons = [Button(label, f"/{label}") for label in ("Diff", "Retry", "Reply", "Merge", "PR")]
    assert [[b.label for b in row] for row in rows(buttons, per_row=3)] == [["Diff", "Retry", "Reply"],
                                                                           ["Merge", "PR"]]
    approval = [Button(label, "/x") for label in ("Allow", "Allow for this task", "Deny")]
    assert [[b.label for b in row] for row in rows(approval, per_row=3, row_chars=20)] == [
        ["Allow"], ["Allow for this task"], ["Deny"]]
    assert rows([], per_row=3) == []
