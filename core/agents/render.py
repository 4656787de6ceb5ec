"""Run an agent CLI and turn its JSON-lines output into readable pane lines.

    python -m orch.core.agents.render AGENT_NAME RAW_FILE [--stdin FILE] -- ARGV...

Starts ARGV (stdin from FILE, else /dev/null; stderr passed through), appends every raw stdout line to RAW_FILE,
decodes it into events with the agent's decoder and prints their pane lines (flushed per line), forwards SIGTERM,
SIGINT and SIGHUP to the child, and exits with the child's exit code (128 + N when a signal N ended it; 127 when
ARGV cannot be found, 126 when it cannot be executed). The runner starts this inside the task's tmux pane for
structured agents.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from orch.core.agents.decoding import Decoder
from orch.core.agents.pane import pane_lines
from orch.core.agents.registry import adapter_for
from orch.core.agents.structured import StructuredAgent
from orch.core.errors import UserError

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m orch.core.agents.render",
                                     usage="%(prog)s AGENT_NAME RAW_FILE [--stdin FILE] -- ARGV...",
                                     description="Run an agent CLI and render its JSON output readably.")
    parser.add_argument("agent")
    parser.add_argument("raw_file", type=Path)
    parser.add_argument("--stdin", type=Path, default=None, help="file to give the command as stdin")
    # Split at the first `--` ourselves: argparse would let the command's own options reach our parser.
    if "--" not in argv:
        parser.error("no command given after --")
    split = list(argv).index("--")
    args = parser.parse_args(argv[:split])
    args.command = list(argv[split + 1:])
    if not args.command:
        parser.error("no command given after --")
    try:
        args.adapter = adapter_for(args.agent)
    except UserError as exc:
        parser.error(str(exc))
    if not isinstance(args.adapter, StructuredAgent):
        parser.error(f"agent {args.agent!r} prints no structured output to render")
    return args


def _render(decoder: Decoder, agent: str, line: str) -> list[str]:
    try:
        return pane_lines(decoder.decode(line), agent)
    except Exception as exc:  # one odd event must not stop the pane or lose the lines after it
        return [line, f"(orch could not render this line: {exc})"]


def run(adapter: StructuredAgent, raw_file: Path, command: list[str], stdin: Path | None) -> int:
    decoder = adapter.decoder()
    # opencode (and others) take the working directory from $PWD, which the parent may have left stale.
    env = {**os.environ, "PWD": os.getcwd()}
    stdin_handle = stdin.open("rb") if stdin is not None else open(os.devnull, "rb")  # noqa: SIM115
    try:
        child = subprocess.Popen(command, stdin=stdin_handle, stdout=subprocess.PIPE, env=env)
    except FileNotFoundError:
        print(f"orch: command not found: {command[0]}", file=sys.stderr, flush=True)
        return 127
    except PermissionError:
        print(f"orch: command not executable: {command[0]}", file=sys.stderr, flush=True)
        return 126
    finally:
        stdin_handle.close()

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    assert child.stdout is not None
    raw_file.parent.mkdir(parents=True, exist_ok=True)
    # Bytes out, so the pane gets UTF-8 whatever locale the pane's shell has.
    out = sys.stdout.buffer
    with raw_file.open("ab") as raw:
        for chunk in child.stdout:
            raw.write(chunk)
            raw.flush()
            for text in _render(decoder, adapter.name, chunk.decode("utf-8", errors="replace").rstrip("\r\n")):
                out.write(text.encode("utf-8") + b"\n")
            out.flush()
    code = child.wait()
    return 128 - code if code < 0 else code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    return run(args.adapter, args.raw_file, args.command, args.stdin)


if __name__ == "__main__":
    sys.exit(main())
