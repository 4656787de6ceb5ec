"""Whether `orch serve` is running for a home: its pid file names a live process."""

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


def output_may_grow(home: OrchHome) -> bool:
    """Whether a running task's output can still grow: this home's serve runs, or the store is shared
    (PostgreSQL), where the serve and the workers that write it may be on other hosts."""
    return serve_pid(home) is not None or bool(store_url(home))
