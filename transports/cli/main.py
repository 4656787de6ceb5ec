"""The `orch` command line: parse the arguments, then import and run only the module of the command given.

Exit status: 0 success, 1 a user error (one line on stderr, `orch: …`), 2 bad usage (argparse's message).
Output cut short by its reader (`orch task list | head -1`) ends quietly with 0, as a filter's should.
"""

from __future__ import annotations

import importlib
import os
import sys

from orch.core.errors import UserError
from orch.core.text import terminal_safe
from orch.transports.cli.parser import build_parser


def run(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.module is None:
        parser.print_help()
        return 0
    command = importlib.import_module(f"orch.transports.cli.{args.module}")
    code: int = command.run(args)
    return code


def _quiet_stdout() -> None:
    # The reader is gone: whatever is still buffered, and the interpreter's flush at exit, go to /dev/null
    # instead of raising BrokenPipeError again (the recipe in Python's documentation of SIGPIPE).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main() -> None:
    try:
        code = run(sys.argv[1:])
        sys.stdout.flush()
    except UserError as exc:
        print(f"orch: {terminal_safe(str(exc))}", file=sys.stderr)
        code = 1
    except BrokenPipeError:
        _quiet_stdout()
        code = 0
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
