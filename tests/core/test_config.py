"""config.yml: the example is valid, every mistake is one line naming the key (or the file) and why, unset
${VAR}s are named where they are used, and no document whatever makes the loader fail any other way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orch.core.config import Config, load_config, parse_config
from orch.core.errors import ConfigError
from orch.core.home import OrchHome
from orch.core.store.location import store_url
from pydantic import BaseModel

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
    config.require("transports", "telegram")
    monkeypatch.setenv("MY_TOKEN", "")  # set, if empty: the transport itself says its token is empty
    assert parse_config({"transports": {"telegram": {"token": "${MY_TOKEN}"}}}).unset_variables() == []


def test_an_unset_token_is_named_where_the_transport_runs_not_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    config = parse_config({"transports": {"telegram": {"enabled": True, "token": "${TELEGRAM_BOT_TOKEN}"},
                                          "discord": {"token": "x${DISCORD_BOT_TOKEN}"}}}, "config.yml")
    assert config.transports.telegram.token == ""
    with pytest.raises(ConfigError) as error:
        config.require("transports", "telegram")
    assert str(error.value) == "config.yml: transports.telegram.token: ${TELEGRAM_BOT_TOKEN} is not set"
    # A disabled transport's token may stay unset; asked for (serve --transport discord), it is named too.
    assert config.unset_variables("transports", "discord") == [
        "config.yml: transports.discord.token: ${DISCORD_BOT_TOKEN} is not set"]
    config.require("transports", "stdout")
    config.require("router")


@pytest.mark.parametrize(("data", "message"), [
    ({"agents": {"claude": {"env": {"ANTHROPIC_API_KEY": "${ORCH_TEST_UNSET}"}}}},
     "config.yml: agents.claude.env.ANTHROPIC_API_KEY: ${ORCH_TEST_UNSET} is not set"),
    ({"redact": {"patterns": ["ok", "${ORCH_TEST_UNSET}-secret"]}},
     "config.yml: redact.patterns[1]: ${ORCH_TEST_UNSET} is not set"),
    ({"projects": {"web": {"path": "${ORCH_TEST_UNSET}/web"}}},
     "config.yml: projects.web.path: ${ORCH_TEST_UNSET} is not set"),
])
def test_an_unset_variable_used_by_every_command_is_named_at_load(
        monkeypatch: pytest.MonkeyPatch, data: dict[str, Any], message: str) -> None:
    monkeypatch.delenv("ORCH_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == message


@pytest.mark.parametrize(("content", "message"), [
    (b"router:\n  mode: \xff\xfe llm\n", "config.yml: not UTF-8 text (byte 0xff at offset 16)"),
    (b"- just\n- a list\n", "config.yml: the top level must be a mapping of keys, not list"),
    (b"42\n", "config.yml: the top level must be a mapping of keys, not int"),
    (b"router: {mode: round_robin}\n\x00\n",
     "config.yml: line 2: not valid YAML: unacceptable character #x0000: special characters are not allowed"),
    (b"[" * 5000, "config.yml: nested too deeply to read"),
    (b"store: " + b"[" * 5000, "config.yml: nested too deeply to read"),
    (b"\xef\xbb\xbfrouter: {mode: round_robin}\n", None),  # a byte order mark is no mistake
])
def test_a_file_that_cannot_be_read_as_config_is_one_line(tmp_path: Path, content: bytes, message: str | None) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes(content)
    if message is None:
        assert load_config(path).router.mode == "round_robin"
        return
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == message
    # A quick command's look for the store's URL reads the file only as far as it must: no store named, no URL;
    # else the same line.
    try:
        assert store_url(OrchHome(tmp_path)) == ""
    except ConfigError as quick:
        assert str(quick) == message


def test_a_directory_named_config_yml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.yml").mkdir()
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "config.yml")
    assert str(error.value) == "config.yml: is a directory, not a file"


# Every key the models declare, so that generated trees reach deep into the config and not only "unknown key".
def _keys(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _keys(annotation)
    return names


KEYS = sorted(_keys(Config) | {"web", "app", "env", "PATH"})
VARIABLES = st.sampled_from(["${ORCH_TEST_SET}", "${ORCH_TEST_UNSET}", "${", "$ORCH_TEST_SET", "${1X}", "$${X}"])
STRINGS = st.one_of(st.text(max_size=8), VARIABLES,
                    st.builds("{}{}{}".format, st.text(max_size=3), VARIABLES, st.text(max_size=3)),
                    st.sampled_from(["llm", "round_robin", "shell", "claude", "true", "1e9", "-1", "https://x"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), STRINGS)
TREES = st.recursive(
    SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.one_of(st.sampled_from(KEYS), STRINGS, st.integers()),
                                                     inner, max_size=4)),
    max_leaves=8,
)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), TREES, max_size=3)
# YAML syntax soup and bytes: anchors, aliases, tags, flow and block collections, odd indentation, NULs.
TOKENS = st.sampled_from(["a", "b:", " ", "  ", "\n", "\t", "- ", ":", "[", "]", "{", "}", ",", "&x ", "*x", "!!str ",
                          "!!binary ", "!foo ", "|", ">", "#", "---", "...", "%YAML 1.1", "'", '"', "?", "@", "`",
                          "router:", "  mode:", "store:", "  url: postgresql://u:p@h/db", "  url: ${ORCH_TEST_UNSET}",
                          "transports:", "    token: ${ORCH_TEST_UNSET}", "\x00", "\ufeff",
                          "1e400", "0x1F", "~", "<<: *x"])
RAW = st.one_of(st.lists(TOKENS, max_size=20).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
                st.binary(max_size=40))
LOADER = settings(max_examples=10_000, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _loads_or_says_why(path: Path, content: bytes) -> None:
    """Both readings of config.yml: the whole config, and the quick look for the store's URL that a quick command
    makes (orch.core.store.location): each gives its answer or one ConfigError line, nothing else."""
    # A new file each time: rewriting one in place makes ext4 flush it at close (auto_da_alloc), ~15 ms each.
    path.unlink(missing_ok=True)
    path.write_bytes(content)
    for read in (lambda: load_config(path), lambda: store_url(OrchHome(path.parent))):
        try:
            assert isinstance(read(), Config | str)
        except ConfigError as error:
            assert str(error).startswith("config.yml: ") and "\n" not in str(error), str(error)


def test_any_document_loads_or_is_one_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCH_STORE_URL", raising=False)
    monkeypatch.setenv("ORCH_TEST_SET", "value")
    monkeypatch.delenv("ORCH_TEST_UNSET", raising=False)
    path = tmp_path / "config.yml"

    @LOADER
    @given(st.one_of(DOCUMENTS.map(lambda tree: yaml.safe_dump(tree, allow_unicode=True).encode()), RAW))
    def loads(content: bytes) -> None:
        _loads_or_says_why(path, content)

    loads()
