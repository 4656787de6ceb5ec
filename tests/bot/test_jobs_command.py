"""`/jobs` through the BotApp, as every transport runs it."""

from __future__ import annotations

import re

from orch.bot.app import BotApp
from orch.bot.chat import ChatRef
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.schedule.jobs import Job, save_jobs
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore

from tests.fakes.chat_port import FakeChatPort
from tests.helpers import fast_config

CHAT = ChatRef("fake", "1", "7")


def bot(home: OrchHome, store: SqliteStore) -> BotApp:
    hub = EventHub()
    services = Services(home, store, config=fast_config(), hub=hub)
    app = BotApp(services, services.engine(), hub)
    app.attach(FakeChatPort())
    return app


async def test_jobs_lists_id_schedule_enabled_next_run_and_title(home: OrchHome, store: SqliteStore) -> None:
    app = bot(home, store)
    [empty] = await app.handle_text(CHAT, "/jobs")
    assert (empty.text, empty.preformatted) == ("no scheduled jobs", False)
    save_jobs(home.jobs_file, [Job(id=1, schedule="*/15 * * * *", title="poll the queue"),
                               Job(id=4, schedule="@weekly", title="dependency bumps", enabled=False)])
    [reply] = await app.handle_text(CHAT, "/jobs")
    assert reply.preformatted
    header, first, second = reply.text.splitlines()
    assert header == "  id  enabled  schedule      next run          title"
    assert re.fullmatch(r"   1  yes      \*/15 \* \* \* \*  \d{4}-\d\d-\d\d \d\d:(00|15|30|45)  poll the queue", first)
    assert second == "   4  no       @weekly       -                 dependency bumps"


async def test_jobs_reports_a_broken_file_in_one_line(home: OrchHome, store: SqliteStore) -> None:
    home.jobs_file.write_text("jobs:\n- id: 1\n  schedule: '@daily'\n")
    [reply] = await bot(home, store).handle_text(CHAT, "/jobs")
    assert reply.text == "jobs.yml: jobs[0].title: Field required"
