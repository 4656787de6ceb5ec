"""Scheduled jobs: `ORCH_HOME/jobs.yml`, its schedules, and what a person can do with them.

A schedule is a 5-field crontab line, an alias (`@hourly @daily @weekly @monthly @yearly`) or an interval
(`every 10m`; s, m, h, d). The triggers are apscheduler's; this module only maps aliases and intervals onto them
and fixes the one place where apscheduler 3 reads a crontab differently from cron (day-of-week numbers).

The file belongs to the user as much as to the CLI: it is read on every use, validated with one clear line per
mistake (`jobs.yml: jobs[2].schedule: 'every tuesday' is not a cron expression or alias`), and written
atomically so `orch serve`, which re-reads it when it changes, never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import yaml
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from orch.core.config import describe_error, error_message, read_yaml
from orch.core.errors import ConfigError, NotFound, UserError
from orch.core.home import OrchHome, private_dirs, touch_private
from orch.core.ids import parse_id
from orch.core.projects.registry import Projects
from orch.core.schedule.skips import Skipped, clear_skipped, load_skipped
from orch.core.store.base import Store
from orch.core.store.records import JobState
from orch.core.tasks.labels import check_labels
from orch.core.text import INVISIBLE, has_visible, one_line
from orch.core.times import iso_time
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tzlocal import get_localzone

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
SCHEDULE_HINT = "e.g. '30 9 * * 1-5', @daily or every 10m"
_INTERVAL = re.compile(r"every\s+(\d+)\s*([smhd])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Interval slots are counted from a fixed instant, so `every 10m` runs at :00, :10, … and the same slots
# survive a restart (apscheduler's default would count from whenever the trigger was built).
_INTERVAL_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_KV_LAST_ID = "jobs.last_id"
_HEADER = """\
# Scheduled jobs: `orch serve` creates a task from each enabled job when its schedule comes due.
# schedule: 5-field crontab ('30 9 * * 1-5'), @hourly @daily @weekly @monthly @yearly, or 'every 10m' (s m h d).
# Keys: id, schedule, title, body, labels, project, enabled, overlap. `orch job add|remove|enable|disable` rewrite
# this file. A job does not fire while the task it made last is still new, routed, in_progress or waiting (the
# slot is skipped and shown in `orch job list`); `overlap: true` lets its runs overlap.
"""


def _weekday(token: str) -> int:
    lowered = token.lower()
    if lowered in _WEEKDAYS:
        return _WEEKDAYS.index(lowered)
    if lowered.isdigit() and int(lowered) <= 7:
        return int(lowered)
    raise ValueError(f"day of week {token!r} is not 0-7 or sun-sat")


def _crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as apscheduler 3 day names.

    apscheduler 3 numbers weekdays from Monday = 0 where cron has Sunday = 0 (its issue #286), so `1-5` would
    run Tuesday to Saturday; the field is spelled out as names, which both read the same way.
    """
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"step {step_text!r} in the day of week is not a positive number")
        if span == "*":
            first, last = 0, 6
        else:
            start, dash, end = span.partition("-")
            first = _weekday(start)
            last = _weekday(end) if dash else (6 if step else first)
            if first > last:
                raise ValueError(f"day-of-week range {span!r} goes backwards")
        days.update(day % 7 for day in range(first, last + 1, step or 1))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def parse_schedule(text: str, timezone: tzinfo | None = None) -> BaseTrigger:
    """The apscheduler trigger for a schedule; ValueError saying what is wrong otherwise."""
    cleaned = " ".join(text.split())
    interval = _INTERVAL.fullmatch(cleaned)
    if interval:
        seconds = int(interval.group(1)) * _UNIT_SECONDS[interval.group(2).lower()]
        if seconds == 0:
            raise ValueError(f"{text!r}: an interval must be longer than 0")
        return IntervalTrigger(seconds=seconds, start_date=_INTERVAL_ANCHOR, timezone=timezone or get_localzone())
    crontab = ALIASES.get(cleaned.lower(), cleaned)
    fields = crontab.split(" ")
    if len(fields) != 5 or crontab.startswith("@"):
        raise ValueError(f"{text!r} is not a cron expression or alias ({SCHEDULE_HINT})")
    try:
        fields[4] = _crontab_weekdays(fields[4])
        trigger = CronTrigger.from_crontab(" ".join(fields), timezone=timezone or get_localzone())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a cron expression: {exc}") from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(f"{text!r} never comes due")
    return trigger


def next_slot(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The trigger's first slot strictly after `after` (slots are whole seconds)."""
    slot: datetime | None = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    return slot


class Job(BaseModel):
    """One entry of jobs.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(ge=1)
    schedule: str
    title: str = Field(min_length=1)
    body: str = ""
    labels: tuple[str, ...] = ()
    project: str | None = None
    enabled: bool = True
    # False: a slot that comes while the job's last task is still unfinished is skipped, so a job slower than
    # its schedule cannot pile up running tasks.
    overlap: bool = False

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return " ".join(value.split())

    @field_validator("title")
    @classmethod
    def _one_line_title(cls, value: str) -> str:
        if not has_visible(value):
            raise ValueError(f"a title must show something; this one is {INVISIBLE}")
        return one_line(value)

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        check_labels(value)
        return value

    def trigger(self, timezone: tzinfo | None = None) -> BaseTrigger:
        return parse_schedule(self.schedule, timezone)

    def next_run(self, after: datetime, timezone: tzinfo | None = None) -> datetime | None:
        return next_slot(self.trigger(timezone), after) if self.enabled else None

    def task_labels(self) -> list[str]:
        """The labels of a task the job creates: its own and `job:ID`, so the task says where it came from."""
        return [*(label for label in self.labels if not label.startswith("job:")), f"job:{self.id}"]

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "schedule": self.schedule, "title": self.title}
        if self.body:
            data["body"] = self.body
        if self.labels:
            data["labels"] = list(self.labels)
        if self.project:
            data["project"] = self.project
        data["enabled"] = self.enabled
        if self.overlap:
            data["overlap"] = True
        return data


def parse_jobs(data: Any, source: str = "jobs.yml") -> list[Job]:
    """Jobs from parsed YAML: a list of jobs, or a mapping whose `jobs` key holds that list."""
    if data is None:
        return []
    if isinstance(data, dict):
        unknown = sorted(str(key) for key in data if key != "jobs")
        if unknown:
            raise ConfigError(f"{source}: {unknown[0]}: unknown key (the jobs go in a list under `jobs:`)")
        data = data.get("jobs") or []
    if not isinstance(data, list):
        raise ConfigError(f"{source}: jobs must be a list of jobs, not {type(data).__name__}")
    jobs: list[Job] = []
    seen: set[int] = set()
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: jobs[{index}]: a job is a mapping of keys, not {type(entry).__name__}")
        try:
            job = Job.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {describe_error(exc.errors()[0], f'jobs[{index}]')}") from None
        if job.id in seen:
            raise ConfigError(f"{source}: jobs[{index}].id: {job.id} is used by another job too")
        seen.add(job.id)
        jobs.append(job)
    return jobs


def load_jobs(path: Path) -> list[Job]:
    """The jobs in `path`; none when it does not exist."""
    try:
        data = read_yaml(path)
    except FileNotFoundError:
        return []
    return parse_jobs(data, path.name)


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line bodies, so a script body stays readable in the file."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def save_jobs(path: Path, jobs: Sequence[Job]) -> None:
    """Write jobs.yml atomically: a reader sees the old file or the new one, never a mix."""
    text = _HEADER + yaml.dump({"jobs": [job.to_yaml() for job in jobs]}, Dumper=_Dumper, sort_keys=False,
                               allow_unicode=True, default_flow_style=False, width=120)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def parse_job_id(text: str | int) -> int:
    return parse_id(text, "job")


@dataclass(frozen=True)
class JobView:
    """A job as listed: its definition, when it runs next, what it fired last and what it skipped since."""

    job: Job
    next_run: datetime | None
    state: JobState | None
    skipped: Skipped | None = None

    def to_json(self) -> dict[str, Any]:
        last_slot = self.state.last_slot if self.state else None
        return {
            **self.job.model_dump(mode="json"),
            "next_run": iso_time(self.next_run),
            "last_run": iso_time(last_slot),
            "last_task_id": self.state.last_task_id if self.state else None,
            "skipped": self.skipped.to_json() if self.skipped else None,
        }


class JobBook:
    """jobs.yml plus the job state in the store: listing, adding, removing, enabling and disabling jobs.

    Used by the CLI (another process than `orch serve`) and by chat commands; changes are serialised with a
    lock file so two `orch job add` at once cannot lose one another's job.
    """

    def __init__(self, home: OrchHome, store: Store, projects: Projects, timezone: tzinfo | None = None) -> None:
        self.home = home
        self._store = store
        self._projects = projects
        self.timezone = timezone

    @property
    def path(self) -> Path:
        return self.home.jobs_file

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        private_dirs(self.home.runtime_dir)
        touch_private(self.home.runtime_dir / "jobs.lock")
        with open(self.home.runtime_dir / "jobs.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _now(self) -> datetime:
        return datetime.now(self.timezone or get_localzone())

    async def views(self) -> list[JobView]:
        jobs = load_jobs(self.path)
        states = await self._store.list_job_states()
        now = self._now()
        return [JobView(job, job.next_run(now, self.timezone), states.get(job.id),
                        await load_skipped(self._store, job.id)) for job in jobs]

    async def add(self, schedule: str, title: str, *, body: str = "", labels: Sequence[str] = (),
                  project: str | None = None, overlap: bool = False) -> JobView:
        try:
            parse_schedule(schedule, self.timezone)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if not title.strip():
            raise UserError("a job needs a title: orch job add SCHEDULE TITLE")
        if not has_visible(title):
            raise UserError(f"a job title must show something; this one is {INVISIBLE}")
        if project is not None:
            await self._projects.check_exists(project)
        with self._locked():
            jobs = load_jobs(self.path)
            # Ids are never reused, so `job:N` on an old task always names the job that made it.
            last = int(await self._store.kv_get(_KV_LAST_ID) or 0)
            job_id = max([last, *(job.id for job in jobs)]) + 1
            try:
                job = Job(id=job_id, schedule=schedule, title=title, body=body.strip("\n"), labels=tuple(labels),
                          project=project, overlap=overlap)
            except ValidationError as exc:
                raise UserError(error_message(exc.errors()[0])) from None
            save_jobs(self.path, [*jobs, job])
            await self._store.kv_set(_KV_LAST_ID, str(job_id))
            # Slots from now on count: one that passes while orch serve is down runs when it starts (grace).
            state = await self._store.reset_job_state(job.id, job.schedule, self._now().timestamp())
        return JobView(job, job.next_run(self._now(), self.timezone), state)

    async def remove(self, target: str | int) -> Job:
        job_id = parse_job_id(target)
        with self._locked():
            jobs = load_jobs(self.path)
            job = self._find(jobs, job_id)
            save_jobs(self.path, [other for other in jobs if other.id != job_id])
            await self._store.delete_job_state(job_id)
            await clear_skipped(self._store, job_id)
        return job

    async def set_enabled(self, target: str | int, enabled: bool) -> JobView:
        job_id = parse_job_id(target)
        with self._locked():
            jobs = load_jobs(self.path)
            job = self._find(jobs, job_id)
            changed = job.model_copy(update={"enabled": enabled})
            save_jobs(self.path, [changed if other.id == job_id else other for other in jobs])
            state = (await self._store.list_job_states()).get(job_id)
            if enabled and not job.enabled:
                # Slots that passed while the job was disabled are not owed.
                state = await self._store.reset_job_state(job_id, job.schedule, self._now().timestamp())
        return JobView(changed, changed.next_run(self._now(), self.timezone), state)

    @staticmethod
    def _find(jobs: Sequence[Job], job_id: int) -> Job:
        for job in jobs:
            if job.id == job_id:
                return job
        raise NotFound(f"job {job_id} not found")
