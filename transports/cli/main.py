"""The `orch` command line. Exit status: 0 success, 1 a user error (one line on stderr), 2 bad usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from orch.bot import format as fmt
from orch.core import __version__
from orch.core.config import Config, example_config_text, load_config
from orch.core.errors import UserError
from orch.core.home import OrchHome
from orch.core.names import AGENT_NAMES, COMPLEXITIES
from orch.core.ops.doctor import run_checks
from orch.core.ops.service_manager import ServeCommand, chat_transport_warning, service_manager
from orch.core.services import Services
from orch.core.tasks.models import TaskStatus
from orch.core.terminal.tmux import session_name

_STREAM_POLL_SECONDS = 0.1
_STREAM_ENDS = (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orch", description="Orchestrate AI coding agents from chat.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("init", help="register the current git repo as a project; write config.yml if missing")
    serve = commands.add_parser("serve", help="run the engine and the chat transports")
    serve.add_argument("--transport", action="append", default=[], metavar="NAME",
                       help="stdout, telegram or discord (repeatable; default: the enabled ones, else stdout)")
    task = commands.add_parser("task", help="create and manage tasks").add_subparsers(
        dest="task_command", required=True, metavar="ACTION")
    new = task.add_parser("new", help="create a task")
    new.add_argument("title")
    new.add_argument("--body", default="")
    new.add_argument("--label", action="append", default=[])
    new.add_argument("--parent", type=int)
    new.add_argument("--project")
    new.add_argument("--agent", choices=AGENT_NAMES)
    new.add_argument("--complexity", choices=COMPLEXITIES)
    listing = task.add_parser("list", help="list tasks")
    listing.add_argument("--status", choices=[status.value for status in TaskStatus])
    listing.add_argument("--project")
    listing.add_argument("--json", action="store_true")
    show = task.add_parser("show", help="one task in detail")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    for action, text in (("route", "route (again) without running; prints the decision"),
                         ("retry", "run a finished task again"), ("cancel", "stop a task")):
        task.add_parser(action, help=text).add_argument("id")
    task.add_parser("unblock", help="blocked/needs_review -> new").add_argument("id", help="task id or all")
    say = task.add_parser("say", help="type text into the running agent")
    say.add_argument("id")
    say.add_argument("text")
    commands.add_parser("stream", help="print a task's output until it ends").add_argument("id")
    job = commands.add_parser("job", help="scheduled jobs (ORCH_HOME/jobs.yml)").add_subparsers(
        dest="job_command", required=True, metavar="ACTION")
    job.add_parser("list", help="list jobs with their next run").add_argument("--json", action="store_true")
    add = job.add_parser("add", help="add a job: SCHEDULE is crontab ('30 9 * * 1-5'), @daily… or 'every 10m'")
    add.add_argument("schedule")
    add.add_argument("title")
    add.add_argument("--body", default="")
    add.add_argument("--label", action="append", default=[])
    add.add_argument("--project")
    for action, text in (("remove", "delete a job"), ("enable", "let a job fire again"),
                         ("disable", "keep a job but stop it firing")):
        job.add_parser(action, help=text).add_argument("id")
    project = commands.add_parser("project", help="the repositories tasks run in").add_subparsers(
        dest="project_command", required=True, metavar="ACTION")
    add_project = project.add_parser("add", help="bare-clone a repository into ORCH_HOME/projects and register it")
    add_project.add_argument("source", metavar="URL|PATH", help="a git URL, owner/repo (GitHub) or a local path")
    add_project.add_argument("--name", help="the project's name (default: the repository's)")
    project.add_parser("list", help="list projects").add_argument("--json", action="store_true")
    project.add_parser("remove", help="unregister a project; deletes the clone `project add` made").add_argument(
        "name")
    commands.add_parser("service", help="run orch serve as a user service (systemd --user; launchd on macOS)"
                        ).add_argument("service_command", metavar="ACTION",
                                       choices=("install", "start", "stop", "restart", "status", "uninstall"))
    commands.add_parser("doctor", help="what is missing: tmux, git, agent CLIs, tokens, config errors")
    commands.add_parser("version", help="print the version")
    return parser


async def _with_services(home: OrchHome, config: Config, action: Callable[[Services], Awaitable[int]]) -> int:
    services = await Services.open(home, config=config)
    try:
        return await action(services)
    finally:
        await services.close()


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


async def _task_command(args: argparse.Namespace, home: OrchHome, services: Services) -> int:
    service = services.tasks
    command = args.task_command
    if command == "new":
        task = await service.create(args.title, args.body, labels=args.label, agent=args.agent,
                                    complexity=args.complexity, project=args.project, parent_id=args.parent)
        print(fmt.created(task))
    elif command == "list":
        tasks = await service.list_tasks(args.status, args.project)
        if args.json:
            _print_json([task.to_json() for task in tasks])
        else:
            print(fmt.task_table(tasks))
    elif command == "show":
        task = await service.get(args.id)
        attempts = await service.attempts(task.id)
        if args.json:
            data = task.to_json()
            data["attempts_detail"] = [vars(attempt) for attempt in attempts]
            data["route"] = await service.route_record(task.id)
            _print_json(data)
        else:
            print(fmt.task_details(task, attempts))
            if task.status is TaskStatus.IN_PROGRESS:
                print(f"watch it: tmux -L {home.tmux_socket_name} attach -t {session_name(task.id)}")
    elif command == "route":
        task_id, decision = await services.routing.reroute(args.id)
        print(fmt.route_decision(task_id, decision))
    elif command == "unblock":
        print(fmt.unblocked(await service.unblock(args.id)))
    elif command == "retry":
        print(f"task {(await service.retry(args.id)).id} will run again")
    elif command == "cancel":
        print(f"task {(await service.cancel(args.id)).id} cancelled")
    elif command == "say":
        print(f"sent to task {await services.control.say(args.id, args.text)}")
    return 0


async def _job_command(args: argparse.Namespace, services: Services) -> int:
    book = services.jobs
    command = args.job_command
    if command == "list":
        views = await book.views()
        if args.json:
            _print_json([view.to_json() for view in views])
        else:
            print(fmt.job_table(views))
    elif command == "add":
        print(fmt.job_added(await book.add(args.schedule, args.title, body=args.body, labels=args.label,
                                           project=args.project)))
    elif command == "remove":
        print(f"job {(await book.remove(args.id)).id} removed")
    elif command == "enable":
        view = await book.set_enabled(args.id, True)
        print(f"job {view.job.id} enabled (next run {fmt.when(view.next_run)})")
    elif command == "disable":
        print(f"job {(await book.set_enabled(args.id, False)).job.id} disabled")
    return 0


async def _project_command(args: argparse.Namespace, services: Services) -> int:
    projects = services.projects
    command = args.project_command
    if command == "add":
        added = await projects.add_clone(args.source, args.name, Path.cwd())
        print(f"project {added.name} added: {added.path} (default branch {added.default_branch})")
    elif command == "list":
        views = await projects.views()
        if args.json:
            _print_json([view.to_json() for view in views])
        else:
            print(fmt.project_table(views))
    elif command == "remove":
        removed = await projects.remove(args.name)
        if removed.managed:
            print(f"project {removed.name} removed; deleted {removed.path}")
        else:
            print(f"project {removed.name} unregistered; {removed.path} left as it is")
    return 0


async def _stream(task_id: str, services: Services) -> int:
    service = services.tasks
    task = await service.get(task_id)
    last = 0
    while True:
        # Read the status before the chunks: the engine stores every chunk before it ends a task.
        task = await service.get(task.id)
        chunks = await services.output.after(task.id, last)
        for chunk in chunks:
            for line in chunk.lines:
                sys.stdout.write(line + "\n")
            last = chunk.seq
        sys.stdout.flush()
        if chunks:
            continue
        if task.status in _STREAM_ENDS:
            status = fmt.status_line(task, await service.attempts(task.id))
            if status:
                print(status)
            return 0 if task.status is TaskStatus.DONE else 1
        await asyncio.sleep(_STREAM_POLL_SECONDS)


async def _init(home: OrchHome, services: Services) -> int:
    project = await services.projects.register_checkout(Path.cwd())
    print(f"project {project.name} registered: {project.path}")
    if not home.config_file.exists():
        home.config_file.write_text(example_config_text(), encoding="utf-8")
        print(f"wrote {home.config_file}")
    return 0


def _doctor(home: OrchHome) -> int:
    checks = run_checks(home)
    for check in checks:
        print(f"{'ok ' if check.ok else 'NO '} {check.text}")
    return 1 if any(check.fatal and not check.ok for check in checks) else 0


def _service(action: str, home: OrchHome) -> int:
    manager = service_manager()
    if action == "install":
        warning = chat_transport_warning(load_config(home.config_file))
        print(manager.install(ServeCommand.current(home)))
        if warning:
            print(f"orch: {warning}", file=sys.stderr)
    elif action == "status":
        report, code = manager.status()
        sys.stdout.write(report)
        return code
    elif action == "uninstall":
        manager.uninstall()
        print(f"orch service uninstalled; removed {manager.unit_path}")
    else:
        actions = {"start": (manager.start, "started"), "stop": (manager.stop, "stopped"),
                   "restart": (manager.restart, "restarted")}
        act, done = actions[action]
        act()
        print(f"orch service {done}")
    return 0


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    home = OrchHome.from_env()
    if args.command == "version":
        print(f"orch {__version__}")
        return 0
    if args.command == "doctor":
        return _doctor(home)
    if args.command == "service":
        return _service(args.service_command, home)
    config = load_config(home.config_file)
    if args.command == "serve":
        from orch.transports.serve import serve  # imported here: task commands should start fast

        asyncio.run(serve(home, config, args.transport))
        return 0
    if args.command == "init":
        return asyncio.run(_with_services(home, config, lambda services: _init(home, services)))
    if args.command == "job":
        return asyncio.run(_with_services(home, config, lambda services: _job_command(args, services)))
    if args.command == "project":
        return asyncio.run(_with_services(home, config, lambda services: _project_command(args, services)))
    if args.command == "stream":
        return asyncio.run(_with_services(home, config, lambda services: _stream(args.id, services)))
    return asyncio.run(_with_services(home, config, lambda services: _task_command(args, home, services)))


def main() -> None:
    try:
        code = run(sys.argv[1:])
    except UserError as exc:
        print(f"orch: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
