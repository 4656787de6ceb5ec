"""A fake `systemctl` or `launchctl`: an executable put first on PATH that records every call and answers per verb.

This machine has no systemd user session (and no launchd), so tests check what orch asks of the service manager.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SCRIPT = '''#!{python}
import json, pathlib, sys
here = pathlib.Path(__file__).parent
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
verb = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")
answers = json.loads((here / "answers.json").read_text()) if (here / "answers.json").exists() else {{}}
code, out, err = answers.get(verb, [0, "", ""])
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(code)
'''


class FakeServiceTool:
    """`directory` holds only the fake; put it first on PATH (or alone, to hide the real tool)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        executable = directory / name
        executable.write_text(_SCRIPT.format(python=sys.executable))
        executable.chmod(0o755)
        self._answers: dict[str, list[object]] = {}

    def answer(self, verb: str, code: int = 0, stdout: str = "", stderr: str = "") -> None:
        """How the fake replies to calls whose first non-option argument is `verb` (default: exit 0, silent)."""
        self._answers[verb] = [code, stdout, stderr]
        (self.directory / "answers.json").write_text(json.dumps(self._answers))

    def calls(self) -> list[list[str]]:
        log = self.directory / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
