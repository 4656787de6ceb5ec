"""Checking a pooled PostgreSQL connection before it is lent, without a round trip for each statement.

The pool's own check (`AsyncConnectionPool.check_connection`) sends an empty query every time a connection is
taken: a connection the server dropped (a restart, a proxy's idle timeout) is then replaced instead of failing the
caller's statement. But under a stream of small writes (a worker storing its panes' output) it doubles the round
trips and measurably delays every line. A connection handed back a moment ago was working a moment ago: only one
that sat idle for longer than `fresh_seconds` is checked.
"""

from __future__ import annotations

import time
import weakref

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

Connection = AsyncConnection[TupleRow]

# Shorter than a server restart takes, so the connections it broke have all been idle longer than this.
FRESH_SECONDS = 0.2


class RecentUse:
    """The pool's `reset` and `check` callbacks: notes when each connection came back, checks the stale ones."""

    def __init__(self, fresh_seconds: float = FRESH_SECONDS) -> None:
        self._fresh = fresh_seconds
        self._returned: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()

    async def returned(self, conn: Connection) -> None:
        self._returned[conn] = time.monotonic()

    async def check(self, conn: Connection) -> None:
        returned = self._returned.get(conn)
        if conn.closed or conn.broken or returned is None or time.monotonic() - returned > self._fresh:
            await AsyncConnectionPool.check_connection(conn)
