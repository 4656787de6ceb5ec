"""From the bytes an agent writes to its terminal to finished lines a person reads.

tmux `pipe-pane` appends every byte the pane's program writes to a file (the raw record of the attempt, and
what lets `orch serve` restart without losing output: the file keeps growing while no one reads it). One
poller reads all those files; a LineAssembler per pane turns the bytes into lines the way a terminal would
show them: `\\r` redraws keep their final state, colours and cursor codes are dropped, a line is never cut at
the pane width. A pane's end is marked by an OSC sequence with a per-attempt nonce that the wrapper script
prints after the agent exits: terminals ignore it, and since it travels through the same pty as the output,
every byte before it has been read once it is seen.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from orch.core.terminal.inotify import Inotify

EXIT_OSC_PREFIX = "6060;orch-exit;"

_TOKEN = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erases
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, our exit marker
    r"|\x1b[P_^X][^\x1b]*\x1b\\"  # DCS/APC/PM/SOS strings
    r"|\x1b[()*+\-./][ -~]"  # charset designation
    r"|\x1b[ -~]"  # any other two-byte escape
    r"|[^\x00-\x1f\x7f]+"  # printable text
    r"|[\x00-\x1f\x7f]"  # one control character
)
# An escape sequence cut by the end of a read; kept until the next read completes it.
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|\x1b?|[P_^X][^\x1b]*\x1b?|[()*+\-./])?\Z")
_MAX_HELD = 8192
# Anything a terminal would interpret rather than print (tabs are printed as they are; newlines split lines).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def exit_marker(nonce: str, status_expr: str) -> str:
    """printf format printing the end marker; `status_expr` is the shell expression of the exit code."""
    return f"printf '\\033]{EXIT_OSC_PREFIX}{nonce};%s\\007' {status_expr}"


@dataclass
class LineAssembler:
    """A one-line terminal: feed bytes, get finished lines."""

    nonce: str | None = None
    exit_code: int | None = None
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    _held: str = ""
    _line: str = ""
    _col: int = 0

    @property
    def finished(self) -> bool:
        return self.exit_code is not None

    @property
    def pending(self) -> str:
        """The line being written, not finished yet (a prompt waiting for input has no newline)."""
        return self._line

    def feed(self, data: bytes) -> list[str]:
        text = self._held + self._decoder.decode(data)
        self._held = ""
        incomplete = _INCOMPLETE.search(text[-_MAX_HELD:])
        if incomplete is not None and incomplete.group():
            cut = len(text) - len(incomplete.group())
            text, self._held = text[:cut], text[cut:]
        lines: list[str] = []
        segments = text.split("\n")
        last = len(segments) - 1
        for index, segment in enumerate(segments):
            if index:
                lines.append(self._take())
            if index < last and segment.endswith("\r"):
                segment = segment[:-1]  # the pty's \r\n: a carriage return right before a newline changes nothing
            if _CONTROL.search(segment) is None:
                self._write(segment)  # the common case: plain text
            else:
                for match in _TOKEN.finditer(segment):
                    self._apply(match.group())
        return lines

    def close(self) -> list[str]:
        """The unfinished last line, if any, once no more bytes will come."""
        tail = self._decoder.decode(b"", final=True)
        lines = self.feed(tail.encode()) if tail else []
        if self._line:
            lines.append(self._take())
        return lines

    def _take(self) -> str:
        line, self._line, self._col = self._line, "", 0
        return line

    def _write(self, text: str) -> None:
        if not text:
            return
        line, col = self._line, self._col
        if col == len(line):
            self._line = line + text
        elif col > len(line):
            self._line = line + " " * (col - len(line)) + text
        else:
            self._line = line[:col] + text + line[col + len(text):]
        self._col = col + len(text)

    def _apply(self, token: str) -> None:
        first = token[0]
        if first == "\x1b":
            if len(token) > 1 and token[1] == "[":
                self._csi(token)
            elif token.startswith("\x1b]" + EXIT_OSC_PREFIX):
                self._exit_marker(token)
            return
        if first == "\r":
            self._col = 0
        elif first == "\b":
            self._col = max(0, self._col - 1)
        elif first == "\t":
            self._write("\t")
        elif first >= " " and first != "\x7f":
            self._write(token)

    def _csi(self, token: str) -> None:
        final, params = token[-1], token[2:-1]
        number = int(params) if params.isdigit() else None
        if final == "K":  # erase in line
            if number in (None, 0):
                self._line = self._line[: self._col]
            elif number == 1:
                self._line = " " * min(self._col, len(self._line)) + self._line[self._col:]
            elif number == 2:
                self._line = ""
        elif final == "G":  # cursor to column
            self._col = max(0, (number or 1) - 1)
        elif final == "C":
            self._col += number or 1
        elif final == "D":
            self._col = max(0, self._col - (number or 1))

    def _exit_marker(self, token: str) -> None:
        body = token[2:].rstrip("\x07").removesuffix("\x1b\\")
        parts = body.split(";")
        if len(parts) == 4 and self.nonce is not None and parts[2] == self.nonce and parts[3].lstrip("-").isdigit():
            self.exit_code = int(parts[3])


@dataclass
class CaptureBatch:
    lines: list[str]
    # Where reading must start again after a restart so that nothing is lost or repeated: just after the last
    # newline handled (an unfinished line is read again whole).
    resume_offset: int
    finished: bool
    exit_code: int | None


class PaneCapture:
    """Reads one pane's pipe file from an offset and turns it into batches of lines."""

    def __init__(self, path: Path, nonce: str, offset: int = 0) -> None:
        self.path = path
        self.assembler = LineAssembler(nonce=nonce)
        self.offset = offset
        self.resume_offset = offset
        self._fd: int | None = None

    def poll(self, max_bytes: int = 1 << 20) -> CaptureBatch | None:
        if self.assembler.finished:
            return None
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return None
        if os.fstat(self._fd).st_size <= self.offset:
            return None
        data = os.pread(self._fd, max_bytes, self.offset)
        newline = data.rfind(b"\n")
        if newline >= 0:
            self.resume_offset = self.offset + newline + 1
        self.offset += len(data)
        lines = self.assembler.feed(data)
        if self.assembler.finished:
            lines.extend(self.assembler.close())
            self.resume_offset = self.offset
        return CaptureBatch(lines, self.resume_offset, self.assembler.finished, self.assembler.exit_code)

    @property
    def pending_line(self) -> str:
        return self.assembler.pending

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


BatchHandler = Callable[[CaptureBatch], Awaitable[None]]
log = logging.getLogger("orch.capture")
_COMPLAIN_EVERY = 60.0


class CapturePoller:
    """One loop reading every watched pane file.

    Reading a file that has not grown costs one fstat (about a microsecond), so a single loop serves many panes.
    With inotify the loop sleeps until a pane file is written (and looks again every `safety_interval` in case a
    notification was missed); without it, it polls every `fast_interval` while output flows and every
    `slow_interval` once every pane has been quiet for `quiet_after` seconds.
    """

    def __init__(self, fast_interval: float = 0.01, slow_interval: float = 0.05, quiet_after: float = 1.0,
                 safety_interval: float = 1.0, use_inotify: bool = True, retry_interval: float = 0.5) -> None:
        self._fast = fast_interval
        self._slow = slow_interval
        self._quiet_after = quiet_after
        self._safety = safety_interval
        self._retry = retry_interval
        # A batch its handler could not take (the store refused it: disk full, database locked); retried as it
        # is, while the other panes go on. The pane file keeps everything meanwhile.
        self._pending: dict[str, CaptureBatch] = {}
        self._failing: dict[str, float] = {}  # key -> when it last said so in the log
        self._watched: dict[str, tuple[PaneCapture, BatchHandler]] = {}
        self._wake = asyncio.Event()
        self._inotify = Inotify.open() if use_inotify else None
        self._watch_descriptors: dict[str, int] = {}
        self._unnotified: set[str] = set()  # keys inotify refused to watch: these need polling
        self._handling: dict[str, asyncio.Task[None]] = {}  # key -> its batch being handed to its handler

    def watch(self, key: str, capture: PaneCapture, handler: BatchHandler) -> None:
        self._watched[key] = (capture, handler)
        wd = self._inotify.add(capture.path) if self._inotify is not None else None
        if wd is None:
            self._unnotified.add(key)
        else:
            self._watch_descriptors[key] = wd
        self._wake.set()

    def unwatch(self, key: str) -> None:
        self._pending.pop(key, None)
        self._failing.pop(key, None)
        entry = self._watched.pop(key, None)
        if entry is not None:
            entry[0].close()
        wd = self._watch_descriptors.pop(key, None)
        if wd is not None and self._inotify is not None:
            self._inotify.remove(wd)
        self._unnotified.discard(key)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if self._inotify is not None:
            loop.add_reader(self._inotify.fileno(), self._on_written)
        try:
            await self._loop(loop)
        finally:
            if self._inotify is not None:
                loop.remove_reader(self._inotify.fileno())
            for handling in list(self._handling.values()):
                handling.cancel()

    def _on_written(self) -> None:
        assert self._inotify is not None
        self._inotify.drain()
        self._wake.set()

    async def _loop(self, loop: asyncio.AbstractEventLoop) -> None:
        last_output = loop.time()
        while True:
            # Cleared before reading, so a write that lands while we read wakes the next round.
            self._wake.clear()
            for key, (capture, handler) in list(self._watched.items()):
                if key not in self._handling and (batch := self._next(key, capture)) is not None:
                    last_output = loop.time()
                    self._start_handling(key, batch, handler)
            if not self._watched:
                await self._wake.wait()
                continue
            if self._pending:
                await asyncio.sleep(self._retry)
                continue
            if self._unnotified:
                quiet = loop.time() - last_output > self._quiet_after
                await asyncio.sleep(self._slow if quiet else self._fast)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._safety):
                    await self._wake.wait()

    def _start_handling(self, key: str, batch: CaptureBatch, handler: BatchHandler) -> None:
        """Hand the batch over without waiting: a store that takes milliseconds a write (PostgreSQL, on a worker
        of a cluster) must not make the other panes' output wait. A pane has one batch in hand at a time, so its
        lines stay in order; when it is taken, the next round reads what came meanwhile."""
        handling = asyncio.create_task(self._hand(key, batch, handler), name=f"capture-{key}")
        self._handling[key] = handling

        def done(_: asyncio.Task[None]) -> None:
            self._handling.pop(key, None)
            self._wake.set()

        handling.add_done_callback(done)

    def _next(self, key: str, capture: PaneCapture) -> CaptureBatch | None:
        """The pane's next batch (or the one that failed before), if there is one."""
        try:
            return self._pending.pop(key, None) or capture.poll()
        except OSError as exc:
            self._complain(key, f"cannot read {capture.path}: {exc}")
            return None

    async def _hand(self, key: str, batch: CaptureBatch, handler: BatchHandler) -> None:
        """Hand a batch to its handler; one that fails is kept and handed again next round."""
        try:
            await handler(batch)
        except Exception as exc:
            self._pending[key] = batch
            self._complain(key, f"{type(exc).__name__}: {exc}")
            return
        if self._failing.pop(key, None) is not None:
            log.warning("capture %s: recovered; its output is flowing again", key)
        if batch.finished:
            self.unwatch(key)

    def _complain(self, key: str, problem: str) -> None:
        """Log a failing pane at once, then at most once a minute while it goes on failing."""
        now = time.monotonic()
        if now - self._failing.get(key, -_COMPLAIN_EVERY) >= _COMPLAIN_EVERY:
            log.error("capture %s: %s; retrying (the pane's output is kept in its pane.log meanwhile)", key, problem)
            self._failing[key] = now
