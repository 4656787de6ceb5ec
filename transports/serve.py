"""`orch serve`: the one long-lived process — engine, bot and transports in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from orch.bot.app import BotApp
from orch.bot.message_outbox import MessageOutbox
from orch.bot.outbox import LineOutbox, Outbox
from orch.core.config import Config
from orch.core.errors import ConfigError, UserError
from orch.core.events import EventHub
from orch.core.home import OrchHome, write_private
from orch.core.ops.logs import setup_logging
from orch.core.ops.readiness import agents_found, serve_checks, transport_checks
from orch.core.ops.serving import serve_pid
from orch.core.redact import RedactingFilter, Redactor
from orch.core.services import Services
from orch.transports.base import Transport
from orch.transports.console import TERMINAL_HINT, TaskActivity, ready_line, say
from orch.transports.reconnect import Reconnecting
from orch.transports.stdout import CHAT_ID as TERMINAL_CHAT
from orch.transports.stdout import StdoutTransport

log = logging.getLogger("orch.serve")

# How long a stopping serve waits for queued chat messages: first while the transports still run, then (what
# a transport's last command replied) once they stopped. A service manager's stop timeout is longer (90 s).
DRAIN_SECONDS = 20.0
CLOSE_SECONDS = 10.0


def transport_names(config: Config, requested: list[str]) -> list[str]:
    """The transports serve runs; ConfigError for what keeps one from running (an unset ${TOKEN}, an empty
    token), judged as `orch doctor` judges it (core.ops.readiness)."""
    names = requested or config.transports.enabled_names() or ["stdout"]
    for name in names:
        if name not in ("stdout", "telegram", "discord"):
            raise ConfigError(f"unknown transport {name!r} (one of stdout, telegram, discord)")
        for check in transport_checks(config, name):
            if check.stops_serve:
                raise ConfigError(check.text)
    return list(dict.fromkeys(names))


def build_transport(name: str, config: Config, services: Services, log_filter: RedactingFilter,
                    stopping: asyncio.Event) -> Transport:
    """The transport `name`; a chat transport hands its token to `log_filter` (serve's log handlers'); the terminal
    sets `stopping` when its owner ends its input (Ctrl-D)."""
    # Chat transports are imported only when enabled: their libraries are optional extras.
    # A chat service unreachable at start is waited for in the background (transports.reconnect).
    if name == "telegram":
        from orch.transports.telegram.transport import TelegramTransport

        return Reconnecting(TelegramTransport(config.transports.telegram, services.cursors, log_filter=log_filter))
    if name == "discord":
        from orch.transports.discord.transport import DiscordTransport

        return Reconnecting(DiscordTransport(config.transports.discord, cursor=services.cursors,
                                             log_filter=log_filter))
    return StdoutTransport(on_hangup=stopping.set)


def check_not_running(home: OrchHome) -> None:
    """Two engines on one home would both start every task: refuse a second `orch serve`."""
    pid = serve_pid(home)
    if pid is not None and pid != os.getpid():
        raise UserError(f"orch serve is already running for {home.root} (pid {pid})")


async def serve(home: OrchHome, config: Config, requested: list[str]) -> None:
    names = transport_names(config, requested)
    home.ensure()
    check_not_running(home)
    log_filter = RedactingFilter(Redactor(config.redact.patterns))
    setup_logging(home, [log_filter])
    hub = EventHub()
    services = await Services.open(home, config=config, hub=hub)
    stopping = asyncio.Event()
    try:
        transports = [build_transport(name, config, services, log_filter, stopping) for name in names]
        await _serve(home, services, hub, transports, stopping)
    finally:
        await services.close()


def _stop_on_signals(stopping: asyncio.Event) -> None:
    """SIGINT (Ctrl-C), SIGTERM (a service manager) and SIGHUP (the terminal closed) end serve cleanly; a SIGHUP
    that is ignored (`nohup orch serve`) stays ignored."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
            continue
        loop.add_signal_handler(sig, stopping.set)


def _attach(app: BotApp, transports: list[Transport]) -> dict[str, Outbox]:
    """One outbox per transport, shared by the bot (output, notices) and the transport (replies): the one owner
    of what reaches its chats and how fast."""
    outboxes: dict[str, Outbox] = {}
    for transport in transports:
        if isinstance(transport, StdoutTransport):
            outboxes[transport.name] = LineOutbox(transport)
            # The terminal is its owner's console: it also hears about the tasks scheduled jobs create.
            app.attach(transport, outboxes[transport.name], jobs_chat=TERMINAL_CHAT)
        else:
            outboxes[transport.name] = MessageOutbox(transport, close_timeout_seconds=CLOSE_SECONDS)
            app.attach(transport, outboxes[transport.name])
    return outboxes


async def _serve(home: OrchHome, services: Services, hub: EventHub, transports: list[Transport],
                 stopping: asyncio.Event) -> None:
    write_private(home.pid_file, f"{os.getpid()}\n")
    engine = services.engine()
    scheduler = services.scheduler()
    app = BotApp(services, engine, hub)
    outboxes = _attach(app, transports)
    _stop_on_signals(stopping)
    started: list[Transport] = []
    terminal = any(isinstance(transport, StdoutTransport) for transport in transports)
    activity: TaskActivity | None = None
    try:
        await engine.start()
        # After the engine, so a task the first tick creates is picked up at once; a bad jobs.yml stops serve.
        await scheduler.start()
        if not terminal:  # the terminal transport's own chat hears of its tasks already
            activity = TaskActivity(services, hub)
            activity.start()
        # The terminal starts reading last, after the ready line: that line is the first thing it shows.
        for transport in sorted(transports, key=lambda t: isinstance(t, StdoutTransport)):
            if isinstance(transport, StdoutTransport):
                await _say_ready(home, services, transports)
            await transport.start(app, outboxes[transport.name])
            started.append(transport)
        if not terminal:
            await _say_ready(home, services, transports)
        await app.start()
        await stopping.wait()
    finally:
        log.info("orch serve stopping")
        await scheduler.stop()
        if activity is not None:
            await activity.stop()
        # Deliver what is queued while the transports can still send it, then stop them.
        await app.drain(DRAIN_SECONDS)
        for transport in started:
            try:
                await transport.stop()
            except Exception:
                log.exception("stopping the %s transport failed", transport.name)
        await app.stop()
        await engine.stop()
        with contextlib.suppress(FileNotFoundError):
            home.pid_file.unlink()


async def _say_ready(home: OrchHome, services: Services, transports: list[Transport]) -> None:
    """The ready line, what keeps work from being done (said once, here), and where commands can be typed."""
    config = services.config
    names = [transport.name for transport in transports]
    for check in serve_checks(config, names):
        if check.fatal and not check.ok:
            log.warning(check.text)
    routing = services.router.status_line().removeprefix("router: ")
    say(ready_line(str(home.root), await services.projects.names(), names, agents_found(config), routing))
    if "stdout" in names:
        say(TERMINAL_HINT)
