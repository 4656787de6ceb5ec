"""`orch doctor` on the store: SQLite in the home, or a PostgreSQL server that answers, is recent enough and has
orch's current schema."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from orch.core.home import OrchHome
from orch.core.ops.doctor import Check, run_checks
from orch.core.store.postgres import PostgresStore
from orch.core.store.postgres_schema import LATEST


def store_checks(home: OrchHome) -> list[Check]:
    return [check for check in run_checks(home) if check.text.startswith("store")]


def migrate(url: str) -> None:
    """What the first orch command to open the store does."""
    async def open_and_close() -> None:
        store = await PostgresStore.open(url)
        await store.close()

    asyncio.run(open_and_close())


def test_sqlite_without_a_url(home: OrchHome) -> None:
    assert store_checks(home) == [Check(True, f"store: SQLite {home.db_file}")]


def test_a_postgresql_store_before_and_after_orch_made_its_schema(
    home: OrchHome, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_STORE_URL", postgres_database)
    with psycopg.connect(postgres_database) as conn:
        server = conn.info.server_version
    reached = Check(True, f"store: PostgreSQL {server // 10000}.{server % 10000} at {postgres_database}")
    assert store_checks(home) == [
        reached, Check(False, "store schema: none yet: the first orch command to open the store creates it")]
    migrate(postgres_database)
    assert store_checks(home) == [reached, Check(True, f"store schema: {LATEST}, current")]
    # Doctor looks; it does not migrate.
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("INSERT INTO orch_migrations VALUES (%s, 0)", (LATEST + 1,))
    assert store_checks(home) == [reached, Check(
        False, f"store schema: {LATEST + 1}, written by a newer orch (this one knows up to {LATEST}): upgrade orch",
        fatal=True)]


def test_an_unusable_url_is_fatal(home: OrchHome, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_STORE_URL", "postgresql://orch:s3cret@/orch?host=/nonexistent")
    assert store_checks(home) == [Check(
        False, "store: cannot connect to postgresql://orch:***@/orch?host=/nonexistent: No such file or directory",
        fatal=True)]
    monkeypatch.setenv("ORCH_STORE_URL", "mysql://db/orch")
    assert store_checks(home) == [Check(
        False, "store: ORCH_STORE_URL: 'mysql://db/orch' is not a postgresql:// URL (leave it empty for SQLite in "
        "ORCH_HOME)", fatal=True)]
