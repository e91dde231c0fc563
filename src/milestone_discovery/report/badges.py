"""CSS classes of the report's badges, from fixed lists (never a raw string of the data)."""

from __future__ import annotations

from ..features import DROP_REASONS

__all__ = ["status_class"]


def status_class(status: str) -> str:
    """CSS class of a status badge, from a fixed list (never the raw data string)."""
    if status == "selected":
        return "sel"
    reason = status.replace("dropped_", "")
    return f"drop-{reason}" if reason in DROP_REASONS else "drop"
