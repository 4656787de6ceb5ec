"""Where orch keeps its files (SPEC.md "Home")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
        for path in (self.root, self.projects_dir, self.runtime_dir):
            path.mkdir(parents=True, exist_ok=True)
