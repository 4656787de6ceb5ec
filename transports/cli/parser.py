"""The `orch` command line's grammar: every command, option, help line and example, and nothing else.

Building it imports argparse and a few names (agents, tiers, statuses) only: `orch --help` and bad usage never
load what the commands themselves need. Each command records in `module` which module of orch.transports.cli
runs it, so main imports that one alone.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeAlias

from orch.core import __version__
from orch.core.names import AGENT_NAMES, COMPLEXITIES, GROUPINGS, TaskStatus

DESCRIPTION = "Orchestrate AI coding agents from chat and from this terminal."
EXAMPLES = """\
examples:
  orch init                                  register this checkout, write ~/.orch/config.yml
  orch serve                                 run the engine; type /task new … on its stdin
  orch task new "fix the flaky login test" --label complexity:simple
  orch task list --status in_progress
  orch stream 1                              the task's output until it ends

Exit status: 0 success, 1 a user error (one line on stderr), 2 bad usage.
ORCH_HOME (default ~/.orch) holds the config, the database and the worktrees."""

SERVICE_ACTIONS = ("install", "start", "stop", "restart", "status", "uninstall")

def _command(group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str, *examples: str,
             module: str | None = None) -> argparse.ArgumentParser:
    """A (sub)command with its help line and examples; `module` runs it (inherited by its actions)."""
    epilog = "example:\n" if len(examples) == 1 else "examples:\n"
    parser = group.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".",
                              epilog=epilog + "\n".join(f"  {example}" for example in examples),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    if module is not None:
        parser.set_defaults(module=module)
    return parser


def _actions(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (times in ISO 8601) instead of a table")


def _date(text: str) -> datetime:
    """A day or a moment in ISO 8601 (`2025-03-01`, `2025-03-01T09:30`), local time unless it says otherwise."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2025-03-01") from None


def _host_name(text: str) -> str:
    """A host's name is shown in `ssh HOST -t tmux …`: letters, digits, dots, dashes and underscores only."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name (letters, digits, '.', '-', '_')")
    return text


Group: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole grammar; given the command line, only the command it names is built in full (the others are a
    name and a help line, all that `orch --help` and a mistyped command show): argparse takes about as long to
    build every option as `orch task list` takes to read 1,000 tasks."""
    parser = argparse.ArgumentParser(prog="orch", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"orch {__version__}",
                        help="print the version and exit")
    parser.set_defaults(module=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else next((word for word in argv if not word.startswith("-")), "")
    for name, text, build in _COMMANDS:
        if wanted is None or wanted == name:
            build(commands, name, text)
        else:
            commands.add_parser(name, help=text)
    return parser


def _task(commands: Group, name: str, text: str) -> None:
    _task_commands(_command(commands, name, text,
                            "orch task new \"fix the flaky login test\" --label complexity:simple",
                            "orch task show 1", module="tasks"))


def _cost(commands: Group, name: str, text: str) -> None:
    cost = _command(commands, name, text, "orch cost", "orch cost --by day --since 2025-03-01", module="cost")
    cost.add_argument("--by", choices=GROUPINGS, default="agent", help="what one line sums (default: agent)")
    cost.add_argument("--since", type=_date, metavar="DATE", help="only attempts started since DATE (YYYY-MM-DD)")
    _json(cost)


def _stream(commands: Group, name: str, text: str) -> None:
    stream = _command(commands, name, text, "orch stream 7", module="stream")
    stream.add_argument("id", help="the task's id")


def _job(commands: Group, name: str, text: str) -> None:
    _job_commands(_command(commands, name, text, "orch job add @daily \"summarise yesterday's CI failures\"",
                           "orch job list", module="jobs"))


def _project(commands: Group, name: str, text: str) -> None:
    _project_commands(_command(commands, name, text, "orch project add acme/app", "orch project list",
                               module="projects"))


def _init(commands: Group, name: str, text: str) -> None:
    _command(commands, name, text, "cd ~/src/myapp && orch init", module="init")


def _serve(commands: Group, name: str, text: str) -> None:
    serve = _command(commands, name, text, "orch serve", "orch serve --transport stdout --transport telegram",
                     module="serve")
    serve.add_argument("--transport", action="append", default=[], metavar="NAME",
                       help="stdout, telegram or discord (repeatable; default: the enabled ones, else stdout)")


def _worker(commands: Group, name: str, text: str) -> None:
    worker = _command(commands, name, text, "orch worker", "orch worker --host build-2", module="worker")
    worker.add_argument("--host", type=_host_name, metavar="NAME",
                        help="this host's name, as ssh reaches it (default: the machine's host name)")


def _hosts(commands: Group, name: str, text: str) -> None:
    _json(_command(commands, name, text, "orch hosts", "orch hosts --json", module="hosts"))


def _service(commands: Group, name: str, text: str) -> None:
    service = _command(commands, name, text, "orch service install", "orch service status", module="service")
    service.add_argument("service_action", metavar="ACTION", choices=SERVICE_ACTIONS,
                         help=f"one of {', '.join(SERVICE_ACTIONS)}; status exits 0 when running, 3 when stopped")


def _doctor(commands: Group, name: str, text: str) -> None:
    _command(commands, name, text, "orch doctor", module="doctor")


def _config(commands: Group, name: str, text: str) -> None:
    _json(_command(commands, name, text, "orch config", "orch config --json", module="config"))


def _version(commands: Group, name: str, text: str) -> None:
    _command(commands, name, text, "orch version", module="version")


# Every command: its name, its help line, and what builds the rest of it.
_COMMANDS: tuple[tuple[str, str, Callable[[Group, str, str], None]], ...] = (
    ("task", "create and manage tasks", _task),
    ("cost", "tokens and USD spent, by agent, model, project or day", _cost),
    ("stream", "print a task's output until it ends (backlog first, then live)", _stream),
    ("job", "scheduled jobs (ORCH_HOME/jobs.yml)", _job),
    ("project", "the repositories tasks run in", _project),
    ("init", "register the current git repo as a project; write config.yml if missing", _init),
    ("serve", "run the engine, the job scheduler and the chat transports", _serve),
    ("worker", "run the agents of tasks queued by orch serve on a PostgreSQL store (this host's share of a "
     "cluster)", _worker),
    ("hosts", "the cluster's workers: agents, running tasks, last heartbeat", _hosts),
    ("service", "run orch serve as a user service (systemd --user; launchd on macOS)", _service),
    ("doctor", "what blocks work: tmux, git, agent CLIs and keys, tokens, allow-lists, config errors (exit 1)",
     _doctor),
    ("config", "the effective configuration: every value (secrets masked) and where it came from (default, "
     "config.yml, environment)", _config),
    ("version", "print the version", _version),
)


def _task_commands(task: argparse.ArgumentParser) -> None:
    actions = _actions(task)
    new = _command(actions, "new", "create a task",
                   "orch task new \"add a --verbose flag\" --body \"to the CLI in src/cli.py\" --agent claude")
    new.add_argument("title", help="one line saying what to do")
    new.add_argument("--body", default="", help="the details: further lines of the task's text")
    new.add_argument("--label", action="append", default=[], metavar="LABEL",
                     help="a label such as agent:codex or complexity:simple (repeatable)")
    new.add_argument("--parent", type=int, metavar="ID", help="make it a sub-task of task ID (the parent waits)")
    new.add_argument("--project", metavar="NAME", help="the project to run in (default: the registered one holding "
                     "the current folder, else the only one; see `orch project list`)")
    new.add_argument("--agent", choices=AGENT_NAMES, help="run it with this agent instead of routing")
    new.add_argument("--complexity", choices=COMPLEXITIES, help="the model tier (decided by routing if not given)")
    listing = _command(actions, "list", "list tasks", "orch task list --status needs_review",
                       "orch task list --json")
    listing.add_argument("--status", choices=[status.value for status in TaskStatus], help="only tasks in STATUS")
    listing.add_argument("--project", metavar="NAME", help="only tasks of project NAME")
    _json(listing)
    show = _command(actions, "show", "one task in detail: status, agent, model, route, branch, attempts, cost",
                    "orch task show 7", "orch task show 7 --json")
    show.add_argument("id", help="the task's id")
    _json(show)
    for action, text in (("route", "route (again) without running; prints the decision"),
                         ("retry", "run a needs_review, cancelled or done task again"),
                         ("cancel", "stop a task (its agent is stopped too)")):
        _command(actions, action, text, f"orch task {action} 7").add_argument("id", help="the task's id")
    _command(actions, "unblock", "blocked/needs_review -> new, attempts reset", "orch task unblock 7",
             "orch task unblock all").add_argument("id", help="a task's id, or all")
    for action, text in (("diff", "what the task changed against its base: the stat, then the patch"),
                         ("review", "have a done or needs_review task's change reviewed by another agent now")):
        _command(actions, action, text, f"orch task {action} 7", module="changes").add_argument(
            "id", help="the task's id")
    for action, text in (("push", "push a finished task's branch to origin"),
                         ("pr", "push and open a pull request on GitHub"),
                         ("merge", "merge a finished task's branch into the branch it started from")):
        _command(actions, action, f"{text}, whatever the project's deliver says", f"orch task {action} 7",
                 module="changes").add_argument("id", help="the task's id")
    say = _command(actions, "say", "type text into the running agent (pasted, then Enter)",
                   "orch task say 7 \"yes, go on\"")
    say.add_argument("id", help="the task's id")
    say.add_argument("text", help="what to type")
    _conversation_commands(actions)


def _conversation_commands(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reply = _command(actions, "reply", "a follow-up: the next turn of the agent's own session (an ended task runs "
                     "again)", "orch task reply 7 \"now also add a test\"", "orch task reply 7 --now \"stop, use "
                     "pytest instead\"", module="conversation")
    reply.add_argument("id", help="the task's id")
    reply.add_argument("text", help="what to tell the agent")
    reply.add_argument("--now", action="store_true", help="stop the agent's current turn instead of queueing")
    answer = _command(actions, "answer", "answer what the task's agent asked (#N picks its N-th option)",
                      "orch task answer 7 postgres", "orch task answer 7 '#2'", module="conversation")
    answer.add_argument("id", help="the task's id")
    answer.add_argument("text", help="the answer, or #N")
    approve = _command(actions, "approve", "allow or deny a tool call an agent asks for (its approval id)",
                       "orch task approve 12 allow", "orch task approve 12 always", module="conversation")
    approve.add_argument("id", help="the approval's id, shown with the request")
    approve.add_argument("decision", choices=("allow", "always", "deny"),
                         help="allow once, always (this tool, for the rest of the task) or deny")
    clean = _command(actions, "clean", "remove the worktrees of ended tasks (never one with uncommitted work; "
                     "branches stay)", "orch task clean", "orch task clean --older 14", module="conversation")
    clean.add_argument("--older", type=float, metavar="DAYS", help="only tasks that ended more than DAYS days ago")


def _job_commands(job: argparse.ArgumentParser) -> None:
    actions = _actions(job)
    _json(_command(actions, "list", "list jobs with their next run", "orch job list", "orch job list --json"))
    add = _command(actions, "add", "add a job that creates a task on a schedule",
                   "orch job add \"30 9 * * 1-5\" \"summarise yesterday's CI failures\" --label agent:claude",
                   "orch job add \"every 10m\" \"check the queue\" --label agent:shell --body ./check.sh")
    add.add_argument("schedule", help="crontab ('30 9 * * 1-5'), @hourly/@daily/@weekly/@monthly/@yearly, or "
                                      "'every 10m' (s, m, h, d)")
    add.add_argument("title", help="the title of each task the job creates")
    add.add_argument("--body", default="", help="the body of each task the job creates")
    add.add_argument("--label", action="append", default=[], metavar="LABEL",
                     help="a label of each task (repeatable; job:ID is added)")
    add.add_argument("--project", metavar="NAME", help="the project the tasks run in")
    add.add_argument("--overlap", action="store_true",
                     help="fire even while the job's last task is unfinished (by default that run is skipped)")
    for action, text in (("remove", "delete a job"), ("enable", "let a job fire again"),
                         ("disable", "keep a job but stop it firing")):
        _command(actions, action, text, f"orch job {action} 2").add_argument("id", help="the job's id")


def _project_commands(project: argparse.ArgumentParser) -> None:
    actions = _actions(project)
    add = _command(actions, "add", "bare-clone a repository into ORCH_HOME/projects and register it",
                   "orch project add acme/app", "orch project add git@example.com:team/api.git --name api",
                   "orch project add ~/src/lib")
    add.add_argument("source", metavar="URL|PATH", help="a git URL, owner/repo (GitHub) or a local path")
    add.add_argument("--name", help="the project's name (default: the repository's)")
    _json(_command(actions, "list", "list projects: name, kind, default branch, path", "orch project list"))
    remove = _command(actions, "remove", "unregister a project; deletes the clone `project add` made, never a "
                      "checkout", "orch project remove app", "orch project remove app --force")
    remove.add_argument("name", help="the project's name")
    remove.add_argument("--force", action="store_true", help="delete the clone even when a task branch has commits "
                        "on no other branch or a worktree has uncommitted changes (refused without it)")
