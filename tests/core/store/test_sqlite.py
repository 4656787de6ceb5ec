"""What only the SQLite store has: its migrations (from nothing, from the first schema, by two openers at once)
and the WAL journal that lets `orch serve` and the CLI share one file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from orch.core.errors import UserError
from orch.core.store.sqlite import MIGRATIONS, SqliteStore
from orch.core.tasks.models import NewTask, TaskStatus

LATEST = len(MIGRATIONS)
TABLES = {"tasks", "attempts", "chunks", "capture_offsets", "routes", "kv", "follows", "projects", "job_state",
          "reviews", "followups", "questions", "chat_messages", "origins"}


def schema(path: Path) -> tuple[int, set[str]]:
    """The file's user_version and its tables, read by a plain sqlite3 connection of this test."""
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    return version, tables - {"sqlite_sequence"}


async def test_a_new_file_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "orch.db"
    store = await SqliteStore.open(path)
    await store.close()
    assert schema(path) == (LATEST, TABLES)

    # Opening it again migrates nothing and keeps what is there.
    store = await SqliteStore.open(path)
    task = await store.create_task(NewTask("kept"))
    await store.close()
    store = await SqliteStore.open(path)
    assert await store.get_task(task.id) == task
    await store.close()
    assert schema(path) == (LATEST, TABLES)


async def test_an_empty_file_is_migrated_like_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "orch.db"
    path.touch()
    store = await SqliteStore.open(path)
    await store.close()
    assert schema(path) == (LATEST, TABLES)


async def test_a_database_at_version_1_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "orch.db"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO tasks (title, body, status, labels, created_at, updated_at) "
                   "VALUES ('from version 1', '', 'done', '[\"agent:shell\"]', 1.0, 2.0)")
        db.execute("INSERT INTO kv (key, value) VALUES ('telegram.offset', '41')")
    db.close()
    assert schema(path) == (1, TABLES - {"job_state", "reviews", "followups", "questions", "chat_messages", "origins"})

    store = await SqliteStore.open(path)
    try:
        [task] = await store.list_tasks()
        assert (task.title, task.status, task.labels, task.created_at) == (
            "from version 1", TaskStatus.DONE, ("agent:shell",), 1.0)
        assert await store.kv_get("telegram.offset") == "41"
        # The table version 2 added works.
        await store.reset_job_state(1, "@daily", 10.0)
        assert await store.claim_job_slot(1, 10.0, 20.0, 20.0)
    finally:
        await store.close()
    assert schema(path) == (LATEST, TABLES)


async def test_openers_racing_on_a_fresh_file_migrate_it_once(tmp_path: Path) -> None:
    # Each round a new file and three connections opening it at once: one migrates, the others wait and see
    # that it is done (a second migration would fail on "table already exists").
    for round_ in range(8):
        path = tmp_path / f"race{round_}.db"
        stores = await asyncio.gather(*(SqliteStore.open(path) for _ in range(3)))
        try:
            created = [await store.create_task(NewTask(f"from opener {n}")) for n, store in enumerate(stores)]
            assert [task.id for task in created] == [1, 2, 3]
        finally:
            for store in stores:
                await store.close()
        assert schema(path) == (LATEST, TABLES)


async def test_the_journal_is_wal(tmp_path: Path) -> None:
    path = tmp_path / "orch.db"
    store = await SqliteStore.open(path)
    try:
        await store.create_task(NewTask("written through the log"))
        # While a connection is open, commits go to the write-ahead log beside the file.
        assert (tmp_path / "orch.db-wal").exists()
        with sqlite3.connect(path) as db:
            # WAL is a property of the file: any connection sees it, and reads while the store is open.
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("SELECT title FROM tasks").fetchall() == [("written through the log",)]
        db.close()
    finally:
        await store.close()


async def test_a_database_from_a_newer_orch_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "orch.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    db.close()
    with pytest.raises(UserError, match=f"orch.db has schema {LATEST + 1}, written by a newer orch"):
        await SqliteStore.open(path)
    assert schema(path) == (LATEST + 1, set())
