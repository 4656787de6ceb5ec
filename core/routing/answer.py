"""The routing model's answer → a validated route.

`parse_answer` finds the JSON object in the answer (orch.core.answers) and rejects what would route wrongly
(an agent that cannot run, a tier that has no models) instead of quietly replacing it with a default.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orch.core.answers import excerpt as _excerpt
from orch.core.answers import extract_json
from orch.core.names import COMPLEXITIES

_ROUTE_KEYS = ("executor", "agent")


class RouteAnswerError(ValueError):
    """The answer cannot be used as a route; the message says why, in words fit for a warning."""


@dataclass(frozen=True)
class RouteAnswer:
    executor: str
    complexity: str
    reason: str
    profile: dict[str, Any]
    selected_skills: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def parse_answer(text: str, available: Sequence[str]) -> RouteAnswer:
    """A validated route from the model's answer; RouteAnswerError when it cannot be used."""
    try:
        data = extract_json(text, prefer=_ROUTE_KEYS)
    except ValueError as exc:
        raise RouteAnswerError(str(exc)) from None
    warnings: list[str] = []

    raw_executor = data.get("executor", data.get("agent"))
    if not isinstance(raw_executor, str) or not raw_executor.strip():
        raise RouteAnswerError(f"the answer names no executor: {_excerpt(json.dumps(data))}")
    executor = raw_executor.strip().lower()
    if executor not in available:
        raise RouteAnswerError(
            f"the answer chose executor {raw_executor!r}, which is not available (available: {', '.join(available)})"
        )

    raw_complexity = data.get("complexity")
    complexity = raw_complexity.strip().lower() if isinstance(raw_complexity, str) else ""
    if complexity not in COMPLEXITIES:
        raise RouteAnswerError(
            f"the answer gave complexity {raw_complexity!r}, not one of {', '.join(COMPLEXITIES)}"
        )

    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        warnings.append("the answer gave no reason")
        reason = ""

    raw_profile = data.get("profile")
    if raw_profile is None:
        warnings.append("the answer has no profile")
        raw_profile = {}
    if not isinstance(raw_profile, dict):
        raise RouteAnswerError(f"the answer's profile is not an object: {_excerpt(json.dumps(raw_profile))}")
    role = raw_profile.get("role")
    profile: dict[str, Any] = {
        "role": role.strip() if isinstance(role, str) else "",
        "skills": _str_list(raw_profile.get("skills"), "profile.skills"),
        "tools": _str_list(raw_profile.get("tools"), "profile.tools"),
        "constraints": _str_list(raw_profile.get("constraints"), "profile.constraints"),
    }
    selected_skills = tuple(_str_list(data.get("selected_skills"), "selected_skills"))
    return RouteAnswer(executor, complexity, reason.strip(), profile, selected_skills, tuple(warnings))


def _str_list(value: Any, name: str) -> list[str]:
    # Models write a lone item as a plain string often enough that rejecting it would waste an attempt.
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return [str(item).strip() for item in value if str(item).strip()]
    raise RouteAnswerError(f"the answer's {name} is not a list of strings: {_excerpt(json.dumps(value))}")
