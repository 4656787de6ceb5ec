"""`orch version`: the same line as `orch --version`."""

from __future__ import annotations

import argparse

from orch.core import __version__


def run(args: argparse.Namespace) -> int:
    print(f"orch {__version__}")
    return 0
