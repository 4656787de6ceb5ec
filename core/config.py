"""config.yml: typed, validated, with ${VAR} expansion.

Every key a user may write is declared here with its default; config.example.yml lists them all.
A wrong key or value raises ConfigError naming the key path and what is wrong; so does a file that cannot be
read as YAML text (a directory, unreadable, not UTF-8, nested past reading).

A `${VAR}` that is not set is an error where its value is used, naming the variable and the key: at load for
every section but `transports`, whose values only `orch serve` uses, for the transports it runs (Config.require);
a disabled transport's token, or a CLI command run without the service's environment, never needs them.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from orch.core.errors import ConfigError
from orch.core.names import AGENT_NAMES, LLM_AGENTS
from orch.core.store.location import check_url
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import ErrorDetails


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RouterConfig(_Section):
    mode: Literal["llm", "round_robin"] = "llm"
    model: str = "claude-haiku-4-5"
    timeout_seconds: float = Field(30.0, gt=0)
    fallback_executor: str = "claude"
    max_route_attempts: int = Field(2, ge=1)
    agents: list[str] = Field(default_factory=lambda: list(LLM_AGENTS))
    allowed_tools: list[str] = Field(default_factory=list)
    default_skills: list[str] = Field(default_factory=list)

    @field_validator("fallback_executor")
    @classmethod
    def _known_fallback(cls, value: str) -> str:
        if value not in AGENT_NAMES:
            raise ValueError(f"unknown agent {value!r} (one of {', '.join(AGENT_NAMES)})")
        return value

    @field_validator("agents")
    @classmethod
    def _known_agents(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in AGENT_NAMES:
                raise ValueError(f"unknown agent {name!r} (one of {', '.join(AGENT_NAMES)})")
        return value


class TierModels(_Section):
    claude: str | None = None
    codex: str | None = None
    opencode: str | None = None


class ModelMap(_Section):
    simple: TierModels = TierModels(claude="haiku", codex="gpt-5.5-mini", opencode="anthropic/claude-haiku-4-5")
    medium: TierModels = TierModels(claude="sonnet", codex="gpt-5.5", opencode="anthropic/claude-sonnet-4-5")
    complex: TierModels = TierModels(claude="opus", codex="gpt-5.5", opencode="anthropic/claude-opus-4-1")
    review: TierModels = TierModels(claude="sonnet", codex="gpt-5.5", opencode="anthropic/claude-sonnet-4-5")

    def model_for(self, complexity: str, agent: str) -> str | None:
        tier: TierModels | None = getattr(self, complexity, None)
        return getattr(tier, agent, None) if tier is not None else None


class AgentConfig(_Section):
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    sandbox: Literal["full-auto", "workspace-write", "danger-full-access", "none"] | None = None
    # claude only: skip (its permissions are skipped, today's behaviour) or ask (each tool call it would need
    # permission for is asked in the chat, with Allow / Allow for this task / Deny)
    permissions: Literal["skip", "ask"] = "skip"


class AgentsConfig(_Section):
    claude: AgentConfig = AgentConfig()
    codex: AgentConfig = AgentConfig(sandbox="workspace-write")
    opencode: AgentConfig = AgentConfig()
    shell: AgentConfig = AgentConfig()

    def get(self, name: str) -> AgentConfig:
        config: AgentConfig = getattr(self, name)
        return config


class WorkflowConfig(_Section):
    max_attempts: int = Field(3, ge=1)
    timeout_seconds: float = Field(3600.0, gt=0)
    idle_timeout_seconds: float = Field(900.0, gt=0)
    max_parallel: int = Field(2, ge=1)
    sandbox: bool = True
    # None: review when at least one LLM agent is installed.
    review: bool | None = None
    review_agent: str | None = None
    max_review_rounds: int = Field(2, ge=1)
    review_diff_max_chars: int = Field(60_000, ge=1000)
    max_cost_per_task: float | None = Field(None, gt=0)
    worktree_retention_days: float | None = Field(None, gt=0)
    answer_timeout_seconds: float = Field(86_400.0, gt=0)  # a question unanswered this long: needs_review
    approval_timeout_seconds: float = Field(600.0, gt=0)  # a tool approval unanswered this long: denied
    # An agent reading its terminal that shows a prompt (a line without a newline) and prints nothing else this
    # long waits for an answer: its task becomes `waiting` and the prompt goes to the chats.
    prompt_idle_seconds: float = Field(15.0, gt=0)

    @field_validator("review_agent")
    @classmethod
    def _known_reviewer(cls, value: str | None) -> str | None:
        if value is not None and value not in LLM_AGENTS:
            raise ValueError(f"unknown agent {value!r} (one of {', '.join(LLM_AGENTS)})")
        return value


class StdoutTransportConfig(_Section):
    enabled: bool = False


class TelegramTransportConfig(_Section):
    enabled: bool = False
    token: str = ""
    allowed_chat_ids: list[int] = Field(default_factory=list)
    allowed_user_ids: list[int] = Field(default_factory=list)
    base_url: str | None = None


class DiscordTransportConfig(_Section):
    enabled: bool = False
    token: str = ""
    allowed_user_ids: list[int] = Field(default_factory=list)
    guild_ids: list[int] = Field(default_factory=list)
    api_base: str | None = None
    gateway_url: str | None = None


class TransportsConfig(_Section):
    stdout: StdoutTransportConfig = StdoutTransportConfig()
    telegram: TelegramTransportConfig = TelegramTransportConfig()
    discord: DiscordTransportConfig = DiscordTransportConfig()

    def enabled_names(self) -> list[str]:
        return [name for name in ("stdout", "telegram", "discord") if getattr(self, name).enabled]


class RedactConfig(_Section):
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc
        return value


class StoreConfig(_Section):
    # Empty: SQLite in ORCH_HOME. ORCH_STORE_URL overrides it (orch.core.store.location).
    url: str = ""

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        return check_url(value)


class ClusterConfig(_Section):
    """Agents on other hosts (needs a PostgreSQL store): `orch serve` routes tasks and `orch worker`s run them."""

    # True: serve hands every task to the job queue for `orch worker`s instead of running it itself.
    workers: bool = False
    # A worker that has not said it is alive for this long is dead: its tasks run again on another host.
    host_dead_after_seconds: float = Field(30.0, gt=0)
    heartbeat_seconds: float = Field(5.0, gt=0)
    # The host workers reach serve's projects on over ssh: they clone and push HOST:PATH. Unset, they use the
    # path itself (workers on serve's machine, or a file system they share).
    projects_host: str | None = None


DeliverMode = Literal["branch", "push", "pr", "merge"]
DELIVER_MODES: tuple[DeliverMode, ...] = ("branch", "push", "pr", "merge")
_OWNER_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class ProjectConfig(_Section):
    """A project by name. With `path` it is a project of its own; without, settings for a project registered
    with `orch init` or `orch project add`."""

    path: str | None = None
    default_branch: str | None = None
    deliver: DeliverMode = "branch"
    github: str | None = None  # owner/repo; parsed from the remote URL when not set
    copy_files: list[str] = Field(default_factory=list)  # globs copied from the checkout into each new worktree
    setup: str | None = None  # a command run in each new worktree before the agent

    @field_validator("github")
    @classmethod
    def _owner_repo(cls, value: str | None) -> str | None:
        if value is not None and not _OWNER_REPO.fullmatch(value):
            raise ValueError(f"{value!r} is not owner/repo")
        return value


KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Unset:
    """A `${VAR}` whose variable is not set, and the key it was written at."""

    path: KeyPath
    variable: str

    def line(self, source: str) -> str:
        return f"{source}: {key_path(self.path)}: ${{{self.variable}}} is not set"


class Config(_Section):
    router: RouterConfig = RouterConfig()
    model_map: ModelMap = ModelMap()
    agents: AgentsConfig = AgentsConfig()
    workflow: WorkflowConfig = WorkflowConfig()
    transports: TransportsConfig = TransportsConfig()
    redact: RedactConfig = RedactConfig()
    projects: dict[str, ProjectConfig] = Field(default_factory=dict)
    store: StoreConfig = StoreConfig()
    cluster: ClusterConfig = ClusterConfig()

    @field_validator("projects")
    @classmethod
    def _typable_names(cls, value: dict[str, ProjectConfig]) -> dict[str, ProjectConfig]:
        # `--project -rf` reads as an option, and a control character or line break cannot be typed as a name.
        for name in value:
            if name.startswith("-") or any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
                raise ValueError(f"project name {name!r} cannot be typed after --project (it starts with '-' or "
                                 "holds a control character or line break)")
        return value

    # The unset ${VAR}s of sections used later (see the module's docstring), and the file they were read from.
    _unset: tuple[Unset, ...] = PrivateAttr(default=())
    _source: str = PrivateAttr(default="config.yml")

    def unset_variables(self, *section: str) -> list[str]:
        """One line for each `${VAR}` left unset in `section` (e.g. "transports", "telegram")."""
        return [unset.line(self._source) for unset in self._unset if unset.path[:len(section)] == section]

    def require(self, *section: str) -> None:
        """Raise ConfigError if a value of `section` that is about to be used came from an unset `${VAR}`."""
        for line in self.unset_variables(*section):
            raise ConfigError(line)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Sections whose unset variables are reported when they are used, not at load (see the module's docstring).
_USED_LATER = ("transports",)


def expand_env(value: Any, environ: Mapping[str, str] | None = None) -> tuple[Any, list[Unset]]:
    """Replace ${VAR} in every string of a parsed YAML tree (an unset variable by ''); the tree, and where a
    variable was not set."""
    env = os.environ if environ is None else environ
    unset: list[Unset] = []

    def expand(item: Any, path: KeyPath) -> Any:
        if isinstance(item, str):
            def lookup(match: re.Match[str]) -> str:
                if match.group(1) not in env:
                    unset.append(Unset(path, match.group(1)))
                return env.get(match.group(1), "")

            return _VAR.sub(lookup, item)
        if isinstance(item, list):
            return [expand(element, (*path, index)) for index, element in enumerate(item)]
        if isinstance(item, dict):
            return {key: expand(element, (*path, key if isinstance(key, str) else str(key)))
                    for key, element in item.items()}
        return item

    return expand(value, ()), unset


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(parts: KeyPath | tuple[Any, ...], prefix: str = "") -> str:
    """A key path as a person writes it, on one line: `transports.telegram.token`, `jobs[2].schedule`,
    `projects['my app'].path` (a key that is not a plain word is quoted, line breaks and all escaped)."""
    path = prefix + "".join(f".{part}" if isinstance(part, str) and _PLAIN_KEY.fullmatch(part) else f"[{part!r}]"
                            if isinstance(part, str) else f"[{part}]" for part in parts)
    return path.lstrip(".") or "(top level)"


def describe_error(error: ErrorDetails, prefix: str = "") -> str:
    """One line for a pydantic validation error of a YAML file: the key path (`a.b[0]`, after `prefix`) and
    what is wrong."""
    return f"{key_path(error['loc'], prefix)}: {error_message(error)}"


def error_message(error: ErrorDetails) -> str:
    """What is wrong, with the value given unless the message already quotes it."""
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if error["type"] != "missing" and "input" in error and not isinstance(given, dict | list | tuple) \
            and repr(given) not in message:
        message += f" (got {given!r})"
    return message


def parse_config(data: Any, source: str = "config.yml") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {type(data).__name__}")
    expanded, unset = expand_env(data)
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_error(exc.errors()[0])}") from None
    used_now = [entry for entry in unset if entry.path[0] not in _USED_LATER]
    if used_now:
        raise ConfigError(used_now[0].line(source))
    config._source = source
    config._unset = tuple(unset)
    return config


def read_yaml(path: Path) -> Any:
    """The parsed YAML in `path`. Whatever keeps it from being read — a directory, no permission, bytes that
    are not UTF-8, a syntax error, nesting too deep to parse — is a ConfigError of one line naming the file; a
    file that does not exist raises FileNotFoundError."""
    try:
        # utf-8-sig: a byte order mark, as some editors write, is not part of the YAML.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise  # the caller knows what an absent file means (the defaults, no jobs)
    except IsADirectoryError:
        raise ConfigError(f"{path.name}: is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be read: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = getattr(exc, "position", None)  # a ReaderError (a character YAML refuses) has no mark
        line = mark.line + 1 if mark is not None else text.count("\n", 0, position) + 1 if position is not None \
            else None
        where = f" line {line}:" if line is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path.name}:{where} not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: nested too deeply to read") from None


def load_config(path: Path) -> Config:
    """The config at `path`, or the embedded defaults when the file does not exist."""
    try:
        exists = path.exists()
    except OSError as exc:  # a home whose folder cannot be searched
        raise ConfigError(f"{path.name}: cannot be read: {exc.strerror or exc}") from None
    if not exists:
        return Config()
    return parse_config(read_yaml(path), path.name)


def example_config_text() -> str:
    """config.example.yml as shipped inside the package (orch/config.example.yml): every key, commented."""
    try:
        return resources.files("orch").joinpath("config.example.yml").read_text(encoding="utf-8")
    except NotADirectoryError:  # an editable install: see example_config_path
        return example_config_path().read_text(encoding="utf-8")


def example_config_path() -> Path:
    """Where the installed config.example.yml is (inside the package: a wheel ships it as package data)."""
    try:
        shipped = resources.files("orch").joinpath("config.example.yml")
    except NotADirectoryError:
        shipped = None
    if isinstance(shipped, Path):
        return shipped
    # An editable install (pip install -e) puts a path-hook entry beside the checkout in the `orch` namespace's
    # path, which importlib.resources cannot read: look in the real folders of that path.
    import orch

    for folder in orch.__path__:
        candidate = Path(folder) / "config.example.yml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("config.example.yml is not installed with orch")
