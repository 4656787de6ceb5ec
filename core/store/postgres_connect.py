"""Connecting to PostgreSQL: the extra that brings psycopg, the connection string, the oldest server orch runs
on, and the one line a person reads when any of it fails (`store: cannot connect to URL: why`, password masked).

The store's pool and migrations connect through here, and so will anything that needs a connection of its own
(a LISTEN connection cannot be shared with a pool).
"""

from __future__ import annotations

import re

import psycopg
from orch.core.errors import UserError
from orch.core.store.location import display_url
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

# PostgreSQL 13 is the oldest release its project still supported when this was written; orch's SQL
# (identity columns, ON CONFLICT, advisory locks) needs 10, so 13 leaves room without testing ancient servers.
MIN_SERVER_VERSION = 130000
# Without one, a host that drops packets holds the connect for the operating system's TCP timeout (minutes).
CONNECT_TIMEOUT_SECONDS = 10
# What libpq puts before the reason: the URL, shown masked beside it, already says where.
_NOISE = re.compile(r"^(?:connection (?:failed|is bad): )?"
                    r"(?:connection to server (?:on socket \"[^\"]*\"|at \"[^\"]*\"(?:, port \d+)?) failed: )?"
                    r"(?:FATAL:\s+)?")


def conninfo(url: str) -> str:
    """The connection string for `url`, with orch's defaults for what the URL does not set."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise unreachable(url, exc) from None
    # client_encoding: a database created as SQL_ASCII would otherwise hand text back as bytes.
    defaults: dict[str, str | int] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "orch",
                                      "client_encoding": "UTF8"}
    extra = {name: value for name, value in defaults.items() if name not in given}
    return make_conninfo(url, **extra)


def fenced_conninfo(url: str, host: str) -> str:
    """conninfo(url) for the connections of an `orch worker` on `host`: they carry the host's name, which the
    database's fence checks against each task's lease."""
    info = conninfo(url)
    options = conninfo_to_dict(info).get("options") or ""
    return make_conninfo(info, options=f"{options} -c orch.fence_host={host}".strip())


def reason(exc: BaseException) -> str:
    """The first line of a driver error, without what the masked URL already says."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return _NOISE.sub("", first).strip() or first


def unreachable(url: str, exc: BaseException) -> UserError:
    return UserError(f"store: cannot connect to {display_url(url)}: {reason(exc)}")


def server_version_text(number: int) -> str:
    """170002 -> "17.2", 90624 -> "9.6.24" (the numbering changed at 10)."""
    if number >= 100000:
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def check_server_version(url: str, number: int, minimum: int = MIN_SERVER_VERSION) -> None:
    if number < minimum:
        raise UserError(f"store: cannot connect to {display_url(url)}: PostgreSQL {server_version_text(number)} "
                        f"is too old (orch needs {minimum // 10000} or later)")


async def connect(url: str) -> psycopg.AsyncConnection[TupleRow]:
    """A new autocommit connection to a server recent enough for orch; UserError (one line) when there is none."""
    info = conninfo(url)
    try:
        conn = await psycopg.AsyncConnection.connect(info, autocommit=True)
    except psycopg.Error as exc:
        raise unreachable(url, exc) from None
    try:
        check_server_version(url, conn.info.server_version)
    except BaseException:
        await conn.close()
        raise
    return conn
