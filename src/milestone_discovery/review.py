"""How do we know the framework still works?

* :func:`compare_runs` compares two run folders (e.g. last quarter's and this
  quarter's): features added, removed or re-categorised, thresholds that
  moved and whether the move is beyond their confidence intervals, each
  milestone's retention lift then and now, its hazard ratio of churn then and
  now (``survival``), which effects hold in one segment only
  (``heterogeneity``), each feature's stay / grow / both label
  (``expansion``) and which features depend on the time window
  (``sensitivity``); runs without these sections compare as "not run".
  The per-section tables are built in
  :mod:`~milestone_discovery.comparison_sections`.
* :func:`~milestone_discovery.study.temporal_validation` fits the framework
  on the earlier signup cohorts only (:func:`split_signup_cohorts`) and
  measures each milestone's retention lift on the later cohorts, which the
  fit never saw (:func:`validate_on_later_cohorts`): an out-of-time check of
  whether the milestones still separate retained from churned accounts. It
  lives in :mod:`~milestone_discovery.study` because it runs the study, and
  the study runs it; its pieces live in
  :mod:`~milestone_discovery.temporal_validation` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .comparison_sections import (
    compare_expansion,
    compare_hazards,
    compare_segments,
    compare_windows,
    interval_columns,
    outside_ci,
    section_not_run,
)
from .errors import MilestoneError
from .framework import Framework
from .html_repr import key_figures, render_result, table_data
from .temporal_validation import (
    TemporalValidation,
    milestone_lifts,
    split_signup_cohorts,
    validate_on_later_cohorts,
)

__all__ = [
    "RunComparison",
    "compare_runs",
    "TemporalValidation",
    "milestone_lifts",
    "split_signup_cohorts",
    "validate_on_later_cohorts",
]


# ----------------------------------------------------------------------------- comparison
@dataclass
class RunComparison:
    """Differences between two runs (A = before, B = after)."""

    run_a: str
    run_b: str
    features: pd.DataFrame
    thresholds: pd.DataFrame
    lifts: pd.DataFrame
    #: Per milestone, the hazard ratio of churn with its CI in A and B (empty if neither has one).
    hazard_ratios: pd.DataFrame | None = None
    #: Per feature or milestone, where its effect holds alone in A and B (flagged ones only).
    segments: pd.DataFrame | None = None
    #: Per feature labelled in A or B: its stay / grow / both label and expansion status in each.
    expansion: pd.DataFrame | None = None
    #: Per feature window-dependent in A or B: the flag and the share of settings selecting it.
    windows: pd.DataFrame | None = None
    #: Section -> run -> why it has no such section (``{"survival": {"A": "..."}}``).
    not_run: dict | None = None

    #: The tables of the comparison, by attribute name (``compare_<name>.csv``).
    TABLES = (
        "features",
        "thresholds",
        "lifts",
        "hazard_ratios",
        "segments",
        "expansion",
        "windows",
    )

    @property
    def changed_features(self) -> pd.DataFrame:
        """The rows of :attr:`features` whose status or category changed."""
        return self.features[self.features["change"] != "unchanged"]

    def to_frame(self) -> pd.DataFrame:
        """Every feature's status and category in A and B, and the change (a copy)."""
        return self.features.copy()

    def summary(self) -> pd.DataFrame:
        """What moved, counted: one row per kind of change (the words: :meth:`to_text`).

        Returns
        -------
        pandas.DataFrame
            Columns ``quantity`` and ``value``; a section missing from a run
            is named with why.
        """
        f, t = self.features, self.thresholds
        rows = [
            (f"features {change}", int((f["change"] == change).sum()))
            for change in ("added", "removed", "re-categorised", "status changed")
        ]
        rows += [
            ("thresholds changed", int(t["changed"].sum())),
            ("thresholds moved beyond their CI", int(t["moved_beyond_ci"].sum())),
        ]
        for name, table, what, changes in (
            ("survival", self.hazard_ratios, "hazard ratios moved beyond their CI", None),
            ("heterogeneity", self.segments, "segment-specific effects changed", _SEGMENT_MOVES),
            ("expansion", self.expansion, "stay/grow/both labels changed", ("changed",)),
            ("sensitivity", self.windows, "window dependence changed", _WINDOW_MOVES),
        ):
            if table is not None and len(table):
                moved = table["change"].isin(changes) if changes else table["moved_beyond_ci"]
                rows.append((what, int(moved.sum())))
            why = self._why_not(name)
            if why:
                rows.append((f"{name} section", why))
        return key_figures(rows)

    def to_text(self) -> str:
        """A few plain sentences on what moved (what ``milestones compare`` prints)."""
        f = self.features
        lines = [f"Comparing {self.run_a} (A) with {self.run_b} (B):"]
        for change in ("added", "removed", "re-categorised", "status changed"):
            names = f.loc[f["change"] == change, "feature"].tolist()
            if names:
                lines.append(
                    f"  {change} ({len(names)}): "
                    f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}"
                )
        if len(self.changed_features) == 0:
            lines.append("  selected features and categories: unchanged")
        moved = self.thresholds[self.thresholds["changed"]]
        for r in moved.itertuples():
            beyond = "beyond its CI" if r.moved_beyond_ci else "within its CI"
            lines.append(
                f"  threshold {r.milestone}: {r.threshold_a} -> {r.threshold_b} ({beyond})"
            )
        if moved.empty:
            lines.append("  thresholds: unchanged")
        lines += (
            self._hazard_lines()
            + self._segment_lines()
            + self._expansion_lines()
            + self._window_lines()
        )
        return "\n".join(lines)

    def _why_not(self, section: str) -> str:
        why = (self.not_run or {}).get(section) or {}
        if len(why) == 2 and len(set(why.values())) == 1:
            return f"not in A or B ({next(iter(why.values()))})"
        return "; ".join(f"not in {run} ({reason})" for run, reason in why.items())

    def _hazard_lines(self) -> list[str]:
        h = self.hazard_ratios
        if h is None or h.empty:
            why = self._why_not("survival")
            return [f"  hazard ratios of churn: {why}"] if why else []
        both = h[h["hazard_ratio_a"].notna() & h["hazard_ratio_b"].notna()]
        moved = both[both["moved_beyond_ci"]]
        why = self._why_not("survival")
        if both.empty:
            only = "A" if h["hazard_ratio_a"].notna().any() else "B"
            return [f"  hazard ratios of churn: only in {only}" + (f"; {why}" if why else "")]
        text = (
            f"  hazard ratios of churn: {len(both)} milestone{'s' if len(both) != 1 else ''} "
            "in both runs, "
        )
        if moved.empty:
            text += "none moved beyond its CI"
        else:
            text += "moved beyond the CI: " + ", ".join(
                f"{r.milestone} {r.hazard_ratio_a:.2f} -> {r.hazard_ratio_b:.2f}"
                for r in moved.itertuples()
            )
        return [text + (f"; {why}" if why else "")]

    def _segment_lines(self) -> list[str]:
        seg = self.segments
        why = self._why_not("heterogeneity")
        if seg is None or (seg.empty and why):
            return [f"  segment-specific effects: {why}"] if why else []
        parts = []
        for change in ("newly segment-specific", "no longer segment-specific", "segment changed"):
            rows = seg[seg["change"] == change]
            if len(rows):
                where = "where_a" if change == "no longer segment-specific" else "where_b"
                parts.append(
                    f"{change}: "
                    + ", ".join(f"{r.name} ({getattr(r, where)})" for r in rows.itertuples())
                )
        if not parts:
            same = seg[seg["change"] == "unchanged"]
            parts.append(
                "unchanged ("
                + (
                    ", ".join(f"{r.name}: {r.where_a}" for r in same.itertuples())
                    if len(same)
                    else "none"
                )
                + ")"
            )
        return [f"  segment-specific effects: {'; '.join(parts)}" + (f"; {why}" if why else "")]

    def _expansion_lines(self) -> list[str]:
        t = self.expansion
        why = self._why_not("expansion")
        if t is None or (t.empty and why):
            return [f"  stay/grow/both labels: {why}"] if why else []
        measured = t[~t["change"].str.startswith("not measured")]
        changed = measured[measured["change"] == "changed"]
        if t.empty:
            text = "no feature labelled"
        elif measured.empty:
            text = "only in " + ("B" if (t["change"] == "not measured in A").all() else "A")
        elif changed.empty:
            text = (
                f"unchanged ({len(measured)} labelled feature{'s' if len(measured) != 1 else ''})"
            )
        else:
            text = "changed: " + ", ".join(
                f"{r.feature} ({_label_text(r.label_a)} -> {_label_text(r.label_b)})"
                for r in changed.itertuples()
            )
        return [f"  stay/grow/both labels: {text}" + (f"; {why}" if why else "")]

    def _window_lines(self) -> list[str]:
        t = self.windows
        why = self._why_not("sensitivity")
        if t is None or (t.empty and why):
            return [f"  window-dependent features: {why}"] if why else []
        parts = []
        for change in ("newly window-dependent", "no longer window-dependent", "unchanged"):
            names = t.loc[t["change"] == change, "feature"].tolist()
            if names:
                word = "still window-dependent" if change == "unchanged" else change
                parts.append(f"{word}: {', '.join(names)}")
        for run in ("A", "B"):
            other = "B" if run == "A" else "A"
            names = t.loc[t["change"] == f"not checked in {run}", "feature"].tolist()
            if names:
                parts.append(f"only checked in {other}: {', '.join(names)}")
        text = "; ".join(parts) or "none in A or B"
        return [f"  window-dependent features: {text}" + (f"; {why}" if why else "")]

    def _repr_html_(self) -> str:
        tables = [
            table_data(self.thresholds, "Thresholds"),
            table_data(self.lifts, "Retention lift by milestone"),
            table_data(self.changed_features, "Features that changed"),
            table_data(self.hazard_ratios, "Hazard ratio of churn by milestone"),
            table_data(self.segments, "Segment-specific effects"),
            table_data(self.expansion, "Stay / grow / both labels"),
            table_data(self.windows, "Window-dependent features"),
        ]
        return render_result(
            "Run comparison",
            lead=f"{self.run_a} (A) with {self.run_b} (B)",
            facts=self.summary(),
            notes=[line.strip() for line in self.to_text().splitlines()[1:]],
            tables=tables,
        )


#: Changes of :attr:`RunComparison.segments` and :attr:`RunComparison.windows` that count as moves.
_SEGMENT_MOVES = ("newly segment-specific", "no longer segment-specific", "segment changed")
_WINDOW_MOVES = ("newly window-dependent", "no longer window-dependent")


def _label_text(value) -> str:
    """A stay / grow / both label as shown in the summary (``"none"`` when missing)."""
    return str(value) if isinstance(value, str) and value else "none"


def _load_framework(run: str | Path) -> Framework:
    run = Path(run)
    path = run / "framework.json" if run.is_dir() else run
    if not path.is_file():
        raise MilestoneError(
            f"{run} is not a run folder: no framework.json (run `milestones discover` first)"
        )
    return Framework.from_json(path)


def _feature_categories(fw: Framework) -> dict[str, str]:
    return {f: name for name, c in fw.categories.items() for f in c["features"]}


def _thresholds(fw: Framework) -> dict[str, tuple]:
    out = {}
    if fw.setup and fw.setup.get("min_steps") is not None:
        out["setup: checklist steps"] = (
            fw.setup["min_steps"],
            fw.setup.get("min_steps_threshold_ci"),
        )
    if fw.activation:
        out[f"activation: {fw.activation['metric']}"] = (
            fw.activation["threshold"],
            fw.activation.get("threshold_ci"),
        )
    if fw.utilization:
        out[f"utilization: {fw.utilization['metric']} per seat"] = (
            fw.utilization["per_seat_threshold"],
            fw.utilization.get("per_seat_threshold_ci"),
        )
    for c in fw.maturity.get("categories", []):
        if c.get("min_features") is not None:
            out[f"maturity: {c['name']} (features)"] = (c["min_features"], c.get("min_features_ci"))
    if fw.min_categories is not None:
        out["maturity: categories"] = (fw.min_categories, fw.maturity.get("min_categories_ci"))
    return out


def _lifts(fw: Framework) -> dict[str, tuple]:
    out = {}
    for key, d in (("activation", fw.activation), ("utilization", fw.utilization)):
        if d:
            out[key] = (d.get("lift"), d.get("lift_ci"))
    for c in fw.maturity.get("categories", []):
        if c.get("lift") is not None:
            out[f"maturity: {c['name']}"] = (c["lift"], c.get("lift_ci"))
    mv = fw.maturity.get("mature_vs_not")
    if mv:
        out["mature overall"] = (
            mv["relative_risk"],
            [mv["relative_risk_low"], mv["relative_risk_high"]],
        )
    return out


def compare_runs(run_a: str | Path, run_b: str | Path) -> RunComparison:
    """Compare two run folders (or framework.json files).

    Returns
    -------
    RunComparison
        ``features`` (status and category in A and B, and the change),
        ``thresholds`` (each threshold with its CI in A and B and whether
        it moved beyond them), ``lifts`` (each milestone's retention lift
        with CI, then and now), ``hazard_ratios`` (each milestone's hazard
        ratio of churn with CI in A and B and whether it moved beyond them)
        ``segments`` (each feature or milestone whose effect holds in one
        segment only in A or B, where, and the change), ``expansion`` (each
        feature labelled ``stay``, ``grow`` or ``both`` in A or B: its label
        and expansion status in each, and the change) and ``windows`` (each
        feature whose selection depends on the time window in A or B: the
        flag and the share of window settings selecting it in each, and the
        change). A run without a survival, heterogeneity, expansion or
        sensitivity section (older, wide-table, skipped or not opted in)
        leaves its columns empty and is named in the summary.
    """
    a, b = _load_framework(run_a), _load_framework(run_b)
    fa = {f["feature"]: f for f in a.features}
    fb = {f["feature"]: f for f in b.features}
    ca, cb = _feature_categories(a), _feature_categories(b)
    rows = []
    for name in sorted(set(fa) | set(fb)):
        sa = fa.get(name, {}).get("status", "absent")
        sb = fb.get(name, {}).get("status", "absent")
        if sa != "selected" and sb == "selected":
            change = "added"
        elif sa == "selected" and sb != "selected":
            change = "removed"
        elif sa == sb == "selected" and ca.get(name) != cb.get(name):
            change = "re-categorised"
        elif sa != sb:
            change = "status changed"
        else:
            change = "unchanged"
        rows.append(
            {
                "feature": name,
                "status_a": sa,
                "status_b": sb,
                "category_a": ca.get(name),
                "category_b": cb.get(name),
                "change": change,
            }
        )
    features = pd.DataFrame(
        rows, columns=["feature", "status_a", "status_b", "category_a", "category_b", "change"]
    )

    ta, tb = _thresholds(a), _thresholds(b)
    trows = []
    for key in list(dict.fromkeys([*ta, *tb])):
        va, cia = ta.get(key, (None, None))
        vb, cib = tb.get(key, (None, None))
        trows.append(
            {
                "milestone": key,
                "threshold_a": va,
                **interval_columns("threshold_a", cia),
                "threshold_b": vb,
                **interval_columns("threshold_b", cib),
                "changed": va != vb,
                "moved_beyond_ci": bool(
                    va is not None
                    and vb is not None
                    and (outside_ci(vb, cia) or outside_ci(va, cib))
                ),
            }
        )
    thresholds = pd.DataFrame(
        trows,
        columns=[
            "milestone",
            "threshold_a",
            "threshold_a_low",
            "threshold_a_high",
            "threshold_b",
            "threshold_b_low",
            "threshold_b_high",
            "changed",
            "moved_beyond_ci",
        ],
    )

    la, lb = _lifts(a), _lifts(b)
    lrows = []
    for key in list(dict.fromkeys([*la, *lb])):
        va, cia = la.get(key, (None, None))
        vb, cib = lb.get(key, (None, None))
        lrows.append(
            {
                "milestone": key,
                "lift_a": va,
                **interval_columns("lift_a", cia),
                "lift_b": vb,
                **interval_columns("lift_b", cib),
            }
        )
    lift_cols = ["lift_a", "lift_a_low", "lift_a_high", "lift_b", "lift_b_low", "lift_b_high"]
    lifts = pd.DataFrame(lrows, columns=["milestone", *lift_cols])
    not_run = {}
    for section in ("survival", "heterogeneity", "expansion", "sensitivity"):
        why = {run: section_not_run(fw, section) for run, fw in (("A", a), ("B", b))}
        not_run[section] = {run: w for run, w in why.items() if w}
    return RunComparison(
        str(run_a),
        str(run_b),
        features,
        thresholds,
        lifts,
        hazard_ratios=compare_hazards(a, b),
        segments=compare_segments(a, b),
        expansion=compare_expansion(a, b),
        windows=compare_windows(a, b),
        not_run=not_run,
    )
