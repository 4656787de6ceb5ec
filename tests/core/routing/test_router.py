"""Router against a local fake of the Anthropic Messages API, through the real `anthropic` SDK."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import anthropic
import pytest
from orch.core.config import parse_config
from orch.core.errors import NoAgentAvailable
from orch.core.home import OrchHome
from orch.core.routing.router import Router
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import NewTask, Task

from tests.fakes.anthropic_api import FakeAnthropicAPI

ALL_LLM_AGENTS = ("claude", "codex", "opencode")


def answer(executor: str = "codex", complexity: str = "simple", *, key: str = "executor", **extra: Any) -> str:
    body: dict[str, Any] = {
        key: executor,
        "complexity": complexity,
        "reason": "a focused fix with a test",
        "profile": {"role": "backend engineer", "skills": ["python"], "tools": ["bash"],
                    "constraints": ["keep the public API"]},
        "selected_skills": ["testing"],
    }
    body.update(extra)
    return json.dumps(body)


def installed(names: Iterable[str]) -> Callable[[str], bool]:
    present = set(names)
    return lambda name: name in present


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own Anthropic settings must not leak into a test.
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAnthropicAPI]:
    api = FakeAnthropicAPI()
    await api.start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    yield api
    await api.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "orch.db")
    yield opened
    await opened.close()


@pytest.fixture
def home(tmp_path: Path) -> OrchHome:
    return OrchHome(tmp_path / "home")


@pytest.fixture
async def routers() -> AsyncIterator[list[Router]]:
    made: list[Router] = []
    yield made
    for router in made:
        await router.close()


@pytest.fixture
def make_router(
    store: SqliteStore, home: OrchHome, routers: list[Router]
) -> Callable[..., Router]:
    def make(
        router: dict[str, Any] | None = None,
        *,
        present: Iterable[str] = ALL_LLM_AGENTS,
        client: anthropic.AsyncAnthropic | None = None,
        on_store: SqliteStore | None = None,
    ) -> Router:
        config = parse_config({"router": router or {}})
        made = Router(config, on_store or store, home, client=client, is_installed=installed(present))
        routers.append(made)
        return made

    return make


async def new_task(store: SqliteStore, title: str = "Fix the flaky login test",
                   body: str = "tests/test_login.py fails one run in ten.", labels: Iterable[str] = ()) -> Task:
    return await store.create_task(NewTask(title=title, body=body, labels=tuple(labels)))


# --- the LLM path -------------------------------------------------------------------------------------------

async def test_llm_answer_routes_and_request_carries_task(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    fake.queue_text(answer("codex", "simple"))
    router = make_router({"model": "claude-haiku-4-5", "default_skills": ["testing", "docs"]})
    task = await new_task(store, labels=["backend"])

    decision = await router.route(task)

    assert (decision.agent, decision.complexity, decision.model, decision.decided_by) == (
        "codex", "simple", "gpt-5.5-mini", "llm")
    assert decision.reason == "a focused fix with a test"
    assert decision.profile == {"role": "backend engineer", "skills": ["python"], "tools": ["bash"],
                                "constraints": ["keep the public API"]}
    assert decision.selected_skills == ("testing",)
    assert decision.warnings == ()
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.json["model"] == "claude-haiku-4-5"
    assert fake.requests[0].api_key == "sk-ant-test"
    prompt = fake.requests[-1].prompt
    assert "Fix the flaky login test" in prompt
    assert "tests/test_login.py fails one run in ten." in prompt
    assert f"id: {task.id}" in prompt
    assert "backend" in prompt
    assert "- testing\n- docs" in prompt
    assert "- claude\n- codex\n- opencode" in prompt
    assert "$" not in prompt


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("```json\n" + answer("codex") + "\n```", id="json-fence"),
        pytest.param("Here you go:\n```\n" + answer("codex") + "\n```\nGood luck.", id="bare-fence"),
        pytest.param("```javascript\n" + answer("codex") + "\n```", id="other-fence"),
        pytest.param("I think codex fits best. " + answer("codex") + " That is my answer.", id="prose"),
        pytest.param("For example {\"x\": 1} is not it; the route is " + answer("codex"), id="prose-after-example"),
        pytest.param(answer("codex", key="agent"), id="agent-alias"),
        pytest.param(answer("Codex", "Simple"), id="capitalised"),
    ],
)
async def test_real_world_answer_shapes(
    text: str, fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    fake.queue_text(text)
    decision = await make_router().route(await new_task(store))
    assert (decision.agent, decision.complexity, decision.decided_by) == ("codex", "simple", "llm")
    assert len(fake.requests) == 1


async def test_invalid_executor_is_a_failed_attempt_then_next_attempt_counts(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    fake.queue_text(answer("opencode"))  # configured, but not installed here
    fake.queue_text(answer("claude", "complex"))
    router = make_router(present=("claude", "codex"))

    decision = await router.route(await new_task(store))

    assert (decision.agent, decision.complexity, decision.model, decision.decided_by) == (
        "claude", "complex", "opus", "llm")
    assert len(fake.requests) == 2
    assert any("route attempt 1/2 failed" in w and "'opencode'" in w and "not available" in w
               for w in decision.warnings)
    assert "- opencode" not in fake.requests[0].prompt


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        pytest.param(lambda f: f.queue_text(answer("gpt-9")), "executor 'gpt-9'", id="unknown-executor"),
        pytest.param(lambda f: f.queue_text(answer("codex", "HUGE")), "complexity 'HUGE'", id="complexity-HUGE"),
        pytest.param(lambda f: f.queue_text("I would pick codex, it is simple."), "no JSON object",
                     id="no-json"),
        pytest.param(lambda f: f.queue_error(500, "api_error", "Internal server error"),
                     "HTTP 500 api_error: Internal server error", id="http-500"),
        pytest.param(lambda f: f.queue_error(429, "rate_limit_error", "Slow down", headers={"retry-after": "7"}),
                     "HTTP 429 rate_limit_error: Slow down (retry-after 7s)", id="http-429"),
        pytest.param(lambda f: f.queue_error(401, "authentication_error", "invalid x-api-key"),
                     "HTTP 401 authentication_error", id="http-401"),
        pytest.param(lambda f: f.queue_hang(), "no answer within 0.3s", id="timeout"),
    ],
)
async def test_failures_count_attempts_then_round_robin(
    queue: Callable[[FakeAnthropicAPI], None],
    expected: str,
    fake: FakeAnthropicAPI,
    store: SqliteStore,
    make_router: Callable[..., Router],
) -> None:
    for _ in range(3):
        queue(fake)
    # Only the hanging fake needs a tiny timeout; elsewhere it would turn a slow CI machine into a false failure.
    timeout = 0.3 if expected.startswith("no answer") else 30.0
    router = make_router({"timeout_seconds": timeout, "max_route_attempts": 3})

    decision = await router.route(await new_task(store))

    # max_retries=0: exactly one HTTP request per counted attempt, none hidden inside the SDK.
    assert len(fake.requests) == 3
    assert decision.decided_by == "round_robin"
    assert decision.agent == "claude"
    assert decision.complexity == "medium"
    assert decision.model == "sonnet"
    failures = [w for w in decision.warnings if w.startswith("route attempt")]
    assert [w.split(":")[0] for w in failures] == [f"route attempt {n}/3 failed" for n in (1, 2, 3)]
    assert all(expected in w for w in failures), failures
    assert "the router LLM failed 3 time(s): routing round-robin" in decision.warnings


async def test_no_api_key_routes_round_robin_without_a_warning_per_task(
    store: SqliteStore, make_router: Callable[..., Router], caplog: pytest.LogCaptureFixture
) -> None:
    router = make_router()
    assert router.status_line() == "router: round-robin (no ANTHROPIC_API_KEY)"

    with caplog.at_level(logging.WARNING, logger="orch.router"):
        first = await router.route(await new_task(store))
        second = await router.route(await new_task(store))

    assert [(d.agent, d.decided_by) for d in (first, second)] == [("claude", "round_robin"), ("codex", "round_robin")]
    # Round-robin is the design without a key: the status line (serve's ready line) says it once; a task's
    # decision gives it as its reason, not as a warning, and routing logs nothing about it.
    assert first.reason == "round-robin (no ANTHROPIC_API_KEY)"
    assert first.warnings == second.warnings == ()
    assert caplog.records == []


async def test_injected_client_is_used_without_env_key(
    fake: FakeAnthropicAPI, monkeypatch: pytest.MonkeyPatch, store: SqliteStore,
    make_router: Callable[..., Router],
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    fake.queue_text(answer("opencode", "medium"))
    client = anthropic.AsyncAnthropic(api_key="sk-ant-injected", base_url=fake.base_url)
    router = make_router({"model": "router-test-model"}, client=client)
    assert router.status_line() == "router: llm (router-test-model)"

    decision = await router.route(await new_task(store))

    await client.close()
    assert (decision.agent, decision.decided_by) == ("opencode", "llm")
    assert fake.requests[0].api_key == "sk-ant-injected"
    assert fake.requests[0].json["model"] == "router-test-model"


async def test_status_line_llm_from_env(fake: FakeAnthropicAPI, make_router: Callable[..., Router]) -> None:
    assert make_router().status_line() == "router: llm (claude-haiku-4-5)"
    assert make_router({"mode": "round_robin"}).status_line() == "router: round-robin"


async def test_complexity_label_overrides_the_llm(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    fake.queue_text(answer("claude", "simple"))
    decision = await make_router().route(await new_task(store, labels=["complexity:complex"]))
    assert (decision.agent, decision.complexity, decision.model, decision.decided_by) == (
        "claude", "complex", "opus", "llm")
    assert "the router LLM said simple; label complexity:complex wins" in decision.warnings
    assert "complexity:complex" in fake.requests[-1].prompt


async def test_sanity_warnings_on_the_profile(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    fake.queue_text(answer("claude", profile={"role": "dev", "skills": [], "tools": ["bash", "browser"]},
                           selected_skills=["painting"]))
    router = make_router({"default_skills": ["testing"], "allowed_tools": ["bash", "edit"]})
    decision = await router.route(await new_task(store))
    assert decision.decided_by == "llm"
    assert set(decision.warnings) == {
        "the profile lists no skills",
        "selected skills not in the catalog: painting",
        "profile tools not in router.allowed_tools: browser",
    }


# --- labels ---------------------------------------------------------------------------------------------------

async def test_agent_label_skips_the_llm(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    decision = await make_router().route(await new_task(store, labels=["agent:codex", "complexity:complex"]))
    assert (decision.agent, decision.complexity, decision.model, decision.decided_by) == (
        "codex", "complex", "gpt-5.5", "label")
    assert decision.warnings == ()
    assert fake.requests == []


async def test_agent_label_default_tier_is_medium_and_shell_has_no_model(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    router = make_router(present=(*ALL_LLM_AGENTS, "shell"))
    decision = await router.route(await new_task(store, body="echo hi", labels=["agent:shell"]))
    assert (decision.agent, decision.complexity, decision.model, decision.decided_by) == (
        "shell", "medium", None, "label")
    assert fake.requests == []


async def test_agent_label_not_installed_uses_fallback(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    router = make_router({"fallback_executor": "opencode"}, present=("claude", "opencode"))
    decision = await router.route(await new_task(store, labels=["agent:codex"]))
    assert (decision.agent, decision.model, decision.decided_by) == (
        "opencode", "anthropic/claude-sonnet-4-5", "fallback")
    assert "agent codex (label agent:codex) is not installed: using fallback_executor opencode" in decision.warnings
    assert "the labels ask for agent codex, but opencode was chosen" in decision.warnings
    assert fake.requests == []


async def test_agent_label_outside_router_agents_is_ignored(
    fake: FakeAnthropicAPI, store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    fake.queue_text(answer("claude"))
    router = make_router({"agents": ["claude", "codex"]})
    decision = await router.route(await new_task(store, labels=["agent:opencode"]))
    assert (decision.agent, decision.decided_by) == ("claude", "llm")
    assert "label agent:opencode ignored: not one of router.agents (claude, codex)" in decision.warnings
    assert "the labels ask for agent opencode, but claude was chosen" in decision.warnings


async def test_unknown_complexity_label_is_ignored_with_a_warning(
    store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    decision = await make_router().route(await new_task(store, labels=["agent:claude", "complexity:HUGE"]))
    assert (decision.complexity, decision.decided_by) == ("medium", "label")
    assert "label complexity:huge ignored: not one of simple, medium, complex" in decision.warnings


# --- round-robin, fallback, nothing available ----------------------------------------------------------------

async def test_round_robin_order_survives_a_restart(
    fake: FakeAnthropicAPI, tmp_path: Path, home: OrchHome, routers: list[Router]
) -> None:
    config = parse_config({"router": {"mode": "round_robin"}})
    everything = installed(ALL_LLM_AGENTS)

    first_store = await SqliteStore.open(tmp_path / "rr.db")
    first = Router(config, first_store, home, is_installed=everything)
    before = [(await first.route(await new_task(first_store))).agent for _ in range(2)]
    await first_store.close()

    second_store = await SqliteStore.open(tmp_path / "rr.db")
    second = Router(config, second_store, home, is_installed=everything)
    routers.extend([first, second])
    after = [(await second.route(await new_task(second_store))).agent for _ in range(2)]
    await second_store.close()

    assert before + after == ["claude", "codex", "opencode", "claude"]
    assert fake.requests == []


async def test_round_robin_skips_agents_that_are_not_installed(
    store: SqliteStore, make_router: Callable[..., Router]
) -> None:
    router = make_router({"mode": "round_robin"}, present=("claude", "opencode"))
    agents = [(await router.route(await new_task(store))).agent for _ in range(3)]
    assert agents == ["claude", "opencode", "claude"]


async def test_no_router_agent_installed_uses_fallback(store: SqliteStore, make_router: Callable[..., Router]) -> None:
    router = make_router({"agents": ["codex"], "fallback_executor": "claude"}, present=("claude",))
    decision = await router.route(await new_task(store))
    assert (decision.agent, decision.decided_by) == ("claude", "fallback")
    assert "no agent of router.agents (codex) is installed: using fallback_executor claude" in decision.warnings


async def test_fallback_not_installed_picks_the_first_installed_agent_and_says_so_once(
    store: SqliteStore, make_router: Callable[..., Router], caplog: pytest.LogCaptureFixture
) -> None:
    router = make_router({"fallback_executor": "claude"}, present=("codex", "opencode"))
    with caplog.at_level(logging.WARNING, logger="orch.router"):
        decisions = [await router.route(await new_task(store, labels=["agent:claude"])) for _ in range(2)]
    assert [(d.agent, d.decided_by) for d in decisions] == [("codex", "fallback")] * 2
    assert decisions[0].warnings[0] == ("agent claude (label agent:claude) is not installed: using codex, the first "
                                        "installed agent (router.fallback_executor claude is not installed)")
    assert [r.getMessage() for r in caplog.records] == [
        "router.fallback_executor claude is not installed: using codex instead"]


async def test_nothing_available_raises(
    store: SqliteStore, home: OrchHome, make_router: Callable[..., Router]
) -> None:
    router = make_router(present=())
    task = await new_task(store)
    with pytest.raises(NoAgentAvailable) as caught:
        await router.route(task)
    assert caught.value.reason == (
        "no agent of router.agents (claude, codex, opencode) is installed, "
        "and fallback_executor claude is not installed either"
    )
    assert await store.get_route(task.id) is None
    assert not home.route_file(task.id).exists()


# --- the record ------------------------------------------------------------------------------------------------

async def test_decision_is_saved_and_written_to_the_sidecar(
    fake: FakeAnthropicAPI, store: SqliteStore, home: OrchHome, make_router: Callable[..., Router]
) -> None:
    fake.queue_text("```json\n" + answer("claude", "complex") + "\n```")
    task = await new_task(store)

    decision = await make_router().route(task)

    saved = await store.get_route(task.id)
    assert saved == decision.to_json()
    sidecar = json.loads(home.route_file(task.id).read_text(encoding="utf-8"))
    routed_at = sidecar.pop("routed_at")
    assert isinstance(routed_at, float)
    assert sidecar == {
        "task_id": task.id,
        "agent": "claude",
        "model": "opus",
        "complexity": "complex",
        "reason": "a focused fix with a test",
        "decided_by": "llm",
        "profile": {"role": "backend engineer", "skills": ["python"], "tools": ["bash"],
                    "constraints": ["keep the public API"]},
        "selected_skills": ["testing"],
        "warnings": [],
    }
    assert [p.name for p in home.runtime_dir.iterdir()] == [f"{task.id}.json"]


async def test_routing_again_replaces_the_record(
    store: SqliteStore, home: OrchHome, make_router: Callable[..., Router]
) -> None:
    router = make_router({"mode": "round_robin"})
    task = await new_task(store)
    await router.route(task)
    again = await router.route(task)
    assert again.agent == "codex"
    assert (await store.get_route(task.id) or {})["agent"] == "codex"
    assert json.loads(home.route_file(task.id).read_text(encoding="utf-8"))["agent"] == "codex"
