"""The exception tree.

OrchError
 ├── UserError        bad input from a person; its message is the whole reply (CLI exit 1)
 │    ├── NotFound    an unknown task/job/project id
 │    └── ConfigError a malformed config.yml (names the key path and why)
 └── AgentError       an agent attempt failed in a way the engine classifies
"""


class OrchError(Exception):
    """Base of every error orch raises on purpose."""


class UserError(OrchError):
    """A mistake in what a user typed; the message is shown to them as one line."""


class NotFound(UserError):
    """An id that names nothing."""


class ConfigError(UserError):
    """config.yml (or .orch.yml) is malformed."""


class AgentError(OrchError):
    """An attempt failed; `kind` says why (rate_limit, auth, timeout, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
