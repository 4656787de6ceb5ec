"""The SQLite store's schema: its migrations, applied in order (the file's user_version counts those applied).

Its own module, without aiosqlite: a quick read-only look at the file (orch.core.store.snapshot) checks the
version without loading an event loop's worth of libraries.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        body TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '[]',
        project TEXT,
        parent_id INTEGER REFERENCES tasks(id),
        agent TEXT,
        model TEXT,
        complexity TEXT,
        route_reason TEXT,
        branch TEXT,
        worktree TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        summary TEXT,
        review_reason TEXT,
        cost_usd REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX tasks_status ON tasks(status);
    CREATE INDEX tasks_parent ON tasks(parent_id);
    CREATE TABLE attempts (
        task_id INTEGER NOT NULL REFERENCES tasks(id),
        number INTEGER NOT NULL,
        agent TEXT NOT NULL,
        model TEXT,
        started_at REAL NOT NULL,
        finished_at REAL,
        exit_code INTEGER,
        outcome TEXT,
        error TEXT,
        summary TEXT,
        cost_usd REAL,
        tokens_in INTEGER,
        tokens_out INTEGER,
        PRIMARY KEY (task_id, number)
    );
    CREATE TABLE chunks (
        task_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        content TEXT NOT NULL,
        ts REAL NOT NULL,
        is_final INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (task_id, seq)
    );
    CREATE TABLE capture_offsets (
        task_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        byte_offset INTEGER NOT NULL,
        PRIMARY KEY (task_id, attempt)
    );
    CREATE TABLE routes (
        task_id INTEGER PRIMARY KEY,
        decision TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE follows (
        transport TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        task_id INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (transport, chat_id, task_id)
    );
    CREATE TABLE projects (
        name TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        default_branch TEXT,
        managed INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: scheduled jobs. handled_until: every slot of `schedule` at or before it was fired or deliberately
    # skipped, so a restart neither fires a slot twice nor forgets one missed while orch was down.
    """
    CREATE TABLE job_state (
        job_id INTEGER PRIMARY KEY,
        schedule TEXT NOT NULL,
        handled_until REAL NOT NULL,
        last_slot REAL,
        last_task_id INTEGER
    );
    """,
    # 3: review and delivery (the task's base, its review, where it went), attempt kinds and agent sessions
    """
    ALTER TABLE tasks ADD COLUMN base_branch TEXT;
    ALTER TABLE tasks ADD COLUMN base_commit TEXT;
    ALTER TABLE tasks ADD COLUMN next_step TEXT;
    ALTER TABLE tasks ADD COLUMN review_decision TEXT;
    ALTER TABLE tasks ADD COLUMN delivered TEXT;
    ALTER TABLE tasks ADD COLUMN pr_url TEXT;
    ALTER TABLE tasks ADD COLUMN merge_commit TEXT;
    ALTER TABLE tasks ADD COLUMN diff_files INTEGER;
    ALTER TABLE tasks ADD COLUMN diff_added INTEGER;
    ALTER TABLE tasks ADD COLUMN diff_removed INTEGER;
    ALTER TABLE attempts ADD COLUMN kind TEXT NOT NULL DEFAULT 'work';
    ALTER TABLE attempts ADD COLUMN session_id TEXT;
    CREATE TABLE reviews (
        task_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        reviewer TEXT NOT NULL,
        model TEXT,
        decision TEXT NOT NULL,
        notes TEXT NOT NULL,
        comments TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL,
        PRIMARY KEY (task_id, attempt)
    );
    """,
    # 4: a conversation with the agent: follow-ups, questions and approvals, the chat messages of each task and
    # where each task was asked for
    """
    CREATE TABLE followups (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        interrupt INTEGER NOT NULL DEFAULT 0,
        source TEXT,
        created_at REAL NOT NULL,
        taken_at REAL
    );
    CREATE INDEX followups_pending ON followups(task_id, taken_at);
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '[]',
        detail TEXT,
        created_at REAL NOT NULL,
        answer TEXT,
        answered_by TEXT,
        answered_at REAL
    );
    CREATE INDEX questions_task ON questions(task_id);
    CREATE TABLE chat_messages (
        transport TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        task_id INTEGER NOT NULL,
        PRIMARY KEY (transport, chat_id, message_id)
    );
    CREATE TABLE origins (
        task_id INTEGER PRIMARY KEY,
        transport TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        user_id TEXT,
        message_id TEXT
    );
    """,
    # 5: where each project's code comes from, so a worker's copy of it can deliver there
    """
    ALTER TABLE projects ADD COLUMN url TEXT;
    """,
]
