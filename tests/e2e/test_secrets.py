"""No secret leaves orch: after `orch serve` and the CLI handled a Telegram bot token, ANTHROPIC_API_KEY, a GitHub
token, a password in a store URL and a secret matched by `redact.patterns` — in its config, its environment and in
what agents print — none of them is in orch.log, in any request the fake Telegram received, in the stored output
chunks, or in what serve and the CLI print (their errors included).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import wait_until
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram

ORCH = str(Path(sys.executable).parent / "orch")
CHAT = 4545
ANTHROPIC_KEY = "sk-ant-api03-Zq8xWv3Lk9Pm2Nb7Hc4Jd6Fg1Rt5Ys0Ua"
GITHUB_TOKEN = "ghp_Q7w2E9r4T1y6U3i8O5p0A2s7D4f9G1h6J3k8"
PASSWORD = "Pa55-w0rd-8c1f2e"
CUSTOM = "sekrit-4f9a1c7e2b8d3a60"
# The part of each that must never show (a Telegram token's bot id before the colon is the bot's public id).
SECRETS = (TELEGRAM_TOKEN.split(":", 1)[1], ANTHROPIC_KEY.removeprefix("sk-ant-"),
           GITHUB_TOKEN.removeprefix("ghp_"), PASSWORD, CUSTOM)
ROUTE = json.dumps({"executor": "shell", "complexity": "simple", "reason": "a script"})


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropicAPI]:
    fake = FakeAnthropicAPI()
    await fake.start()
    yield fake
    await fake.stop()


def leaks(where: str, text: str) -> list[str]:
    return [f"{where}: {secret[:6]}…" for secret in SECRETS if secret in text]


def scripts(folder: Path) -> tuple[Path, Path]:
    """What an agent prints that holds secrets: an env dump, a header, a URL, bare tokens; one ends in failure."""
    prints = folder / "prints.sh"
    prints.write_text(f"""\
echo "ANTHROPIC_API_KEY={ANTHROPIC_KEY}"
echo "GITHUB_TOKEN={GITHUB_TOKEN}"
echo "curl -H 'Authorization: Bearer {GITHUB_TOKEN}' https://api.github.com/user"
echo "using key {ANTHROPIC_KEY} for the bot {TELEGRAM_TOKEN}"
echo "connecting to postgresql://orch:{PASSWORD}@db.internal/orch"
echo "the deploy code is {CUSTOM}"
""")
    fails = folder / "fails.sh"
    fails.write_text(f"echo 'cloning https://x-access-token:{GITHUB_TOKEN}@github.com/acme/demo.git'\n"
                     f"echo 'fatal: bad credentials {GITHUB_TOKEN} {CUSTOM}' >&2\nexit 3\n")
    return prints, fails


async def run(*argv: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(ORCH, *argv, env=env, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


async def test_no_secret_reaches_the_log_the_chat_the_store_or_an_error(
        tmp_path: Path, fake_telegram: FakeTelegram, fake_anthropic: FakeAnthropicAPI) -> None:
    home = OrchHome(tmp_path / "home")
    home.root.mkdir()
    (home.root / "config.yml").write_text(yaml.safe_dump({
        "transports": {"telegram": {"enabled": True, "token": "${TEST_TG_TOKEN}", "allowed_chat_ids": [CHAT],
                                    "base_url": fake_telegram.base_url}},
        "redact": {"patterns": [r"sekrit-[0-9a-f]{16}"]},
        "workflow": {"max_attempts": 1, "review": False},
        "router": {"agents": ["shell"]},  # the agent CLIs may be installed here: only the shell one runs
    }))
    env = {**os.environ, "ORCH_HOME": str(home.root), "TEST_TG_TOKEN": TELEGRAM_TOKEN,
           "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
           "GITHUB_TOKEN": GITHUB_TOKEN}
    prints, fails = scripts(tmp_path)
    fake_anthropic.queue_error(500, "api_error", "overloaded")  # the router retries: a failure in the log
    fake_anthropic.queue_text(ROUTE)
    said: list[tuple[str, str]] = []
    serve = await asyncio.create_subprocess_exec(ORCH, "serve", env=env, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        await fake_telegram.push_message(CHAT, CHAT, f'/task new prints secrets body:"sh {prints}"')
        await fake_telegram.push_message(CHAT, CHAT, f'/task new fails agent:shell body:"sh {fails}"')
        store = await SqliteStore.open(home.db_file)
        try:
            async def ended() -> bool:
                tasks = await store.list_tasks()
                return len(tasks) == 2 and all(task.status in (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW)
                                               for task in tasks)

            await wait_until(ended, 60, "both tasks to end")
            before = len(fake_telegram.calls_to("sendMessage"))
            for command in ("/task show 1", "/task show 2", "/task list"):
                await fake_telegram.push_message(CHAT, CHAT, command)
            await fake_telegram.wait_for(lambda: len(fake_telegram.calls_to("sendMessage")) >= before + 3, 60)
            chunks = [chunk.content for task in await store.list_tasks()
                      for chunk in await store.chunks_after(task.id, 0)]
        finally:
            await store.close()
        assert any("ANTHROPIC_API_KEY=" in chunk for chunk in chunks), chunks  # the output was there, redacted
        for argv in (("task", "show", "1"), ("task", "show", "2"), ("stream", "2"), ("task", "list", "--json")):
            said.append((" ".join(argv), (await run(*argv, env=env))[1]))
        broken = {**env, "ORCH_STORE_URL": f"postgresql://orch:{PASSWORD}@127.0.0.1:9/orch"}
        code, out = await run("task", "list", env=broken)
        assert code == 1
        said.append(("task list with an unreachable store", out))
    finally:
        serve.send_signal(signal.SIGTERM)
        serve_out, _ = await asyncio.wait_for(serve.communicate(), 60)
        subprocess.run(["tmux", "-L", home.tmux_socket_name, "kill-server"], capture_output=True)
    assert serve.returncode == 0, serve_out.decode()
    found = [*leaks("orch.log", (home.runtime_dir / "orch.log").read_text()),
             *leaks("serve's output", serve_out.decode()),
             *(leak for call in fake_telegram.calls
               for leak in leaks(f"telegram {call.method}", json.dumps(call.params, ensure_ascii=False))),
             *(leak for chunk in chunks for leak in leaks("a stored chunk", chunk)),
             *(leak for where, text in said for leak in leaks(f"orch {where}", text))]
    assert found == []
    assert fake_anthropic.requests and all(r.api_key == ANTHROPIC_KEY for r in fake_anthropic.requests)
