"""Agents on many hosts: `orch serve` routes each task and queues it (procrastinate, in the PostgreSQL store) for
the `orch worker` of a host that has its agent; the worker runs it as serve would, writes its output to the store
with a NOTIFY that serve relays to its chats, and takes control messages (say, cancel) addressed to its host."""
