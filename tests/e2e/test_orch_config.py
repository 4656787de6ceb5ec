"""`orch init` writes a short config.yml (what a user must set, and where the full list is); `orch config` shows
every value orch runs with, secrets masked, and where each came from."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from orch.core.config import parse_config

from tests.conftest import make_repo

ORCH = str(Path(sys.executable).parent / "orch")
EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yml"


def orch(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORCH, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def settings(env: dict[str, str] | None = None) -> dict[str, dict[str, object]]:
    result = orch("config", "--json", env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return {item["key"]: item for item in json.loads(result.stdout)}


def test_init_writes_a_short_private_config_that_points_at_the_full_list(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "myapp")
    result = orch("init", cwd=repo)
    assert result.returncode == 0, result.stderr
    config_file = tmp_path / "home" / "config.yml"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600  # tokens go in it
    text = config_file.read_text()
    assert len(text.splitlines()) < 30 and "model_map" not in text and "workflow" not in text
    [pointer] = re.findall(r"^#   (\S+config\.example\.yml)$", text, re.MULTILINE)
    assert Path(pointer).read_text() == EXAMPLE.read_text()  # the full list, as installed with orch
    parsed = parse_config(yaml.safe_load(text))  # valid, and every other value is the default
    assert parsed.transports.telegram.allowed_chat_ids == [] and not parsed.transports.telegram.enabled
    # Left out of the file, a default is the running orch's: `orch config` says so.
    shown = settings()
    assert shown["workflow.max_attempts"] == {"key": "workflow.max_attempts", "value": 3, "source": "default"}
    assert shown["transports.telegram.enabled"]["source"] == "config.yml"
    assert orch("init", cwd=repo).stdout.count("wrote") == 0  # an existing config is never overwritten


def test_config_masks_secrets_and_names_where_each_value_came_from(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.yml").write_text(yaml.safe_dump({
        "workflow": {"max_attempts": 5},
        "transports": {"telegram": {"token": "${MY_TG_TOKEN}", "allowed_chat_ids": [42]}},
        "agents": {"claude": {"env": {"ANTHROPIC_API_KEY": "sk-ant-api03-secretsecretsecret", "LANG": "C"}}},
        "store": {"url": "postgresql://orch:hunter2@db.example/orch"},
    }))
    shown = settings({"MY_TG_TOKEN": "123456:ABCdefGhIJKlmnoPQRstuVWXyz0123456789"})
    assert shown["workflow.max_attempts"]["value"] == 5 and shown["workflow.max_attempts"]["source"] == "config.yml"
    assert shown["transports.telegram.token"] == {"key": "transports.telegram.token", "value": "***",
                                                  "source": "config.yml (${MY_TG_TOKEN})"}
    assert shown["transports.telegram.allowed_chat_ids"]["value"] == [42]
    assert shown["agents.claude.env.ANTHROPIC_API_KEY"]["value"] == "***"
    assert shown["agents.claude.env.LANG"]["value"] == "C"
    assert shown["store.url"]["value"] == "postgresql://orch:***@db.example/orch"
    assert shown["router.mode"] == {"key": "router.mode", "value": "llm", "source": "default"}
    overridden = settings({"ORCH_STORE_URL": "postgresql://other:pw2@db2.example/orch"})["store.url"]
    assert overridden == {"key": "store.url", "value": "postgresql://other:***@db2.example/orch",
                          "source": "environment (ORCH_STORE_URL)"}
    text = orch("config", env={"MY_TG_TOKEN": "123456:ABCdefGhIJKlmnoPQRstuVWXyz0123456789"}).stdout
    assert "hunter2" not in text and "ABCdef" not in text and "secretsecret" not in text
    assert re.search(r"^transports\.telegram\.token +\*\*\* +config\.yml \(\$\{MY_TG_TOKEN\}\)$", text, re.MULTILINE)
    assert re.search(r"^workflow\.max_attempts +5 +config\.yml$", text, re.MULTILINE)


def test_config_with_a_broken_file_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.yml").write_text("workflow:\n  max_attempts: three\n")
    result = orch("config")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("orch: config.yml: workflow.max_attempts: ") and result.stderr.count("\n") == 1
