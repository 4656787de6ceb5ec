"""jobs.yml and its schedules: crontab lines, aliases, intervals, and one clear line for each mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from orch.core.errors import ConfigError
from orch.core.schedule.jobs import Job, load_jobs, next_slot, parse_jobs, parse_schedule, save_jobs

SATURDAY = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def slots(schedule: str, after: datetime, count: int) -> list[str]:
    trigger = parse_schedule(schedule, UTC)
    found: list[str] = []
    moment: datetime | None = after
    for _ in range(count):
        assert moment is not None
        moment = next_slot(trigger, moment)
        assert moment is not None
        found.append(f"{moment:%a %d %H:%M}")
    return found


def test_crontab_weekday_numbers_mean_what_they_mean_in_cron() -> None:
    # apscheduler 3 alone would read 1-5 as Tuesday to Saturday.
    assert slots("30 9 * * 1-5", SATURDAY, 6) == ["Mon 03 09:30", "Tue 04 09:30", "Wed 05 09:30", "Thu 06 09:30",
                                                  "Fri 07 09:30", "Mon 10 09:30"]
    assert slots("0 8 * * 0", SATURDAY, 1) == ["Sun 02 08:00"]
    assert slots("0 8 * * 7", SATURDAY, 1) == ["Sun 02 08:00"]
    assert slots("0 8 * * 5-7", SATURDAY, 3) == ["Sun 02 08:00", "Fri 07 08:00", "Sat 08 08:00"]
    assert slots("0 8 * * */2", SATURDAY, 4) == ["Sun 02 08:00", "Tue 04 08:00", "Thu 06 08:00", "Sat 08 08:00"]
    assert slots("0 8 * * sun,wed", SATURDAY, 2) == ["Sun 02 08:00", "Wed 05 08:00"]
    assert slots("*/20 13 1 3 *", SATURDAY, 4) == ["Sat 01 13:00", "Sat 01 13:20", "Sat 01 13:40", "Sun 01 13:00"]


def test_aliases_and_intervals() -> None:
    assert slots("@hourly", SATURDAY, 2) == ["Sat 01 13:00", "Sat 01 14:00"]
    assert slots("@daily", SATURDAY, 1) == ["Sun 02 00:00"]
    assert slots("@weekly", SATURDAY, 1) == ["Sun 02 00:00"]
    assert slots("@monthly", SATURDAY, 1) == ["Tue 01 00:00"]
    assert slots("@YEARLY", SATURDAY, 1) == ["Thu 01 00:00"]
    # Intervals keep one grid whenever they are read, so a restart does not shift them.
    assert slots("every 10m", datetime(2025, 3, 1, 12, 3, 5, tzinfo=UTC), 3) == ["Sat 01 12:10", "Sat 01 12:20",
                                                                                 "Sat 01 12:30"]
    assert slots("every  2h", SATURDAY, 2) == ["Sat 01 14:00", "Sat 01 16:00"]
    trigger = parse_schedule("every 1s", UTC)
    assert next_slot(trigger, SATURDAY) == datetime(2025, 3, 1, 12, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "message"), [
    ("every tuesday", "'every tuesday' is not a cron expression or alias (e.g. '30 9 * * 1-5', @daily or every 10m)"),
    ("* * * *", "'* * * *' is not a cron expression or alias"),
    ("@fortnightly", "'@fortnightly' is not a cron expression or alias"),
    ("61 * * * *", "'61 * * * *' is not a cron expression: Error validating expression '61'"),
    ("0 0 * * 5-1", "'0 0 * * 5-1' is not a cron expression: day-of-week range '5-1' goes backwards"),
    ("0 0 * * funday", "'0 0 * * funday' is not a cron expression: day of week 'funday' is not 0-7 or sun-sat"),
    ("0 0 30 2 *", "'0 0 30 2 *' never comes due"),
    ("every 0m", "'every 0m': an interval must be longer than 0"),
])
def test_bad_schedules_say_why(schedule: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(schedule, UTC)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("data", "message"), [
    ([{"id": 1, "schedule": "@daily", "title": "a"}, {"id": 2, "schedule": "@daily", "title": "b"},
      {"id": 3, "schedule": "every tuesday", "title": "c"}],
     "jobs.yml: jobs[2].schedule: 'every tuesday' is not a cron expression or alias "
     "(e.g. '30 9 * * 1-5', @daily or every 10m)"),
    ({"jobs": [{"id": 1, "schedule": "@daily"}]}, "jobs.yml: jobs[0].title: Field required"),
    ({"jobs": [{"id": 1, "schedule": "@daily", "title": "a", "enabeld": False}]},
     "jobs.yml: jobs[0].enabeld: unknown key"),
    ({"jobs": [{"id": "one", "schedule": "@daily", "title": "a"}]},
     "jobs.yml: jobs[0].id: Input should be a valid integer, unable to parse string as an integer (got 'one')"),
    ({"jobs": [{"id": 1, "schedule": "@daily", "title": "a", "labels": ["agent:gpt"]}]},
     "jobs.yml: jobs[0].labels: unknown agent 'gpt' in label 'agent:gpt' (one of claude, codex, opencode, shell)"),
    ([{"id": 4, "schedule": "@daily", "title": "a"}, {"id": 4, "schedule": "@hourly", "title": "b"}],
     "jobs.yml: jobs[1].id: 4 is used by another job too"),
    ({"job": []}, "jobs.yml: job: unknown key (the jobs go in a list under `jobs:`)"),
    ("@daily do it", "jobs.yml: jobs must be a list of jobs, not str"),
    ([["@daily", "x"]], "jobs.yml: jobs[0]: a job is a mapping of keys, not list"),
    ([{"id": 1, "schedule": "@daily", "title": "\u200b \x1b"}],
     "jobs.yml: jobs[0].title: a title must show something; this one is only spaces, zero-width or control "
     "characters (got '\\u200b \\x1b')"),
])
def test_a_malformed_jobs_file_is_one_line_naming_the_key(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_jobs(data)
    assert str(caught.value) == message


def test_file_round_trip_is_readable_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yml"
    assert load_jobs(path) == []
    jobs = [Job(id=1, schedule="30  9 * * 1-5", title="morning  report", body="echo one\necho two\n",
                labels=("agent:shell",)),
            Job(id=3, schedule="@daily", title="nightly", project="scratch", enabled=False)]
    save_jobs(path, jobs)
    text = path.read_text()
    assert text.startswith("# Scheduled jobs")
    assert "  body: |\n    echo one\n    echo two\n" in text
    assert yaml.safe_load(text)["jobs"][1] == {"id": 3, "schedule": "@daily", "title": "nightly",
                                               "project": "scratch", "enabled": False}
    loaded = load_jobs(path)
    assert loaded == jobs and loaded[0].schedule == "30 9 * * 1-5" and loaded[0].title == "morning report"
    assert [p.name for p in tmp_path.iterdir()] == ["jobs.yml"]  # no temporary file left behind
    assert load_jobs(path)[0].task_labels() == ["agent:shell", "job:1"]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yml"
    path.write_text("jobs:\n  - id: 1\n    title: [unclosed\n")
    with pytest.raises(ConfigError, match=r"^jobs.yml: line \d+: not valid YAML: "):
        load_jobs(path)
