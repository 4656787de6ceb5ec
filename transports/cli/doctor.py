"""`orch doctor`: one line per check (tmux, git, config, agent CLIs, keys, tokens); 1 if orch cannot work."""

from __future__ import annotations

import argparse

from orch.core.home import OrchHome
from orch.core.ops.doctor import run_checks


def run(args: argparse.Namespace) -> int:
    checks = run_checks(OrchHome.from_env())
    for check in checks:
        print(f"{'ok ' if check.ok else 'NO '} {check.text}")
    return 1 if any(check.fatal and not check.ok for check in checks) else 0
