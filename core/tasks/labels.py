"""Task labels: `key:value` words such as `agent:codex`, `complexity:simple`, `job:3` — read and checked here only."""

from __future__ import annotations

from collections.abc import Iterable

from orch.core.names import AGENT_NAMES, COMPLEXITIES


def label_values(labels: Iterable[str], key: str) -> list[str]:
    """The values of every `key:value` label, in order, stripped."""
    prefix = f"{key}:"
    return [label[len(prefix):].strip() for label in labels if label.startswith(prefix)]


def replace_label(labels: Iterable[str], key: str, value: str) -> tuple[str, ...]:
    """The labels with every `key:` label replaced by the one `key:value`."""
    prefix = f"{key}:"
    return (*(label for label in labels if not label.startswith(prefix)), f"{prefix}{value}")


def check_labels(labels: Iterable[str]) -> None:
    """Raise ValueError naming the first `agent:` or `complexity:` label that names nothing."""
    for label in labels:
        key, _, value = label.partition(":")
        if key == "agent" and value not in AGENT_NAMES:
            raise ValueError(f"unknown agent {value!r} in label {label!r} (one of {', '.join(AGENT_NAMES)})")
        if key == "complexity" and value not in COMPLEXITIES:
            raise ValueError(f"unknown complexity {value!r} in label {label!r} (one of {', '.join(COMPLEXITIES)})")
