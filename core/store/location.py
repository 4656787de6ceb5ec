"""Which store a process opens: PostgreSQL at a URL (ORCH_STORE_URL, else config.yml's `store.url`), else the
SQLite file in ORCH_HOME — and how such a URL is shown to a person (its password masked).

A quick command does not read config.yml's models (see Services), so the URL is looked up on its own: the
environment first, then the file's `store` section, read with the YAML parser only when the file mentions `store`
at all. Anything the quick reading cannot settle (a `${VAR}` in the URL, a malformed section) goes through the
full config, which says what is wrong in one line. psycopg is imported only when there is a URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from orch.core.errors import UserError

if TYPE_CHECKING:
    from orch.core.config import Config
    from orch.core.home import OrchHome
    from orch.core.store.base import Store

ENV_VAR = "ORCH_STORE_URL"
_SCHEMES = ("postgresql", "postgres")
_MASK = "***"


def check_url(url: str) -> str:
    """`url` if it is empty (SQLite) or a PostgreSQL URL; ValueError saying what it is not otherwise."""
    if url and urlsplit(url).scheme not in _SCHEMES:
        raise ValueError(f"{display_url(url)!r} is not a postgresql:// URL (leave it empty for SQLite in ORCH_HOME)")
    return url


def display_url(url: str) -> str:
    """The URL with its password, in the user part or as a `password=` parameter, replaced by ***."""
    parts = urlsplit(url)
    shown = url
    user, at, host = parts.netloc.rpartition("@")
    if at and ":" in user:
        shown = shown.replace(f"//{parts.netloc}", f"//{user.split(':', 1)[0]}:{_MASK}@{host}", 1)
    params = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "password" for name, _ in params):
        masked = urlencode([(name, _MASK if name == "password" else value) for name, value in params], safe="/*")
        shown = shown.replace(f"?{parts.query}", f"?{masked}", 1)
    return shown


def store_url(home: OrchHome, config: Config | None = None) -> str:
    """The PostgreSQL URL this process uses, or "" for SQLite in ORCH_HOME."""
    env = os.environ.get(ENV_VAR, "")
    if env:
        try:
            return check_url(env)
        except ValueError as exc:
            raise UserError(f"{ENV_VAR}: {exc}") from None
    if config is not None:
        return config.store.url
    return _url_in_file(home.config_file)


def _url_in_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError):
        from orch.core.config import load_config

        return load_config(path).store.url  # it says in one line what keeps the file from being read
    if "store" not in text:
        return ""
    quick = _quick_url(text)
    if quick is not None:
        return quick
    from orch.core.config import load_config

    return load_config(path).store.url


def _quick_url(text: str) -> str | None:
    """The well-formed, literal `store.url` of a config text ("" when there is none); None when only the full
    config can tell."""
    import yaml

    try:
        data: Any = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):  # the full config says what is wrong, in one line
        return None
    if not isinstance(data, dict):
        return "" if data is None else None
    if "store" not in data:
        return ""
    section = data["store"]
    if not isinstance(section, dict) or set(section) - {"url"}:
        return None
    url = section.get("url")
    if url is None:
        return ""
    if not isinstance(url, str) or "${" in url:
        return None
    try:
        return check_url(url)
    except ValueError:
        return None


async def open_store(home: OrchHome, config: Config | None = None, *, fence_host: str | None = None) -> Store:
    """The store of this process: PostgreSQL when a URL is set, else SQLite in ORCH_HOME (created if missing).
    `fence_host`: an `orch worker`'s host, whose writes about tasks it does not hold are refused."""
    url = store_url(home, config)
    if not url:
        from orch.core.store.sqlite import SqliteStore

        return await SqliteStore.open(home.db_file)
    require_driver()
    from orch.core.store.postgres import PostgresStore

    return await PostgresStore.open(url, fence_host=fence_host)


def require_driver() -> None:
    """Import psycopg and its pool, or say in one line which install brings them (the `cluster` extra)."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name not in ("psycopg", "psycopg_pool"):
            raise
        raise UserError("store: a PostgreSQL URL needs psycopg: pip install 'orch-agents[cluster]'") from None
