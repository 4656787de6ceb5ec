"""Stopping `orch serve` delivers what its outboxes hold before the chat transports close.

The chat service is down when the task ends, so its output and its status line are still queued when SIGTERM
comes; the service answers again once serve is stopping. Everything queued must reach the chat — serve used to
close the transports first and lose it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import wait_until
from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram

ORCH = str(Path(sys.executable).parent / "orch")
CHAT = 4343


async def test_lines_queued_at_shutdown_are_delivered_before_the_transports_close(
        tmp_path: Path, fake_telegram: FakeTelegram) -> None:
    home = OrchHome(tmp_path / "home")
    home.root.mkdir()
    (home.root / "config.yml").write_text(yaml.safe_dump({"transports": {"telegram": {
        "enabled": True, "token": TELEGRAM_TOKEN, "allowed_chat_ids": [CHAT], "base_url": fake_telegram.base_url}}}))
    env = {**os.environ, "ORCH_HOME": str(home.root)}
    process = await asyncio.create_subprocess_exec(ORCH, "serve", env=env, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await fake_telegram.push_message(CHAT, CHAT, '/task new counting agent:shell body:"seq 1 40"')
        created = "task 1 created: counting (new, project scratch)"
        await fake_telegram.wait_for(lambda: created in fake_telegram.texts(CHAT), 60)
        fake_telegram.outage.begin(3600, hang_seconds=1.0, kinds=("500",))
        store = await SqliteStore.open(home.db_file)
        try:
            async def queued() -> bool:
                # Done, and the chat's follow ended: its output and status line are in the outbox.
                task = await store.get_task(1)
                return task is not None and task.status is TaskStatus.DONE and not await store.list_follows()

            await wait_until(queued, 60, "task 1 done and its lines queued")
        finally:
            await store.close()
        await fake_telegram.wait_for(lambda: len(fake_telegram.outage.met) > 0, 60)
        process.send_signal(signal.SIGTERM)
        log = home.runtime_dir / "orch.log"

        async def stopping() -> bool:
            return "orch serve stopping" in log.read_text()

        await wait_until(stopping, 30, "serve to start stopping")
        fake_telegram.outage.until = 0.0  # the service is back while serve stops
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        subprocess.run(["tmux", "-L", home.tmux_socket_name, "kill-server"], capture_output=True)
    assert process.returncode == 0, stderr.decode()
    shown = fake_telegram.messages(CHAT)
    output = [line for message in shown if message.raw.startswith("<pre>") for line in message.text.split("\n")]
    assert output == [str(n) for n in range(1, 41)]
    assert any(message.text.startswith("task 1 done") for message in shown), [m.text for m in shown]
