"""Shared plotting conventions (status colours) for every stage and the report."""

from __future__ import annotations

STATUS_COLORS = {
    "selected": "#1b7837",
    "dropped_leaky": "#762a83",
    "dropped_ubiquitous": "#9e9e9e",
    "dropped_niche": "#bdbdbd",
    "dropped_segment": "#e08214",
    "dropped_negative": "#b2182b",
    "dropped_confounded": "#fdb863",
    "dropped_unimportant": "#92c5de",
}

