"""The adapter contract: the same tests for every agent adapter (claude, codex, opencode, shell)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from orch.core.agents.base import AgentAdapter, AttemptContext
from orch.core.agents.claude import ClaudeAgent
from orch.core.agents.codex import CodexAgent
from orch.core.agents.events import Event, SessionId, Unknown
from orch.core.agents.opencode import OpencodeAgent
from orch.core.agents.shell import ShellAgent
from orch.core.agents.structured import StructuredAgent
from orch.core.config import AgentConfig

from tests.core.agents.conftest import DATA, Checkout, make_context, render_output

ADAPTERS: tuple[AgentAdapter, ...] = (ClaudeAgent(), CodexAgent(), OpencodeAgent(), ShellAgent())
STRUCTURED = tuple(adapter for adapter in ADAPTERS if isinstance(adapter, StructuredAgent))
REC_WORKTREE = Path("/tmp/orch-rec/wt")  # where the recorded runs in data/ worked
EVENT_TYPES = typing.get_args(Event)

# Lines no decoder understands: text (shown in the pane as printed) and JSON objects of no known shape.
TEXT_LINES = ("not json at all", "{broken json", "[1, 2, 3]", '"a string"', "42")
UNKNOWN_JSON = ('{"type": 42}', '{"no": "type"}', '{"type": "no.such.event", "item": {}}')
# Lines of the CLIs' own event types with fields of the wrong type.
MALFORMED = ('{"type": "system", "subtype": "init", "model": ["x"]}', '{"type": "assistant", "message": "oops"}',
             '{"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Write", "input": 3}]}}',
             '{"type": "user", "message": {"content": [7, {"type": "tool_result", "content": {"a": 1}}]}}',
             '{"type": "result", "subtype": "success", "usage": {"input_tokens": "many"}}',
             '{"type": "result", "usage": "lots", "permission_denials": "none"}',
             '{"type": "item.started", "item": "x"}', '{"type": "item.completed", "item": {"type": "file_change", '
             '"changes": "all"}}', '{"type": "turn.completed", "usage": {"input_tokens": [1]}}',
             '{"type": "turn.failed", "error": "boom"}', '{"type": "tool_use", "part": {"state": "x"}}',
             '{"type": "step_finish", "part": {"tokens": {"input": "many"}}}', '{"type": "error", "error": [1]}',
             '{"type": "text", "sessionID": 5, "part": null}')

# The error kind of a run that printed nothing, by exit code. The shell agent's result is its script's exit status
# (a script that prints nothing and exits 0 is done), and its 127 is a command missing in the script, not the agent.
EMPTY_OUTPUT = [
    *[(adapter, code, kind) for adapter in STRUCTURED
      for code, kind in ((0, "unparseable"), (1, "exit_code"), (127, "tool_missing"))],
    (ShellAgent(), 1, "exit_code"), (ShellAgent(), 127, "exit_code"),
]


@dataclass(frozen=True)
class Recorded:
    output: str
    summary: str
    files: tuple[str, ...]
    tokens: tuple[int | None, int | None]
    cost: float | None
    session_id: str | None


def _data(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


RECORDED = {
    "claude": Recorded(_data("claude-write.jsonl"), "wrote hello", ("hello.txt",), (300, 60), 0.0018,
                       "cc2f3dc4-2b66-4cc5-b63d-f71c318686ba"),
    "codex": Recorded(_data("codex-write.jsonl"), "wrote hello", ("hello.txt",), (300, 60), None,
                      "01a211fa-6739-7e02-9ea2-13cd0440bd77"),
    "opencode": Recorded(_data("opencode-write.jsonl"), "wrote hello", ("hello.txt",), (300, 60), 0.0,
                         "ses_dee02d247ffeUVryHnjirJZYXz"),
    "shell": Recorded("building\nall good\n", "all good", (), (None, None), None, None),
}


def _name(adapter: AgentAdapter) -> str:
    return adapter.name


@pytest.fixture(params=ADAPTERS, ids=_name)
def adapter(request: pytest.FixtureRequest) -> AgentAdapter:
    chosen: AgentAdapter = request.param
    return chosen


@pytest.fixture(params=STRUCTURED, ids=_name)
def structured(request: pytest.FixtureRequest) -> StructuredAgent:
    chosen: StructuredAgent = request.param
    return chosen


def _context(adapter: AgentAdapter, checkout: Checkout, config: AgentConfig | None = None) -> AttemptContext:
    ctx = make_context(adapter.name, checkout, config or AgentConfig(), model=None)
    return dataclasses.replace(ctx, worktree=REC_WORKTREE)


# -- launching ---------------------------------------------------------------------------------------------------


def test_launch_starts_the_agents_executable_without_chat_tokens(adapter: AgentAdapter, checkout: Checkout,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEX_SANDBOX", raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:telegram-secret")
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "discord-secret")
    launch = adapter.build_launch(make_context(adapter.name, checkout, AgentConfig(env={"MY_VAR": "1"}),
                                               model=None))
    assert launch.argv[0] == adapter.default_command
    assert launch.env["MY_VAR"] == "1", "agents.NAME.env reaches the agent"
    assert not {"TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"} & launch.env.keys()
    assert not any("secret" in value for value in [*launch.env.values(), *launch.argv])
    assert launch.stdin_file is None or launch.stdin_file.is_file(), "an agent never waits on a terminal"


def test_launch_honours_the_configured_command(adapter: AgentAdapter, checkout: Checkout,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEX_SANDBOX", raising=False)
    config = AgentConfig(command="/opt/agents/bin/my-agent")
    assert adapter.build_launch(make_context(adapter.name, checkout, config, model=None)).argv[0] == config.command


def test_structured_output_means_a_decoder(adapter: AgentAdapter) -> None:
    assert adapter.structured_output == isinstance(adapter, StructuredAgent)


# -- decoding ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line", TEXT_LINES)
def test_a_text_line_decodes_to_unknown_text(structured: StructuredAgent, line: str) -> None:
    assert structured.decoder().decode(line) == [Unknown(line)]
    assert render_output(structured, line) == [line]


@pytest.mark.parametrize("line", UNKNOWN_JSON)
def test_an_unknown_event_decodes_to_unknown_json(structured: StructuredAgent, line: str) -> None:
    assert structured.decoder().decode(line) == [Unknown(line, is_json=True)]
    assert render_output(structured, line) == []


@pytest.mark.parametrize("line", MALFORMED)
def test_a_malformed_event_never_raises(structured: StructuredAgent, line: str) -> None:
    events = structured.decoder().decode(line)
    assert all(isinstance(event, EVENT_TYPES) for event in events)
    render_output(structured, line)


def test_blank_lines_mean_nothing(structured: StructuredAgent) -> None:
    assert structured.decoder().decode("") == structured.decoder().decode("   \t") == []


def test_every_recorded_line_decodes_to_the_vocabulary(structured: StructuredAgent) -> None:
    for path in sorted(DATA.glob(f"{structured.name}-*.jsonl")):
        decoder = structured.decoder()
        events = [event for line in path.read_text(encoding="utf-8").splitlines() for event in decoder.decode(line)]
        assert events and all(isinstance(event, EVENT_TYPES) for event in events), path.name
        assert not any(isinstance(event, Unknown) and not event.is_json for event in events), path.name


def test_each_attempt_gets_a_fresh_decoder(structured: StructuredAgent) -> None:
    output = RECORDED[structured.name].output
    first, second = structured.decoder(), structured.decoder()
    assert first is not second
    assert first.decode_all(output, 0) == second.decode_all(output, 0)


def test_the_session_id_is_decoded_once(structured: StructuredAgent) -> None:
    events = structured.decoder().decode_all(RECORDED[structured.name].output, 0)
    sessions = [event for event in events if isinstance(event, SessionId)]
    assert sessions == [SessionId(str(RECORDED[structured.name].session_id))]


# -- results -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("adapter", "exit_code", "kind"), EMPTY_OUTPUT,
                         ids=[f"{adapter.name}-{code}" for adapter, code, _ in EMPTY_OUTPUT])
def test_empty_output_fails(adapter: AgentAdapter, checkout: Checkout, exit_code: int, kind: str) -> None:
    result = adapter.parse_result(_context(adapter, checkout), exit_code, "")
    assert (result.status, result.error_kind) == ("failed", kind)
    assert result.error


@pytest.mark.parametrize("exit_code", [0, 1])
def test_output_without_an_answer_is_never_done(structured: StructuredAgent, checkout: Checkout,
                                                exit_code: int) -> None:
    output = "\n".join([*TEXT_LINES, *UNKNOWN_JSON, *MALFORMED])
    result = structured.parse_result(_context(structured, checkout), exit_code, output)
    assert result.status == "failed"
    assert result.error_kind in ("unparseable", "exit_code")


def test_a_recorded_successful_run_is_done(adapter: AgentAdapter, checkout: Checkout) -> None:
    recorded = RECORDED[adapter.name]
    result = adapter.parse_result(_context(adapter, checkout), 0, recorded.output)
    assert (result.status, result.summary, result.files_changed) == ("done", recorded.summary, recorded.files)
    assert (result.tokens_in, result.tokens_out) == recorded.tokens
    assert result.cost_usd == (pytest.approx(recorded.cost) if recorded.cost is not None else None)
    assert result.session_id == recorded.session_id
    assert (result.error_kind, result.error, result.question) == (None, None, None)


def test_a_recorded_run_reads_well_in_the_pane(structured: StructuredAgent) -> None:
    pane = render_output(structured, RECORDED[structured.name].output)
    assert "Wrote hello.txt." in pane and "⚑ done: wrote hello" in pane
    assert pane[-1].startswith("✓ done (")
    assert not any(line.lstrip().startswith(("{", "```")) for line in pane), "no JSON, no raw result block"
