"""`orch service`: run `orch serve` under the user's service manager — systemd --user, or launchd on macOS.

Not to be confused with core/service.py, the task service. Everything here shells out to `systemctl --user` or
`launchctl`; a failure of either becomes one UserError line quoting the tool's first line of stderr.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from orch.core.config import Config
from orch.core.errors import UserError
from orch.core.home import OrchHome

SYSTEMD_UNIT = "orch.service"
LAUNCHD_LABEL = "dev.orch.serve"
NOT_INSTALLED = "orch service is not installed; run `orch service install`"
# Passed on to the service because the service manager starts it with its own, minimal environment.
_FORWARDED_ENV = ("PATH", "ORCH_WORKTREES")


@dataclass(frozen=True)
class ServeCommand:
    """What the service runs: `orch serve` of this installation, on this home, with this PATH."""

    argv: tuple[str, ...]
    home: OrchHome
    environment: tuple[tuple[str, str], ...]

    @classmethod
    def current(cls, home: OrchHome) -> ServeCommand:
        # sys.argv[0] is the `orch` console script that is running now; its shebang names this installation's
        # Python, so the service reruns exactly this orch whatever PATH the service manager has.
        executable = str(Path(sys.argv[0]).resolve())
        # PATH as the user has it now: agent CLIs, tmux and git often live where the service manager's default
        # PATH does not look (~/.local/bin, nvm, Homebrew).
        environment = [("ORCH_HOME", str(home.root))]
        environment += [(name, os.environ[name]) for name in _FORWARDED_ENV if os.environ.get(name)]
        return cls((executable, "serve"), home, tuple(environment))


def chat_transport_warning(config: Config) -> str | None:
    """The stdout transport reads stdin, which a service does not have: say so when nothing else is enabled."""
    transports = config.transports
    if transports.telegram.enabled or transports.discord.enabled:
        return None
    return ("warning: no chat transport (telegram, discord) is enabled in config.yml; "
            "only chat transports can be used under a service")


def _systemd_quote(value: str, *, exec_line: bool = False) -> str:
    # `%` starts a specifier everywhere in a unit file, `$` a variable only on Exec lines; quotes and
    # backslashes are C-style escapes inside double quotes.
    escaped = value.replace("%", "%%")
    if exec_line:
        escaped = escaped.replace("$", "$$")
    if not any(char in escaped for char in ' \t"\'\\'):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(command: ServeCommand) -> str:
    environment = "".join(f"Environment={_systemd_quote(f'{name}={value}')}\n" for name, value in command.environment)
    return (
        "[Unit]\n"
        "Description=orch serve: AI coding agents from chat\n"
        "\n"
        "[Service]\n"
        f"ExecStart={' '.join(_systemd_quote(arg, exec_line=True) for arg in command.argv)}\n"
        f"WorkingDirectory={command.home.root.as_posix().replace('%', '%%')}\n"
        f"{environment}"
        # The stdout transport reads stdin; under a service there is no one typing.
        "StandardInput=null\n"
        "Restart=on-failure\n"
        # systemd's default 100 ms would exhaust its start limit (5 in 10 s) before a flaky network is back.
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_plist(command: ServeCommand) -> str:
    return plistlib.dumps({
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": list(command.argv),
        "WorkingDirectory": str(command.home.root),
        "EnvironmentVariables": dict(command.environment),
        "StandardInPath": "/dev/null",
        # launchd drops a job's output unless told where to put it; orch serve's own log is home.log_file.
        "StandardOutPath": str(command.home.runtime_dir / "service.log"),
        "StandardErrorPath": str(command.home.runtime_dir / "service.log"),
        "RunAtLoad": True,
        # Restart after a crash, as systemd's Restart=on-failure; a clean exit stays stopped.
        "KeepAlive": {"SuccessfulExit": False},
    }).decode()


class ServiceManager(ABC):
    """One service manager; every action but install needs the unit installed first."""

    tool: str
    missing: str  # the one line when `tool` is not on PATH

    @property
    @abstractmethod
    def unit_path(self) -> Path: ...

    @abstractmethod
    def render(self, command: ServeCommand) -> str: ...

    @abstractmethod
    def install(self, command: ServeCommand) -> str:
        """Write the unit and register it to start at login; returns what to tell the user."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def restart(self) -> None: ...

    @abstractmethod
    def status(self) -> tuple[str, int]:
        """The manager's own report and an exit status: 0 running, 3 not running (as systemctl and LSB)."""

    @abstractmethod
    def uninstall(self) -> None: ...

    def require_tool(self) -> None:
        if shutil.which(self.tool) is None:
            raise UserError(self.missing)

    def require_installed(self) -> None:
        self.require_tool()
        if not self.unit_path.exists():
            raise UserError(NOT_INSTALLED)

    def write_unit(self, command: ServeCommand) -> None:
        self.require_tool()
        command.home.ensure()  # the working directory must exist before the service starts in it
        self.unit_path.parent.mkdir(parents=True, exist_ok=True)
        self.unit_path.write_text(self.render(command), encoding="utf-8")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.tool, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise UserError(self.failure(args, result))
        return result

    def failure(self, args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> str:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        return f"{self.tool} {' '.join(args)} failed: {lines[0]}"


class Systemd(ServiceManager):
    tool = "systemctl"
    missing = "orch service needs systemd (systemctl --user) on Linux"

    @property
    def unit_path(self) -> Path:
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config_home) / "systemd" / "user" / SYSTEMD_UNIT

    def render(self, command: ServeCommand) -> str:
        return systemd_unit(command)

    def install(self, command: ServeCommand) -> str:
        self.write_unit(command)
        self.run("--user", "daemon-reload")
        self.run("--user", "enable", SYSTEMD_UNIT)
        return (f"installed {self.unit_path}: starts with your user session (`loginctl enable-linger` keeps it "
                "running after you log out); `orch service start` starts it now")

    def start(self) -> None:
        self.require_installed()
        self.run("--user", "start", SYSTEMD_UNIT)

    def stop(self) -> None:
        self.require_installed()
        self.run("--user", "stop", SYSTEMD_UNIT)

    def restart(self) -> None:
        self.require_installed()
        self.run("--user", "restart", SYSTEMD_UNIT)

    def status(self) -> tuple[str, int]:
        self.require_installed()
        args = ("--user", "status", SYSTEMD_UNIT)
        result = self.run(*args, check=False)
        # systemctl status exits 3 for a stopped unit and still reports it; only no report at all is a failure.
        if result.returncode != 0 and not result.stdout.strip():
            raise UserError(self.failure(args, result))
        return result.stdout, result.returncode

    def uninstall(self) -> None:
        self.require_installed()
        self.run("--user", "disable", "--now", SYSTEMD_UNIT)
        self.unit_path.unlink()
        self.run("--user", "daemon-reload")


class Launchd(ServiceManager):
    tool = "launchctl"
    missing = "orch service needs launchd (launchctl) on macOS"

    @property
    def unit_path(self) -> Path:
        return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"

    @property
    def domain(self) -> str:
        return f"gui/{os.getuid()}"

    @property
    def target(self) -> str:
        return f"{self.domain}/{LAUNCHD_LABEL}"

    def render(self, command: ServeCommand) -> str:
        return launchd_plist(command)

    def loaded(self) -> bool:
        return self.run("print", self.target, check=False).returncode == 0

    def install(self, command: ServeCommand) -> str:
        self.write_unit(command)
        # A plist in ~/Library/LaunchAgents is loaded at login unless disabled: the counterpart of systemctl enable.
        self.run("enable", self.target)
        if self.loaded():
            # launchd keeps the definition it bootstrapped; restart (bootout + bootstrap) reads the new one.
            return f"installed {self.unit_path}; `orch service restart` runs the new definition"
        return f"installed {self.unit_path}: starts when you log in; `orch service start` starts it now"

    def start(self) -> None:
        self.require_installed()
        if self.loaded():
            self.run("kickstart", self.target)  # loaded but exited cleanly, so KeepAlive left it stopped
        else:
            self.run("bootstrap", self.domain, str(self.unit_path))  # RunAtLoad starts it

    def stop(self) -> None:
        self.require_installed()
        if self.loaded():
            self.run("bootout", self.target)

    def restart(self) -> None:
        self.stop()
        self.run("bootstrap", self.domain, str(self.unit_path))

    def status(self) -> tuple[str, int]:
        self.require_installed()
        result = self.run("print", self.target, check=False)
        if result.returncode != 0:
            return f"{LAUNCHD_LABEL} is not loaded (stopped)\n", 3
        running = any(line.strip() == "state = running" for line in result.stdout.splitlines())
        return result.stdout, 0 if running else 3

    def uninstall(self) -> None:
        self.stop()
        self.unit_path.unlink()


def service_manager(platform: str = sys.platform) -> ServiceManager:
    return Launchd() if platform == "darwin" else Systemd()
