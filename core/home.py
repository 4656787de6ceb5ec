"""Where orch keeps its files (SPEC.md "Home"), and keeping them its user's alone.

The home holds tokens (config.yml), every task's output (orch.db, the logs) and whatever agents printed
(pane.log): it is created 0700 and the files orch writes there 0600, whatever the umask — through
`write_private`, `touch_private` and `private_dirs` — and the programs an attempt runs get umask 077 (the pane's
wrapper script sets it), so what they write there is private too. A home left more open (by an older orch, or by
hand) is tightened when orch starts, with one warning saying so.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("orch.home")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path`, readable by its user alone, an existing file included."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, PRIVATE_FILE)  # O_CREAT's mode applies only to a file it creates
        handle.write(text)


def touch_private(path: Path) -> None:
    """Make sure `path` exists, readable by its user alone; its content, if any, is kept."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def private_dirs(path: Path) -> Path:
    """Create `path` and any missing parents 0700 (mkdir's `parents=True` would make the parents 0777 less the
    umask); returns `path`."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile by another process
        folder.chmod(PRIVATE_DIR)  # mkdir's mode is reduced by the umask, never widened: 0700 stays as asked
    return path


@dataclass(frozen=True)
class OrchHome:
    root: Path

    @classmethod
    def from_env(cls) -> OrchHome:
        return cls(Path(os.environ.get("ORCH_HOME", "~/.orch")).expanduser().resolve())

    @property
    def config_file(self) -> Path:
        return self.root / "config.yml"

    @property
    def db_file(self) -> Path:
        return self.root / "orch.db"

    @property
    def jobs_file(self) -> Path:
        return self.root / "jobs.yml"

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    @property
    def worktrees_dir(self) -> Path:
        override = os.environ.get("ORCH_WORKTREES")
        return Path(override).expanduser().resolve() if override else self.root / "worktrees"

    @property
    def runtime_dir(self) -> Path:
        return self.root / ".orch"

    @property
    def log_file(self) -> Path:
        return self.runtime_dir / "orch.log"

    @property
    def pid_file(self) -> Path:
        return self.runtime_dir / "orch.pid"

    def route_file(self, task_id: int) -> Path:
        return self.runtime_dir / f"{task_id}.json"

    def attempt_dir(self, task_id: int, number: int) -> Path:
        return self.runtime_dir / "attempts" / str(task_id) / str(number)

    @property
    def tmux_socket_name(self) -> str:
        # One tmux server per home, so two homes (or two tests) never share sessions.
        import hashlib  # here: a quick CLI read never needs the socket

        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:10]
        return f"orch-{digest}"

    def ensure(self) -> None:
        """Create the home's folders (0700), and tighten a home that is open to others."""
        self.root.parent.mkdir(parents=True, exist_ok=True)  # the home's parents are not orch's to restrict
        for path in (self.root, self.projects_dir, self.runtime_dir):
            private_dirs(path)
        self._tighten()

    def _tighten(self) -> None:
        """Take group and other access away from the home and what orch keeps in it. When a folder was open,
        others could reach what is inside: its runtime folder (attempts, logs) is walked too, and one warning says
        so; a file left open inside a private home (as an older `orch init` wrote config.yml) is closed quietly."""
        db = str(self.db_file)
        folders = [path for path in (self.root, self.projects_dir, self.runtime_dir) if _restrict(path)]
        files = [path for path in (self.config_file, self.db_file, Path(f"{db}-wal"), Path(f"{db}-shm"),
                                   self.jobs_file, self.log_file, self.pid_file) if _restrict(path)]
        if not folders:
            if files:
                log.info("made %s private (0600)", ", ".join(path.name for path in files))
            return
        for folder, names, file_names in os.walk(self.runtime_dir):
            for name in (*names, *file_names):
                _restrict(Path(folder) / name)
        log.warning("ORCH_HOME %s was open to other users; made it private (folders 0700, files 0600)", self.root)


def _restrict(path: Path) -> bool:
    """Take group and other access away from `path` (a link is left alone); whether there was any to take."""
    try:
        current = stat.S_IMODE(path.lstat().st_mode) if not path.is_symlink() else 0
    except FileNotFoundError:
        return False
    if not current & 0o077:
        return False
    try:
        path.chmod(current & ~0o077)
    except OSError as exc:  # a home owned by someone else: say so, and go on
        log.warning("cannot make %s private: %s", path, exc.strerror or exc)
        return False
    return True
