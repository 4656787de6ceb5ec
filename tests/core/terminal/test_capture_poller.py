"""The capture loop delivers every line of every watched file, with inotify and with plain polling."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from orch.core.terminal.capture import CaptureBatch, CapturePoller, PaneCapture


@pytest.mark.parametrize("use_inotify", [True, False])
async def test_lines_written_later_arrive_once_in_order(tmp_path: Path, use_inotify: bool) -> None:
    poller = CapturePoller(use_inotify=use_inotify, safety_interval=30.0)
    runner = asyncio.create_task(poller.run())
    received: list[str] = []
    grown = asyncio.Condition()
    finished: list[bool] = []
    done = asyncio.Event()

    async def handle(batch: CaptureBatch) -> None:
        async with grown:
            received.extend(batch.lines)
            grown.notify_all()
        if batch.finished:
            finished.append(True)
            if len(finished) == 3:
                done.set()

    files = [tmp_path / f"pane{n}.log" for n in range(3)]
    for number, path in enumerate(files):
        path.touch()
        poller.watch(str(number), PaneCapture(path, f"nonce{number}"), handle)
    try:
        for round_ in range(5):
            for number, path in enumerate(files):
                with path.open("ab") as pane:
                    pane.write(f"{number}:{round_}\r\n".encode())
            expected = 3 * (round_ + 1)
            async with grown, asyncio.timeout(10):
                # A safety interval of 30 s: with inotify, these arrive because the writes woke the loop.
                await grown.wait_for(lambda: len(received) == expected)  # noqa: B023 (awaited right here)
        for number, path in enumerate(files):
            with path.open("ab") as pane:
                pane.write(f"\x1b]6060;orch-exit;nonce{number};0\x07".encode())
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    for number in range(3):
        assert [line for line in received if line.startswith(f"{number}:")] == [f"{number}:{r}" for r in range(5)]
    assert len(received) == 15
