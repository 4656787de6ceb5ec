"""orch core: tasks, storage, routing, running agents, capturing their output."""

__version__ = "0.1.0"
