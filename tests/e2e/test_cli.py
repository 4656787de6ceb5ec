"""The `orch` command line on its own: init, doctor, version, config errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_repo

ORCH = str(Path(sys.executable).parent / "orch")


def orch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORCH, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_version() -> None:
    result = orch("version")
    assert (result.returncode, result.stdout) == (0, "orch 0.1.0\n")


def test_init_registers_a_checkout_and_writes_config(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    refused = orch("init", cwd=plain)
    assert (refused.returncode, refused.stderr) == (1, f"orch: {plain} is not a git repository\n")
    repo = make_repo(tmp_path / "myapp")
    result = orch("init", cwd=repo)
    assert result.returncode == 0, result.stderr
    home = Path(tmp_path / "home")
    assert (home / "config.yml").read_text() == (Path(__file__).parents[2] / "config.example.yml").read_text()
    created = orch("task", "new", "in my app", "--project", "myapp", "--agent", "shell")
    assert created.returncode == 0
    [task] = json.loads(orch("task", "list", "--json").stdout)
    assert task["project"] == "myapp"
    unknown = orch("task", "new", "elsewhere", "--project", "nope")
    assert unknown.returncode == 1 and unknown.stderr == "orch: project 'nope' not found (known: myapp)\n"


def test_doctor_reports_what_is_there_and_what_is_missing(tmp_path: Path) -> None:
    result = orch("doctor")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok  tmux: ") for line in lines)
    assert any(line.startswith("ok  git: ") for line in lines)
    assert "NO  router: no ANTHROPIC_API_KEY: tasks are routed round-robin" in lines


@pytest.mark.parametrize(("config", "message"), [
    ("workflow:\n  max_attempts: three\n",
     "orch: config.yml: workflow.max_attempts: Input should be a valid integer, unable to parse string as an "
     "integer (got 'three')\n"),
    ("transports:\n  telegram:\n    tokn: x\n", "orch: config.yml: transports.telegram.tokn: unknown key\n"),
])
def test_malformed_config_is_one_line_for_every_command_that_reads_it(tmp_path: Path, config: str,
                                                                     message: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yml").write_text(config)
    for args in (("project", "list"), ("task", "new", "x", "--project", "app"), ("serve",)):
        result = orch(*args)
        assert (result.returncode, result.stderr) == (1, message), args
    # Reading tasks does not need config.yml, so it neither loads nor judges it.
    assert orch("task", "list").returncode == 0
    doctor = orch("doctor")
    assert doctor.returncode == 1 and f"NO  config: {message.removeprefix('orch: ').strip()}" in doctor.stdout


def test_usage_errors_exit_2() -> None:
    assert orch("task").returncode == 2
    assert orch("task", "new").returncode == 2
    assert orch("task", "new", "x", "--agent", "gpt").returncode == 2
