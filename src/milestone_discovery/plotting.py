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
    "dropped_underpowered": "#d1e5f0",
    "dropped_unimportant": "#92c5de",
}


def figure_html(fig, dpi: int = 90) -> str:
    """An ``<img>`` tag holding a figure as an inline PNG, for ``_repr_html_``; closes the figure.

    Closing matters in Jupyter: a figure left open would be drawn a second time
    below the result.
    """
    import base64
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img style="max-width:100%" src="data:image/png;base64,{data}"/>'


def safe_figure_html(plot) -> str:
    """``figure_html(plot())``, or an empty string if the plot cannot be drawn (a display must not fail)."""
    try:
        return figure_html(plot())
    except Exception:  # noqa: BLE001 - display is best effort; the tables are still shown
        return ""
