"""`orch config`: every setting orch runs with, its value with secrets masked, and where it came from — the
default, config.yml (through which `${VAR}`, when one is used), or an environment variable that overrides it.

What a short config.yml (the one `orch init` writes) leaves out is the default of the running orch, so the list
is how a user sees the defaults that reach them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orch.core.config import key_path, load_config, read_yaml
from orch.core.redact import Redactor
from orch.core.store.location import ENV_VAR as STORE_URL_VARIABLE
from orch.core.store.location import display_url

MASK = "***"
# A key whose whole value is a secret (transports.*.token, a KEY/TOKEN/SECRET/PASSWORD variable of agents.*.env).
_SECRET_NAME = re.compile(r"token|key|secret|password|passwd|credential", re.IGNORECASE)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Setting:
    key: str
    value: Any
    source: str  # "default", "config.yml", "config.yml (${VAR})", "environment (VAR)"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source}


def effective_settings(config_file: Path) -> list[Setting]:
    """Each leaf setting of the config at `config_file` (the defaults when it does not exist), masked."""
    config = load_config(config_file)
    raw = read_yaml(config_file) if config_file.exists() else None
    redactor = Redactor(config.redact.patterns)
    settings: list[Setting] = []
    for path, value in _leaves(config.model_dump(mode="json"), ()):
        key = key_path(path)
        source = _source(raw, path, config_file.name)
        if key == "store.url" and os.environ.get(STORE_URL_VARIABLE):
            value, source = os.environ[STORE_URL_VARIABLE], f"environment ({STORE_URL_VARIABLE})"
        settings.append(Setting(key, _masked(path, value, redactor), source))
    return settings


def _leaves(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
    """(path, value) of each setting: a mapping is walked into (an empty one is a value), a list is a value."""
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    return [(path, value)]


def _source(raw: Any, path: tuple[str | int, ...], file_name: str) -> str:
    found = raw
    for part in path:
        if not isinstance(found, dict) or part not in found:
            return "default"
        found = found[part]
    variables = sorted(set(_VAR.findall(str(found))))
    return f"{file_name} ({', '.join(f'${{{name}}}' for name in variables)})" if variables else file_name


def _masked(path: tuple[str | int, ...], value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        if value and _SECRET_NAME.search(str(path[-1])):
            return MASK
        return redactor.redact_text(display_url(value) if "://" in value else value)
    if isinstance(value, list):
        return [_masked(path, item, redactor) for item in value]
    return value


def render(settings: list[Setting]) -> str:
    """One line per setting: key, value, source, in aligned columns."""
    rows = [(setting.key, _shown(setting.value), setting.source) for setting in settings]
    key_width = max(len(key) for key, _, _ in rows)
    value_width = min(40, max(len(value) for _, value, _ in rows))
    return "\n".join(f"{key:<{key_width}}  {value:<{value_width}}  {source}" for key, value, source in rows)


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)

