"""Logging for orch serve: a file in ORCH_HOME/.orch/, warnings on stderr, and the console lines on stdout.

A record logged with `extra=CONSOLE` is meant for the person at serve's terminal as well (the ready line, tasks
created and ended, a chat service reachable again): it goes to stdout as its bare message, beside the file.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

from orch.core.home import OrchHome, private_dirs, touch_private
from orch.core.text import terminal_safe

CONSOLE = {"console": True}


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Titles and chat ids come from other people: never let them drive the terminal.
        return terminal_safe(record.getMessage())


def _for_console(record: logging.LogRecord) -> bool:
    return bool(getattr(record, "console", False)) and record.levelno < logging.WARNING  # warnings: stderr's


def setup_logging(home: OrchHome, filters: list[logging.Filter] | None = None, console: IO[str] | None = None) -> None:
    private_dirs(home.runtime_dir)
    touch_private(home.log_file)  # the handler appends to it and keeps its mode: the log holds task output
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    file_handler = logging.FileHandler(home.log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(logging.Formatter("orch: %(levelname)s: %(message)s"))
    console_handler = logging.StreamHandler(console or sys.stdout)
    console_handler.addFilter(_for_console)
    console_handler.setFormatter(_ConsoleFormatter())
    for handler in (file_handler, stderr_handler, console_handler):
        for log_filter in filters or []:
            handler.addFilter(log_filter)
        root.addHandler(handler)
    # httpx logs every request URL, and a Telegram URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
