from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from orch.core.config import load_config, parse_config
from orch.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yml"


def test_example_config_is_valid_and_matches_defaults() -> None:
    loaded = parse_config(yaml.safe_load(EXAMPLE.read_text()), "config.example.yml")
    assert loaded.router.mode == "llm"
    assert loaded.model_map.model_for("simple", "claude") == "haiku"
    assert loaded.workflow.max_attempts == 3


def test_missing_file_gives_embedded_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.yml").transports.enabled_names() == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"workflow": {"max_attempts": "three"}}, "config.yml: workflow.max_attempts: Input should be a valid integer"),
        ({"workflow": {"max_attempts": 0}}, "config.yml: workflow.max_attempts: Input should be greater than or equal"),
        ({"wokflow": {}}, "config.yml: wokflow: unknown key"),
        ({"transports": {"telegram": {"tokn": "x"}}}, "config.yml: transports.telegram.tokn: unknown key"),
        ({"router": {"mode": "random"}}, "config.yml: router.mode: Input should be 'llm' or 'round_robin'"),
        ({"router": {"fallback_executor": "gpt"}}, "config.yml: router.fallback_executor: unknown agent 'gpt'"),
        ({"redact": {"patterns": ["(unclosed"]}}, "config.yml: redact.patterns: pattern '(unclosed' is not a regular"),
        (["a", "list"], "config.yml: the top level must be a mapping"),
    ],
)
def test_malformed_config_names_the_key_and_why(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_env_vars_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "123:abc")
    config = parse_config({"transports": {"telegram": {"token": "${MY_TOKEN}", "allowed_chat_ids": [5]}}})
    assert config.transports.telegram.token == "123:abc"
    monkeypatch.delenv("MY_TOKEN")
    assert parse_config({"transports": {"telegram": {"token": "${MY_TOKEN}"}}}).transports.telegram.token == ""


def test_invalid_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("router:\n  mode: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith("config.yml: line") and "\n" not in str(error.value)
