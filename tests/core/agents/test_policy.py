"""core.agents.policy.decide: what happens after an attempt."""

from __future__ import annotations

import pytest
from orch.core.agents.base import AgentResult
from orch.core.running.policy import MAX_BACKOFF_SECONDS, Decision, backoff, decide

AGENTS = ("claude", "codex", "opencode")


def failed(kind: str | None, error: str = "boom") -> AgentResult:
    return AgentResult(status="failed", error_kind=kind, error=error)


def test_done_and_blocked_are_accepted() -> None:
    for status in ("done", "blocked"):
        assert decide(AgentResult(status=status), agent="claude", attempt=3, max_attempts=3,
                      available=AGENTS).action == "accept"


@pytest.mark.parametrize("kind", ["waiting_for_input", "permission_denied"])
def test_agent_needing_a_person_goes_to_review_at_once(kind: str) -> None:
    result = AgentResult(status="needs_review", error_kind=kind, error="the agent asks: which db?")
    assert decide(result, agent="claude", attempt=1, max_attempts=3, available=AGENTS) == Decision(
        "needs_review", reason="the agent asks: which db?")


@pytest.mark.parametrize("kind", ["auth", "timeout", "idle_timeout"])
def test_review_now_kinds(kind: str) -> None:
    decision = decide(failed(kind), agent="claude", attempt=1, max_attempts=3, available=AGENTS)
    assert decision.action == "needs_review" and decision.reason.endswith("boom")


def test_max_attempts_reached() -> None:
    decision = decide(failed("exit_code"), agent="claude", attempt=3, max_attempts=3, available=AGENTS)
    assert decision == Decision("needs_review", reason="max attempts reached (3); last error: boom")


@pytest.mark.parametrize(("kind", "cooldown"), [("rate_limit", 300.0), ("overloaded", 60.0)])
def test_rate_limit_fails_over_skipping_agents_in_cooldown(kind: str, cooldown: float) -> None:
    decision = decide(failed(kind), agent="claude", attempt=1, max_attempts=3, available=AGENTS,
                      cooldown={"codex"})
    assert (decision.action, decision.agent, decision.cooldown_seconds) == ("failover", "opencode", cooldown)


def test_rate_limit_without_other_agents_retries_after_backoff() -> None:
    decision = decide(failed("rate_limit"), agent="claude", attempt=2, max_attempts=3, available=AGENTS,
                      cooldown={"codex", "opencode"})
    assert (decision.action, decision.delay_seconds, decision.agent) == ("retry", 60.0, None)


def test_model_not_found_tries_the_next_model_then_another_agent() -> None:
    first = decide(failed("model_not_found"), agent="codex", attempt=1, max_attempts=3, available=AGENTS,
                   next_model="gpt-5.5-mini")
    assert (first.action, first.model) == ("next_model", "gpt-5.5-mini")
    second = decide(failed("model_not_found"), agent="codex", attempt=2, max_attempts=3, available=AGENTS)
    assert (second.action, second.agent) == ("failover", "claude")


@pytest.mark.parametrize("kind", ["context_too_long", "tool_missing", "model_not_found"])
def test_switching_kinds_without_another_agent_need_review(kind: str) -> None:
    decision = decide(failed(kind), agent="claude", attempt=1, max_attempts=3, available=("claude",))
    assert decision.action == "needs_review" and "no other agent" in decision.reason


@pytest.mark.parametrize("kind", ["exit_code", "unparseable", None])
def test_other_failures_retry_the_same_agent(kind: str | None) -> None:
    decision = decide(failed(kind), agent="claude", attempt=1, max_attempts=3, available=AGENTS)
    assert (decision.action, decision.delay_seconds) == ("retry", 1.0)


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff("overloaded", attempt) for attempt in (1, 2, 3)] == [10.0, 20.0, 40.0]
    assert backoff("rate_limit", 20) == MAX_BACKOFF_SECONDS
