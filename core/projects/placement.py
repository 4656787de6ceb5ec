"""Code placement for `orch worker`: a worker runs a registered project's tasks in a bare clone of its own, made
on first use from the project as serve's registry knows it (serve's checkout or clone, by path or over ssh), and
pushes every task commit back there, so the task can go on from it on another host and be delivered from serve.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from orch.core.errors import OrchError
from orch.core.home import OrchHome
from orch.core.projects.git import FETCH_REFSPECS, NO_PROMPT, git
from orch.core.store.records import Project

log = logging.getLogger("orch.placement")
# A worker's clone calls serve's copy `serve`: task branches go there and come from there; `origin` stays the
# project's own remote (its URL in the registry), so delivering from a worker goes where it would from serve.
SERVE_REMOTE = "serve"
# Long enough for a big clone, short enough that a black-holed network does not hold a task for long.
CLONE_TIMEOUT_SECONDS = 600.0


def remote_url(project: Project, host: str | None) -> str:
    """Where a worker clones the project from and pushes to: serve's checkout or clone, reached over ssh when
    `host` (cluster.projects_host) is set."""
    return f"{host}:{project.path}" if host else project.path


def source_remote(project: Project) -> str:
    """The remote a worker's clone mirrors the project's branches from (fetched before a task branches off, and
    where a merge delivered from the worker must go): a clone project's origin, else serve's checkout."""
    return "origin" if project.managed and project.url else SERVE_REMOTE


def placed_clone(home: OrchHome, project: Project, url: str) -> Path:
    """This host's bare clone of `project` (cloned from `url` the first time it is needed)."""
    path = home.projects_dir / "placed" / f"{project.name}.git"
    if (path / "HEAD").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted clone left
    try:
        result = subprocess.run(["git", "clone", "--bare", "--quiet", "--origin", SERVE_REMOTE, url, str(partial)],
                                capture_output=True,
                                text=True, env={**os.environ, **NO_PROMPT}, timeout=CLONE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise OrchError(f"project {project.name}: cloning {url} took longer than {CLONE_TIMEOUT_SECONDS:g} s") \
            from None
    if result.returncode != 0:
        raise OrchError(f"project {project.name}: cannot clone {url}: {result.stderr.strip()}")
    if project.url:
        git(partial, "remote", "add", "origin", project.url)
    # The project's branches follow its source (serve's clone fetches its origin only when it runs a task itself,
    # which with workers it never does). Task branches are never fetched this way.
    source = source_remote(project)
    git(partial, "config", "--unset-all", f"remote.{source}.fetch", check=False)
    for refspec in FETCH_REFSPECS:
        git(partial, "config", "--add", f"remote.{source}.fetch", refspec)
    # Renamed only once complete: a clone cut short is never taken for a good one.
    partial.rename(path)
    log.info("project %s: cloned %s into %s", project.name, url, path)
    return path
