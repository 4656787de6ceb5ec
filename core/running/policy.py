"""What to do after an attempt: a pure function of the result, the attempt count and which agents can run.

The engine calls `decide()` after every attempt and carries out the Decision:

| result                                      | decision                                                        |
|---------------------------------------------|-----------------------------------------------------------------|
| done / blocked                              | accept                                                          |
| needs_review (agent asks, permission, ...)  | needs_review now                                                |
| auth, timeout, idle_timeout, setup          | needs_review now                                                |
| attempt >= max_attempts                     | needs_review ("max attempts reached")                           |
| rate_limit, overloaded                      | failover to an available agent; else retry after a backoff;     |
|                                             | the failing agent should cool down for `cooldown_seconds`       |
| model_not_found                             | next model of the tier if there is one; else failover           |
| context_too_long, tool_missing, repeating   | failover (retrying the same agent cannot help)                  |
| anything else (exit_code, unparseable, ...) | retry the same agent after a backoff                            |

When a failover finds no other agent, the decision is needs_review for the non-retryable kinds and a retry for
rate_limit/overloaded.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from orch.core.agents.base import AgentResult

Action = Literal["accept", "retry", "failover", "next_model", "needs_review"]

BACKOFF_BASE_SECONDS = {"rate_limit": 30.0, "overloaded": 10.0}
# Other failures (a script that exits non-zero, output that cannot be parsed) are not the provider resting:
# try again soon, just not in a tight loop.
DEFAULT_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
COOLDOWN_SECONDS = {"rate_limit": 300.0, "overloaded": 60.0, "repeating": 120.0}

_REVIEW_NOW = {
    "auth": "the agent could not authenticate",
    "timeout": "the attempt ran out of time",
    "idle_timeout": "the agent printed nothing for too long",
    "setup": "the project's setup command failed",
}
_SWITCH_AGENT = ("context_too_long", "tool_missing", "model_not_found", "repeating")


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    delay_seconds: float = 0.0  # wait this long before the next attempt (retry)
    agent: str | None = None  # failover: the agent to run next
    model: str | None = None  # next_model: the model to run next, same agent
    cooldown_seconds: float = 0.0  # failover: keep the failing agent out of rotation this long


def backoff(error_kind: str | None, attempt: int) -> float:
    """Exponential backoff after attempt number `attempt` (1-based)."""
    base = BACKOFF_BASE_SECONDS.get(error_kind or "", DEFAULT_BACKOFF_SECONDS)
    return min(MAX_BACKOFF_SECONDS, base * 2.0 ** max(0, attempt - 1))


def decide(result: AgentResult, *, agent: str, attempt: int, max_attempts: int, available: Sequence[str],
           cooldown: Collection[str] = (), next_model: str | None = None) -> Decision:
    """The next step for a task whose attempt `attempt` (1-based) with `agent` ended in `result`.

    `available`: installed agents the task may use, in order of preference. `cooldown`: agents resting after a
    rate limit or overload. `next_model`: the tier's next model for `agent`, if any.
    """
    if result.status in ("done", "blocked"):
        return Decision("accept")
    kind = result.error_kind
    detail = result.error or result.summary or (kind or "failed")
    if result.status == "needs_review":
        return Decision("needs_review", reason=detail)
    if kind in _REVIEW_NOW:
        return Decision("needs_review", reason=f"{_REVIEW_NOW[kind]}: {detail}")
    if attempt >= max_attempts:
        return Decision("needs_review", reason=f"max attempts reached ({max_attempts}); last error: {detail}")
    cool = COOLDOWN_SECONDS.get(kind or "", 0.0)
    if kind == "model_not_found" and next_model is not None:
        return Decision("next_model", reason=detail, model=next_model)
    if kind in COOLDOWN_SECONDS or kind in _SWITCH_AGENT:
        other = next((name for name in available if name != agent and name not in cooldown), None)
        if other is not None:
            return Decision("failover", reason=f"{agent}: {detail}", agent=other, cooldown_seconds=cool)
        if kind in _SWITCH_AGENT:
            return Decision("needs_review", reason=f"{detail} (no other agent available)")
    return Decision("retry", reason=detail, delay_seconds=backoff(kind, attempt))
