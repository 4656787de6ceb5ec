"""`orch serve` with Telegram and Discord enabled in config.yml, each pointed at its fake on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from orch.core.home import OrchHome

from tests.e2e.test_serve_stdout import Serve
from tests.fakes.discord_api import GUILD_ID, FakeDiscord
from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram

ORCH = str(Path(sys.executable).parent / "orch")
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.fake-bot-token.serve-e2e"
TELEGRAM_CHAT = 4242
DISCORD_USER = 950000000000000007
DISCORD_CHANNEL = "940000000000000009"


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(DISCORD_TOKEN)
    await fake.start()
    yield fake
    await fake.close()


async def test_serve_with_telegram_and_discord(tmp_path: Path, fake_telegram: FakeTelegram,
                                               fake_discord: FakeDiscord) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yml").write_text(yaml.safe_dump({"transports": {
        "telegram": {"enabled": True, "token": "${TEST_TG_TOKEN}", "allowed_chat_ids": [TELEGRAM_CHAT],
                     "base_url": fake_telegram.base_url},
        "discord": {"enabled": True, "token": DISCORD_TOKEN, "allowed_user_ids": [DISCORD_USER],
                    "guild_ids": [int(GUILD_ID)], "api_base": fake_discord.api_base,
                    "gateway_url": fake_discord.gateway_url},
    }}))
    env = {**os.environ, "ORCH_HOME": str(home), "TEST_TG_TOKEN": TELEGRAM_TOKEN}
    process = await asyncio.create_subprocess_exec(ORCH, "serve", env=env, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        await fake_telegram.push_message(TELEGRAM_CHAT, TELEGRAM_CHAT,
                                         '/task new from telegram agent:shell body:"echo hello telegram"')
        await fake_telegram.wait_for(lambda: any("task 1 done" in t for t in fake_telegram.texts(TELEGRAM_CHAT)),
                                     within=60)
        texts = fake_telegram.texts(TELEGRAM_CHAT)
        assert texts[0] == "task 1 created: from telegram (new, project scratch)"
        assert any("hello telegram" in text for text in texts)

        await fake_discord.wait_for(lambda: GUILD_ID in fake_discord.synced, seconds=60)
        await fake_discord.invoke_slash(DISCORD_USER, DISCORD_CHANNEL, "task", "new", options={
            "title": "from discord", "body": "echo hello discord", "agent": "shell"})

        def discord_done() -> bool:
            return any("task 2 done" in message.content for message in fake_discord.messages.values())

        await fake_discord.wait_for(discord_done, seconds=60)
        assert any("hello discord" in message.content for message in fake_discord.messages.values())
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        subprocess.run(["tmux", "-L", OrchHome(home).tmux_socket_name, "kill-server"], capture_output=True)
    assert process.returncode == 0, stderr.decode()
    log = (home / ".orch" / "orch.log").read_text()
    assert "orch serve ready: " in log and "transports: telegram, discord;" in log
    # Without the terminal transport, the terminal still says what serve does: ready, then each task's life.
    terminal = stdout.decode().splitlines()
    [ready] = [line for line in terminal if line.startswith("orch serve ready: ")]
    assert ready.startswith(f"orch serve ready: home {home}; ") and "; transports: telegram, discord;" in ready
    tasks = [line for line in terminal if line != ready]  # the Telegram task may be created before serve is ready
    assert tasks[0] == "task 1 created: from telegram (project scratch)" and tasks[1].startswith("task 1 done (shell, ")
    assert tasks[2] == "task 2 created: from discord (project scratch)" and tasks[3].startswith("task 2 done (shell, ")
    assert len(tasks) == 4, terminal
    for token in (TELEGRAM_TOKEN, DISCORD_TOKEN):
        assert token not in log and token not in stderr.decode()


async def test_serve_runs_on_while_the_bot_api_is_unreachable_and_telegram_comes_up_later(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on yet: the Bot API "down" when serve starts
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yml").write_text(yaml.safe_dump({"transports": {
        "stdout": {"enabled": True},
        "telegram": {"enabled": True, "token": TELEGRAM_TOKEN, "allowed_chat_ids": [TELEGRAM_CHAT],
                     "base_url": f"http://127.0.0.1:{port}/bot"}}}))
    env = {**os.environ, "ORCH_HOME": str(home)}
    process = await asyncio.create_subprocess_exec(ORCH, "serve", env=env, stdin=subprocess.PIPE,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    serve = Serve(process)
    fake = FakeTelegram(TELEGRAM_TOKEN)
    try:
        ready, _ = await serve.started()
        assert "transports: stdout, telegram;" in ready
        await serve.send("/task list")  # the terminal works meanwhile
        assert await serve.read_line() == "no tasks"
        await fake.start(port)
        await serve.read_until(r"telegram: reachable now, after \d+ tries: connected", timeout=60)
        await fake.push_message(TELEGRAM_CHAT, TELEGRAM_CHAT, "/task list")
        await fake.wait_for(lambda: fake.texts(TELEGRAM_CHAT) == ["no tasks"], within=60)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        await fake.close()
        subprocess.run(["tmux", "-L", OrchHome(home).tmux_socket_name, "kill-server"], capture_output=True)
    assert process.returncode == 0
    told = [line for line in stderr.decode().splitlines() if "telegram" in line]
    assert told == [f"orch: WARNING: telegram: cannot reach the Bot API at http://127.0.0.1:{port}/bot: "
                    + told[0].split("/bot: ", 1)[1]], stderr.decode()  # one line, no traceback
    assert "Traceback" not in stderr.decode() and TELEGRAM_TOKEN not in stderr.decode()
