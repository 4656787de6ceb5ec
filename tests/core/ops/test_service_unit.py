"""The systemd unit and launchd plist orch service writes, and the launchctl calls it makes (on any platform)."""

from __future__ import annotations

import os
import plistlib
import sys
from pathlib import Path

import pytest
from orch.core.config import Config
from orch.core.errors import UserError
from orch.core.home import OrchHome
from orch.core.ops.service_manager import (
    NOT_INSTALLED,
    Launchd,
    ServeCommand,
    Systemd,
    chat_transport_warning,
    launchd_plist,
    service_manager,
    systemd_unit,
)

from tests.fakes.service_tools import FakeServiceTool

COMMAND = ServeCommand(("/opt/orch/bin/orch", "serve"), OrchHome(Path("/home/ann/.orch")),
                       (("ORCH_HOME", "/home/ann/.orch"), ("PATH", "/home/ann/.local/bin:/usr/bin")))


def test_systemd_unit() -> None:
    assert systemd_unit(COMMAND) == (
        "[Unit]\n"
        "Description=orch serve: AI coding agents from chat\n"
        "\n"
        "[Service]\n"
        "ExecStart=/opt/orch/bin/orch serve\n"
        "WorkingDirectory=/home/ann/.orch\n"
        "Environment=ORCH_HOME=/home/ann/.orch\n"
        "Environment=PATH=/home/ann/.local/bin:/usr/bin\n"
        "StandardInput=null\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def test_systemd_unit_quotes_spaces_and_escapes_specifiers() -> None:
    command = ServeCommand(('/My Apps/50% "x"/orch', "serve"), OrchHome(Path("/data/100%")),
                           (("ORCH_HOME", "/data/100%"), ("PATH", "/a b:/c$d")))
    lines = systemd_unit(command).splitlines()
    assert 'ExecStart="/My Apps/50%% \\"x\\"/orch" serve' in lines
    assert "WorkingDirectory=/data/100%%" in lines
    assert "Environment=ORCH_HOME=/data/100%%" in lines
    assert 'Environment="PATH=/a b:/c$d"' in lines  # `$` is literal outside Exec lines


def test_launchd_plist() -> None:
    assert plistlib.loads(launchd_plist(COMMAND).encode()) == {
        "Label": "dev.orch.serve",
        "ProgramArguments": ["/opt/orch/bin/orch", "serve"],
        "WorkingDirectory": "/home/ann/.orch",
        "EnvironmentVariables": {"ORCH_HOME": "/home/ann/.orch", "PATH": "/home/ann/.local/bin:/usr/bin"},
        "StandardInPath": "/dev/null",
        "StandardOutPath": "/home/ann/.orch/.orch/service.log",
        "StandardErrorPath": "/home/ann/.orch/.orch/service.log",
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
    }


def test_serve_command_reruns_this_orch_with_the_current_path(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    script = tmp_path / "bin" / "orch"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    (tmp_path / "link").symlink_to(script)
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "link"), "service", "install"])
    monkeypatch.setenv("PATH", "/x/bin:/usr/bin")
    monkeypatch.setenv("ORCH_WORKTREES", "/w")
    home = OrchHome(tmp_path / "home")
    assert ServeCommand.current(home) == ServeCommand(
        (str(script), "serve"), home, (("ORCH_HOME", str(home.root)), ("PATH", "/x/bin:/usr/bin"),
                                       ("ORCH_WORKTREES", "/w")))


def test_warns_without_a_chat_transport() -> None:
    assert "only chat transports can be used under a service" in (chat_transport_warning(Config()) or "")
    with_telegram = Config.model_validate({"transports": {"telegram": {"enabled": True, "token": "t"}}})
    assert chat_transport_warning(with_telegram) is None


def test_platform_picks_the_manager() -> None:
    assert isinstance(service_manager("darwin"), Launchd)
    assert isinstance(service_manager("linux"), Systemd)


@pytest.fixture
def launchctl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeServiceTool:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    fake = FakeServiceTool(tmp_path / "fakebin", "launchctl")
    monkeypatch.setenv("PATH", str(fake.directory))
    return fake


def test_launchd_lifecycle(launchctl: FakeServiceTool, tmp_path: Path) -> None:
    manager = service_manager("darwin")
    target = f"gui/{os.getuid()}/dev.orch.serve"
    plist = tmp_path / "user" / "Library" / "LaunchAgents" / "dev.orch.serve.plist"
    with pytest.raises(UserError, match=f"^{NOT_INSTALLED}$"):
        manager.start()
    command = ServeCommand(("/opt/orch", "serve"), OrchHome(tmp_path / "home"), ())
    launchctl.answer("print", code=113, stderr="Could not find service")
    message = manager.install(command)
    assert message.startswith(f"installed {plist}: starts when you log in")
    assert plist.read_text() == launchd_plist(command)
    assert (tmp_path / "home").is_dir()
    assert manager.status() == ("dev.orch.serve is not loaded (stopped)\n", 3)
    manager.start()
    manager.stop()  # not loaded: nothing to boot out
    assert launchctl.calls() == [["enable", target], ["print", target], ["print", target], ["print", target],
                                 ["bootstrap", f"gui/{os.getuid()}", str(plist)], ["print", target]]

    launchctl.answer("print", stdout=f"{target} = {{\n\tstate = running\n}}\n")
    (launchctl.directory / "calls.jsonl").unlink()
    assert manager.status() == (f"{target} = {{\n\tstate = running\n}}\n", 0)
    manager.start()  # loaded already: kickstart it
    manager.restart()  # bootout and bootstrap, so launchd reads the plist again
    manager.uninstall()
    assert not plist.exists()
    assert [call for call in launchctl.calls() if call[0] != "print"] == [
        ["kickstart", target], ["bootout", target], ["bootstrap", f"gui/{os.getuid()}", str(plist)],
        ["bootout", target]]


def test_launchctl_failure_is_one_line(launchctl: FakeServiceTool, tmp_path: Path) -> None:
    launchctl.answer("enable", code=5, stderr="Input/output error\nmore detail\n")
    with pytest.raises(UserError) as raised:
        service_manager("darwin").install(ServeCommand(("/opt/orch", "serve"), OrchHome(tmp_path / "home"), ()))
    assert str(raised.value) == f"launchctl enable gui/{os.getuid()}/dev.orch.serve failed: Input/output error"
