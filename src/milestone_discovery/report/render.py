"""Rendering the report: one self-contained HTML file.

The page is ``templates/report.html`` rendered by jinja2 with autoescaping on
and undefined names an error (the environment of
:func:`milestone_discovery.html_repr.environment`, which the result objects'
displays share): everything that comes from the data is
escaped, nothing is marked safe. The file has inline CSS and PNG charts, no
script and no external URL, so it opens offline from an email attachment;
the same run folder always gives the same text.
"""

from __future__ import annotations

from pathlib import Path

from ..html_repr import environment
from .load import load_run
from .views import context

__all__ = ["build_report", "write_report"]


def build_report(run_dir: str | Path) -> str:
    """Render the self-contained HTML report of a run folder.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by ``milestones discover``. ``framework.json`` is
        required; ``features.csv``, ``accounts.csv``, ``run.json`` and
        ``tables/*.csv`` are used when present (sections whose data are
        missing are left out or say why).

    Returns
    -------
    str
        The HTML text: inline CSS and PNG charts, no script and no external
        reference; the same text for the same run folder.

    Raises
    ------
    MilestoneError
        If ``run_dir`` is not a run folder (no readable ``framework.json``).

    Examples
    --------
    >>> html = build_report("reports/demo")                       # doctest: +SKIP
    """
    run = load_run(run_dir)
    return environment().get_template("report.html").render(**context(run))


def write_report(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Build the report of a run folder and write it as UTF-8.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (see :func:`build_report`).
    path : str or Path, optional
        Where to write; default ``run_dir/report.html``. Missing parent
        folders are created.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    MilestoneError
        If ``run_dir`` is not a run folder.
    """
    text = build_report(run_dir)
    out = Path(run_dir) / "report.html" if path is None else Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
