"""What only the PostgreSQL store has: migrations under an advisory lock (two openers racing, one waiting for the
lock, a failed migration leaving nothing, a newer schema refused), a pool that outlives a server restart, text
in a SQL_ASCII database, and the one line a person reads when the server cannot be used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from orch.core.errors import UserError
from orch.core.store.postgres import PostgresStore
from orch.core.store.postgres_connect import check_server_version, connect, server_version_text
from orch.core.store.postgres_schema import LATEST, MIGRATION_LOCK
from orch.core.tasks.models import NewTask

from tests.conftest import wait_until
from tests.postgres_cluster import PostgresCluster

TABLES = {"tasks", "attempts", "chunks", "capture_offsets", "routes", "kv", "follows", "projects", "job_state",
          "reviews", "followups", "questions", "chat_messages", "origins", "orch_migrations",
          # the job queue (procrastinate's) and the cluster's own tables
          "procrastinate_workers", "procrastinate_jobs", "procrastinate_periodic_defers", "procrastinate_events",
          "cluster_hosts", "task_leases", "cluster_controls"}


async def schema(url: str) -> tuple[list[int], set[str]]:
    """The versions recorded as applied and the tables there are, read by a connection of the test's own."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {row[0] for row in await cursor.fetchall()}
        versions: list[int] = []
        if "orch_migrations" in tables:
            cursor = await conn.execute("SELECT version FROM orch_migrations ORDER BY version")
            versions = [row[0] for row in await cursor.fetchall()]
    return versions, tables


@pytest.fixture
async def admin(postgres_database: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """A plain connection to the test's database, standing for another process."""
    async with await psycopg.AsyncConnection.connect(postgres_database, autocommit=True) as conn:
        yield conn


async def test_a_new_database_is_migrated_once_and_keeps_its_rows(postgres_database: str) -> None:
    store = await PostgresStore.open(postgres_database)
    task = await store.create_task(NewTask("kept"))
    await store.close()
    assert await schema(postgres_database) == (list(range(1, LATEST + 1)), TABLES)

    # Opening it again migrates nothing and keeps what is there.
    store = await PostgresStore.open(postgres_database)
    try:
        assert await store.get_task(task.id) == task
    finally:
        await store.close()
    assert await schema(postgres_database) == (list(range(1, LATEST + 1)), TABLES)


async def test_openers_racing_on_a_fresh_database_migrate_it_once(postgres_cluster: PostgresCluster) -> None:
    # Each round a new database and three processes' worth of stores opening it at once: one migrates, the
    # others wait for the lock and find it done (a second migration would fail on "relation already exists").
    for _ in range(5):
        url = postgres_cluster.url(postgres_cluster.create_database())
        stores = await asyncio.gather(*(PostgresStore.open(url) for _ in range(3)))
        try:
            created = [await store.create_task(NewTask(f"from opener {n}")) for n, store in enumerate(stores)]
            assert [task.id for task in created] == [1, 2, 3]
        finally:
            for store in stores:
                await store.close()
        assert await schema(url) == (list(range(1, LATEST + 1)), TABLES)


async def test_an_opener_waits_while_another_process_holds_the_migration_lock(
    postgres_database: str, admin: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    await admin.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    opening = asyncio.create_task(PostgresStore.open(postgres_database))

    async def opener_waits() -> bool:
        cursor = await admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
            (MIGRATION_LOCK,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    await wait_until(opener_waits, what="the opener to wait for the migration lock")
    assert not opening.done()
    assert await schema(postgres_database) == ([], set())
    await admin.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    store = await asyncio.wait_for(opening, 15)
    await store.close()
    assert await schema(postgres_database) == (list(range(1, LATEST + 1)), TABLES)


async def test_a_failed_migration_leaves_the_database_as_it_was(
    postgres_database: str, admin: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    # Someone else's table where orch wants one of its own: the whole migration is rolled back.
    await admin.execute("CREATE TABLE kv (theirs TEXT)")
    with pytest.raises(UserError) as error:
        await PostgresStore.open(postgres_database)
    assert str(error.value) == (f"store: cannot migrate {postgres_database} to schema {LATEST}: "
                                'relation "kv" already exists')
    assert await schema(postgres_database) == ([], {"kv"})


async def test_a_database_from_a_newer_orch_is_refused_and_left_alone(
    postgres_database: str, admin: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    await admin.execute("CREATE TABLE orch_migrations (version BIGINT PRIMARY KEY, applied_at DOUBLE PRECISION)")
    await admin.execute("INSERT INTO orch_migrations VALUES (%s, 0)", (LATEST + 1,))
    with pytest.raises(UserError) as error:
        await PostgresStore.open(postgres_database)
    assert str(error.value) == (f"store: {postgres_database} has schema {LATEST + 1}, written by a newer orch "
                                f"(this one knows up to {LATEST}); upgrade orch")
    assert await schema(postgres_database) == ([LATEST + 1], {"orch_migrations"})


async def test_the_store_outlives_a_restart_of_the_server(
    postgres_cluster: PostgresCluster, postgres_database: str
) -> None:
    store = await PostgresStore.open(postgres_database)
    try:
        task = await store.create_task(NewTask("before the restart"))
        # The pooled connections die with the server; the pool must not lend them out afterwards.
        await asyncio.to_thread(postgres_cluster.pg_ctl, "restart", "-m", "fast")
        assert await store.get_task(task.id) == task
        after = await store.create_task(NewTask("after the restart"))
        assert [t.title for t in await store.list_tasks()] == ["before the restart", after.title]
    finally:
        await store.close()


async def test_text_survives_a_sql_ascii_database(postgres_cluster: PostgresCluster) -> None:
    name = postgres_cluster.create_database("ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    store = await PostgresStore.open(postgres_cluster.url(name))
    try:
        task = await store.create_task(NewTask("naïve 日本語 🚀", labels=("ü",)))
        assert await store.get_task(task.id) == task
        assert (task.title, task.labels) == ("naïve 日本語 🚀", ("ü",))
    finally:
        await store.close()
        postgres_cluster.disconnect(name)


# what a person reads when the server cannot be used: one line, the URL's password masked

@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://orch:s3cret@/orch?host=/nonexistent",
     "store: cannot connect to postgresql://orch:***@/orch?host=/nonexistent: No such file or directory"),
    ("postgresql://orch@/orch?host=/nonexistent&password=s3cret",
     "store: cannot connect to postgresql://orch@/orch?host=/nonexistent&password=***: No such file or directory"),
    ("postgresql://orch:s3cret@127.0.0.1:1/orch",
     "store: cannot connect to postgresql://orch:***@127.0.0.1:1/orch: Connection refused"),
    ("postgresql://orch:s3cret@/orch?colour=blue",
     "store: cannot connect to postgresql://orch:***@/orch?colour=blue: invalid URI query parameter: \"colour\""),
])
async def test_an_unusable_url_is_one_line_without_its_password(url: str, message: str) -> None:
    with pytest.raises(UserError) as error:
        await PostgresStore.open(url)
    assert str(error.value) == message


async def test_a_missing_database_or_role_is_named(postgres_cluster: PostgresCluster) -> None:
    missing = postgres_cluster.url("no_such_database")
    with pytest.raises(UserError) as error:
        await PostgresStore.open(missing)
    assert str(error.value) == f'store: cannot connect to {missing}: database "no_such_database" does not exist'
    nobody = postgres_cluster.url("postgres", user="nobody")
    with pytest.raises(UserError) as error:
        await PostgresStore.open(nobody)
    assert str(error.value) == f'store: cannot connect to {nobody}: role "nobody" does not exist'


async def test_a_server_older_than_orch_needs_is_refused(postgres_database: str) -> None:
    conn = await connect(postgres_database)
    version = conn.info.server_version
    await conn.close()
    check_server_version(postgres_database, version)
    major = version // 10000
    with pytest.raises(UserError) as error:
        check_server_version(postgres_database, version, minimum=(major + 1) * 10000)
    assert str(error.value) == (f"store: cannot connect to {postgres_database}: PostgreSQL {major}.{version % 10000} "
                                f"is too old (orch needs {major + 1} or later)")
    # Before 10, the second number was part of the major version.
    assert (server_version_text(90624), server_version_text(170002)) == ("9.6.24", "17.2")
