"""A config.yml that cannot be read as config — not UTF-8, a directory, unreadable, not a mapping — and ${VAR}s
that are not set, through the real `orch` CLI: one line naming the file and the problem from `orch serve`,
`orch task list` and `orch doctor` alike, never a traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from orch.core.home import OrchHome

ORCH = str(Path(sys.executable).parent / "orch")
# Root reads any file whatever its mode: orch then runs without root's capabilities, as a user is.
WITHOUT_CAPABILITIES = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)  # as orch makes it: an open one would be tightened, with a warning
    yield folder
    subprocess.run(["tmux", "-L", OrchHome(folder).tmux_socket_name, "kill-server"], capture_output=True)


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORCH_HOME": str(home)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([*WITHOUT_CAPABILITIES, ORCH, *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def _not_utf8(config: Path) -> None:
    config.write_bytes(b"router:\n  mode: caf\xe9\n")


def _directory(config: Path) -> None:
    config.mkdir()


def _unreadable(config: Path) -> None:
    config.write_text("router:\n  mode: round_robin\n")
    config.chmod(0o000)


def _a_list(config: Path) -> None:
    config.write_text("- router\n- workflow\n")


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "not utf-8": (_not_utf8, "config.yml: not UTF-8 text (byte 0xe9 at offset 19)"),
    "a directory": (_directory, "config.yml: is a directory, not a file"),
    "unreadable": (_unreadable, "config.yml: cannot be read: Permission denied"),
    "not a mapping": (_a_list, "config.yml: the top level must be a mapping of keys, not list"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_config_that_cannot_be_read_is_one_line_from_every_command(home: Path, case: str) -> None:
    make, problem = CASES[case]
    make(home / "config.yml")
    serve, listed, doctor = await asyncio.gather(*(
        asyncio.to_thread(run, home, *args) for args in (("serve",), ("task", "list"), ("doctor",))))
    assert (serve.returncode, serve.stderr, serve.stdout) == (1, f"orch: {problem}\n", "")
    if case == "not a mapping":
        # A quick command reads of config.yml only the store's URL, and this file names no store: the list is
        # shown; the command that needs the rest of the file says what is wrong with it.
        assert (listed.returncode, listed.stderr, listed.stdout) == (0, "", "no tasks\n")
    else:
        assert (listed.returncode, listed.stderr, listed.stdout) == (1, f"orch: {problem}\n", "")
    assert doctor.returncode == 1
    assert f"NO  config: {problem}" in doctor.stdout.splitlines()
    assert doctor.stderr == ""


def _telegram(home: Path, *, enabled: bool) -> None:
    (home / "config.yml").write_text(yaml.safe_dump({"transports": {"telegram": {
        "enabled": enabled, "token": "${TELEGRAM_BOT_TOKEN}", "allowed_chat_ids": [1]}}}))


async def test_an_unset_token_is_named_by_the_commands_that_use_it(home: Path) -> None:
    _telegram(home, enabled=True)
    unset = "config.yml: transports.telegram.token: ${TELEGRAM_BOT_TOKEN} is not set"
    serve, listed, doctor = await asyncio.gather(*(
        asyncio.to_thread(run, home, *args) for args in (("serve",), ("task", "list"), ("doctor",))))
    assert (serve.returncode, serve.stderr) == (1, f"orch: {unset}\n")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "no tasks\n", "")
    assert doctor.returncode == 1 and f"NO  {unset}" in doctor.stdout.splitlines()  # as serve says it


async def test_a_disabled_transports_token_may_stay_unset(home: Path) -> None:
    _telegram(home, enabled=False)
    listed, doctor = await asyncio.gather(asyncio.to_thread(run, home, "task", "list"),
                                          asyncio.to_thread(run, home, "doctor"))
    assert (listed.returncode, listed.stderr) == (0, "")
    assert "TELEGRAM_BOT_TOKEN" not in doctor.stdout
    asked = await asyncio.to_thread(run, home, "serve", "--transport", "telegram")
    assert (asked.returncode, asked.stderr) == (
        1, "orch: config.yml: transports.telegram.token: ${TELEGRAM_BOT_TOKEN} is not set\n")
    env = {**os.environ, "ORCH_HOME": str(home)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    process = await asyncio.create_subprocess_exec(ORCH, "serve", env=env, stdin=asyncio.subprocess.PIPE,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"/status\n")
    await process.stdin.drain()
    while (line := await asyncio.wait_for(process.stdout.readline(), 60)).startswith(b"orch serve ready") \
            or line.startswith(b"type commands here"):
        pass
    assert line.startswith(b"engine: "), line
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0 and b"TELEGRAM_BOT_TOKEN" not in stderr
