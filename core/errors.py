"""The exception tree.

OrchError
 ├── UserError        bad input from a person; its message is the whole reply (CLI exit 1)
 │    ├── NotFound    an unknown task/job/project id
 │    ├── ConfigError a malformed config.yml (names the key path and why)
 │    └── Busy        the store stayed locked by another process longer than orch waits; try again
 ├── AgentError       an agent attempt failed in a way the engine classifies
 └── NoAgentAvailable routing found no installed agent; the engine moves the task to needs_review
"""


class OrchError(Exception):
    """Base of every error orch raises on purpose."""


class UserError(OrchError):
    """A mistake in what a user typed; the message is shown to them as one line."""


class NotFound(UserError):
    """An id that names nothing."""


class ConfigError(UserError):
    """config.yml (or .orch.yml) is malformed."""


class Busy(UserError):
    """Another process held the store's write lock for longer than orch waits for it. Nothing was changed; the
    same command a moment later goes through. (Not the user's mistake, but like one it is a line, not a trace.)"""


class AgentError(OrchError):
    """An attempt failed; `kind` says why (rate_limit, auth, timeout, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class NoAgentAvailable(OrchError):
    """No agent that routing may pick is installed; the message says which were tried and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe(exc: BaseException) -> str:
    """An unexpected exception as one line a person can act on: its own message, with its type when the
    message alone would not say what happened (`KeyError: 'x'`, `OperationalError: database is locked`)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, OrchError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
