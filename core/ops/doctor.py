"""`orch doctor`: what is missing for orch to work, as one line per check."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orch.core.config import Config, load_config
from orch.core.errors import ConfigError, UserError
from orch.core.home import OrchHome
from orch.core.ops.readiness import Check, serve_checks
from orch.core.store.location import display_url, require_driver, store_url

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["Check", "run_checks"]


def run_checks(home: OrchHome) -> list[Check]:
    checks: list[Check] = []
    for tool in ("tmux", "git"):
        path = shutil.which(tool)
        checks.append(Check(path is not None, f"{tool}: {path or 'not found on PATH (install it)'}", fatal=True))
    loaded: Config | None = None
    try:
        loaded = load_config(home.config_file)
        where = home.config_file if home.config_file.exists() else "none (embedded defaults)"
        checks.append(Check(True, f"config: {where}"))
    except ConfigError as exc:
        checks.append(Check(False, f"config: {exc}", fatal=True))
    config = loaded or Config()
    # The same judgement orch serve makes before it starts (core.ops.readiness), for the transports it would run.
    checks.extend(serve_checks(config, config.transports.enabled_names()))
    checks.append(_jobs_check(home))
    writable = _writable(home.root)
    checks.append(Check(writable, f"home: {home.root}", fatal=not writable))
    checks.extend(_store_checks(home, loaded))
    return checks


def _jobs_check(home: OrchHome) -> Check:
    """A mistake in jobs.yml stops orch serve, as one in config.yml does."""
    from orch.core.schedule.jobs import load_jobs  # apscheduler: only for the commands that read jobs

    try:
        jobs = load_jobs(home.jobs_file)
    except ConfigError as exc:
        return Check(False, f"jobs: {exc}", fatal=True, stops_serve=True)
    return Check(True, f"jobs: {len(jobs)} in {home.jobs_file.name}" if jobs else "jobs: none")


def _store_checks(home: OrchHome, config: Config | None) -> list[Check]:
    """Which store; for PostgreSQL, that the server answers and is recent enough, and where its schema stands."""
    try:
        url = store_url(home, config)
    except UserError as exc:
        return [Check(False, f"store: {exc}", fatal=True)]
    if not url:
        return [Check(True, f"store: SQLite {home.db_file}")]
    try:
        require_driver()
    except UserError as exc:
        return [Check(False, str(exc), fatal=True)]
    return asyncio.run(_postgres_checks(url))


async def _postgres_checks(url: str) -> list[Check]:
    import psycopg
    from orch.core.store.postgres_connect import connect, reason, server_version_text
    from orch.core.store.postgres_schema import LATEST, schema_version

    try:
        conn = await connect(url)
    except UserError as exc:
        return [Check(False, str(exc), fatal=True)]
    try:
        server = server_version_text(conn.info.server_version)
        version = await schema_version(conn)
        queue = await _queue_check(conn) if version == LATEST else []
    except psycopg.Error as exc:
        return [Check(False, f"store: cannot read the schema of {display_url(url)}: {reason(exc)}", fatal=True)]
    finally:
        await conn.close()
    checks = [Check(True, f"store: PostgreSQL {server} at {display_url(url)}")]
    if version == LATEST:
        checks.append(Check(True, f"store schema: {version}, current"))
        checks.extend(queue)
    elif version > LATEST:
        checks.append(Check(False, f"store schema: {version}, written by a newer orch (this one knows up to "
                                   f"{LATEST}): upgrade orch", fatal=True))
    elif version == 0:
        checks.append(Check(False, "store schema: none yet: the first orch command to open the store creates it"))
    else:
        checks.append(Check(False, f"store schema: {version}, this orch has {LATEST}: the next orch command to "
                                   "open the store migrates it"))
    return checks


async def _queue_check(conn: AsyncConnection[Any]) -> list[Check]:
    """The job queue that carries tasks to workers (procrastinate, in the store): its library, its jobs."""
    try:
        from importlib.metadata import version as installed

        library = f"procrastinate {installed('procrastinate')}"
    except ImportError:
        return [Check(False, "job queue: procrastinate is missing: pip install 'orch-agents[cluster]'")]
    cursor = await conn.execute("SELECT count(*) FILTER (WHERE status = 'todo'), count(*) FILTER (WHERE status = "
                                "'doing') FROM procrastinate_jobs")
    jobs = await cursor.fetchone()
    cursor = await conn.execute("SELECT count(*) FROM cluster_hosts")
    seen = await cursor.fetchone()
    assert jobs is not None and seen is not None  # an aggregate has a row
    (waiting, running), (hosts,) = jobs, seen
    return [Check(True, f"job queue: {library}, {waiting} job(s) waiting, {running} running; {hosts} worker "
                        "host(s) seen (orch hosts)")]


def _writable(path: Path) -> bool:
    existing = path
    while not existing.exists():
        existing = existing.parent
    return os.access(existing, os.W_OK)
