"""core.agents.registry: which adapter serves an agent name, and whether its CLI is installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from orch.core.agents.registry import (
    adapter_for,
    executable,
    executable_path,
    installed_agents,
    is_installed,
)
from orch.core.config import Config
from orch.core.errors import UserError
from orch.core.names import AGENT_NAMES


def test_every_agent_has_an_adapter() -> None:
    assert all(adapter_for(name).name == name for name in AGENT_NAMES)
    with pytest.raises(UserError, match="unknown agent 'nope'"):
        adapter_for("nope")


def test_installed_means_its_command_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("codex", "sh"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    config = Config.model_validate({"agents": {"claude": {"command": "no-such-agent-binary-xyz"}}})
    assert executable(config, "claude") == "no-such-agent-binary-xyz"
    assert executable(config, "opencode") == "opencode"
    assert executable_path(config, "codex") == str(bin_dir / "codex")
    assert is_installed(config, "shell") and is_installed(config, "codex")
    assert not is_installed(config, "claude") and not is_installed(config, "opencode")
    assert installed_agents(config, ["opencode", "shell", "claude", "codex"]) == ["shell", "codex"]


def test_a_configured_command_may_be_a_path(tmp_path: Path) -> None:
    script = tmp_path / "my-claude"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    config = Config.model_validate({"agents": {"claude": {"command": str(script)}}})
    assert executable_path(config, "claude") == str(script)
