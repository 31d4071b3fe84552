"""The service's one notion of "now": timezone-aware UTC (audit times are UTC, S26)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
