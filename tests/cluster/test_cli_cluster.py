"""The cluster's commands where there is no cluster, and their bad input: one line each, nothing changed."""

from __future__ import annotations

from pathlib import Path

from orch.core.home import OrchHome

from tests.e2e.test_cli import orch


def test_worker_and_hosts_need_a_postgresql_store(tmp_path: Path) -> None:
    worker = orch("worker", "--host", "build-2")
    assert (worker.returncode, worker.stdout, worker.stderr) == (
        1, "", "orch: orch worker needs a PostgreSQL store shared with orch serve: set store.url or ORCH_STORE_URL\n")
    hosts = orch("hosts")
    assert (hosts.returncode, hosts.stdout, hosts.stderr) == (
        1, "", "orch: hosts: the store is SQLite, so orch serve runs every agent; set store.url (or ORCH_STORE_URL) "
               "to a PostgreSQL database to run workers on other hosts\n")
    assert not (tmp_path / "home" / "worktrees").exists()


def test_a_host_name_is_what_ssh_reaches(tmp_path: Path) -> None:
    for bad in ("-oProxyCommand=touch /tmp/x", "a b", "build;rm", ""):
        result = orch("worker", f"--host={bad}")
        assert result.returncode == 2, bad
        assert f"argument --host: {bad!r} is not a host name" in result.stderr
    assert not OrchHome(tmp_path / "home").db_file.exists()
