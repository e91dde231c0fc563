"""The per-section tables of :func:`~milestone_discovery.review.compare_runs`.

Each compares one optional section of two runs' ``framework.json`` (A = before,
B = after): hazard ratios (``survival``), segment-specific effects
(``heterogeneity``), stay / grow / both labels (``expansion``) and
window-dependent features (``sensitivity``); plus the interval helpers the
comparison shares (:func:`interval_columns`, :func:`outside_ci`, :func:`format_ci`).
"""

from __future__ import annotations

import pandas as pd

from .framework import Framework

__all__ = [
    "compare_expansion",
    "compare_hazards",
    "compare_segments",
    "compare_windows",
    "format_ci",
    "interval_columns",
    "outside_ci",
    "section_not_run",
]


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


def compare_expansion(a: Framework, b: Framework) -> pd.DataFrame:
    """Per feature labelled stay / grow / both in A or B: label and status in each, the change."""
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


def compare_windows(a: Framework, b: Framework) -> pd.DataFrame:
    """Per feature window-dependent in A or B: flag and share of settings in each, the change."""
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


def section_not_run(fw: Framework, section: str) -> str | None:
    """Why ``fw`` has no results for ``section`` (absent or skipped), or None when it ran."""
    value = getattr(fw, section, None)
    if not isinstance(value, dict) or not value:
        return "no such section"
    if value.get("skipped"):
        return f"skipped: {value['skipped']}"
    return None


def compare_hazards(a: Framework, b: Framework) -> pd.DataFrame:
    """Per milestone: hazard ratio of churn with CI in A and B, and whether it moved beyond them."""
    ha, hb = _hazard_ratios(a), _hazard_ratios(b)
    rows = []
    for key in list(dict.fromkeys([*ha, *hb])):
        va, cia = ha.get(key, (None, None))
        vb, cib = hb.get(key, (None, None))
        rows.append(
            {
                "milestone": key,
                "hazard_ratio_a": va,
                **interval_columns("hazard_ratio_a", cia),
                "hazard_ratio_b": vb,
                **interval_columns("hazard_ratio_b", cib),
                "moved_beyond_ci": bool(
                    va is not None
                    and vb is not None
                    and (outside_ci(vb, cia) or outside_ci(va, cib))
                ),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "milestone",
            "hazard_ratio_a",
            "hazard_ratio_a_low",
            "hazard_ratio_a_high",
            "hazard_ratio_b",
            "hazard_ratio_b_low",
            "hazard_ratio_b_high",
            "moved_beyond_ci",
        ],
    )


def compare_segments(a: Framework, b: Framework) -> pd.DataFrame:
    """Per feature or milestone segment-specific in A or B: where it holds in each, the change."""
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


def outside_ci(value, ci) -> bool:
    """Whether ``value`` lies outside the interval ``ci`` (False when either is missing)."""
    return ci is not None and value is not None and None not in ci and not (ci[0] <= value <= ci[1])


def interval_columns(name: str, ci) -> dict:
    """``{name_low: low, name_high: high}`` from an interval pair (None ends when missing).

    Parameters
    ----------
    name : str
        The quantity, e.g. ``"threshold_a"``.
    ci : sequence of two numbers, or None

    Returns
    -------
    dict
    """
    low, high = (None, None) if not ci or len(ci) != 2 else ci
    return {f"{name}_low": low, f"{name}_high": high}


def format_ci(ci) -> str | None:
    """``"low-high"`` for an interval, or None when it is missing."""
    if not ci or None in ci:
        return None
    return f"{ci[0]:.4g}-{ci[1]:.4g}"
