"""Whether `orch serve` is running for a home (its pid file names a live process), and whether tasks may run."""

from __future__ import annotations

import os

from orch.core.home import OrchHome
from orch.core.store.location import store_url


def serve_pid(home: OrchHome) -> int | None:
    """The pid of the `orch serve` of this home; None when there is none (a pid file left behind by a serve that
    did not stop cleanly names no live process)."""
    try:
        pid = int(home.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, another user's
    return pid


def tasks_may_run(home: OrchHome) -> bool:
    """Whether anything may still run this home's tasks (and add to their output): its `orch serve`, or, with a
    PostgreSQL store, workers on other hosts (orch can't see them from here, so it assumes they do)."""
    return serve_pid(home) is not None or bool(store_url(home))
