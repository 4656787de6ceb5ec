"""Logging for orch serve: a file in ORCH_HOME/.orch/ and warnings on stderr."""

from __future__ import annotations

import logging
import sys

from orch.core.home import OrchHome, private_dirs, touch_private


def setup_logging(home: OrchHome, filters: list[logging.Filter] | None = None) -> None:
    private_dirs(home.runtime_dir)
    touch_private(home.log_file)  # the handler appends to it and keeps its mode: the log holds task output
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    file_handler = logging.FileHandler(home.log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(logging.Formatter("orch: %(levelname)s: %(message)s"))
    for handler in (file_handler, stderr_handler):
        for log_filter in filters or []:
            handler.addFilter(log_filter)
        root.addHandler(handler)
    # httpx logs every request URL, and a Telegram URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
