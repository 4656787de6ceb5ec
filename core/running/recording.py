"""One attempt's output on its way to the chats: capture batches become redacted chunks, stored before they are
published, with the capture offset in the same transaction (so a restart neither loses nor repeats a line)."""

from __future__ import annotations

import asyncio
import collections
import re
import time

from orch.core.events import EventHub, OutputChunk
from orch.core.redact import Redactor
from orch.core.store.base import Store
from orch.core.tasks.models import Chunk
from orch.core.terminal.capture import CaptureBatch

# The last lines of a plain (not structured) agent's output are its summary.
SUMMARY_LINES = 200
# Lines that only differ in their numbers (a retry counter, a timestamp) are the same line printed again.
_NUMBERS = re.compile(r"\d+")
# A line seen among this many recent ones is not progress: an agent looping on the same output is stuck.
_RECENT = 30


class OutputRecorder:
    def __init__(self, store: Store, hub: EventHub, task_id: int, attempt: int, next_seq: int,
                 redact_patterns: list[str], prefix: str = "") -> None:
        """`prefix` starts every line a person sees (a review's lines say they are the review's)."""
        self._store = store
        self._hub = hub
        self.task_id = task_id
        self.attempt = attempt
        self._next_seq = next_seq
        # One per stream: it remembers being inside a private key across reads.
        self._redactor = Redactor(redact_patterns)
        self.last_output = time.monotonic()
        self.last_progress = self.last_output  # the last time it printed something it had not just printed
        self.repeated = ""  # the line printed last, and how many times in a row (numbers aside)
        self.repeats = 0
        self._recent: collections.deque[str] = collections.deque(maxlen=_RECENT)
        self.tail: collections.deque[str] = collections.deque(maxlen=SUMMARY_LINES)
        self.finished = asyncio.Event()
        self.exit_code: int | None = None
        self._prefix = prefix
        # A batch whose chunks could not be stored yet: retried as they are (same seqs, already redacted).
        self._unstored: tuple[CaptureBatch, list[Chunk]] | None = None

    async def record(self, batch: CaptureBatch) -> None:
        """Store, then publish, one batch. When storing fails the same batch comes again (the capture loop
        retries it) and is stored with the same chunks, so a retry neither loses nor repeats a line."""
        self.last_output = time.monotonic()
        if self._unstored is None or self._unstored[0] is not batch:
            self._unstored = (batch, self._chunks(batch))
        chunks = self._unstored[1]
        if chunks:
            await self._store.append_chunks(chunks, attempt=self.attempt, byte_offset=batch.resume_offset)
            self._next_seq = chunks[-1].seq + 1
            for chunk in chunks:
                self._hub.publish(OutputChunk(chunk))
        self._unstored = None
        if batch.finished:
            self.exit_code = batch.exit_code
            self.finished.set()

    def _watch_progress(self, lines: list[str]) -> None:
        for line in lines:
            shape = _NUMBERS.sub("#", line.strip())
            if not shape:
                continue
            if shape == _NUMBERS.sub("#", self.repeated.strip()):
                self.repeats += 1
            else:
                self.repeated, self.repeats = line, 1
            if shape not in self._recent:
                self.last_progress = time.monotonic()
            self._recent.append(shape)

    def _chunks(self, batch: CaptureBatch) -> list[Chunk]:
        lines = self._redactor.redact_lines(batch.lines)
        self.tail.extend(lines)
        self._watch_progress(lines)
        chunks: list[Chunk] = []
        now, seq = time.time(), self._next_seq
        if lines:
            shown = [self._prefix + line for line in lines] if self._prefix else lines
            chunks.append(Chunk(self.task_id, seq, "\n".join(shown), now))
            seq += 1
        if batch.finished:
            chunks.append(Chunk(self.task_id, seq, "", now, is_final=True))
        return chunks
