"""Shared plotting conventions (colours, figure helpers) for every stage."""

from __future__ import annotations

import base64
import io

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


def figure_to_data_uri(fig, dpi: int = 110) -> str:
    """PNG of a matplotlib figure as a ``data:`` URI (for self-contained HTML); closes it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
