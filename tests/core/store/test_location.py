"""Which store a process opens (ORCH_STORE_URL, else config.yml's store.url, else SQLite in ORCH_HOME), read
without loading what a quick command does not need; and the store URL as a person sees it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from orch.core.config import Config, StoreConfig, load_config
from orch.core.errors import ConfigError, UserError
from orch.core.home import OrchHome
from orch.core.store.location import check_url, display_url, open_store, store_url
from orch.core.store.postgres import PostgresStore
from orch.core.store.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.yml"
URL = "postgresql://orch:s3cret@db.example:5432/orch"


@pytest.mark.parametrize(("url", "shown"), [
    (URL, "postgresql://orch:***@db.example:5432/orch"),
    ("postgresql://orch:p@ss:w@rd@db/orch", "postgresql://orch:***@db/orch"),
    ("postgres://orch@db/orch?sslmode=require&password=s3cret", "postgres://orch@db/orch?sslmode=require&password=***"),
    ("postgresql://postgres@/orch?host=/run/postgresql", "postgresql://postgres@/orch?host=/run/postgresql"),
    ("postgresql:///orch", "postgresql:///orch"),
])
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_only_postgresql_urls_or_nothing_are_store_urls() -> None:
    for url in ("", URL, "postgres://db/orch", "postgresql:///orch?host=/tmp"):
        assert check_url(url) == url
    for url in ("mysql://orch:s3cret@db/orch", "sqlite:///orch.db", "/home/u/orch.db", "host=db dbname=orch"):
        with pytest.raises(ValueError, match="is not a postgresql:// URL") as error:
            check_url(url)
        assert "s3cret" not in str(error.value)


def write_config(home: OrchHome, text: str) -> None:
    home.config_file.write_text(text, encoding="utf-8")


def test_sqlite_unless_a_url_is_given(home: OrchHome) -> None:
    assert store_url(home) == ""
    write_config(home, "workflow:\n  max_parallel: 3\n")
    assert store_url(home) == ""
    write_config(home, EXAMPLE.read_text())
    assert store_url(home) == ""
    assert store_url(home, Config()) == ""


def test_the_environment_overrides_the_config(home: OrchHome, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(home, "store:\n  url: postgresql://from-file/orch\n")
    assert store_url(home) == "postgresql://from-file/orch"
    assert store_url(home, Config(store=StoreConfig(url="postgresql://given/orch"))) == "postgresql://given/orch"
    monkeypatch.setenv("ORCH_STORE_URL", "postgresql://from-env/orch")
    assert store_url(home) == store_url(home, Config()) == "postgresql://from-env/orch"
    # Empty counts as not set.
    monkeypatch.setenv("ORCH_STORE_URL", "")
    assert store_url(home) == "postgresql://from-file/orch"
    monkeypatch.setenv("ORCH_STORE_URL", "mysql://orch:s3cret@db/orch")
    with pytest.raises(UserError) as error:
        store_url(home)
    assert str(error.value) == ("ORCH_STORE_URL: 'mysql://orch:***@db/orch' is not a postgresql:// URL (leave it "
                                "empty for SQLite in ORCH_HOME)")


def test_the_file_says_what_is_wrong_with_its_store_section(home: OrchHome, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASS_FOR_TEST", "s3cret")
    write_config(home, "store:\n  url: postgresql://orch:${PGPASS_FOR_TEST}@db/orch\n")
    assert store_url(home) == "postgresql://orch:s3cret@db/orch"
    for text, message in (
        ("store:\n  url: mysql://db/orch\n", "config.yml: store.url: 'mysql://db/orch' is not a postgresql:// URL"),
        ("store:\n  uri: postgresql://db/orch\n", "config.yml: store.uri: unknown key"),
        ("store: postgresql://db/orch\n", "config.yml: store: Input should be a valid dictionary"),
        ("store:\n  url: [postgresql://db/orch]\n", "config.yml: store.url: Input should be a valid string"),
        ("store:\n  url: 'unclosed\n", "config.yml: line 3: not valid YAML"),
    ):
        write_config(home, text)
        with pytest.raises(ConfigError) as error:
            store_url(home)
        assert str(error.value).startswith(message), text
        # The same words as any command that reads the whole config.
        with pytest.raises(ConfigError) as full:
            load_config(home.config_file)
        assert str(full.value) == str(error.value)


def test_a_quick_command_reads_the_url_without_the_config_models(home: OrchHome) -> None:
    """What a command that only opens the store loads to find its URL, in a fresh interpreter."""
    probe = ("import json, sys; from orch.core.home import OrchHome; from orch.core.store.location import store_url; "
             "url = store_url(OrchHome.from_env()); "
             "print(json.dumps([url, sorted({m.split('.')[0] for m in sys.modules} & {'yaml', 'pydantic', 'psycopg'}), "
             "'orch.core.config' in sys.modules]))")

    def loads() -> list[object]:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
        loaded: list[object] = json.loads(result.stdout)
        return loaded

    assert loads() == ["", [], False]
    write_config(home, "workflow:\n  max_parallel: 3\n")
    assert loads() == ["", [], False]
    write_config(home, EXAMPLE.read_text())
    assert loads() == ["", ["yaml"], False]
    write_config(home, f"store:\n  url: {URL}\n")
    assert loads() == [URL, ["yaml"], False]


async def test_sqlite_in_the_home_without_a_url(home: OrchHome) -> None:
    store = await open_store(home)
    try:
        assert isinstance(store, SqliteStore)
        assert home.db_file.exists()
    finally:
        await store.close()


async def test_postgresql_at_the_url(home: OrchHome, postgres_database: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(home, f"store:\n  url: {postgres_database}\n")
    for config in (None, load_config(home.config_file)):
        store = await open_store(home, config)
        try:
            assert isinstance(store, PostgresStore)
        finally:
            await store.close()
    monkeypatch.setenv("ORCH_STORE_URL", "postgresql://orch@/orch?host=/nonexistent")
    with pytest.raises(UserError, match="store: cannot connect to postgresql://orch@/orch"):
        await open_store(home)
    assert not home.db_file.exists()
