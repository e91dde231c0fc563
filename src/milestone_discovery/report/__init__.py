"""The self-contained HTML report for product managers.

:func:`build_report` reads a run folder (``framework.json``, ``features.csv``,
``accounts.csv``, ``run.json`` and ``tables/*.csv``, as written by
:func:`milestone_discovery.study.discover`) and renders one HTML file:

* plain language first: the framework on one screen, the share of accounts
  at each milestone and their retention with 95% confidence intervals;
* one section per stage with charts (matplotlib, embedded as PNG ``data:``
  URIs), the feature table, what was excluded and why, notes on method;
* time to churn from the end of the observation window (hazard ratios and
  Kaplan–Meier curves), whether each effect holds in every plan and size
  band, each account factor's own effect (plan, size, contract, a wide
  table's choices) and a wide table's count thresholds, when the run has them;
* stay, grow or both (expansion as a second outcome, each feature labelled)
  and whether the selected features depend on the time window (the opt-in
  window sensitivity), when the run has them;
* the temporal check ("does the framework hold on later cohorts?") when the
  run has one.

Optional tables and fields (a skipped stage, a wide-table run, no temporal
check, no ``run.json``) are left out of the report, with the reason when the
run recorded one. The numbers are those the study stored in the run folder;
the one comparison it does not store (the retention of accounts that reached
the setup milestone vs not) is computed from ``accounts.csv`` with the
study's own function (see :mod:`~milestone_discovery.report.views`).

Modules, one job each:

* :mod:`~milestone_discovery.report.load`: read a run folder;
* :mod:`~milestone_discovery.report.format`: numbers, intervals and names as shown;
* :mod:`~milestone_discovery.report.charts`: the charts as PNG ``data:`` URIs
  (drawn by :mod:`milestone_discovery.plotting`, as the result objects draw them);
* :mod:`~milestone_discovery.report.prose`: rules, headline and method in words;
* :mod:`~milestone_discovery.report.sections`,
  :mod:`~milestone_discovery.report.analyses` (time to churn, effects by
  segment, account factors, count columns),
  :mod:`~milestone_discovery.report.outcomes` (stay, grow or both; time windows) and
  :mod:`~milestone_discovery.report.views`: the view-model of the page;
* :mod:`~milestone_discovery.report.render`: the HTML file.

The names below load on first use, so that importing
:mod:`milestone_discovery.report.format` (as :mod:`milestone_discovery.plotting`
does) loads neither jinja2 nor the rest of the report.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "build_report": "render",
    "write_report": "render",
    **{
        name: "format"
        for name in (
            "fmt_ci",
            "fmt_int",
            "fmt_pct",
            "fmt_pct_ci",
            "fmt_ratio",
            "fmt_ratio_ci",
            "fmt_value",
            "fmt_value_ci",
            "label",
        )
    },
}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
