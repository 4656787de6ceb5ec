"""Soak test: `orch serve` for a while under a stream of shell tasks from its terminal and a fake Telegram chat.

    python bench/soak.py [--minutes 10] [--tasks 200] [--big-lines 100000]

One `orch serve` (a subprocess, in a private ORCH_HOME of its own under /tmp) serves its stdin/stdout and a fake
Telegram Bot API on 127.0.0.1 (tests/fakes/telegram_api.py, with the real python-telegram-bot in serve), which
answers one send or edit in every 10 with a 429. The tasks, spread over the first 80% of the run, alternate
between the terminal and the chat; every task is a `shell` task and of one of these kinds:

- `small`: prints 20 lines;          - `fail`: prints 3 lines and exits 1 (ends needs_review);
- `big`: prints `--big-lines` lines (one in 20 tasks; only the terminal gets these, see below);
- `cancel`: sleeps until `/task cancel`;
- `followup`: prints 2 lines; once done, `/task reply N echo second turn` runs a second turn (a shell task's
  follow-up is the command of its next turn).

A big task goes to the terminal: Telegram lets a bot send about one message a second to a chat, and 100,000
lines are 150 full messages, so the chat would still be catching up on them when the run ends.

At the end it prints: tasks by status, lines printed (the stored output) against lines delivered to each chat,
the 429s the fake served, and serve's open file descriptors at start and end and its peak RSS, each against
the bound stated here (FD_GROWTH_BOUND, RSS_BOUND_MB); the exit status is 1 when a bound is broken, a line is
missing or repeated, or a task did not end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram, Pass, RateLimit  # noqa: E402

CHAT = 777001
KINDS = ("small", "fail", "small", "followup", "small", "cancel", "small", "fail", "small", "small")
SMALL_LINES = 20
FD_GROWTH_BOUND = 16  # descriptors serve may hold at the end beyond those it held when it started
RSS_BOUND_MB = 400  # serve's peak resident memory
ENDED = ("done", "needs_review", "cancelled", "blocked")
_OUTPUT = re.compile(r"^\[(\d+)\] (.*)$")
_HEADER = re.compile(r"^\[task (\d+)\]$")


@dataclass
class Planned:
    number: int
    kind: str
    via: str  # "terminal" or "telegram"
    task_id: int | None = None
    followed_up: bool = False
    cancel_sent: bool = False

    @property
    def title(self) -> str:
        return f"soak-{self.number}-{self.kind}"

    def body(self, big_lines: int) -> str:
        return {
            "small": f"seq 1 {SMALL_LINES}",
            "big": f"seq 1 {big_lines}",
            "fail": "echo one; echo two; echo three; exit 1",
            "cancel": "echo waiting; sleep 3600",
            "followup": "echo first; echo turn",
        }[self.kind]


@dataclass
class Serve:
    process: asyncio.subprocess.Process
    terminal_lines: Counter[int] = field(default_factory=Counter)  # task id -> output lines on the terminal
    terminal_text: list[str] = field(default_factory=list)  # everything else it printed

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            match = _OUTPUT.match(line)
            if match:
                self.terminal_lines[int(match.group(1))] += 1
            else:
                self.terminal_text.append(line)

    async def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((text + "\n").encode())
        await self.process.stdin.drain()


def plan(tasks: int) -> list[Planned]:
    planned = []
    for number in range(1, tasks + 1):
        kind = "big" if number % 20 == 10 else KINDS[number % len(KINDS)]
        via = "terminal" if kind == "big" or number % 2 else "telegram"
        planned.append(Planned(number, kind, via))
    return planned


def write_home(home: Path, fake: FakeTelegram) -> None:
    home.mkdir(mode=0o700)
    config = {
        "transports": {"stdout": {"enabled": True},
                       "telegram": {"enabled": True, "token": TELEGRAM_TOKEN, "allowed_chat_ids": [CHAT],
                                    "base_url": fake.base_url}},
        "workflow": {"max_attempts": 1, "review": False, "max_parallel": 4},
        "router": {"mode": "round_robin", "agents": ["shell"]},
    }
    (home / "config.yml").write_text(yaml.safe_dump(config))


def proc_status(pid: int, key: str) -> int:
    """A `kB` figure from /proc/PID/status (VmRSS, VmHWM), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_store(db: Path) -> tuple[dict[str, tuple[int, str]], Counter[int]]:
    """Titles -> (id, status), and how many output lines each task stored (what its agent printed)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        tasks = {title: (task_id, status) for task_id, title, status in
                 conn.execute("SELECT id, title, status FROM tasks")}
        printed: Counter[int] = Counter()
        for task_id, content in conn.execute("SELECT task_id, content FROM chunks"):
            printed[task_id] += len(content.split("\n")) if content else 0
    return tasks, printed


def telegram_lines(fake: FakeTelegram) -> Counter[int]:
    """Output lines per task in the chat: preformatted messages, each of one task, headed `[task N]` when the
    chat's previous output message was another task's."""
    delivered: Counter[int] = Counter()
    current: int | None = None
    for message in fake.messages(CHAT):
        if not message.raw.startswith("<pre>"):
            continue
        lines = message.text.split("\n")
        header = _HEADER.match(lines[0]) if lines else None
        if header:
            current = int(header.group(1))
            lines = lines[1:]
        if current is None:
            current = _only_task(fake)
        delivered[current] += len(lines)
    return delivered


def _only_task(fake: FakeTelegram) -> int:
    # A chat that only ever saw one task's output has no headers: the task its first reply created.
    for text in fake.texts(CHAT):
        match = re.match(r"task (\d+) created", text)
        if match:
            return int(match.group(1))
    return 0


async def arm_429s(fake: FakeTelegram, stop: asyncio.Event) -> None:
    """One 429 in every 10 sends and edits, for as long as the run lasts."""
    while not stop.is_set():
        if fake.pending_faults == 0:
            fake.fail(*([Pass()] * 9), RateLimit(1.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def submit(task: Planned, serve: Serve, fake: FakeTelegram, big_lines: int) -> None:
    command = f'/task new {task.title} agent:shell body:"{task.body(big_lines)}"'
    if task.via == "terminal":
        await serve.type(command)
    else:
        await fake.push_message(CHAT, CHAT, command)


async def say(task: Planned, serve: Serve, fake: FakeTelegram, text: str) -> None:
    if task.via == "terminal":
        await serve.type(text)
    else:
        await fake.push_message(CHAT, CHAT, text)


async def drive(planned: list[Planned], serve: Serve, fake: FakeTelegram, db: Path, seconds: float,
                big_lines: int) -> None:
    """Submit the tasks over 80% of the run; cancel and follow up as they get there; return when every task
    has ended (or the run's time is up)."""
    start = time.monotonic()
    spacing = seconds * 0.8 / max(len(planned), 1)
    submitted = 0
    while time.monotonic() - start < seconds:
        while submitted < len(planned) and time.monotonic() - start >= submitted * spacing:
            await submit(planned[submitted], serve, fake, big_lines)
            submitted += 1
        tasks, _ = read_store(db) if db.exists() else ({}, Counter())
        for task in planned[:submitted]:
            found = tasks.get(task.title)
            if found is None:
                continue
            task.task_id, status = found
            if task.kind == "cancel" and not task.cancel_sent and status == "in_progress":
                await say(task, serve, fake, f"/task cancel {task.task_id}")
                task.cancel_sent = True
            elif task.kind == "followup" and not task.followed_up and status == "done":
                # A shell task's follow-up is the command its next turn runs.
                await say(task, serve, fake, f"/task reply {task.task_id} echo second turn")
                task.followed_up = True
        ended = [task for task in planned if task.title in tasks and tasks[task.title][1] in ENDED
                 and (task.kind != "followup" or task.followed_up)]
        if submitted == len(planned) and len(ended) == len(planned):
            return
        await asyncio.sleep(0.5)


async def wait_delivered(serve: Serve, fake: FakeTelegram, db: Path, planned: list[Planned], until: float) -> None:
    """Give the chats until `until` (monotonic) to show every stored line."""
    while time.monotonic() < until:
        _, printed = read_store(db)
        telegram = telegram_lines(fake)
        if all(_delivered(task, serve, telegram) >= printed[task.task_id or 0] for task in planned):
            return
        await asyncio.sleep(1.0)


def _delivered(task: Planned, serve: Serve, telegram: Counter[int]) -> int:
    return (serve.terminal_lines if task.via == "terminal" else telegram)[task.task_id or 0]


def report(planned: list[Planned], serve: Serve, fake: FakeTelegram, db: Path, fds: tuple[int, int],
           peak_rss_kb: int, seconds: float) -> bool:
    tasks, printed = read_store(db)
    telegram = telegram_lines(fake)
    statuses = Counter(tasks[task.title][1] if task.title in tasks else "never created" for task in planned)
    ok = True
    print(f"soak: {len(planned)} tasks over {seconds / 60:.1f} min")
    print("  tasks: " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())))
    by_kind = Counter((task.kind, tasks[task.title][1] if task.title in tasks else "never created")
                      for task in planned)
    print("  by kind: " + ", ".join(f"{kind} {status} {count}" for (kind, status), count in sorted(by_kind.items())))
    for via in ("terminal", "telegram"):
        mine = [task for task in planned if task.via == via and task.task_id is not None]
        stored = sum(printed[task.task_id or 0] for task in mine)
        shown = sum(_delivered(task, serve, telegram) for task in mine)
        short = [task.task_id for task in mine if _delivered(task, serve, telegram) < printed[task.task_id or 0]]
        extra = [task.task_id for task in mine if _delivered(task, serve, telegram) > printed[task.task_id or 0]]
        problems = [f"short in tasks {short[:10]}"] if short else []
        problems += [f"repeated in tasks {extra[:10]}"] if extra else []
        print(f"  {via}: {len(mine)} tasks, lines printed {stored:,}, delivered {shown:,}"
              + "".join(f", {problem}" for problem in problems))
        ok = ok and not short and not extra
    rate_limited = sum(1 for call in fake.calls if call.status == 429)
    print(f"  429s served by the fake Telegram: {rate_limited}")
    grown = fds[1] - fds[0]
    print(f"  serve's open file descriptors: {fds[0]} at start, {fds[1]} at the end "
          f"(+{grown}; bound +{FD_GROWTH_BOUND}: {'ok' if grown <= FD_GROWTH_BOUND else 'BROKEN'})")
    print(f"  serve's peak RSS: {peak_rss_kb / 1024:.0f} MB (bound {RSS_BOUND_MB} MB: "
          f"{'ok' if peak_rss_kb <= RSS_BOUND_MB * 1024 else 'BROKEN'})")
    unended = sum(count for status, count in statuses.items() if status not in ENDED)
    return ok and unended == 0 and grown <= FD_GROWTH_BOUND and peak_rss_kb <= RSS_BOUND_MB * 1024


async def soak(minutes: float, tasks: int, big_lines: int) -> bool:
    seconds = minutes * 60
    folder = Path(tempfile.mkdtemp(prefix="orch-soak-"))
    home = folder / "home"
    fake = FakeTelegram(TELEGRAM_TOKEN)
    await fake.start()
    write_home(home, fake)
    env = {**os.environ, "ORCH_HOME": str(home), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    orch = shutil.which("orch", path=str(Path(sys.executable).parent)) or "orch"
    process = await asyncio.create_subprocess_exec(orch, "serve", env=env, stdin=subprocess.PIPE,
                                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    serve = Serve(process)
    reader = asyncio.create_task(serve.read())
    stop = asyncio.Event()
    limiter = asyncio.create_task(arm_429s(fake, stop))
    log = home / ".orch" / "orch.log"
    try:
        while not (log.exists() and "orch serve running" in log.read_text()):
            if process.returncode is not None:
                raise SystemExit("orch serve did not start; see " + str(log))
            await asyncio.sleep(0.1)
        fds_start = open_fds(serve.pid)
        planned = plan(tasks)
        deadline = time.monotonic() + seconds
        await drive(planned, serve, fake, home / "orch.db", seconds, big_lines)
        # Lines still on their way get the rest of the run, and at least a minute.
        await wait_delivered(serve, fake, home / "orch.db", planned, max(deadline, time.monotonic() + 60))
        fds_end = open_fds(serve.pid)
        peak = proc_status(serve.pid, "VmHWM")
        return report(planned, serve, fake, home / "orch.db", (fds_start, fds_end), peak, seconds)
    finally:
        stop.set()
        await limiter
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 60)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        subprocess.run(["tmux", "-L", _socket_name(home), "kill-server"], capture_output=True)
        await fake.close()
        shutil.rmtree(folder, ignore_errors=True)


def _socket_name(home: Path) -> str:
    from orch.core.home import OrchHome

    return OrchHome(home).tmux_socket_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to submit tasks for (default 10)")
    parser.add_argument("--tasks", type=int, default=200, help="how many tasks (default 200)")
    parser.add_argument("--big-lines", type=int, default=100_000, help="lines a big task prints (default 100000)")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(soak(args.minutes, args.tasks, args.big_lines)) else 1)


if __name__ == "__main__":
    main()
