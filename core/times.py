"""Moments as machine-readable text: the one formatter for every time in JSON output (`--json`).

ISO 8601 to the second with the UTC offset, as `git log --date=iso-strict` prints it (`2025-03-03T09:30:00+01:00`),
so a script can parse it with any ISO parser and a person can still read it.
"""

from __future__ import annotations

from datetime import datetime


def iso_time(moment: float | datetime | None) -> str | None:
    """A Unix timestamp in local time, or an aware datetime in its own zone; None stays None."""
    if moment is None:
        return None
    when = moment if isinstance(moment, datetime) else datetime.fromtimestamp(moment).astimezone()
    return when.isoformat(timespec="seconds")
