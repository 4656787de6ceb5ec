"""The routing model's answer → a validated route.

Real answers are not always bare JSON: models wrap it in a ```json fence, in some other fence, or put it in the
middle of a sentence. `extract_json` tries those shapes from the most to the least trustworthy; `parse_answer`
then rejects what would route wrongly (an agent that cannot run, a tier that has no models) instead of
quietly replacing it with a default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from orch.core.names import COMPLEXITIES

# The language tag is optional and anything after it on the opening line (```json title="x") is ignored.
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
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


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in `text`: the whole text, a ```json fence, any other fence, or an object in prose.

    Among the objects found in one shape, one that has an `executor` or `agent` key wins, so an example
    object quoted before the real answer does not shadow it.
    """
    fences = _FENCE.findall(text)
    shapes: list[list[dict[str, Any]]] = [
        _whole(text.strip()),
        [obj for lang, body in fences if lang.lower() == "json" for obj in _whole(body.strip())],
        [obj for lang, body in fences if lang.lower() != "json" for obj in _whole(body.strip())],
        list(_objects_in(text)),
    ]
    for objects in shapes:
        if objects:
            return next((obj for obj in objects if any(key in obj for key in _ROUTE_KEYS)), objects[0])
    raise RouteAnswerError(f"the answer holds no JSON object: {_excerpt(text)}")


def parse_answer(text: str, available: Sequence[str]) -> RouteAnswer:
    """A validated route from the model's answer; RouteAnswerError when it cannot be used."""
    data = extract_json(text)
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


def _whole(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [value] if isinstance(value, dict) else []


def _objects_in(text: str) -> Iterator[dict[str, Any]]:
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            yield value
        position = text.find("{", end)


def _str_list(value: Any, name: str) -> list[str]:
    # Models write a lone item as a plain string often enough that rejecting it would waste an attempt.
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return [str(item).strip() for item in value if str(item).strip()]
    raise RouteAnswerError(f"the answer's {name} is not a list of strings: {_excerpt(json.dumps(value))}")


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
