"""How the CLI prints: text for a person through `show`, JSON for scripts through `print_json`.

`show` escapes control characters (orch.core.text.terminal_safe): a title, a job or an agent's output that one
person wrote must not drive another person's terminal. JSON is safe as it is: json.dumps escapes them itself.

JSON has its keys sorted and times already ISO 8601 text (orch.core.times).

A list prints one item per line inside its brackets: each line is encoded by json's C encoder (an indented
dump runs the pure-Python one, several times slower on `orch task list --json` with 1,000 tasks), and a person
or `grep` still reads one task per line. Anything else is indented.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from orch.core.text import terminal_safe


def show(text: str) -> None:
    """Print `text` (and a newline) with its control characters shown escaped, never obeyed."""
    sys.stdout.write(terminal_safe(text) + "\n")


def print_json(value: Any) -> None:
    if isinstance(value, list):
        items = ",\n".join(f"  {json.dumps(item, sort_keys=True)}" for item in value)
        sys.stdout.write(f"[\n{items}\n]\n" if value else "[]\n")
    else:
        sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
