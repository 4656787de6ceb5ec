"""Whether orch can do work with this config and these installs: decided once, here, for `orch serve` (which
refuses to start, or starts and warns) and for `orch doctor` (which lists every check and exits 1 on a blocking
one), so that doctor never says ok for something serve refuses.

Three weights, carried by each Check:
- `stops_serve`: serve refuses to start (an unset `${VAR}` or an empty token of a transport it would run).
- `fatal`: nothing gets done until it is fixed, though serve starts so that the fix can be made while it runs
  (no agent installed, no credentials for any agent, a chat nobody may use: its refusals tell the owner the ids
  to allow).
- neither: a note (round-robin routing without an API key, a fallback agent that is not installed).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orch.core.agents.registry import executable, executable_path, installed_agents
from orch.core.config import Config
from orch.core.names import AGENT_NAMES, LLM_AGENTS

CHAT_TRANSPORTS = ("telegram", "discord")

# What lets each agent CLI call its model: an environment variable (in orch's or in agents.NAME.env), or the file
# its own login writes. claude on macOS keeps its login in the keychain, which orch cannot look into.
_KEY_VARIABLES = {
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
    "codex": ("OPENAI_API_KEY", "CODEX_API_KEY"),
    "opencode": ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY", "OPENCODE_CONFIG",
                 "OPENCODE_CONFIG_CONTENT"),
}
_LOGIN_HINT = {"claude": "run `claude` once to log in", "codex": "run `codex login`",
               "opencode": "run `opencode auth login`"}


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str
    fatal: bool = False  # orch can do no work until it is fixed: `orch doctor` exits 1
    stops_serve: bool = False  # `orch serve` refuses to start


def _login_files(name: str) -> list[Path]:
    home = Path.home()
    if name == "claude":
        return [Path(os.environ.get("CLAUDE_CONFIG_DIR") or home / ".claude") / ".credentials.json"]
    if name == "codex":
        return [Path(os.environ.get("CODEX_HOME") or home / ".codex") / "auth.json"]
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return [data / "opencode" / "auth.json"]


def has_credentials(config: Config, name: str) -> bool:
    """Whether agent `name` has something to call its model with: a key variable or its CLI's login."""
    configured = config.agents.get(name).env
    if any(os.environ.get(var) or configured.get(var) for var in _KEY_VARIABLES[name]):
        return True
    if name == "claude" and sys.platform == "darwin":
        return True  # the keychain: assume the login is there rather than block on a guess
    return any(path.is_file() for path in _login_files(name))


def fallback_agent(config: Config, is_installed: Callable[[str], bool]) -> tuple[str | None, str | None]:
    """The agent used when the chosen one is not installed: `router.fallback_executor`, else the first installed
    agent of router.agents; and a line saying so when it is not the configured one. Never shell unless configured:
    it would run a task written for an LLM agent as a script."""
    configured = config.router.fallback_executor
    if is_installed(configured):
        return configured, None
    for name in config.router.agents:
        if name != "shell" and is_installed(name):
            return name, f"router.fallback_executor {configured} is not installed: using {name} instead"
    return None, f"router.fallback_executor {configured} is not installed, nor is any other agent"


def agent_checks(config: Config) -> list[Check]:
    """Each agent CLI, whether any agent of router.agents can run, the fallback, and their credentials."""
    checks: list[Check] = []
    for name in LLM_AGENTS:
        found = executable_path(config, name)
        checks.append(Check(found is not None,
                            f"agent {name}: {found or f'{executable(config, name)} not found on PATH'}"))
    checks.append(Check(True, "agent shell: built in"))
    routable = installed_agents(config, config.router.agents)
    if not routable:
        checks.append(Check(False, f"agents: none of router.agents ({', '.join(config.router.agents)}) is on PATH: "
                                   "only tasks labelled agent:shell can run (install one; orch sees it at the "
                                   "next task, no restart)", fatal=True))
    _, note = fallback_agent(config, lambda name: name in routable or name == "shell")  # as the router decides
    if note:
        checks.append(Check(False, note))
    checks.extend(credential_checks(config, routable))
    return checks


def credential_checks(config: Config, installed: Sequence[str]) -> list[Check]:
    """A line for each installed LLM agent without credentials; blocking when none of them has any."""
    llm = [name for name in installed if name in LLM_AGENTS]
    missing = [name for name in llm if not has_credentials(config, name)]
    checks = [Check(False, f"agent {name}: no {' or '.join(_KEY_VARIABLES[name][:2])} and no login found "
                           f"({_login_files(name)[0]}): {_LOGIN_HINT[name]} or set the key", fatal=False)
              for name in missing]
    if llm and len(missing) == len(llm):
        checks.append(Check(False, "agents: no installed agent has an API key or a login: their tasks will fail",
                            fatal=True))
    return checks


def routing_check(config: Config) -> Check:
    """How tasks are routed (a note, never blocking: without a key, round-robin is the design)."""
    if config.router.mode == "round_robin":
        return Check(True, "router: round-robin (router.mode)")
    if os.environ.get("ANTHROPIC_API_KEY"):
        return Check(True, f"router: llm with {config.router.model} (ANTHROPIC_API_KEY set)")
    return Check(False, "router: no ANTHROPIC_API_KEY: tasks are routed round-robin")


def transport_checks(config: Config, name: str) -> list[Check]:
    """What a chat transport needs to run (serve refuses without it) and to be of use to anyone."""
    if name not in CHAT_TRANSPORTS:
        return []
    settings = getattr(config.transports, name)
    unset = config.unset_variables("transports", name)
    if unset:
        return [Check(False, line, fatal=True, stops_serve=True) for line in unset]
    if not settings.token:
        return [Check(False, f"transports.{name}.token: empty (set it, e.g. to ${{{name.upper()}_BOT_TOKEN}})",
                      fatal=True, stops_serve=True)]
    keys = allow_list_keys(name)
    if not any(getattr(settings, key.rsplit(".", 1)[1]) for key in keys):
        return [Check(True, f"{name}: token set"),
                Check(False, f"{name}: {' and '.join(keys)} empty: nobody may use the bot (message it: its reply "
                             "names your ids to add)", fatal=True)]
    return [Check(True, f"{name}: token set"), Check(True, f"{name}: allow-list set")]


def allow_list_keys(name: str) -> tuple[str, ...]:
    """The config keys that allow a chat or user on transport `name`."""
    if name == "telegram":
        return ("transports.telegram.allowed_chat_ids", "transports.telegram.allowed_user_ids")
    return (f"transports.{name}.allowed_user_ids",)


def serve_checks(config: Config, transports: Sequence[str]) -> list[Check]:
    """What `orch serve` judges before it starts, for the transports it will run (doctor: the enabled ones)."""
    checks = [check for name in transports for check in transport_checks(config, name)]
    checks.extend(agent_checks(config))
    checks.append(routing_check(config))
    return checks


def agents_found(config: Config) -> list[str]:
    """The agents that can be started here, shell included."""
    return installed_agents(config, AGENT_NAMES)
