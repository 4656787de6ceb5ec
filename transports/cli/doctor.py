"""`orch doctor`: one line per check (tmux, git, config, agent CLIs, keys, tokens, chat libraries).

Exit status 1 when something orch cannot work without is missing.
"""

from __future__ import annotations

import argparse

from orch.core.config import load_config
from orch.core.errors import ConfigError
from orch.core.home import OrchHome
from orch.core.ops.doctor import Check, run_checks
from orch.transports.extras import install_hint, missing_extras


def _extras(home: OrchHome) -> list[Check]:
    """An enabled chat transport whose library is missing would stop orch serve; core cannot tell (extras are
    the transports' business), so the CLI adds the check."""
    try:
        enabled = load_config(home.config_file).transports.enabled_names()
    except ConfigError:
        return []  # run_checks reports it
    return [Check(False, f"{extra.need}: {install_hint([extra.transport])}", fatal=True)
            for extra in missing_extras(enabled)]


def run(args: argparse.Namespace) -> int:
    home = OrchHome.from_env()
    checks = run_checks(home) + _extras(home)
    for check in checks:
        print(f"{'ok ' if check.ok else 'NO '} {check.text}")
    return 1 if any(check.fatal and not check.ok for check in checks) else 0
