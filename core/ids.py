"""Ids people type (`7`, `#7`), for tasks and jobs alike: one parser, one set of messages."""

from __future__ import annotations

from orch.core.errors import NotFound, UserError

# The largest id a store can hold (SQLite INTEGER, PostgreSQL bigint): anything above names nothing.
MAX_ID = 2**63 - 1


def parse_id(text: str | int, what: str) -> int:
    """The id in `text`; `what` names it in the messages ("task", "job", "parent")."""
    if isinstance(text, int):
        value = text
    else:
        cleaned = text.strip().lstrip("#")
        # isdigit() alone accepts characters such as '²' that int() refuses.
        if not (cleaned.isascii() and cleaned.isdigit()):
            raise UserError(f"{what} id must be a number, not {text!r}")
        value = int(cleaned)
    if not 0 < value <= MAX_ID:
        raise NotFound(f"{what} {value} not found")
    return value
