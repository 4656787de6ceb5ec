"""A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary folder, `pg_ctl` serving it on a Unix
socket only (no TCP listener, so it works inside `unshare -n`), one fresh database per test.

The server refuses to run as root: as root, initdb and pg_ctl run as the `postgres` user in a folder it owns.
Durability is off (fsync, full-page writes, synchronous commit): nothing here has to survive a crash, and the
tests spend their time in orch, not in the disk.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SERVER_USER = "postgres"  # the superuser initdb creates, and (as root) the account the server runs as
_DEBIAN_BINARIES = Path("/usr/lib/postgresql")
_SETTINGS = "-c listen_addresses='' -c fsync=off -c full_page_writes=off -c synchronous_commit=off"


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else the newest of Debian's /usr/lib/postgresql/N/bin."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    versions = sorted((path for path in _DEBIAN_BINARIES.glob("*/bin") if (path / "initdb").exists()),
                      key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)
    return versions[-1] if versions else None


@dataclass
class PostgresCluster:
    bindir: Path
    root: Path
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @classmethod
    def start(cls, bindir: Path) -> PostgresCluster:
        # Not under pytest's tmp_path: its folders are private to root, and the server's user must reach its own.
        cluster = cls(bindir, Path(tempfile.mkdtemp(prefix="orch-pg-")))
        cluster.socket_dir.mkdir()
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            for path in (cluster.root, cluster.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        try:
            cluster._run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", SERVER_USER, "-E", "UTF8",
                         "--no-locale", "-N")
            cluster.pg_ctl("start")
        except BaseException:
            shutil.rmtree(cluster.root, ignore_errors=True)
            raise
        return cluster

    def pg_ctl(self, action: str, *args: str) -> None:
        """start, stop or restart the server, waiting until it has."""
        options = ("-o", f"{_SETTINGS} -k {self.socket_dir}") if action != "stop" else ()
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.root / "log"), *options, action, *args)

    def stop(self) -> None:
        try:
            self.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str, user: str = SERVER_USER) -> str:
        # psycopg (libpq) takes the socket's folder as the host.
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    def create_database(self, *options: str) -> str:
        """A new empty database; its name. `options` go after CREATE DATABASE NAME (e.g. ENCODING)."""
        name = f"orch_test_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} {' '.join(options)}")
        return name

    def disconnect(self, name: str) -> None:
        """End every connection a test left on its database (a store it did not close, a process it killed).
        The database itself goes with the cluster: DROP DATABASE waits for a checkpoint, a tenth of a second
        per test."""
        self.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")

    def admin(self, statement: str) -> None:
        """Run a statement as the superuser, outside any transaction (CREATE DATABASE needs that)."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.root / "log"
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}\n{server_log}")
