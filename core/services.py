"""Everything a front end may do — the CLI, the chat bot — over one store, as named services.

One `Services` per process. Front ends never see the store: they call these services, which are built on first
use so that a quick command imports only what it needs (`orch task list` never loads the router's SDK, the
scheduler's triggers or even config.yml's models: of config.yml it reads only the store URL, and psycopg only when
there is one). `orch serve` also asks it for the engine and the scheduler, which
share its store, hub and router.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.store.base import Store
from orch.core.store.location import open_store
from orch.core.tasks.follows import FollowService
from orch.core.tasks.output import OutputService
from orch.core.tasks.service import TaskService
from orch.core.tasks.states import TaskStates

if TYPE_CHECKING:
    from orch.core.cluster.hosts import HostService
    from orch.core.cluster.worker import ClusterWorker
    from orch.core.config import Config
    from orch.core.cursors import Cursors
    from orch.core.delivery.service import DeliveryService
    from orch.core.projects.cleanup import WorktreeCleanup
    from orch.core.projects.registry import Projects
    from orch.core.routing.router import Router
    from orch.core.routing.service import RoutingService
    from orch.core.running.control import TaskControl
    from orch.core.running.engine import Engine
    from orch.core.schedule.jobs import JobBook
    from orch.core.schedule.scheduler import Scheduler
    from orch.core.tasks.conversation import Conversation
    from orch.core.tasks.costs import CostService
    from orch.core.terminal.tmux import TmuxRunner


class Services:
    def __init__(self, home: OrchHome, store: Store, *, config: Config | None = None,
                 hub: EventHub | None = None, placed: bool = False) -> None:
        """`config` is read from the home when first needed if not given; `hub` is serve's (None in the CLI);
        `placed`: an `orch worker`'s, whose projects are clones of serve's (Projects)."""
        self.home = home
        self._placed = placed
        self._store = store
        self._config = config
        self.hub = hub
        self.states = TaskStates(store, hub)
        self.tasks = TaskService(store, self.states, lambda: self.projects)
        self.output = OutputService(store)
        self.follows = FollowService(store)
        self._hosts: HostService | None = None

    @classmethod
    async def open(cls, home: OrchHome, *, config: Config | None = None, hub: EventHub | None = None,
                   fence_host: str | None = None) -> Services:
        """Services over the home's store: PostgreSQL when ORCH_STORE_URL or store.url is set, else SQLite in the
        home. Without `config`, only the store URL is read from config.yml. `fence_host`: `orch worker`'s host
        (its writes about tasks it does not hold are refused)."""
        home.ensure()
        return cls(home, await open_store(home, config, fence_host=fence_host), config=config, hub=hub,
                   placed=fence_host is not None)

    async def close(self) -> None:
        if "router" in self.__dict__:
            await self.router.close()
        if self._hosts is not None:
            await self._hosts.close()
        await self._store.close()

    @property
    def config(self) -> Config:
        if self._config is None:
            from orch.core.config import load_config

            self._config = load_config(self.home.config_file)
        return self._config

    @functools.cached_property
    def projects(self) -> Projects:
        from orch.core.projects.registry import Projects

        return Projects(self._store, self.config, self.home, placed=self._placed)

    @functools.cached_property
    def jobs(self) -> JobBook:
        from orch.core.schedule.jobs import JobBook

        return JobBook(self.home, self._store, self.projects)

    @functools.cached_property
    def delivery(self) -> DeliveryService:
        from orch.core.delivery.service import DeliveryService

        return DeliveryService(self._store, self.tasks, self.projects, self.config.redact.patterns)

    @functools.cached_property
    def costs(self) -> CostService:
        from orch.core.tasks.costs import CostService

        return CostService(self._store)

    @functools.cached_property
    def cleanup(self) -> WorktreeCleanup:
        from orch.core.projects.cleanup import WorktreeCleanup

        return WorktreeCleanup(self._store, self.projects)

    @functools.cached_property
    def cursors(self) -> Cursors:
        from orch.core.cursors import Cursors

        return Cursors(self._store)

    @functools.cached_property
    def tmux(self) -> TmuxRunner:
        from orch.core.terminal.tmux import TmuxRunner

        return TmuxRunner(self.home)

    @functools.cached_property
    def control(self) -> TaskControl:
        from orch.core.running.control import TaskControl

        return TaskControl(self.tasks, self._type_into)

    def cluster_url(self) -> str | None:
        """The store's URL when tasks run on `orch worker`s (cluster.workers), else None (they run in serve)."""
        if not self.config.cluster.workers:
            return None
        from orch.core.errors import ConfigError
        from orch.core.store.location import store_url

        url = store_url(self.home, self.config)
        if not url:
            raise ConfigError("cluster.workers needs a PostgreSQL store: set store.url or ORCH_STORE_URL")
        return url

    async def _type_into(self, task_id: int, text: str) -> None:
        """Type into a task's agent: in this home's tmux, or on the worker that runs it."""
        from orch.core.terminal.tmux import session_name

        if self.cluster_url() is None:
            await self.tmux.paste(session_name(task_id), text)
            return
        hosts = self.hosts
        assert hosts is not None
        await hosts.send_control(task_id, "say", text)

    @property
    def hosts(self) -> HostService | None:
        """The cluster's hosts, when the store is PostgreSQL (None on SQLite: everything runs in serve)."""
        if self._hosts is None:
            from orch.core.store.location import store_url

            url = store_url(self.home, self.config)
            if not url:
                return None
            from orch.core.cluster.hosts import HostService

            self._hosts = HostService(url, self.config.cluster)
        return self._hosts

    @functools.cached_property
    def conversation(self) -> Conversation:
        from orch.core.tasks.conversation import Conversation

        return Conversation(self._store, self.states, self.tasks, self._type_into)

    @functools.cached_property
    def router(self) -> Router:
        from orch.core.routing.router import Router

        return Router(self.config, self._store, self.home)

    @functools.cached_property
    def routing(self) -> RoutingService:
        from orch.core.routing.service import RoutingService

        return RoutingService(self._store, self.tasks, lambda: self.router)

    def engine(self, *, poll_interval: float = 0.5) -> Engine:
        """The running half of `orch serve` (needs the hub)."""
        from orch.core.running.engine import Engine

        assert self.hub is not None, "the engine publishes on serve's hub"
        url = self.cluster_url()
        if url is None:
            return Engine(self, self._store, self.hub, poll_interval=poll_interval)
        from orch.core.cluster.executor import ClusterExecutor

        hub, cluster = self.hub, self.config.cluster
        return Engine(self, self._store, hub, poll_interval=poll_interval,
                      executor=lambda runner: ClusterExecutor(url, cluster, self._store, hub, runner))

    def worker(self, host: str) -> ClusterWorker:
        """`orch worker`'s role: run the queued tasks of the agents installed here (needs the hub and a
        PostgreSQL store)."""
        from orch.core.cluster.worker import ClusterWorker
        from orch.core.errors import ConfigError
        from orch.core.store.location import store_url

        assert self.hub is not None, "the worker's runs publish on its hub"
        url = store_url(self.home, self.config)
        if not url:
            raise ConfigError("orch worker needs a PostgreSQL store shared with orch serve: set store.url or "
                              "ORCH_STORE_URL")
        return ClusterWorker(self, self._store, self.hub, url, host)

    def scheduler(self, *, check_interval: float = 1.0) -> Scheduler:
        from orch.core.schedule.scheduler import Scheduler

        assert self.hub is not None, "the scheduler announces fired jobs on serve's hub"
        return Scheduler(self.home, self._store, self.tasks, self.hub, check_interval=check_interval)
