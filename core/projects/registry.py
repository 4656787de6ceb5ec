"""Projects: the git repositories tasks run in.

A project comes from `orch project add` (a bare clone orch makes and owns under ORCH_HOME/projects),
`orch init` (a checkout the user has), `projects` in config.yml, or, when none is known, a scratch
repository orch creates in ORCH_HOME so it can be tried with nothing set up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from orch.core.config import Config, ProjectConfig
from orch.core.errors import NotFound, UserError
from orch.core.home import OrchHome
from orch.core.names import SCRATCH
from orch.core.projects.git import FETCH_REFSPECS, NO_PROMPT, default_branch, git, has_commits, repo_root
from orch.core.projects.placement import placed_clone, remote_url, source_remote
from orch.core.projects.unique_work import unique_work
from orch.core.store.base import Store
from orch.core.store.records import Project
from orch.core.tasks.models import TaskStatus

GITHUB = "https://github.com/{owner}/{repo}.git"
# Names become folders (ORCH_HOME/projects/OWNER/REPO.git, worktrees/NAME/): no separators, no dot-dot.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SCP = re.compile(r"[^/@:]+@[^/:]+:(.+)")  # git@host:owner/repo.git
_RUNNING = (TaskStatus.ROUTED, TaskStatus.IN_PROGRESS)

log = logging.getLogger("orch.projects")


@dataclass(frozen=True)
class ProjectRef:
    name: str
    path: Path
    default_branch: str
    managed: bool = False  # a bare clone orch owns: fetched before each task branches from it
    settings: ProjectConfig = field(default_factory=ProjectConfig)  # deliver, github, copy_files, setup
    # On a worker: serve's copy of the project, where each task commit is pushed so another host can go on from
    # it (None: commits stay in this host's repository).
    remote: str | None = None
    # The remote a managed clone mirrors: fetched before a task branches off; a merge reaches it first.
    source: str = "origin"


@dataclass(frozen=True)
class ProjectView:
    """One line of `orch project list`."""

    name: str
    kind: Literal["clone", "checkout", "config"]
    path: str
    default_branch: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "kind": self.kind, "path": self.path, "default_branch": self.default_branch}


@dataclass(frozen=True)
class Source:
    """Where `orch project add` clones from, and the owner/repo its clone is filed under."""

    url: str
    owner: str
    repo: str


def parse_source(text: str, cwd: Path) -> Source:
    """A URL (`https://host/owner/repo(.git)`, `git@host:owner/repo.git`), `owner/repo` for GitHub, or a local
    path (owner = its parent folder's name). An existing path wins over the `owner/repo` shorthand."""
    text = text.strip()
    local = cwd / Path(text).expanduser()
    if "://" not in text and not _SCP.fullmatch(text) and local.exists():
        path = local.resolve()
        if not _is_repository(path):
            raise UserError(f"{path} is not a git repository")
        return _source(text, str(path), path.parent.name, path.name)
    if "://" in text:
        url = urlsplit(text)
        parts = [url.hostname or "", *url.path.split("/")]
    elif scp := _SCP.fullmatch(text):
        parts = [text.partition("@")[2].partition(":")[0], *scp.group(1).split("/")]
    elif text.count("/") == 1:
        owner, repo = text.split("/")
        return _source(text, GITHUB.format(owner=owner, repo=repo.removesuffix(".git")), owner, repo)
    else:
        raise UserError(f"{text!r} is not a git URL, owner/repo or an existing path")
    # With a single path segment (https://host/repo.git) the host stands in for the owner.
    named = [part for part in parts if part]
    return _source(text, text, *(named[-2:] if len(named) > 1 else ("", "")))


def _source(text: str, url: str, owner: str, repo: str) -> Source:
    repo = repo.removesuffix(".git")
    if not (_NAME.fullmatch(owner) and _NAME.fullmatch(repo)):
        raise UserError(f"cannot tell owner/repo from {text!r}")
    return Source(url, owner, repo)


def project_name(folder: str) -> str:
    """A project name made from a folder's name: what a user can type after `--project` and what may name a
    folder of worktrees. Accents are dropped (café → cafe), each run of anything but letters, digits, '.' and '_'
    becomes one '-', and it starts with a letter or digit (`-rf` → `rf`, which `--project` can take); `project`
    when nothing is left."""
    ascii_only = unicodedata.normalize("NFKD", folder).encode("ascii", "ignore").decode()
    name = re.sub(r"(?:[^A-Za-z0-9._]|-)+", "-", ascii_only).lstrip("-._").rstrip("-")
    return name if _NAME.fullmatch(name) else "project"


def _current_branch(path: str) -> str | None:
    folder = Path(path).expanduser()
    return git(folder, "symbolic-ref", "--quiet", "--short", "HEAD", check=False) or None if folder.is_dir() else None


def _is_repository(path: Path) -> bool:
    """A work tree's top folder or a bare repository itself: what `git clone PATH` accepts."""
    for flag in ("--show-toplevel", "--absolute-git-dir"):
        found = git(path, "rev-parse", flag, check=False)
        if found and Path(found).resolve() == path:
            return True
    return False


class Projects:
    def __init__(self, store: Store, config: Config, home: OrchHome, *, placed: bool = False) -> None:
        """`placed`: this is an `orch worker`; a registered project is serve's, and runs here in a clone of this
        home's own (placement)."""
        self._store = store
        self._config = config
        self._home = home
        self._placed = placed
        self._scratch_lock = asyncio.Lock()
        self._clone_locks: dict[str, asyncio.Lock] = {}

    async def names(self) -> list[str]:
        stored = [project.name for project in await self._store.list_projects()]
        return sorted({*stored, *self._configured()})

    def _configured(self) -> dict[str, ProjectConfig]:
        """Projects config.yml defines by path (an entry without one only sets options of a registered one)."""
        return {name: project for name, project in self._config.projects.items() if project.path is not None}

    def settings(self, name: str) -> ProjectConfig:
        """The project's options from config.yml (deliver, github, copy_files, setup); defaults when unset."""
        return self._config.projects.get(name) or ProjectConfig()

    async def check_exists(self, name: str) -> None:
        if name != SCRATCH and name not in await self.names():
            known = ", ".join(await self.names()) or "none; run `orch init` in a git repository"
            raise NotFound(f"project {name!r} not found (known: {known})")

    async def choose(self, name: str | None, cwd: Path | None = None) -> str | None:
        """The project a new task runs in: the one named; else the registered project holding `cwd` (the CLI's
        current folder, a subfolder or one of the project's task worktrees); else the only project; None (the
        scratch repository) when there is none at all. Several and no way to tell is a UserError naming them."""
        if name is not None:
            await self.check_exists(name)
            return name
        names = await self.names()
        if cwd is not None:
            holding = await self._holding(cwd)
            if holding is not None:
                return holding
        if len(names) <= 1:
            return names[0] if names else None
        where = f"; none of them holds {cwd}" if cwd is not None else ""
        raise UserError(f"which project? {len(names)} are registered ({', '.join(names)}){where}: name one with "
                        "--project NAME (in chat: project:NAME)")

    async def _holding(self, cwd: Path) -> str | None:
        """The project whose checkout, clone or task worktrees hold `cwd` (the innermost, when nested)."""
        folders = {name: Path(configured.path).expanduser() for name, configured in self._configured().items()
                   if configured.path is not None}
        folders |= {stored.name: Path(stored.path) for stored in await self._store.list_projects()
                    if stored.name not in folders}
        here = cwd.resolve()
        found: list[tuple[int, str]] = []
        for name, folder in folders.items():
            for root in (folder.resolve(), (self._home.worktrees_dir / name).resolve()):
                if here.is_relative_to(root):
                    found.append((len(root.parts), name))
        return max(found)[1] if found else None

    async def default_name(self) -> str:
        names = await self.names()
        return names[0] if len(names) == 1 else SCRATCH

    async def resolve(self, name: str | None) -> ProjectRef:
        name = name or await self.default_name()
        settings = self.settings(name)
        if name == SCRATCH and name not in await self.names():
            async with self._scratch_lock:  # two tasks starting at once must not both create it
                path = await asyncio.to_thread(self._ensure_scratch)
            return ProjectRef(SCRATCH, path, await asyncio.to_thread(default_branch, path), settings=settings)
        configured = self._configured().get(name)
        if configured is not None and configured.path is not None:
            path = Path(configured.path).expanduser()
            branch = configured.default_branch
        else:
            stored = await self._store.get_project(name)
            if stored is None:
                raise NotFound(f"project {name!r} not found")
            if self._placed:
                return await self._place(stored, settings)
            path, branch = Path(stored.path), settings.default_branch or stored.default_branch
            if stored.managed:
                if not path.is_dir():
                    raise UserError(f"project {name!r}: its clone {path} is gone; `orch project remove {name}` "
                                    "and add it again")
                # A bare clone has no work tree to look for; its HEAD is origin's default branch.
                if branch is None:
                    branch = await asyncio.to_thread(default_branch, path)
                return ProjectRef(name, path, branch, managed=True, settings=settings)
        # The configured branch wins; otherwise whatever the checkout has out now.
        if not path.is_dir():
            raise UserError(f"project {name!r}: {path} does not exist")
        root = await asyncio.to_thread(repo_root, path)
        if branch is None:
            branch = await asyncio.to_thread(default_branch, root)
        return ProjectRef(name, root, branch, settings=settings)

    async def _place(self, stored: Project, settings: ProjectConfig) -> ProjectRef:
        url = remote_url(stored, self._config.cluster.projects_host or None)
        async with self._clone_locks.setdefault(stored.name, asyncio.Lock()):  # two tasks must not both clone
            path = await asyncio.to_thread(placed_clone, self._home, stored, url)
        branch = settings.default_branch or stored.default_branch
        if branch is None:  # serve's clone's HEAD, as this clone has it
            branch = await asyncio.to_thread(default_branch, path)
        return ProjectRef(stored.name, path, branch, managed=True, settings=settings, remote=url,
                          source=source_remote(stored))

    async def register_checkout(self, path: Path) -> Project:
        """`orch init`: remember a git checkout the user already has, by its folder's name made a project name
        (see `project_name`). Run again in the same checkout it changes nothing (but records its origin's URL, if
        it was registered without); in another checkout whose folder has the same name it registers that one as
        NAME-2 (-3, …) and says so: never re-points a project."""
        root = await asyncio.to_thread(repo_root, path)
        if not await asyncio.to_thread(has_commits, root):
            raise UserError(f"{root} has no commits yet; commit something first so tasks can branch from it")
        origin = await asyncio.to_thread(git, root, "config", "--get", "remote.origin.url", check=False) or None
        stored = await self._store.list_projects()
        for known in stored:
            if not known.managed and Path(known.path) == root:
                if known.url is None and origin is not None:  # registered before the registry kept URLs
                    known = replace(known, url=origin)
                    await self._store.add_project(known)
                return known
        wanted = project_name(root.name)
        taken = {known.name for known in stored} | set(self._config.projects) | {SCRATCH}
        name = wanted if wanted not in taken else next(f"{wanted}-{n}" for n in itertools.count(2)
                                                        if f"{wanted}-{n}" not in taken)
        if name != wanted:
            log.warning("a project named %s is already registered; this checkout is registered as %s", wanted, name)
        project = Project(name=name, path=str(root), default_branch=None, managed=False, url=origin)
        await self._store.add_project(project)
        return project

    async def add_clone(self, source_text: str, name: str | None, cwd: Path) -> Project:
        """`orch project add`: a bare clone under ORCH_HOME/projects/OWNER/REPO.git, registered as managed."""
        source = parse_source(source_text, cwd)
        name = name or source.repo
        if not _NAME.fullmatch(name):
            raise UserError(f"project name {name!r} may only have letters, digits, '.', '_' and '-'")
        if name in await self.names():
            raise UserError(f"project {name!r} already exists (`orch project list`)")
        path = self._home.projects_dir / source.owner / f"{source.repo}.git"
        if path.exists():
            raise UserError(f"{path} already exists; another project was cloned from {source.owner}/{source.repo}")
        await asyncio.to_thread(self._clone, source.url, path)
        project = Project(name=name, path=str(path), default_branch=await asyncio.to_thread(default_branch, path),
                          managed=True, url=source.url)
        await self._store.add_project(project)
        return project

    def _clone(self, url: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(["git", "clone", "--bare", "--quiet", url, str(path)], capture_output=True,
                                    text=True, env={**os.environ, **NO_PROMPT})
            if result.returncode != 0:
                # git's first "fatal:" line says what went wrong; what follows is advice.
                lines = [line for line in result.stderr.splitlines() if line.strip()]
                reason = next((line for line in lines if line.startswith("fatal:")), lines[-1] if lines else
                              f"git exited with {result.returncode}")
                raise UserError(f"cannot clone {url}: {reason}")
            if not has_commits(path):
                raise UserError(f"{url} has no commits yet; commit something first so tasks can branch from it")
            git(path, "config", "remote.origin.fetch", FETCH_REFSPECS[0])
            for refspec in FETCH_REFSPECS[1:]:
                git(path, "config", "--add", "remote.origin.fetch", refspec)
        except BaseException:
            self._delete_clone(path)
            raise

    def _delete_clone(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the owner's folder, when this was its only clone

    async def views(self) -> list[ProjectView]:
        """Every project a task may name; one in config.yml shadows a registered one of the same name."""
        views = {stored.name: ProjectView(stored.name, "clone" if stored.managed else "checkout", stored.path,
                                          stored.default_branch) for stored in await self._store.list_projects()}
        for name, configured in self._configured().items():
            views[name] = ProjectView(name, "config", str(configured.path), configured.default_branch)
        # A checkout with no branch set starts tasks from whatever it has checked out: show that.
        return [replace(view, default_branch=view.default_branch or await asyncio.to_thread(_current_branch, view.path))
                for view in (views[name] for name in sorted(views))]

    async def remove(self, name: str, *, force: bool = False) -> Project:
        """Unregister a project; a managed clone (and its task worktrees) is deleted, a checkout never is. A clone
        holding work found nowhere else (unique_work) is refused with the list, unless `force`."""
        project = await self._store.get_project(name)
        if project is None:
            if name in self._configured():
                raise UserError(f"project {name!r} is set in config.yml; remove it there")
            raise NotFound(f"project {name!r} not found")
        default = await self.default_name()
        running = [task.id for status in _RUNNING for task in await self._store.list_tasks(status)
                   if (task.project or default) == name]
        if running:
            ids = ", ".join(str(task_id) for task_id in sorted(running))
            raise UserError(f"project {name!r} has running tasks ({ids}); cancel them or let them finish first")
        if project.managed:
            unsaved = [] if force else await asyncio.to_thread(unique_work, Path(project.path))
            if unsaved:
                raise UserError(f"project {name!r} holds work that exists nowhere else: {'; '.join(unsaved)}; "
                                f"deliver or copy it first (`orch task push ID`), or `orch project remove {name} "
                                "--force` to delete it anyway")
            await asyncio.to_thread(self._delete_clone, Path(project.path))
            if Path(project.path).exists():
                raise UserError(f"could not delete {project.path}; project {name!r} is still registered")
            # Those worktrees hang off the deleted clone; without it they are useless folders.
            await asyncio.to_thread(shutil.rmtree, self._home.worktrees_dir / name, ignore_errors=True)
        await self._store.remove_project(name)
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
