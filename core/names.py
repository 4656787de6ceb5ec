"""The names a user writes for agents and complexity tiers (a light module: the CLI imports it before any config)."""

from __future__ import annotations

AGENT_NAMES = ("claude", "codex", "opencode", "shell")
LLM_AGENTS = ("claude", "codex", "opencode")
COMPLEXITIES = ("simple", "medium", "complex")
