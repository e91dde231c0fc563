"""The report's "does it hold in every segment" section (``heterogeneity``), as plain data.

Effects that work in one plan or size band only (:func:`segment_only`) and
the per-segment forest plots, drawn by
:func:`milestone_discovery.plotting_effects.plot_effect_forest` from the run's
``tables/heterogeneity*.csv`` (falling back to ``framework.json``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import charts
from .format import (
    MISSING,
    fmt_ci,
    fmt_int,
    fmt_ratio,
    label,
    num,
)
from .load import RunData
from .prose import milestone_title
from .survival_section import ci_pair, confidence_level, join_words

__all__ = ["heterogeneity_section", "segment_only"]

_SEGMENT_WORDS = {"plan": ("plan", "plans"), "size_band": ("size band", "size bands")}
_CORRECTIONS = {"holm": "Holm's correction", "fdr_bh": "the Benjamini–Hochberg correction"}


# ----------------------------------------------------------------------------- segments
def _segment_names(run: RunData) -> dict[str, str]:
    """Segment dimension -> the data's column name (``"Contract"`` for ``"plan (Contract)"``)."""
    names = {}
    for f in run.covariates.get("factors") or []:
        if not isinstance(f, dict) or f.get("name") not in ("plan", "size"):
            continue
        text = str(f.get("label") or "")
        inner = text[text.find("(") + 1 : -1] if "(" in text and text.endswith(")") else ""
        names["plan" if f["name"] == "plan" else "size_band"] = inner
    return {k: v for k, v in names.items() if v}


def _where(segment: Any, level: Any, names: dict[str, str] | None = None) -> str:
    """``("plan", "pro") -> "plan pro"``, or the data's column name: ``"Contract Two year"``."""
    word = (names or {}).get(str(segment)) or _SEGMENT_WORDS.get(str(segment), (label(segment),))[0]
    return f"{word} {level}"


def segment_only(run: RunData) -> dict[str, str]:
    """Feature or milestone -> where alone its effect holds (``"plan pro"``), for flagged ones.

    From ``heterogeneity.features`` (``segment``/``level``), else from
    ``features[].segment_specific`` (``"plan = pro"``, several ``"; "``-joined).
    """
    out: dict[str, str] = {}
    names = _segment_names(run)
    for e in run.heterogeneity.get("features") or []:
        if isinstance(e, dict) and e.get("segment_specific") is True:
            seg, lv = e.get("segment"), e.get("level")
            out[str(e.get("feature"))] = (
                _where(seg, lv, names) if seg and lv is not None else "one segment"
            )
    for f in run.framework.features or []:
        flag = f.get("segment_specific") if isinstance(f, dict) else None
        name = str(f.get("feature")) if isinstance(f, dict) else ""
        if not flag or name in out:
            continue
        if isinstance(flag, str):
            out[name] = " and ".join(
                _where(*(part.split(" = ", 1)), names) if " = " in part else part
                for part in flag.split("; ")
            )
        else:
            out[name] = "one segment"
    return out


def _forest_frames(entry: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three heterogeneity tables of one feature, from its framework.json entry."""
    name = str(entry.get("feature"))
    levels, table = [], []
    for seg, by in (entry.get("by") or {}).items():
        if not isinstance(by, dict):
            continue
        flagged = entry.get("segment_specific") is True and entry.get("segment") == seg
        table.append(
            {
                "feature": name,
                "segment": seg,
                "p_adjusted": num(by.get("p_adjusted")),
                "segment_specific": flagged,
            }
        )
        for lv in by.get("levels") or []:
            lo, hi = ci_pair(lv)
            levels.append(
                {
                    "feature": name,
                    "segment": seg,
                    "level": str(lv.get("level")),
                    "accounts": num(lv.get("accounts")) or 0,
                    "odds_ratio": num(lv.get("odds_ratio")),
                    "odds_ratio_low": lo,
                    "odds_ratio_high": hi,
                    "significant": bool(lv.get("significant")),
                }
            )
    lo, hi = ci_pair(entry)
    overall = pd.DataFrame(
        [
            {
                "feature": name,
                "odds_ratio": num(entry.get("odds_ratio")),
                "odds_ratio_low": lo,
                "odds_ratio_high": hi,
            }
        ]
    )
    level_cols = [
        "feature",
        "segment",
        "level",
        "accounts",
        "odds_ratio",
        "odds_ratio_low",
        "odds_ratio_high",
        "significant",
    ]
    return (
        pd.DataFrame(levels, columns=level_cols),
        pd.DataFrame(table, columns=["feature", "segment", "p_adjusted", "segment_specific"]),
        overall,
    )


def _forest(run: RunData, entry: dict, level: str) -> str | None:
    """The forest plot of one feature, from the run's tables (else from framework.json)."""
    name = str(entry.get("feature"))
    tables = [
        run.table(t) for t in ("heterogeneity_levels", "heterogeneity", "heterogeneity_overall")
    ]
    if (
        any(t is None or "feature" not in t for t in tables)
        or not (tables[0]["feature"].astype(str) == name).any()
    ):
        tables = list(_forest_frames(entry))
    title = milestone_title(name)
    levels, table, overall = (t.assign(feature=t["feature"].map(milestone_title)) for t in tables)
    return charts.forest_chart(levels, table, overall, title, level)


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _dimension_verdict(by: dict) -> str:
    p = num(by.get("p_adjusted"))
    if p is None:
        return f"not tested: {by.get('reason')}" if by.get("reason") else "not tested"
    return f"{'differs' if by.get('heterogeneous') else 'consistent'} ({_p_text(p)})"


def heterogeneity_section(run: RunData) -> tuple[dict | None, str | None]:
    """The effect-by-segment section, or (None, why it was skipped); (None, None) when absent."""
    het = run.heterogeneity
    if not het:
        return None, None
    if not isinstance(het.get("features"), list):
        return None, str(het.get("skipped") or "not run")
    level = confidence_level(het.get("alpha"))
    dims = [str(d) for d in het.get("segments") or []]
    names = _segment_names(run)

    def plural(d: str) -> str:
        return _SEGMENT_WORDS.get(d, (label(d), label(d)))[1] + (
            f" ({names[d]})" if d in names else ""
        )

    dim_words = join_words([plural(d) for d in dims]) or "segments"
    correction = _CORRECTIONS.get(str(het.get("multiplicity")), "a multiplicity correction")
    entries = [e for e in het["features"] if isinstance(e, dict)]
    flagged, differs, rows = [], [], []
    for e in entries:
        name = milestone_title(e.get("feature", ""))
        by = {str(k): v for k, v in (e.get("by") or {}).items() if isinstance(v, dict)}
        lo, hi = ci_pair(e)
        where = None
        if e.get("segment_specific") is True:
            where = _where(e.get("segment"), e.get("level"), names)
            flagged.append(
                {
                    "name": name,
                    "where": where,
                    "sentence": f"{name}: works only in {where}",
                    "chart": _forest(run, e, level),
                }
            )
        elif any(b.get("heterogeneous") for b in by.values()):
            across = [
                _SEGMENT_WORDS.get(k, (label(k), label(k)))[1]
                for k, b in by.items()
                if b.get("heterogeneous")
            ]
            differs.append(f"{name} (across {join_words(across)})" if len(dims) > 1 else name)
        rows.append(
            {
                "name": name,
                "flagged": where is not None,
                "odds_ratio": fmt_ratio(e.get("odds_ratio")),
                "ci": fmt_ci(lo, hi),
                "verdict": f"works only in {where}" if where else "",
                "by": [_dimension_verdict(by[d]) if d in by else MISSING for d in dims],
            }
        )
    tested = (
        f"tested with Breslow–Day, multiplicity-controlled: {correction} across the "
        f"{len(entries)} effects"
    )
    if not flagged and not differs:
        summary = f"Every effect was consistent across {dim_words} ({tested})."
    else:
        parts = []
        if flagged:
            parts.append(f"{len(flagged)} of {len(entries)} effects hold in one segment only.")
        if differs:
            parts.append(
                f"{len(differs)} differ in strength but hold in more than one segment: "
                f"{', '.join(differs)}."
            )
        rest = len(entries) - len(flagged) - len(differs)
        if rest:
            parts.append(
                f"The other {rest} {'was' if rest == 1 else 'were'} consistent across {dim_words}."
            )
        summary = " ".join(parts) + f" ({tested[:1].upper() + tested[1:]}.)"
    return {
        "summary": summary,
        "flagged": flagged,
        "differs": differs,
        "dims": [plural(d) for d in dims],
        "dim_words": dim_words,
        "rows": rows,
        "level": level,
        "notes": [str(n) for n in het.get("notes") or []],
        "accounts": fmt_int(het.get("accounts")),
    }, None
