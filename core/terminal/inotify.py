"""Linux inotify through ctypes: a file descriptor that becomes readable when a watched file is written.

It lets the capture loop sleep until an agent prints something instead of polling on a timer, which gives both
millisecond latency and no CPU at all while every agent is quiet. Where inotify is missing (not Linux, or the
limit of watches reached) callers fall back to polling.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

IN_MODIFY = 0x00000002


class Inotify:
    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc = libc
        self._fd = fd

    @classmethod
    def open(cls) -> Inotify | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(libc, fd) if fd >= 0 else None

    def fileno(self) -> int:
        return self._fd

    def add(self, path: Path) -> int | None:
        """Watch `path` for writes; the watch descriptor, or None when inotify refuses."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), IN_MODIFY)
        return int(wd) if wd >= 0 else None

    def remove(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self._fd, wd)

    def drain(self) -> None:
        """Consume every pending event: the caller only needs to know that something changed."""
        try:
            while os.read(self._fd, 65536):
                pass
        except BlockingIOError:
            return

    def close(self) -> None:
        os.close(self._fd)
