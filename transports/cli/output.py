"""How the CLI prints JSON for scripts: keys sorted, times already ISO 8601 text (orch.core.times).

A list prints one item per line inside its brackets: each line is encoded by json's C encoder (an indented
dump runs the pure-Python one, several times slower on `orch task list --json` with 1,000 tasks), and a person
or `grep` still reads one task per line. Anything else is indented.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(value: Any) -> None:
    if isinstance(value, list):
        items = ",\n".join(f"  {json.dumps(item, sort_keys=True)}" for item in value)
        sys.stdout.write(f"[\n{items}\n]\n" if value else "[]\n")
    else:
        sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
