"""Projects: the git repositories tasks run in.

A project comes from `orch init` (a checkout the user has), `projects` in config.yml, or, when none is
known, a scratch repository orch creates in ORCH_HOME so it can be tried with nothing set up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from core.config import Config
from core.errors import NotFound, UserError
from core.gitutil import default_branch, git, has_commits, repo_root
from core.home import OrchHome
from core.store import Project, Store

SCRATCH = "scratch"


@dataclass(frozen=True)
class ProjectRef:
    name: str
    path: Path
    default_branch: str


class Projects:
    def __init__(self, store: Store, config: Config, home: OrchHome) -> None:
        self._store = store
        self._config = config
        self._home = home
        self._scratch_lock = asyncio.Lock()

    async def names(self) -> list[str]:
        stored = [project.name for project in await self._store.list_projects()]
        return sorted({*stored, *self._config.projects})

    async def check_exists(self, name: str) -> None:
        if name != SCRATCH and name not in await self.names():
            known = ", ".join(await self.names()) or "none; run `orch init` in a git repository"
            raise NotFound(f"project {name!r} not found (known: {known})")

    async def default_name(self) -> str:
        names = await self.names()
        return names[0] if len(names) == 1 else SCRATCH

    async def resolve(self, name: str | None) -> ProjectRef:
        name = name or await self.default_name()
        if name == SCRATCH and name not in await self.names():
            async with self._scratch_lock:  # two tasks starting at once must not both create it
                path = await asyncio.to_thread(self._ensure_scratch)
            return ProjectRef(SCRATCH, path, await asyncio.to_thread(default_branch, path))
        configured = self._config.projects.get(name)
        if configured is not None:
            path = Path(configured.path).expanduser()
            branch = configured.default_branch
        else:
            stored = await self._store.get_project(name)
            if stored is None:
                raise NotFound(f"project {name!r} not found")
            path, branch = Path(stored.path), stored.default_branch
        # The configured branch wins; otherwise whatever the checkout has out now.
        if not path.is_dir():
            raise UserError(f"project {name!r}: {path} does not exist")
        root = await asyncio.to_thread(repo_root, path)
        if branch is None:
            branch = await asyncio.to_thread(default_branch, root)
        return ProjectRef(name, root, branch)

    async def register_checkout(self, path: Path) -> Project:
        """`orch init`: remember a git checkout the user already has."""
        root = await asyncio.to_thread(repo_root, path)
        if not await asyncio.to_thread(has_commits, root):
            raise UserError(f"{root} has no commits yet; commit something first so tasks can branch from it")
        project = Project(name=root.name, path=str(root), default_branch=None, managed=False)
        await self._store.add_project(project)
        return project

    def _ensure_scratch(self) -> Path:
        path = self._home.projects_dir / SCRATCH
        if not (path / ".git").exists():
            path.mkdir(parents=True, exist_ok=True)
            git(path, "init", "-q", "-b", "main")
            (path / "README.md").write_text("Scratch project created by orch for tasks with no project.\n")
            git(path, "add", "README.md")
            git(path, "commit", "-q", "-m", "Scratch project")
        return path
