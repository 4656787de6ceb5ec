"""`orch service …` through the real `orch` entry point, against a fake `systemctl` first on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.service_tools import FakeServiceTool

ORCH = Path(sys.executable).parent / "orch"
# This checkout's code, whichever checkout the tests run from (the `orch` script imports the installed one).
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def systemctl(tmp_path: Path) -> FakeServiceTool:
    return FakeServiceTool(tmp_path / "fakebin", "systemctl")


def orch(tmp_path: Path, *args: str, path: str | None = None, xdg: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "user"),
           "PATH": path if path is not None else str(tmp_path / "fakebin")}
    if xdg:
        env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    else:
        env.pop("XDG_CONFIG_HOME", None)
    return subprocess.run([str(ORCH), "service", *args], env=env, capture_output=True, text=True, timeout=60)


def test_install_writes_the_unit_and_enables_it(systemctl: FakeServiceTool, tmp_path: Path) -> None:
    result = orch(tmp_path, "install")
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "xdg" / "systemd" / "user" / "orch.service"
    assert result.stdout.startswith(f"installed {unit}: starts with your user session")
    assert result.stderr == ("orch: warning: no chat transport (telegram, discord) is enabled in config.yml; "
                             "only chat transports can be used under a service\n")
    home = tmp_path / "home"
    lines = unit.read_text().splitlines()
    assert f"ExecStart={ORCH.resolve()} serve" in lines
    assert f"WorkingDirectory={home}" in lines
    assert f"Environment=ORCH_HOME={home}" in lines
    assert f"Environment=PATH={tmp_path / 'fakebin'}" in lines
    assert {"StandardInput=null", "Restart=on-failure", "WantedBy=default.target"} <= set(lines)
    assert home.is_dir()
    assert systemctl.calls() == [["--user", "daemon-reload"], ["--user", "enable", "orch.service"]]


def test_install_with_a_chat_transport_does_not_warn_and_respects_home(systemctl: FakeServiceTool,
                                                                      tmp_path: Path) -> None:
    (tmp_path / "home").mkdir(mode=0o700)  # as orch makes it: an open one would be tightened, with a warning
    (tmp_path / "home" / "config.yml").write_text("transports:\n  telegram:\n    enabled: true\n    token: x\n")
    result = orch(tmp_path, "install", xdg=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / "user" / ".config" / "systemd" / "user" / "orch.service").exists()


def test_lifecycle_after_install(systemctl: FakeServiceTool, tmp_path: Path) -> None:
    assert orch(tmp_path, "install").returncode == 0
    (systemctl.directory / "calls.jsonl").unlink()
    for action, said in (("start", "started"), ("stop", "stopped"), ("restart", "restarted")):
        result = orch(tmp_path, action)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"orch service {said}\n", ""), action
    systemctl.answer("status", code=3, stdout="○ orch.service\n     Active: inactive (dead)\n")
    status = orch(tmp_path, "status")
    assert (status.returncode, status.stdout) == (3, "○ orch.service\n     Active: inactive (dead)\n")
    unit = tmp_path / "xdg" / "systemd" / "user" / "orch.service"
    uninstalled = orch(tmp_path, "uninstall")
    assert (uninstalled.returncode, uninstalled.stdout) == (0, f"orch service uninstalled; removed {unit}\n")
    assert not unit.exists()
    verbs = ("start", "stop", "restart", "status")
    assert systemctl.calls() == [["--user", verb, "orch.service"] for verb in verbs] + [
        ["--user", "disable", "--now", "orch.service"], ["--user", "daemon-reload"]]


@pytest.mark.parametrize("action", ["start", "stop", "restart", "status", "uninstall"])
def test_refused_before_install(systemctl: FakeServiceTool, tmp_path: Path, action: str) -> None:
    result = orch(tmp_path, action)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "orch: orch service is not installed; run `orch service install`\n"
    assert systemctl.calls() == []


def test_systemctl_failure_quotes_its_first_line(systemctl: FakeServiceTool, tmp_path: Path) -> None:
    systemctl.answer("daemon-reload", code=1, stderr="Failed to connect to bus: No medium found\nsecond line\n")
    result = orch(tmp_path, "install")
    assert (result.returncode, result.stderr) == (
        1, "orch: systemctl --user daemon-reload failed: Failed to connect to bus: No medium found\n")
    systemctl.answer("status", code=1, stderr="Failed to connect to bus: No medium found\n")
    status = orch(tmp_path, "status")
    assert (status.returncode, status.stderr) == (
        1, "orch: systemctl --user status orch.service failed: Failed to connect to bus: No medium found\n")


def test_without_systemctl(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = orch(tmp_path, "install", path=str(tmp_path / "empty"))
    assert (result.returncode, result.stderr) == (1, "orch: orch service needs systemd (systemctl --user) on Linux\n")
    assert not (tmp_path / "xdg").exists()


def test_usage_errors(tmp_path: Path) -> None:
    assert orch(tmp_path).returncode == 2
    assert orch(tmp_path, "enable").returncode == 2


def test_install_refuses_a_chat_transport_whose_library_is_missing(systemctl: FakeServiceTool,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.yml").write_text("transports:\n  discord:\n    enabled: true\n    token: x\n")
    code = "import sys; sys.modules['discord'] = None; from orch.transports.cli.main import main; main()"
    env = {**os.environ, "HOME": str(tmp_path / "user"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "PATH": str(tmp_path / "fakebin")}
    result = subprocess.run([sys.executable, "-c", code, "service", "install"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "orch: transports.discord needs discord.py: pip install 'orch-agents[discord]'\n")
    assert not (tmp_path / "xdg").exists()
    assert systemctl.calls() == []
