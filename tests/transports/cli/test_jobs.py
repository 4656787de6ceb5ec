"""`orch job …` run in-process against the test's ORCH_HOME: real jobs.yml, real SQLite."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from orch.transports.cli.main import main

NEXT_RUN = r"\d{4}-\d\d-\d\d \d\d:\d\d"


def orch(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["orch", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.fixture
def jobs_file() -> Path:
    return Path(os.environ["ORCH_HOME"]) / "jobs.yml"


def test_add_list_disable_enable_remove(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                        jobs_file: Path) -> None:
    assert orch(capsys, monkeypatch, "job", "list") == (0, "no scheduled jobs\n", "")
    code, out, err = orch(capsys, monkeypatch, "job", "add", "30 9 * * 1-5", "morning report", "--body",
                          "echo one\necho two", "--label", "agent:shell", "--label", "daily")
    assert (code, err) == (0, "")
    assert re.fullmatch(rf"job 1 added: 30 9 \* \* 1-5 morning report \(next run {NEXT_RUN}\)\n", out)
    assert re.fullmatch(rf"job 2 added: @daily nightly \(next run {NEXT_RUN}\)\n",
                        orch(capsys, monkeypatch, "job", "add", "@daily", "nightly")[1])
    assert yaml.safe_load(jobs_file.read_text())["jobs"][0] == {
        "id": 1, "schedule": "30 9 * * 1-5", "title": "morning report", "body": "echo one\necho two",
        "labels": ["agent:shell", "daily"], "enabled": True}

    assert orch(capsys, monkeypatch, "job", "disable", "2") == (0, "job 2 disabled\n", "")
    code, out, _ = orch(capsys, monkeypatch, "job", "list")
    header, first, second = out.splitlines()
    assert header.split() == ["id", "enabled", "schedule", "next", "run", "title"]
    assert re.fullmatch(rf"\s+1  yes      30 9 \* \* 1-5  {NEXT_RUN}  morning report", first)
    assert re.fullmatch(r"\s+2  no       @daily        -\s+nightly", second)
    code, out, _ = orch(capsys, monkeypatch, "job", "enable", "2")
    assert re.fullmatch(rf"job 2 enabled \(next run {NEXT_RUN}\)\n", out)

    listed = json.loads(orch(capsys, monkeypatch, "job", "list", "--json")[1])
    assert [(j["id"], j["enabled"], j["last_task_id"]) for j in listed] == [(1, True, None), (2, True, None)]
    assert listed[0]["labels"] == ["agent:shell", "daily"] and listed[0]["next_run"][11:16] == "09:30"

    assert orch(capsys, monkeypatch, "job", "remove", "#1") == (0, "job 1 removed\n", "")
    # Ids are never reused: job:N on an old task keeps naming the job that made it.
    assert orch(capsys, monkeypatch, "job", "add", "every 10m", "tick")[1].startswith("job 3 added: every 10m tick")
    assert [job["id"] for job in yaml.safe_load(jobs_file.read_text())["jobs"]] == [2, 3]


@pytest.mark.parametrize(("argv", "message"), [
    (["job", "add", "every tuesday", "x"],
     "orch: 'every tuesday' is not a cron expression or alias (e.g. '30 9 * * 1-5', @daily or every 10m)\n"),
    (["job", "add", "61 * * * *", "x"], "orch: '61 * * * *' is not a cron expression: Error validating expression "
                                        "'61': the last value (61) is higher than the maximum value (59)\n"),
    (["job", "add", "@daily", "  "], "orch: a job needs a title: orch job add SCHEDULE TITLE\n"),
    (["job", "add", "@daily", "x", "--label", "agent:gpt"],
     "orch: unknown agent 'gpt' in label 'agent:gpt' (one of claude, codex, opencode, shell)\n"),
    (["job", "add", "@daily", "x", "--project", "nope"],
     "orch: project 'nope' not found (known: none; run `orch init` in a git repository)\n"),
    (["job", "remove", "7"], "orch: job 7 not found\n"),
    (["job", "enable", "7"], "orch: job 7 not found\n"),
    (["job", "disable", "seven"], "orch: job id must be a number, not 'seven'\n"),
])
def test_bad_input_is_one_line_and_changes_nothing(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, jobs_file: Path,
                                                   argv: list[str], message: str) -> None:
    orch(capsys, monkeypatch, "job", "add", "@hourly", "existing")
    before = jobs_file.read_text()
    assert orch(capsys, monkeypatch, *argv) == (1, "", message)
    assert jobs_file.read_text() == before


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = orch(capsys, monkeypatch, "job", "add", "@daily")
    assert code == 2 and "the following arguments are required: title" in err
    assert orch(capsys, monkeypatch, "job", "frobnicate")[0] == 2


def test_a_hand_edited_file_with_a_mistake_is_named(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, jobs_file: Path) -> None:
    jobs_file.parent.mkdir(parents=True, exist_ok=True)
    jobs_file.write_text("- id: 1\n  schedule: '@daily'\n  title: fine\n"
                         "- id: 2\n  schedule: every tuesday\n  title: not fine\n")
    assert orch(capsys, monkeypatch, "job", "list") == (
        1, "", "orch: jobs.yml: jobs[1].schedule: 'every tuesday' is not a cron expression or alias "
               "(e.g. '30 9 * * 1-5', @daily or every 10m)\n")


def test_overlap_is_written_and_listed(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                       jobs_file: Path) -> None:
    assert orch(capsys, monkeypatch, "job", "add", "every 2s", "fast", "--overlap")[0] == 0
    assert orch(capsys, monkeypatch, "job", "add", "every 2s", "one at a time")[0] == 0
    assert [job.get("overlap") for job in yaml.safe_load(jobs_file.read_text())["jobs"]] == [True, None]
    listed = json.loads(orch(capsys, monkeypatch, "job", "list", "--json")[1])
    assert [(job["overlap"], job["skipped"]) for job in listed] == [(True, None), (False, None)]
