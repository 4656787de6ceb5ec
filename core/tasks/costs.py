"""What the agents cost: tokens and USD of every attempt and review, summed by agent, model, project or day."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from orch.core.errors import UserError
from orch.core.names import GROUPINGS, Grouping
from orch.core.store.base import Store
from orch.core.store.records import AttemptCost


@dataclass(frozen=True)
class CostLine:
    key: str
    attempts: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


_KEYS: dict[Grouping, Callable[[AttemptCost], str]] = {
    "agent": lambda row: row.attempt.agent,
    "model": lambda row: row.attempt.model or "(default)",
    "project": lambda row: row.project or "(default)",
    "day": lambda row: datetime.fromtimestamp(row.attempt.started_at).strftime("%Y-%m-%d"),
}


class CostService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def summary(self, since: datetime | None = None, by: str = "agent") -> list[CostLine]:
        """One line per agent (model, project, day), biggest cost first, then the total as the last line."""
        if by not in _KEYS:
            raise UserError(f"cost by {by!r}? one of {', '.join(GROUPINGS)}")
        key = _KEYS[by]
        rows = await self._store.attempt_costs(since.timestamp() if since else None)
        groups: dict[str, list[AttemptCost]] = {}
        for row in rows:
            groups.setdefault(key(row), []).append(row)
        lines = [_line(name, members) for name, members in groups.items()]
        lines.sort(key=lambda line: (-line.cost_usd, line.key))
        return [*lines, _line("total", rows)]


def _line(key: str, rows: list[AttemptCost]) -> CostLine:
    return CostLine(key, len(rows), sum(row.attempt.tokens_in or 0 for row in rows),
                    sum(row.attempt.tokens_out or 0 for row in rows),
                    round(sum(row.attempt.cost_usd or 0.0 for row in rows), 6))
