"""MessageOutbox: everything a chat service with message limits (Telegram, Discord) gets — followed output,
notices, command replies and files — split and paced in one place.

Each chat has one queue and one background worker, so `output()` and `notice()` only append to a list and
return: publishing never waits for the network. `reply()` and `send_file()` wait until theirs was sent.

How output becomes messages:
- A message holds lines of one task only. Lines are joined with "\\n" and sent preformatted; a message is
  as full as `capabilities.max_message_length` allows, measured with `port.rendered_length(text,
  preformatted=True)` (the transport knows its escaping, wrapping and unit). Splitting is bot.split's: at line
  boundaries; only a line that does not fit in an empty message is cut, at a code point, and its rest starts
  the next message.
- When the port can edit, the last output message stays "open" and grows by edits while lines fit — live
  output in one place. It is closed when the next line does not fit, and also when anything else (a notice,
  a reply, another task's output) is sent in the chat after it, so a chat always reads top to bottom in time
  order.
- When a chat follows several tasks, a new message whose task differs from the task of the previous output
  message in that chat starts with the plain line `[task N]` inside its text (a preformatted message cannot
  carry a separate plain header). A chat that only ever sees one task gets no header lines at all.
- A notice (status line) is sent with preformatted=False after every output line queued before it. Output
  lines of one task queued before the next notice may overtake other tasks' lines: order is kept per task
  and relative to notices, which is what a reader can see.
- A reply (and a file) goes ahead of queued output and notices, after earlier replies: a person is waiting for
  it, and a chat that is behind on output must not make them wait for all of it. A reply is split like
  output, in messages of its own.

Pacing: two sends/edits in one chat are at least `port.min_interval(chat_id)` apart (Telegram asks more of a
group than of a private chat). Every operation is composed just before it goes out, from everything pending,
so a chat that falls behind gets one full edit or message instead of a backlog of small ones. `RateLimited`
waits `retry_after` and retries (with whatever was queued meanwhile merged in), as often as the service asks:
no line is dropped for a 429. `Unavailable` (the service is down or unreachable: 5xx, timeouts, resets) is
retried with exponential backoff up to `max_backoff_seconds` between tries, for as long as the outage lasts,
with a warning each time: no line is dropped for an outage either, and what queued meanwhile goes out after it,
in order. `Undeliverable` (the bot was blocked, the chat is gone) drops that operation at once. Any other error
(a bug) is logged and retried with exponential backoff up to `max_attempts` times; then that one operation is
dropped. A drop is logged as an error saying how many lines were lost.

Each message sent about a task — output, a notice, reply or file given its task id — is reported to the
listener of `report_sent` once it is sent (an edit is not: its message was reported when it was sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from orch.bot.chat import Button, ChatPort, Mention, RateLimited, Reply, Unavailable, Undeliverable
from orch.bot.outbox import Outbox
from orch.bot.split import cut_point, fit_count, join

log = logging.getLogger("orch.outbox")


@dataclass(frozen=True)
class _File:
    filename: str
    data: bytes


@dataclass(eq=False)  # compared by identity: an operation remembers the segments it was composed from
class _Segment:
    """Queued text: consecutive lines of one task's output, or a message of its own (a notice, a reply, or a
    file with its caption as the one line)."""

    task_id: int | None  # the task whose output this is; None: a message of its own
    lines: deque[str]
    preformatted: bool
    urgent: bool = False  # a reply or a file: ahead of queued output and notices
    file: _File | None = None
    buttons: tuple[Button, ...] = ()  # under the message (of output: the latest queued for the task wins)
    mention: Mention | None = None
    about: int | None = None  # of a message of its own: the task it is about
    delivered: asyncio.Future[None] | None = None  # set once it has left the queue, for whoever waits on it

    def describe(self) -> str:
        if self.task_id is not None:
            return f"output of task {self.task_id}"
        return "a file" if self.file is not None else "a reply" if self.urgent else "a notice"


@dataclass
class _Open:
    """The output message that is still growing by edits."""

    task_id: int
    message_id: str
    text: str


@dataclass(frozen=True)
class _Op:
    sources: tuple[_Segment, ...]  # the segments it draws from, first one first
    text: str
    message_id: str | None  # set: an edit of this message
    whole: int  # queued lines this op delivers entirely
    rest: str | None  # what stays queued of the next line when that line had to be cut

    @property
    def head(self) -> _Segment:
        return self.sources[0]

    @property
    def last_part(self) -> bool:
        """Whether it delivers the rest of what its sources hold (output: all of it queued so far)."""
        return self.rest is None and self.whole >= sum(len(source.lines) for source in self.sources)

    def describe(self) -> str:
        lines = self.whole + (1 if self.rest is not None else 0)
        return f"{self.head.describe()} ({lines} lines, {'edit' if self.message_id else 'send'})"


@dataclass
class _Chat:
    chat_id: str
    interval: float  # between two operations, from the port
    segments: deque[_Segment] = field(default_factory=deque)
    open: _Open | None = None
    last_task: int | None = None  # task of the last output message sent here, for `[task N]` headers
    next_at: float = 0.0  # loop time before which the next send/edit must not start
    failures: int = 0  # consecutive failures of the current operation that were not the service's (bugs)
    outage: int = 0  # consecutive tries that found the service unavailable
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class _Retries:
    """How long a chat waits after a failed operation, and when it gives up (see the module's docstring)."""

    max_attempts: int
    backoff: float
    max_backoff: float

    def outage(self, chat: _Chat, exc: Unavailable) -> float:
        """Seconds until the next try while the service is unavailable: growing, capped, never giving up."""
        chat.outage += 1
        delay = min(self.max_backoff, self.backoff * 2.0 ** min(chat.outage - 1, 20))
        log.warning("chat %s: the service is unavailable (%s); trying again in %.1f s (try %d), nothing is "
                    "dropped", chat.chat_id, exc, delay, chat.outage)
        return delay

    @staticmethod
    def succeeded(chat: _Chat) -> None:
        if chat.outage:
            log.info("chat %s: the service answers again after %d failed tries", chat.chat_id, chat.outage)
        chat.failures = chat.outage = 0

    def failure(self, chat: _Chat) -> float | None:
        """Seconds until the next try after a failure that is not the service's (a bug); None: drop it."""
        chat.failures += 1
        if chat.failures >= self.max_attempts:
            return None
        log.warning("delivery to chat %s failed (attempt %d of %d); retrying", chat.chat_id, chat.failures,
                    self.max_attempts, exc_info=True)
        return self.backoff * 2.0 ** (chat.failures - 1)


class MessageOutbox(Outbox):
    def __init__(self, port: ChatPort, *, max_attempts: int = 5, backoff_seconds: float = 1.0,
                 max_backoff_seconds: float = 60.0, close_timeout_seconds: float = 30.0) -> None:
        self._port = port
        self._retries = _Retries(max_attempts, backoff_seconds, max_backoff_seconds)
        self._close_timeout = close_timeout_seconds
        self._chats: dict[str, _Chat] = {}
        self._closed = False

    async def output(self, chat_id: str, task_id: int, lines: Sequence[str], buttons: Sequence[Button] = ()) -> None:
        if not lines:
            return
        chat = self._chat(chat_id)
        tail = chat.segments[-1] if chat.segments else None
        if tail is not None and tail.task_id == task_id:
            tail.lines.extend(lines)
            tail.buttons = tuple(buttons)
        else:
            chat.segments.append(_Segment(task_id, deque(lines), preformatted=True, buttons=tuple(buttons)))
        self._wake(chat)

    async def notice(self, chat_id: str, text: str, *, task_id: int | None = None, buttons: Sequence[Button] = (),
                     mention: Mention | None = None) -> None:
        chat = self._chat(chat_id)
        chat.segments.append(_Segment(None, deque(text.split("\n")), preformatted=False, buttons=tuple(buttons),
                                      mention=mention, about=task_id))
        self._wake(chat)

    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        await self._urgent(chat_id, _Segment(None, deque(reply.text.split("\n")), reply.preformatted, urgent=True,
                                             buttons=reply.buttons, about=reply.task_id))

    def fits_one(self, text: str, *, preformatted: bool) -> bool:
        return self._port.rendered_length(text, preformatted) <= self._port.capabilities.max_message_length

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str, *,
                        task_id: int | None = None) -> None:
        await self._urgent(chat_id, _Segment(None, deque([caption]), preformatted=False, urgent=True,
                                             file=_File(filename, data), about=task_id))

    async def _urgent(self, chat_id: str, segment: _Segment) -> None:
        chat = self._chat(chat_id)
        segment.delivered = asyncio.get_running_loop().create_future()
        ahead = 0
        while ahead < len(chat.segments) and chat.segments[ahead].urgent:
            ahead += 1
        chat.segments.insert(ahead, segment)
        self._wake(chat)
        await segment.delivered

    async def flush(self) -> None:
        # Re-check after each wait: a chat already waited for may have received more meanwhile.
        while not all(chat.idle.is_set() for chat in self._chats.values()):
            for chat in list(self._chats.values()):
                await chat.idle.wait()

    async def close(self) -> None:
        self._closed = True
        try:
            await asyncio.wait_for(self.flush(), self._close_timeout)
        except TimeoutError:
            for chat in self._chats.values():
                pending = sum(len(segment.lines) for segment in chat.segments)
                if pending:
                    log.error("closing: %d queued lines for chat %s were not delivered", pending, chat.chat_id)
        workers = [chat.worker for chat in self._chats.values() if chat.worker is not None]
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for chat in self._chats.values():
            _release(chat.segments)  # whoever waits for a reply that was not delivered goes on

    def _chat(self, chat_id: str) -> _Chat:
        if self._closed:
            raise RuntimeError("MessageOutbox is closed")
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(chat_id, self._port.min_interval(chat_id))
        if chat.worker is None:
            chat.worker = asyncio.create_task(self._run(chat), name=f"outbox-{self._port.name}-{chat_id}")
            chat.worker.add_done_callback(lambda task: self._worker_done(chat, task))
        return chat

    @staticmethod
    def _wake(chat: _Chat) -> None:
        chat.idle.clear()
        chat.wake.set()

    def _worker_done(self, chat: _Chat, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            # A bug, not a delivery failure: say so, and let the next output start a fresh worker rather
            # than leaving flush() (or a reply's sender) waiting forever.
            log.error("outbox worker for chat %s died", chat.chat_id, exc_info=error)
            chat.worker = None
            chat.idle.set()
            _release(chat.segments, error)

    async def _run(self, chat: _Chat) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not chat.segments:
                chat.idle.set()
                chat.wake.clear()
                await chat.wake.wait()
                continue
            delay = chat.next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            op = self._compose(chat)
            try:
                await self._perform(chat, op)
            except RateLimited as exc:
                log.info("chat %s rate limited: retrying in %.1f s", chat.chat_id, exc.retry_after)
                chat.next_at = loop.time() + max(exc.retry_after, chat.interval)
                continue
            except Undeliverable:
                log.exception("chat %s refused %s for good: dropped", chat.chat_id, op.describe())
                self._drop(chat, op)
                chat.next_at = loop.time() + chat.interval
                continue
            except Unavailable as exc:
                chat.next_at = loop.time() + max(self._retries.outage(chat, exc), chat.interval)
                continue
            except Exception:
                wait = self._retries.failure(chat)
                if wait is not None:
                    chat.next_at = loop.time() + wait
                    continue
                log.exception("delivery to chat %s failed %d times: dropped %s", chat.chat_id, chat.failures,
                              op.describe())
                self._drop(chat, op)
                continue
            self._retries.succeeded(chat)
            chat.next_at = loop.time() + chat.interval
            self._consume(chat, op)

    def _drop(self, chat: _Chat, op: _Op) -> None:
        chat.failures = 0
        chat.open = None  # its state on the service is unknown now
        self._consume(chat, op)

    async def _perform(self, chat: _Chat, op: _Op) -> None:
        head = op.head
        if head.file is not None:
            message_id = await self._port.send_file(chat.chat_id, head.file.filename, head.file.data, op.text)
            chat.open = None
            await self._report_sent(chat.chat_id, message_id, head.about)
            return
        # A message split in several gets the buttons under its last part: below everything they are about.
        buttons = op.sources[-1].buttons if op.last_part else ()
        if op.message_id is not None:
            await self._port.edit(chat.chat_id, op.message_id, op.text, preformatted=head.preformatted,
                                  buttons=buttons)
            if chat.open is not None:
                chat.open.text = op.text
            return
        message_id = await self._port.send(chat.chat_id, op.text, preformatted=head.preformatted, buttons=buttons,
                                           mention=head.mention)
        chat.open = None
        if head.task_id is not None:
            chat.last_task = head.task_id
            if self._port.capabilities.can_edit:
                chat.open = _Open(head.task_id, message_id, op.text)
        await self._report_sent(chat.chat_id, message_id, head.task_id if head.task_id is not None else head.about)

    # composing
    @staticmethod
    def _sources(chat: _Chat) -> tuple[_Segment, ...]:
        """The segments the next op draws from: the head message, or the head task's output up to a notice."""
        head = chat.segments[0]
        if head.task_id is None:
            return (head,)
        sources = []
        for segment in chat.segments:
            if segment.task_id is None:
                break
            if segment.task_id == head.task_id:
                sources.append(segment)
        return tuple(sources)

    def _candidates(self, sources: Sequence[_Segment], base: str | None) -> list[str]:
        # A rendered text is never shorter than its code points, so lines past this budget cannot fit.
        budget = self._port.capabilities.max_message_length - (len(base) if base is not None else 0)
        candidates: list[str] = []
        for segment in sources:
            for line in segment.lines:
                candidates.append(line)
                budget -= len(line) + 1
                if budget < 0:
                    return candidates
        return candidates

    def _compose(self, chat: _Chat) -> _Op:
        sources = self._sources(chat)
        head = sources[0]
        if head.file is not None:  # the caption is the transport's to fit: it is never split
            return _Op(sources, head.lines[0], None, 1, None)
        limit = self._port.capabilities.max_message_length

        def fits(text: str) -> bool:
            return self._port.rendered_length(text, head.preformatted) <= limit

        task_id = head.task_id
        if task_id is not None and chat.open is not None and chat.open.task_id == task_id:
            lines = self._candidates(sources, chat.open.text)
            count = fit_count(lines, fits, chat.open.text)
            if count:
                return _Op(sources, join(chat.open.text, lines[:count]), chat.open.message_id, count, None)
            chat.open = None  # full: the next line starts a new message
        header = f"[task {task_id}]" if task_id is not None and chat.last_task not in (None, task_id) else None
        lines = self._candidates(sources, header)
        count = fit_count(lines, fits, header)
        if count:
            return _Op(sources, join(header, lines[:count]), None, count, None)
        line = lines[0]
        if header is not None and fits(line):
            # Better an unlabelled message than a line cut only to make room for its label.
            return _Op(sources, line, None, 1, None)
        at = cut_point(line, fits, header)
        if at >= len(line):  # a message too small for even one code point after the header: send it anyway
            return _Op(sources, join(header, [line]), None, 1, None)
        return _Op(sources, join(header, [line[:at]]), None, 0, line[at:])

    @staticmethod
    def _consume(chat: _Chat, op: _Op) -> None:
        """Remove what `op` delivered (or what was dropped) from the queue."""
        whole = op.whole
        for segment in op.sources:
            taken = min(whole, len(segment.lines))
            for _ in range(taken):
                segment.lines.popleft()
            whole -= taken
            if whole == 0 and (op.rest is None or segment.lines):
                if op.rest is not None:
                    segment.lines[0] = op.rest
                break
        finished = [segment for segment in chat.segments if not segment.lines]
        chat.segments = deque(segment for segment in chat.segments if segment.lines)
        _release(finished)


def _release(segments: Sequence[_Segment], error: BaseException | None = None) -> None:
    """Let whoever waits for these segments go on: they were delivered or given up on (with `error`: failed)."""
    for segment in segments:
        waiter = segment.delivered
        if waiter is None or waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
