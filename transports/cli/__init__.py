"""The `orch` command line: `main` (the entry point), `parser` (the grammar), one module per command group.

A thin front end like the chat commands: it parses, calls orch.core.services, and prints (bot.format's lines,
JSON from the services' views). Only the module of the command given is imported.
"""
