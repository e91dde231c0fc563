"""How do we know the framework still works?

* :func:`compare_runs` compares two run folders (e.g. last quarter's and this
  quarter's): features added, removed or re-categorised, thresholds that
  moved and whether the move is beyond their confidence intervals, each
  milestone's retention lift then and now, its hazard ratio of churn then and
  now (``survival``), which effects hold in one segment only
  (``heterogeneity``), each feature's stay / grow / both label
  (``expansion``) and which features depend on the time window
  (``sensitivity``); runs without these sections compare as "not run".
* :func:`~milestone_discovery.study.temporal_validation` fits the framework
  on the earlier signup cohorts only (:func:`split_signup_cohorts`) and
  measures each milestone's retention lift on the later cohorts, which the
  fit never saw (:func:`validate_on_later_cohorts`): an out-of-time check of
  whether the milestones still separate retained from churned accounts. It
  lives in :mod:`~milestone_discovery.study` because it runs the study, and
  the study runs it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import stats
from .config import Config
from .data import Dataset
from .errors import InsufficientDataError, MilestoneError
from .framework import Framework
from .population import build_population

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
        return self.features[self.features["change"] != "unchanged"]

    def summary(self) -> str:
        """A few plain sentences on what moved."""
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
        summary = "<br>".join(html.escape(line) for line in self.summary().splitlines())
        return (
            f"<div><strong>Run comparison</strong><p>{summary}</p></div>"
            + self.thresholds.to_html(index=False, escape=True)
            + self.lifts.round(3).to_html(index=False, escape=True)
            + self.changed_features.to_html(index=False, escape=True)
            + "".join(
                t.round(3).to_html(index=False, escape=True)
                for t in (self.hazard_ratios, self.segments, self.expansion, self.windows)
                if t is not None and len(t)
            )
        )


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


def _hazard_ratios(fw: Framework) -> dict[str, tuple]:
    """Milestone -> (hazard ratio, CI) in the survival section; empty when absent or skipped."""
    survival = fw.survival if isinstance(fw.survival, dict) else {}
    out = {}
    for m in survival.get("milestones") or []:
        if isinstance(m, dict) and m.get("milestone") is not None:
            ci = m.get("ci")
            out[str(m["milestone"])] = (
                m.get("hazard_ratio"),
                list(ci) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None,
            )
    return out


def _segment_flags(fw: Framework) -> dict[str, str] | None:
    """Feature or milestone -> where alone its effect holds (``"plan = pro"``), flagged ones only.

    None when the run has no heterogeneity results (absent or skipped); from
    ``heterogeneity.features`` (tested features and milestones), else from
    ``features[].segment_specific``.
    """
    het = fw.heterogeneity if isinstance(fw.heterogeneity, dict) else {}
    if isinstance(het.get("features"), list):
        return {
            str(e["feature"]): f"{e.get('segment')} = {e.get('level')}"
            for e in het["features"]
            if isinstance(e, dict) and e.get("segment_specific") is True and "feature" in e
        }
    flags = {
        str(f["feature"]): f["segment_specific"] if isinstance(f["segment_specific"], str) else ""
        for f in fw.features
        if isinstance(f, dict) and f.get("segment_specific") and "feature" in f
    }
    return flags or None


def _expansion_labels(fw: Framework) -> dict[str, dict] | None:
    """Feature -> ``{"label": ..., "status": ...}`` (expansion stage); None when it did not run.

    From ``expansion.features``, else from ``features[].milestone_for`` and
    ``expansion_status``.
    """
    exp = getattr(fw, "expansion", None)
    exp = exp if isinstance(exp, dict) else {}
    if isinstance(exp.get("features"), list):
        return {
            str(e["feature"]): {"label": e.get("label") or None, "status": e.get("expansion")}
            for e in exp["features"]
            if isinstance(e, dict) and e.get("feature") is not None
        }
    entries = [f for f in fw.features if isinstance(f, dict) and "feature" in f]
    if not any("milestone_for" in f for f in entries):
        return None
    return {
        str(f["feature"]): {
            "label": f.get("milestone_for") or None,
            "status": f.get("expansion_status"),
        }
        for f in entries
    }


def _window_flags(fw: Framework) -> dict[str, dict] | None:
    """Feature -> ``{"dependent": bool, "share": float}`` (window sensitivity); None when not run.

    Features the sensitivity section does not list were never selected: not
    dependent, share 0.
    """
    sens = getattr(fw, "sensitivity", None)
    sens = sens if isinstance(sens, dict) else {}
    if not isinstance(sens.get("settings"), list):
        return None
    out = {
        str(f["feature"]): {
            "dependent": bool(f.get("window_dependent")),
            "share": f.get("share"),
        }
        for f in sens.get("features") or []
        if isinstance(f, dict) and f.get("feature") is not None
    }
    for name in sens.get("window_dependent") or []:
        out.setdefault(str(name), {"dependent": True, "share": None})["dependent"] = True
    return out


def _compare_expansion(a: Framework, b: Framework) -> pd.DataFrame:
    ea, eb = _expansion_labels(a), _expansion_labels(b)
    columns = ["feature", "label_a", "label_b", "status_a", "status_b", "change"]
    names = {n for e in (ea, eb) if e for n, v in e.items() if v["label"]}
    rows = []
    for name in sorted(names):
        va = None if ea is None else ea.get(name, {"label": None, "status": "absent"})
        vb = None if eb is None else eb.get(name, {"label": None, "status": "absent"})
        if va is None or vb is None:
            change = "not measured in " + ("A" if va is None else "B")
        else:
            change = "unchanged" if va["label"] == vb["label"] else "changed"
        rows.append(
            {
                "feature": name,
                "label_a": None if va is None else va["label"],
                "label_b": None if vb is None else vb["label"],
                "status_a": None if va is None else va["status"],
                "status_b": None if vb is None else vb["status"],
                "change": change,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _compare_windows(a: Framework, b: Framework) -> pd.DataFrame:
    wa, wb = _window_flags(a), _window_flags(b)
    columns = [
        "feature",
        "window_dependent_a",
        "window_dependent_b",
        "share_a",
        "share_b",
        "change",
    ]
    names = {n for w in (wa, wb) if w for n, v in w.items() if v["dependent"]}
    rows = []
    never = {"dependent": False, "share": 0.0}
    for name in sorted(names):
        va = None if wa is None else wa.get(name, never)
        vb = None if wb is None else wb.get(name, never)
        if va is None or vb is None:
            change = "not checked in " + ("A" if va is None else "B")
        elif va["dependent"] and vb["dependent"]:
            change = "unchanged"
        elif vb["dependent"]:
            change = "newly window-dependent"
        else:
            change = "no longer window-dependent"
        rows.append(
            {
                "feature": name,
                "window_dependent_a": None if va is None else va["dependent"],
                "window_dependent_b": None if vb is None else vb["dependent"],
                "share_a": None if va is None else va["share"],
                "share_b": None if vb is None else vb["share"],
                "change": change,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _not_run(fw: Framework, section: str) -> str | None:
    value = getattr(fw, section, None)
    if not isinstance(value, dict) or not value:
        return "no such section"
    if value.get("skipped"):
        return f"skipped: {value['skipped']}"
    return None


def _compare_hazards(a: Framework, b: Framework) -> pd.DataFrame:
    ha, hb = _hazard_ratios(a), _hazard_ratios(b)
    rows = []
    for key in list(dict.fromkeys([*ha, *hb])):
        va, cia = ha.get(key, (None, None))
        vb, cib = hb.get(key, (None, None))
        rows.append(
            {
                "milestone": key,
                "hazard_ratio_a": va,
                "ci_a": _fmt_ci(cia),
                "hazard_ratio_b": vb,
                "ci_b": _fmt_ci(cib),
                "moved_beyond_ci": bool(
                    va is not None and vb is not None and (_outside(vb, cia) or _outside(va, cib))
                ),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "milestone",
            "hazard_ratio_a",
            "ci_a",
            "hazard_ratio_b",
            "ci_b",
            "moved_beyond_ci",
        ],
    )


def _compare_segments(a: Framework, b: Framework) -> pd.DataFrame:
    fa, fb = _segment_flags(a), _segment_flags(b)
    rows = []
    for name in sorted(set(fa or {}) | set(fb or {})):
        wa = None if fa is None else fa.get(name, "")
        wb = None if fb is None else fb.get(name, "")
        if wa is None or wb is None:
            change = "not tested in " + ("A" if wa is None else "B")
        elif wa and not wb:
            change = "no longer segment-specific"
        elif wb and not wa:
            change = "newly segment-specific"
        elif wa != wb:
            change = "segment changed"
        else:
            change = "unchanged"
        rows.append({"name": name, "where_a": wa, "where_b": wb, "change": change})
    return pd.DataFrame(rows, columns=["name", "where_a", "where_b", "change"])


def _outside(value, ci) -> bool:
    return ci is not None and value is not None and None not in ci and not (ci[0] <= value <= ci[1])


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
                "ci_a": _fmt_ci(cia),
                "threshold_b": vb,
                "ci_b": _fmt_ci(cib),
                "changed": va != vb,
                "moved_beyond_ci": bool(
                    va is not None and vb is not None and (_outside(vb, cia) or _outside(va, cib))
                ),
            }
        )
    thresholds = pd.DataFrame(
        trows,
        columns=[
            "milestone",
            "threshold_a",
            "ci_a",
            "threshold_b",
            "ci_b",
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
                "lift_ci_a": _fmt_ci(cia),
                "lift_b": vb,
                "lift_ci_b": _fmt_ci(cib),
            }
        )
    lifts = pd.DataFrame(lrows, columns=["milestone", "lift_a", "lift_ci_a", "lift_b", "lift_ci_b"])
    not_run = {}
    for section in ("survival", "heterogeneity", "expansion", "sensitivity"):
        why = {run: _not_run(fw, section) for run, fw in (("A", a), ("B", b))}
        not_run[section] = {run: w for run, w in why.items() if w}
    return RunComparison(
        str(run_a),
        str(run_b),
        features,
        thresholds,
        lifts,
        hazard_ratios=_compare_hazards(a, b),
        segments=_compare_segments(a, b),
        expansion=_compare_expansion(a, b),
        windows=_compare_windows(a, b),
        not_run=not_run,
    )


def _fmt_ci(ci) -> str | None:
    if not ci or None in ci:
        return None
    return f"{ci[0]:.4g}-{ci[1]:.4g}"


# ----------------------------------------------------------------------------- temporal
@dataclass
class TemporalValidation:
    """Milestone lifts on later signup cohorts, for a framework fitted on earlier ones."""

    split_date: str
    train_accounts: int
    test_accounts: int
    table: pd.DataFrame

    def to_dict(self) -> dict:
        rows = []
        for r in self.table.to_dict(orient="records"):
            rows.append(
                {
                    "milestone": r["milestone"],
                    "threshold": r["threshold"],
                    "fit_lift": r["fit_lift"],
                    "fit_lift_ci": [r["fit_lift_low"], r["fit_lift_high"]],
                    "test_lift": r["test_lift"],
                    "test_lift_ci": [r["test_lift_low"], r["test_lift_high"]],
                    "test_share": r["test_share"],
                    "test_accounts": r["test_accounts"],
                }
            )
        return {
            "split_date": self.split_date,
            "train_accounts": self.train_accounts,
            "test_accounts": self.test_accounts,
            "outcome": "retention at the horizon",
            "milestones": rows,
        }

    def _repr_html_(self) -> str:
        from .plotting import safe_figure_html  # charts load only when displayed

        return (
            "<div><strong>Temporal validation</strong>: "
            f"fitted on {self.train_accounts:,} accounts signed up "
            f"before {html.escape(self.split_date)}, "
            f"evaluated on {self.test_accounts:,} later ones.</div>"
            + safe_figure_html(self.plot)
            + self.table.round(3).to_html(index=False, escape=True)
        )

    def plot(self, ax=None):
        """Lift on the fit cohorts vs the later cohorts, per milestone, with 95% CIs; the figure.

        Drawn by :func:`milestone_discovery.plotting.plot_temporal`, as in the report.
        """
        from .plotting import plot_temporal  # charts load only when drawn

        return plot_temporal(self.table, ax=ax).figure


def milestone_lifts(accounts: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """Retention lift of every milestone among eligible scored accounts (risk ratio, Katz CI)."""
    elig = accounts[accounts["eligible"].astype(bool)]
    y = elig["retained"].astype(float).to_numpy() == 1
    cols = [
        ("setup", "setup", (framework.setup or {}).get("min_steps")),
        ("activation", "activation", (framework.activation or {}).get("threshold")),
        ("utilization", "utilization", (framework.utilization or {}).get("per_seat_threshold")),
    ]
    cols += [
        (f"maturity: {n}", f"{n}:mature", c.get("min_features"))
        for n, c in framework.categories.items()
    ]
    cols += [("mature overall", "mature", framework.min_categories)]
    rows = []
    for name, col, threshold in cols:
        if col not in elig.columns or threshold is None:
            continue
        reached = elig[col].astype(bool).to_numpy()
        rr, lo, hi = stats.risk_ratio(reached, y)
        rows.append(
            {
                "milestone": name,
                "threshold": threshold,
                "lift": float(rr[0]),
                "lift_low": float(lo[0]),
                "lift_high": float(hi[0]),
                "share": float(reached.mean()) if len(reached) else np.nan,
                "accounts": int(len(reached)),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["milestone", "threshold", "lift", "lift_low", "lift_high", "share", "accounts"],
    )


def split_signup_cohorts(
    dataset: Dataset, config: Config, split_quantile: float = 0.7
) -> tuple[Dataset, pd.Timestamp]:
    """The earlier signup cohorts of a dataset, on which a temporal validation fits.

    Parameters
    ----------
    dataset : Dataset
        A dated dataset (wide tables have no signup dates).
    config : Config
    split_quantile : float
        Share of the retention population (by signup date) used for fitting.

    Returns
    -------
    early : Dataset
        The accounts that signed up before ``split`` (all their tables).
    split : pandas.Timestamp
        The first signup date of the later, held-out cohorts.

    Raises
    ------
    InsufficientDataError
        For wide tables, or when the retention population is smaller than
        twice ``config.study.min_accounts``.

    See Also
    --------
    milestone_discovery.study.temporal_validation : fits on ``early``, measures on the rest.
    """
    if dataset.kind == "wide":
        raise InsufficientDataError("temporal validation needs signup dates; a wide table has none")
    population = build_population(dataset, config)
    signup = dataset.accounts.set_index("account_id")["signup_date"]
    eligible_signups = signup.reindex(population.flags.index).sort_values()
    if len(eligible_signups) < 2 * config.study.min_accounts:
        raise InsufficientDataError(
            f"temporal validation needs at least {2 * config.study.min_accounts} "
            "eligible accounts, "
            f"found {len(eligible_signups)}"
        )
    split = eligible_signups.iloc[int(split_quantile * len(eligible_signups))]
    return dataset.subset(signup.index[signup < split]), split


def validate_on_later_cohorts(
    framework: Framework,
    fit_accounts: pd.DataFrame,
    dataset: Dataset,
    config: Config,
    split: pd.Timestamp,
) -> TemporalValidation:
    """Milestone lifts of a framework on the cohorts that signed up from ``split`` on.

    Parameters
    ----------
    framework : Framework
        Fitted on the earlier cohorts (see :func:`split_signup_cohorts`).
    fit_accounts : pandas.DataFrame
        The earlier cohorts' accounts scored by ``framework`` (the fit's lifts).
    dataset : Dataset
        The whole dataset; its later cohorts are scored without refitting.
    config : Config
    split : pandas.Timestamp
        The first signup date of the later cohorts.

    Returns
    -------
    TemporalValidation
    """
    scored = framework.score(dataset, config)
    later = scored[pd.to_datetime(scored["signup_date"]) >= split]
    fit_lifts = milestone_lifts(fit_accounts, framework).set_index("milestone")
    test_lifts = milestone_lifts(later, framework).set_index("milestone")
    table = pd.DataFrame(
        {
            "threshold": fit_lifts["threshold"],
            "fit_lift": fit_lifts["lift"],
            "fit_lift_low": fit_lifts["lift_low"],
            "fit_lift_high": fit_lifts["lift_high"],
            "test_lift": test_lifts["lift"].reindex(fit_lifts.index),
            "test_lift_low": test_lifts["lift_low"].reindex(fit_lifts.index),
            "test_lift_high": test_lifts["lift_high"].reindex(fit_lifts.index),
            "test_share": test_lifts["share"].reindex(fit_lifts.index),
            "test_accounts": test_lifts["accounts"].reindex(fit_lifts.index),
        }
    ).reset_index()
    return TemporalValidation(
        split_date=pd.Timestamp(split).date().isoformat(),
        train_accounts=int(fit_accounts["eligible"].astype(bool).sum()),
        test_accounts=int(later["eligible"].astype(bool).sum()),
        table=table,
    )
