"""`orch doctor`: what is missing for orch to work, as one line per check."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orch.core.agents.registry import executable, executable_path
from orch.core.config import Config, load_config
from orch.core.errors import ConfigError
from orch.core.home import OrchHome
from orch.core.names import LLM_AGENTS


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str
    fatal: bool = False  # orch cannot work at all without it


def run_checks(home: OrchHome) -> list[Check]:
    checks: list[Check] = []
    for tool in ("tmux", "git"):
        path = shutil.which(tool)
        checks.append(Check(path is not None, f"{tool}: {path or 'not found on PATH (install it)'}", fatal=True))
    try:
        config = load_config(home.config_file)
        where = home.config_file if home.config_file.exists() else "none (embedded defaults)"
        checks.append(Check(True, f"config: {where}"))
    except ConfigError as exc:
        checks.append(Check(False, f"config: {exc}", fatal=True))
        config = Config()
    for name in LLM_AGENTS:
        found = executable_path(config, name)
        checks.append(Check(found is not None,
                            f"agent {name}: {found or f'{executable(config, name)} not found on PATH'}"))
    checks.append(Check(True, "agent shell: built in"))
    if os.environ.get("ANTHROPIC_API_KEY"):
        checks.append(Check(True, f"router: llm with {config.router.model} (ANTHROPIC_API_KEY set)"))
    else:
        checks.append(Check(False, "router: no ANTHROPIC_API_KEY: tasks are routed round-robin"))
    for name in ("telegram", "discord"):
        transport = getattr(config.transports, name)
        unset = config.unset_variables("transports", name)
        if transport.enabled and unset:
            checks.extend(Check(False, f"{name}: {line}", fatal=True) for line in unset)
        elif transport.enabled:
            checks.append(Check(bool(transport.token), f"{name}: " + ("token set" if transport.token else
                                f"enabled but transports.{name}.token is empty"), fatal=not transport.token))
    writable = _writable(home.root)
    checks.append(Check(writable, f"home: {home.root}", fatal=not writable))
    return checks


def _writable(path: Path) -> bool:
    existing = path
    while not existing.exists():
        existing = existing.parent
    return os.access(existing, os.W_OK)
