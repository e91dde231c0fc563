"""The report's sections as plain data for the template: one builder per section.

Each builder reads a :class:`~milestone_discovery.report.load.RunData` and
returns dicts of display strings (numbers already formatted, names readable)
and chart ``data:`` URIs; a section whose data are missing is None.
"""

from __future__ import annotations

import pandas as pd

from ..plotting import SETUP_STATUS_WORDS, status_rank, status_word
from . import charts
from .badges import status_class
from .format import (
    MISSING,
    fmt_ci,
    fmt_int,
    fmt_pct,
    fmt_ratio,
    fmt_value,
    interval,
    label,
    num,
    rate_phrase,
)
from .load import RunData
from .prose import (
    ACTIVATION_MONTHS,
    STAGE_TITLES,
    UTILIZATION_MONTHS,
    activation_rule,
    adjusted_for,
    baseline,
    maturity_rule,
    months,
    setup_rule,
    shape_sentence,
    utilization_rule,
)

__all__ = [
    "activation_section",
    "features_section",
    "funnel_rows",
    "left_out",
    "maturity_section",
    "model_section",
    "setup_section",
    "temporal_section",
    "utilization_section",
]


def _model_names(run: RunData) -> dict[str, str]:
    """The two retention models in words: what the baseline knows, and that plus feature usage."""
    known = baseline(run)
    adjusted = adjusted_for(run)
    return {
        "covariates": known[:1].upper() + known[1:],
        "covariates+features": f"Feature usage and {adjusted}" if adjusted else "Feature usage",
    }


_EXCLUSION_WORDS = {
    "activation_window_not_over": "signed up too recently: the activation window is not over",
    "churned_in_activation_window": (
        "churned inside the activation window (their counts are cut short)"
    ),
    "too_young_for_early_churn": "signed up too recently to know whether they churned early",
}


def _status_order(statuses) -> list[str]:
    return sorted(set(statuses), key=lambda s: (status_rank(s), s))


def comparison_texts(record: dict) -> dict:
    """Reached / not reached rates with intervals, and their ratio, as display strings."""
    return {
        "reached": rate_phrase(record.get("rate_reached"), *interval(record, "rate_reached")),
        "not_reached": rate_phrase(
            record.get("rate_not_reached"), *interval(record, "rate_not_reached")
        ),
        "rr": fmt_ratio(record.get("relative_risk")),
        "rr_ci": fmt_ci(*interval(record, "relative_risk")),
    }


# ----------------------------------------------------------------------------- funnel
def funnel_rows(run: RunData) -> list[dict]:
    f = run.table("funnel")
    if f is None or "stage" not in f:
        return []
    rows = []
    for r in f.to_dict("records"):
        stage = str(r["stage"])
        rows.append(
            {
                "stage": "no milestone yet"
                if stage == "none"
                else STAGE_TITLES.get(stage, label(stage)),
                "none": stage == "none",
                "reached": fmt_int(r.get("reached")),
                "share": fmt_pct(r.get("share_reached")),
                "in_order": fmt_int(r.get("reached_in_order")),
                "conversion": fmt_pct(r.get("conversion")),
                "at_stage": fmt_int(r.get("at_stage")),
                "retention": rate_phrase(r.get("retention"), *interval(r, "retention")),
            }
        )
    return rows


# ----------------------------------------------------------------------------- stages
def _no_stats_step(step: str, checklist: bool, status: str, reason: str) -> dict:
    return {
        "step": label(step),
        "checklist": checklist,
        "status": status,
        "prevalence": MISSING,
        "with": MISSING,
        "without": MISSING,
        "rr": MISSING,
        "rr_ci": "",
        "reason": reason,
    }


def setup_section(run: RunData) -> dict | None:
    setup = run.setup
    rule = setup_rule(setup)
    if rule is None:
        return None
    steps = run.table("setup_steps")
    rows = []
    if steps is not None and {"step", "status"} <= set(steps.columns):
        ordered = steps.assign(
            _o=(steps["status"] != "checklist").astype(int),
            _rr=pd.to_numeric(steps.get("risk_ratio"), errors="coerce"),
        ).sort_values(["_o", "_rr"], ascending=[True, False], kind="stable")
        for r in ordered.to_dict("records"):
            rows.append(
                {
                    "step": label(r["step"]),
                    "checklist": r["status"] == "checklist",
                    "status": SETUP_STATUS_WORDS.get(r["status"], label(r["status"])),
                    "prevalence": fmt_pct(r.get("prevalence")),
                    "with": fmt_pct(r.get("activation_completers")),
                    "without": fmt_pct(r.get("activation_non_completers")),
                    "rr": fmt_ratio(r.get("risk_ratio")),
                    "rr_ci": fmt_ci(*interval(r, "risk_ratio")),
                    "reason": str(r.get("reason") or ""),
                }
            )
    else:
        for s in setup.get("steps") or []:
            rows.append(_no_stats_step(s, True, SETUP_STATUS_WORDS["checklist"], ""))
        for d in setup.get("dropped") or []:
            status = "left out: " + label(d.get("reason", ""))
            rows.append(
                _no_stats_step(d.get("step", ""), False, status, str(d.get("detail") or ""))
            )
    counts = []
    scan = run.table("setup_scan")
    n_steps, chosen = len(setup.get("steps") or []), num(setup.get("min_steps"))
    needed = {"threshold", "share_above", "outcome_rate_above", "outcome_rate_below"}
    if scan is not None and needed <= set(scan.columns):
        for r in scan.to_dict("records"):
            k = num(r["threshold"])
            counts.append(
                {
                    "k": f"at least {fmt_value(k)} of {n_steps}",
                    "chosen": k is not None and k == chosen,
                    "share": fmt_pct(r["share_above"]),
                    "with": fmt_pct(r["outcome_rate_above"]),
                    "without": fmt_pct(r["outcome_rate_below"]),
                }
            )
    return {
        "rule": rule,
        "steps": [label(s) for s in setup["steps"]],
        "rows": rows,
        "counts": counts,
        "threshold_ci": fmt_ci(*interval(setup, "min_steps_threshold"), "value"),
        "chart": charts.setup_chart(steps),
    }


def activation_section(run: RunData) -> dict | None:
    act = run.activation
    rule = activation_rule(act)
    if rule is None:
        return None
    rows = []
    for v in act.get("validation") or []:
        rows.append(
            {
                "outcome": str(v.get("outcome", "")),
                **comparison_texts(v),
                "n_reached": fmt_int(v.get("accounts_reached")),
                "n_not": fmt_int(v.get("accounts_not_reached")),
            }
        )
    lo, hi = interval(act, "threshold")
    first, last = months(act.get("months"), ACTIVATION_MONTHS)
    outcome = str(act.get("outcome") or "no early churn")
    what = f"{label(act.get('metric', 'metric'))} in months {first}–{last}"
    return {
        "rule": rule,
        "outcome": outcome,
        "threshold_ci": fmt_ci(lo, hi, "value"),
        "share": fmt_pct(act.get("share_above")),
        "n": fmt_int(act.get("n_accounts")),
        "rows": rows,
        "shape": shape_sentence(act.get("shape"), what),
        "chart": charts.scan_chart(
            run.table("activation_scan"), act.get("threshold"), (lo, hi), what, outcome
        ),
        "chart_curve": charts.curve_chart(
            run.table("activation_curve"), act.get("threshold"), act.get("shape"), what, outcome
        )
        if act.get("shape") == "gradual"
        else None,
    }


def utilization_section(run: RunData, milestones: dict[str, dict]) -> dict | None:
    util = run.utilization
    rule = utilization_rule(util)
    if rule is None:
        return None
    lo, hi = interval(util, "per_seat_threshold")
    by_size = run.table("utilization_by_size")
    if by_size is None and util.get("attainment_by_size"):
        by_size = pd.DataFrame(util["attainment_by_size"])
    first, last = months(util.get("months"), UTILIZATION_MONTHS)
    metric = label(util.get("metric", "metric"))
    what = f"{metric} per seat per month (months {first}–{last})"
    return {
        "rule": rule,
        "threshold_ci": fmt_ci(lo, hi, "value"),
        "metric": metric,
        "raw_threshold": fmt_value(util.get("raw_volume_threshold")),
        "milestone": milestones.get("utilization"),
        "shape": shape_sentence(util.get("shape"), what),
        "chart_scan": charts.scan_chart(
            run.table("utilization_scan"),
            util.get("per_seat_threshold"),
            (lo, hi),
            what,
            "retention",
        ),
        "chart_curve": charts.curve_chart(
            run.table("utilization_curve"),
            util.get("per_seat_threshold"),
            util.get("shape"),
            what,
            "retention",
        )
        if util.get("shape") == "gradual"
        else None,
        "chart_size": charts.by_size_chart(by_size),
    }


def maturity_section(run: RunData, milestones: dict[str, dict]) -> dict:
    mat = run.maturity
    cats = []
    for c in mat.get("categories") or []:
        k, feats = num(c.get("min_features")), c.get("features") or []
        cats.append(
            {
                "name": label(c.get("name", "")),
                "features": [label(f) for f in feats],
                "rule": MISSING if k is None else f"uses at least {int(k)} of {len(feats)}",
                "share": fmt_pct(c.get("share_above")),
                "mature": rate_phrase(
                    c.get("outcome_rate_above"), *interval(c, "outcome_rate_above")
                ),
                "not_mature": rate_phrase(
                    c.get("outcome_rate_below"), *interval(c, "outcome_rate_below")
                ),
                "lift": fmt_ratio(c.get("lift")),
                "lift_ci": fmt_ci(*interval(c, "lift")),
            }
        )
    adoption = pd.DataFrame(
        {
            "category": [c["name"] for c in cats],
            "share_basic": [num(c.get("share_basic")) for c in mat.get("categories") or []],
            "share_mature": [num(c.get("share_above")) for c in mat.get("categories") or []],
        }
    )
    by_count = run.table("maturity_by_count")
    if by_count is None and mat.get("retention_by_mature_categories"):
        by_count = pd.DataFrame(mat["retention_by_mature_categories"])
    m = num(mat.get("min_categories"))
    counts = []
    for r in by_count.to_dict("records") if by_count is not None else []:
        k = num(r.get("mature_categories"))
        counts.append(
            {
                "k": fmt_int(k),
                "accounts": fmt_int(r.get("accounts")),
                "share": fmt_pct(r.get("share")),
                "retention": rate_phrase(r.get("retention"), *interval(r, "retention")),
                "chosen": m is not None and k is not None and k >= m,
            }
        )
    disagreements = [
        {
            "feature": label(d.get("feature", "")),
            "catalog": label(d.get("catalog_category") or MISSING),
            "majority": label(d.get("cluster_majority_category") or MISSING),
        }
        for d in mat.get("catalog_disagreements") or []
    ]
    return {
        "rule": maturity_rule(mat),
        "shape": shape_sentence(mat.get("shape"), "the number of mature categories"),
        "catalog": mat.get("source") == "catalog",
        "categories": cats,
        "counts": counts,
        "min_categories_ci": fmt_ci(*interval(mat, "min_categories"), "value"),
        "milestone": milestones.get("maturity"),
        "disagreements": disagreements,
        "chart_count": charts.by_count_chart(by_count, m),
        "chart_categories": charts.categories_chart(adoption),
    }


# ----------------------------------------------------------------------------- features
def features_section(
    run: RunData,
    segment_only: dict[str, str] | None = None,
    milestone_for: dict[str, str] | None = None,
) -> dict | None:
    """The features table.

    ``segment_only`` maps a feature to where alone its effect holds;
    ``milestone_for`` (None: the expansion stage did not run) a feature to
    ``"stay"``, ``"grow"`` or ``"both"``.
    """
    from ..features import DROP_REASONS
    from .outcomes import label_badge

    segment_only = segment_only or {}

    f = run.features
    if f is None:
        return None
    has_importance = "importance" in f
    ordered = f.assign(_rank=f["status"].map(status_rank)).sort_values(
        ["_rank", "importance", "feature"] if has_importance else ["_rank", "feature"],
        ascending=[True, False, True] if has_importance else [True, True],
        kind="stable",
        na_position="last",
    )
    top = num(f["importance"].max()) if has_importance else None
    top = top if top and top > 0 else None

    def relative(x):
        value = num(x)
        return MISSING if value is None or top is None else f"{max(value, 0.0) / top * 100:.0f}"

    rows = [
        {
            "feature": label(r["feature"]),
            "category": label(r.get("category") or ""),
            "status_word": status_word(r["status"]),
            "status_class": status_class(r["status"]),
            "selected": r["status"] == "selected",
            "prevalence": fmt_pct(r.get("prevalence")),
            "retention_adopters": fmt_pct(r.get("retention_adopters")),
            "retention_non_adopters": fmt_pct(r.get("retention_non_adopters")),
            "adj_or": fmt_ratio(r.get("adj_or")),
            "adj_or_ci": fmt_ci(*interval(r, "adj_or")),
            "importance": relative(r.get("importance")),
            "reason": str(r.get("reason") or ""),
            "segment_only": segment_only.get(str(r["feature"]), ""),
            "milestone_for": label_badge((milestone_for or {}).get(str(r["feature"]))),
        }
        for r in ordered.to_dict("records")
    ]
    counts = []
    for name in _status_order(f["status"]):
        names = [label(x) for x in ordered.loc[ordered["status"] == name, "feature"]]
        counts.append(
            {
                "status_class": status_class(name),
                "word": status_word(name),
                "features": len(names),
                "meaning": "kept as a maturity milestone"
                if name == "selected"
                else DROP_REASONS.get(name.replace("dropped_", ""), ""),
                "examples": ", ".join(names[:4]) + (" …" if len(names) > 4 else ""),
            }
        )
    low = float(run.config("features", "min_prevalence", 0.01))
    high = float(run.config("features", "max_prevalence", 0.9))
    adjusted = adjusted_for(run)
    return {
        "rows": rows,
        "counts": counts,
        "odds_ratio_name": "Adjusted odds ratio" if adjusted else "Odds ratio",
        "dropped_because": f"explained by {adjusted}, " if adjusted else "",
        "n_segment_only": sum(bool(r["segment_only"]) for r in rows),
        "outcomes": milestone_for is not None,
        "n": len(f),
        "n_selected": int((f["status"] == "selected").sum()),
        "chart_importance": charts.importance_chart(f),
        "chart_prevalence": charts.prevalence_chart(f, low, high),
        "low": fmt_pct(low),
        "high": fmt_pct(high),
    }


def model_section(run: RunData) -> tuple[list[dict], str | None, float | None]:
    """Held-out model metrics rows, a plain sentence, and the number of refits."""
    metrics = run.table("model_metrics")
    if metrics is None and run.model.get("metrics"):
        metrics = pd.DataFrame(run.model["metrics"])
    if metrics is None or "model" not in metrics:
        return [], None, None

    def three(x):
        return MISSING if num(x) is None else f"{num(x):.3f}"

    names = _model_names(run)
    ordered = metrics.sort_values(
        "model", key=lambda s: (s != "covariates").astype(int), kind="stable"
    )
    rows = [
        {
            "name": names.get(r["model"], label(r["model"])),
            "splits": fmt_int(r.get("splits")),
            "roc": three(r.get("roc_auc_mean")),
            "roc_sd": "" if num(r.get("roc_auc_std")) is None else three(r.get("roc_auc_std")),
            "pr": three(r.get("pr_auc_mean")),
            "brier": three(r.get("brier_mean")),
        }
        for r in ordered.to_dict("records")
    ]
    by = metrics.set_index("model")
    sentence = splits = None
    if {"covariates", "covariates+features"} <= set(by.index) and "roc_auc_mean" in by:
        a = num(by.loc["covariates", "roc_auc_mean"])
        b = num(by.loc["covariates+features", "roc_auc_mean"])
        splits = num(by.loc["covariates+features", "splits"]) if "splits" in by else None
        if a is not None and b is not None:
            sentence = (
                f"Knowing which features an account uses {'improves' if b > a else 'changes'} the "
                f"prediction of retention on accounts the model never saw from a ROC-AUC of "
                f"{a:.2f} ({baseline(run)}) to {b:.2f} (0.5 = coin flip, 1 = perfect)."
            )
    return rows, sentence, splits


# ----------------------------------------------------------------------------- validation
def _verdict(test: float | None, test_low: float | None) -> tuple[str, str]:
    if test is None:
        return "cannot be measured on the later cohorts", "muted"
    if test_low is not None and test_low > 1:
        return "holds", "good"
    if test > 1:
        return "same direction, not clear yet (interval includes 1)", "warn"
    return "does not hold", "bad"


def temporal_section(run: RunData) -> tuple[dict | None, str | None]:
    """The later-cohorts section, or (None, why it was not run)."""
    temporal = run.validation.get("temporal")
    if not isinstance(temporal, dict):
        return None, None
    if not isinstance(temporal.get("milestones"), list):
        return None, str(temporal.get("skipped") or "not run")
    rows = []
    for m in temporal["milestones"]:
        fit_lo, fit_hi = interval(m, "fit_lift")
        test_lo, test_hi = interval(m, "test_lift")
        test = num(m.get("test_lift"))
        verdict, tone = _verdict(test, test_lo)
        name = str(m.get("milestone", ""))
        rows.append(
            {
                "name": label(name.replace("maturity: ", "mature in ", 1)),
                "threshold": fmt_value(m.get("threshold")),
                "fit_lift": num(m.get("fit_lift")),
                "fit_lift_low": fit_lo,
                "fit_lift_high": fit_hi,
                "test_lift": test,
                "test_lift_low": test_lo,
                "test_lift_high": test_hi,
                "fit_text": fmt_ratio(m.get("fit_lift")),
                "fit_ci": fmt_ci(fit_lo, fit_hi),
                "test_text": fmt_ratio(test),
                "test_ci": fmt_ci(test_lo, test_hi),
                "test_share": fmt_pct(m.get("test_share")),
                "verdict": verdict,
                "tone": tone,
            }
        )
    holds = sum(r["tone"] == "good" for r in rows)
    return {
        "split_date": str(temporal.get("split_date") or MISSING),
        "train_accounts": fmt_int(temporal.get("train_accounts")),
        "test_accounts": fmt_int(temporal.get("test_accounts")),
        "outcome": str(temporal.get("outcome") or "retention at the horizon"),
        "rows": rows,
        "summary": f"{holds} of {len(rows)} milestones still clearly separate retained from "
        "churned accounts on the later cohorts.",
        "chart": charts.temporal_chart(rows),
    }, None


# ----------------------------------------------------------------------------- left out
def left_out(run: RunData) -> dict:
    """Accounts, features and stages left out of the analysis, and the run's notes."""
    data, total = run.data, num(run.data.get("accounts"))
    population = []
    exclusions = run.table("exclusions")
    records = (
        exclusions.to_dict("records")
        if exclusions is not None
        else [{"reason": k, "accounts": v} for k, v in (data.get("exclusions") or {}).items()]
    )
    for r in records:
        n = num(r.get("accounts"))
        population.append(
            {
                "reason": label(r.get("reason", "")),
                "accounts": fmt_int(n),
                "share": fmt_pct(n / total) if total and n is not None else "",
                "description": str(r.get("description") or ""),
            }
        )
    journey = []
    jex = run.table("journey_exclusions")
    for r in jex.to_dict("records") if jex is not None else data.get("journey_exclusions") or []:
        reason = str(r.get("reason", ""))
        journey.append(
            {
                "analysis": str(r.get("analysis", "")),
                "reason": label(reason),
                "description": _EXCLUSION_WORDS.get(reason, ""),
                "accounts": fmt_int(r.get("accounts")),
            }
        )
    dropped = ""
    if run.features is not None:
        counts = run.features.loc[run.features["status"] != "selected", "status"].value_counts()
        dropped = ", ".join(
            f"{int(counts[s])} {label(s.replace('dropped_', ''))}"
            for s in _status_order(counts.index)
        )
    return {
        "population": population,
        "journey_exclusions": journey,
        "features_dropped": dropped,
        "skipped_rows": [
            {"stage": STAGE_TITLES.get(k, label(k)), "reason": v} for k, v in run.skipped.items()
        ],
        "notes": [str(n) for n in data.get("notes") or []],
    }
