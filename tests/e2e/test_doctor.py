"""`orch doctor` exit codes: 0 when work can be done (notes allowed), 1 when something blocks it — judged as
`orch serve` judges it (core.ops.readiness), so doctor never says ok for something serve refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ORCH = str(Path(sys.executable).parent / "orch")


def agent_bin(tmp_path: Path, *names: str) -> Path:
    """A folder of agent CLIs that exist (scripts doing nothing): what `which` finds is all doctor asks."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name in names:
        script = folder / name
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
    return folder


def doctor(tmp_path: Path, config: dict[str, Any] | None = None, *, agents: tuple[str, ...] = ("claude",),
           env: dict[str, str] | None = None, command: str = "doctor") -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    if config is not None:
        (home / "config.yml").write_text(yaml.safe_dump(config))
    user_home = tmp_path / "user"  # no agent logins in it
    user_home.mkdir(exist_ok=True)
    base = {key: value for key, value in os.environ.items()
            if not key.endswith(("_API_KEY", "_AUTH_TOKEN", "OAUTH_TOKEN")) and not key.startswith("OPENCODE_")}
    full_env = {**base, "ORCH_HOME": str(home), "HOME": str(user_home), "XDG_DATA_HOME": str(user_home / "data"),
                "PATH": f"{agent_bin(tmp_path, *agents)}:/usr/bin:/bin", **(env or {})}
    full_env.pop("CODEX_HOME", None)
    full_env.pop("CLAUDE_CONFIG_DIR", None)
    return subprocess.run([ORCH, command], capture_output=True, text=True, timeout=60, env=full_env)


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stdout.splitlines()


def test_ready_to_work_is_0_with_notes(tmp_path: Path) -> None:
    # claude with a key; codex and opencode missing and routing round-robin without an API key are notes only.
    result = doctor(tmp_path, env={"ANTHROPIC_AUTH_TOKEN": "sk-ant-test"})
    assert result.returncode == 0, result.stdout
    assert "NO  agent codex: codex not found on PATH" in lines(result)
    assert "NO  router: no ANTHROPIC_API_KEY: tasks are routed round-robin" in lines(result)
    assert result.stderr == ""


def test_a_login_file_counts_as_credentials(tmp_path: Path) -> None:
    login = tmp_path / "user" / ".codex" / "auth.json"
    login.parent.mkdir(parents=True)
    login.write_text("{}")
    assert doctor(tmp_path, agents=("codex",)).returncode == 0


@pytest.mark.parametrize(("config", "agents", "env", "blocking"), [
    (None, (), {}, "NO  agents: none of router.agents (claude, codex, opencode) is on PATH: only tasks labelled "
                   "agent:shell can run (install one; orch sees it at the next task, no restart)"),
    (None, ("claude", "codex"), {}, "NO  agents: no installed agent has an API key or a login: their tasks will fail"),
    ({"transports": {"telegram": {"enabled": True, "token": "123:abc"}}}, ("claude",), {"ANTHROPIC_API_KEY": "k"},
     "NO  telegram: transports.telegram.allowed_chat_ids and transports.telegram.allowed_user_ids empty: nobody may "
     "use the bot (message it: its reply names your ids to add)"),
    ({"transports": {"discord": {"enabled": True, "token": "x.y.z"}}}, ("claude",), {"ANTHROPIC_API_KEY": "k"},
     "NO  discord: transports.discord.allowed_user_ids empty: nobody may use the bot (message it: its reply names "
     "your ids to add)"),
    ({"workflow": {"max_attempts": "three"}}, ("claude",), {"ANTHROPIC_API_KEY": "k"},
     "NO  config: config.yml: workflow.max_attempts: Input should be a valid integer, unable to parse string as an "
     "integer (got 'three')"),
])
def test_what_blocks_work_is_1(tmp_path: Path, config: dict[str, Any] | None, agents: tuple[str, ...],
                               env: dict[str, str], blocking: str) -> None:
    result = doctor(tmp_path, config, agents=agents, env=env)
    assert result.returncode == 1, result.stdout
    assert blocking in lines(result), result.stdout


def test_whatever_serve_refuses_doctor_reports_as_blocking(tmp_path: Path) -> None:
    config = {"transports": {"telegram": {"enabled": True, "token": "${NOT_SET_ANYWHERE}",
                                          "allowed_chat_ids": [1]}}}
    env = {"ANTHROPIC_API_KEY": "k"}
    serve = doctor(tmp_path, config, env=env, command="serve")
    problem = "config.yml: transports.telegram.token: ${NOT_SET_ANYWHERE} is not set"
    assert (serve.returncode, serve.stderr) == (1, f"orch: {problem}\n")
    checked = doctor(tmp_path, config, env=env)
    assert checked.returncode == 1 and f"NO  {problem}" in lines(checked)
    empty = {"transports": {"telegram": {"enabled": True, "token": "", "allowed_chat_ids": [1]}}}
    serve = doctor(tmp_path, empty, env=env, command="serve")
    problem = "transports.telegram.token: empty (set it, e.g. to ${TELEGRAM_BOT_TOKEN})"
    assert (serve.returncode, serve.stderr) == (1, f"orch: {problem}\n")
    checked = doctor(tmp_path, empty, env=env)
    assert checked.returncode == 1 and f"NO  {problem}" in lines(checked)


def test_a_jobs_file_serve_would_refuse_is_blocking(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "jobs.yml").write_text("jobs:\n  - id: 1\n    schedule: every tuesday\n    title: x\n")
    result = doctor(tmp_path, env={"ANTHROPIC_API_KEY": "k"})
    assert result.returncode == 1
    assert any(line.startswith("NO  jobs: jobs.yml: jobs[0].schedule: ") for line in lines(result)), result.stdout
