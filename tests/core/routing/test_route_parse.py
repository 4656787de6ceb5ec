"""Parsing the routing model's answer, without any server."""

from __future__ import annotations

import json

import pytest
from orch.core.answers import extract_json
from orch.core.routing.answer import RouteAnswerError, parse_answer

AVAILABLE = ("claude", "codex")


def test_extract_prefers_the_whole_text() -> None:
    assert extract_json('  {"executor": "claude"}\n') == {"executor": "claude"}


def test_extract_prefers_a_json_fence_over_another_fence() -> None:
    text = '```text\n{"executor": "codex"}\n```\nactually:\n```json\n{"executor": "claude"}\n```'
    assert extract_json(text) == {"executor": "claude"}


def test_extract_fence_with_attributes_on_the_opening_line() -> None:
    assert extract_json('```json title="route"\n{"agent": "codex"}\n```') == {"agent": "codex"}


def test_extract_in_prose_skips_objects_without_a_route_key() -> None:
    text = 'Objects look like {"a": 1}. Mine: {"executor": "codex", "profile": {"role": "x"}} — done.'
    assert extract_json(text, prefer=("executor", "agent")) == {"executor": "codex", "profile": {"role": "x"}}


def test_extract_in_prose_falls_back_to_the_first_object() -> None:
    assert extract_json('text {"a": 1} more {"b": 2}') == {"a": 1}


@pytest.mark.parametrize("text", ["", "codex please", "[1, 2]", '{"executor": "codex"', "```json\nnot json\n```"])
def test_extract_without_an_object_fails(text: str) -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json(text)
    with pytest.raises(RouteAnswerError, match="no JSON object"):
        parse_answer(text, AVAILABLE)


def test_parse_minimal_answer_warns_about_what_is_missing() -> None:
    parsed = parse_answer('{"agent": " Claude ", "complexity": "MEDIUM"}', AVAILABLE)
    assert (parsed.executor, parsed.complexity, parsed.reason) == ("claude", "medium", "")
    assert parsed.profile == {"role": "", "skills": [], "tools": [], "constraints": []}
    assert parsed.selected_skills == ()
    assert parsed.warnings == ("the answer gave no reason", "the answer has no profile")


def test_parse_executor_wins_over_agent() -> None:
    parsed = parse_answer('{"executor": "codex", "agent": "claude", "complexity": "simple"}', AVAILABLE)
    assert parsed.executor == "codex"


def test_parse_accepts_a_lone_string_for_a_list() -> None:
    answer = {"executor": "codex", "complexity": "simple", "reason": "r",
              "profile": {"role": "dev", "skills": "python", "tools": ["bash", 1], "constraints": ""},
              "selected_skills": "testing"}
    parsed = parse_answer(json.dumps(answer), AVAILABLE)
    assert parsed.profile == {"role": "dev", "skills": ["python"], "tools": ["bash", "1"], "constraints": []}
    assert parsed.selected_skills == ("testing",)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"complexity": "simple"}, "names no executor"),
        ({"executor": "", "complexity": "simple"}, "names no executor"),
        ({"executor": "opencode", "complexity": "simple"}, "executor 'opencode', which is not available"),
        ({"executor": "codex", "complexity": "HUGE"}, "complexity 'HUGE', not one of simple, medium, complex"),
        ({"executor": "codex"}, "complexity None"),
        ({"executor": "codex", "complexity": "simple", "profile": ["dev"]}, "profile is not an object"),
        ({"executor": "codex", "complexity": "simple", "selected_skills": [{"x": 1}]},
         "selected_skills is not a list of strings"),
    ],
)
def test_parse_rejects_unusable_answers(answer: dict[str, object], message: str) -> None:
    with pytest.raises(RouteAnswerError, match=message):
        parse_answer(json.dumps(answer), AVAILABLE)
