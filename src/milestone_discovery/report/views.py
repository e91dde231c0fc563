"""The report's view-model: everything the template shows, as plain data.

:func:`context` assembles the page from a run folder: the header facts, the
headline findings, the framework on one screen (one card per stage), the
milestones table and overview chart, and every section
(:mod:`~milestone_discovery.report.sections`).

Each milestone's comparison of accounts that reached it vs not is read from
what the study stored (``framework.json``), in the outcome closest to
retention: retention for activation (its validation), utilization and
maturity; the setup milestone is stored against activation only, so its
retention is computed from ``accounts.csv`` by the study's own
:func:`~milestone_discovery.journey.compare_rates` when the file is there.
"""

from __future__ import annotations

from typing import Any

from .. import columns
from . import charts
from .analyses import (
    counts_section,
    factors_section,
    heterogeneity_section,
    segment_only,
    survival_section,
)
from .format import fmt_int, fmt_pct, label, num
from .load import COMPARISON_FIELDS, RunData, retention_comparison, scan_comparison
from .outcomes import expansion_headline, expansion_section, milestone_for, sensitivity_section
from .prose import (
    STAGE_TITLES,
    activation_rule,
    headline,
    maturity_rule,
    method_notes,
    outcome_word,
    setup_rule,
    utilization_rule,
)
from .sections import (
    activation_section,
    comparison_texts,
    features_section,
    funnel_rows,
    left_out,
    maturity_section,
    model_section,
    setup_section,
    temporal_section,
    utilization_section,
)

__all__ = ["context", "milestone_rows", "stage_cards"]


# ----------------------------------------------------------------------------- milestones
def _milestone_row(
    key: str, rule: str, share: Any, outcome: str, comparison: dict | None
) -> dict | None:
    if comparison is None or num(comparison.get("rate_reached")) is None:
        return None
    row = {
        "key": key,
        "name": STAGE_TITLES[key],
        "rule": rule,
        "share": num(share),
        "outcome": outcome,
        **{k: num(comparison.get(k)) for k in COMPARISON_FIELDS},
    }
    n1, n0 = num(comparison.get("accounts_reached")), num(comparison.get("accounts_not_reached"))
    if row["share"] is None and n1 is not None and n0:
        row["share"] = n1 / (n1 + n0)
    texts = comparison_texts(row)
    row.update(
        share_text=fmt_pct(row["share"]),
        reached_text=texts["reached"],
        not_reached_text=texts["not_reached"],
        rr_text=texts["rr"],
        rr_ci=texts["rr_ci"],
    )
    return row


def milestone_rows(run: RunData) -> dict[str, dict]:
    """Each milestone: its rule, the share of accounts reaching it, its outcome reached vs not."""
    kept = f"retained {run.at_horizon}"
    setup, act, util, mat = run.setup, run.activation, run.utilization, run.maturity
    rows: dict[str, dict | None] = {}
    rule = setup_rule(setup)
    if rule:
        share = run.funnel_share("setup")
        retention = retention_comparison(run.accounts, "setup")
        rows["setup"] = (
            _milestone_row("setup", rule, share, kept, retention)
            if retention
            else _milestone_row(
                "setup", rule, share, "activated", scan_comparison(setup, "min_steps_")
            )
        )
    rule = activation_rule(act)
    if rule:
        share = run.funnel_share("activation")
        validation = [
            v for v in act.get("validation") or [] if "retain" in str(v.get("outcome", ""))
        ]
        rows["activation"] = (
            _milestone_row("activation", rule, share, kept, validation[0])
            if validation
            else _milestone_row(
                "activation",
                rule,
                share,
                str(act.get("outcome") or "no early churn"),
                scan_comparison(act),
            )
        )
    rule = utilization_rule(util)
    if rule:
        rows["utilization"] = _milestone_row(
            "utilization", rule, run.funnel_share("utilization"), kept, scan_comparison(util)
        )
    rule = maturity_rule(mat)
    if rule and isinstance(mat.get("mature_vs_not"), dict):
        share = run.funnel_share("maturity")
        rows["maturity"] = _milestone_row(
            "maturity",
            rule,
            share if share is not None else mat.get("share_mature"),
            kept,
            mat["mature_vs_not"],
        )
    return {k: v for k, v in rows.items() if v is not None}


# ----------------------------------------------------------------------------- cards
def _category_rules(mat: dict) -> list[dict]:
    cats = []
    for c in mat.get("categories") or []:
        k, feats = num(c.get("min_features")), [label(f) for f in c.get("features") or []]
        if k is None:
            rule = "no usable threshold"
        elif int(k) >= len(feats):
            rule = "uses all of" if len(feats) > 1 else "uses"
        else:
            rule = f"uses at least {int(k)} of"
        cats.append({"name": label(c.get("name", "")), "rule": rule, "features": feats})
    return cats


def stage_cards(run: RunData, milestones: dict[str, dict]) -> list[dict]:
    """The framework on one screen: one card per stage, skipped stages with the reason."""
    cards: list[dict] = []

    def card(key: str, rule: str | None, steps: list[str], facts: list[str], cats: list[dict]):
        base = {"key": key, "title": STAGE_TITLES[key], "number": len(cards) + 1}
        if rule is None:
            reason = run.skipped.get(key) or "not enough data to set this milestone"
            cards.append({**base, "skipped": True, "reason": reason})
            return
        m = milestones.get(key)
        share = m["share"] if m else run.funnel_share(key)
        head = [f"{fmt_pct(share)} of accounts reach it"] if share is not None else []
        if m:
            head.append(
                f"{outcome_word(m['outcome'])}: {fmt_pct(m['rate_reached'])} vs "
                f"{fmt_pct(m['rate_not_reached'])} without it"
            )
        cards.append(
            {
                **base,
                "skipped": False,
                "rule": rule,
                "steps": steps,
                "facts": head + facts,
                "categories": cats,
            }
        )

    setup = run.setup
    setup_facts = []
    above = num(setup.get("min_steps_outcome_rate_above"))
    if above is not None and milestones.get("setup", {}).get("outcome") != "activated":
        setup_facts.append(
            f"activated: {fmt_pct(above)} vs "
            f"{fmt_pct(setup.get('min_steps_outcome_rate_below'))} without it"
        )
    card("setup", setup_rule(setup), [label(s) for s in setup.get("steps") or []], setup_facts, [])
    card("activation", activation_rule(run.activation), [], [], [])
    card("utilization", utilization_rule(run.utilization), [], [], [])
    cats = _category_rules(run.maturity)
    rule = maturity_rule(run.maturity)
    if rule is None and cats:
        rule = "No clear number of mature categories (see the maturity section)"
    card("maturity", rule, [], [], cats)
    return cards


# ----------------------------------------------------------------------------- the page
def context(run: RunData) -> dict:
    """Everything ``report.html`` renders."""
    fw = run.framework
    milestones = milestone_rows(run)
    rows = list(milestones.values())
    model_rows, model_sentence, splits = model_section(run)
    temporal, temporal_skipped = temporal_section(run)
    survival, survival_skipped = survival_section(run)
    segments, segments_skipped = heterogeneity_section(run)
    expansion, expansion_skipped = expansion_section(run)
    windows, windows_note = sensitivity_section(run)
    lines = headline(run, milestones)
    grows = expansion_headline(expansion)
    if grows:  # before the overall retention
        at = len(lines) - 1 if lines and lines[-1].startswith("Overall,") else len(lines)
        lines.insert(at, grows)
    excluded = left_out(run)
    if temporal_skipped:
        excluded["notes"].append(f"The check on later cohorts was not run: {temporal_skipped}.")
    versions = run.info.get("versions") or {}
    return {
        "title": "Customer milestones: what makes accounts stay",
        "dataset": str(run.info.get("dataset") or run.path.resolve().name),
        "run_name": run.path.resolve().name,
        "as_of": str(fw.as_of or ""),
        "observation_days": fw.observation_days,
        "horizon_days": fw.horizon_days,
        "seed": fw.seed,
        "created_at": str(run.info.get("created_at") or ""),
        "version": str(versions.get("milestone_discovery") or ""),
        "versions": [
            f"{k} {v}"
            for k, v in versions.items()
            if v and k not in ("platform", "milestone_discovery")
        ],
        "accounts": fmt_int(run.data.get("accounts")),
        "eligible": fmt_int(run.data.get("eligible")),
        "retention": fmt_pct(run.retention),
        "at_horizon": run.at_horizon,
        "wide": run.wide,
        "headline": lines,
        "cards": stage_cards(run, milestones),
        "milestones": rows,
        "same_outcome": rows[0]["outcome"]
        if rows and len({r["outcome"] for r in rows}) == 1
        else None,
        "overview_chart": charts.overview_chart(rows, run.retention),
        "funnel": funnel_rows(run),
        "setup": setup_section(run),
        "activation": activation_section(run),
        "utilization": utilization_section(run, milestones),
        "maturity": maturity_section(run, milestones),
        "features": features_section(run, segment_only(run), milestone_for(run)),
        "counts": counts_section(run),
        "survival": survival,
        "survival_skipped": survival_skipped,
        "segments": segments,
        "segments_skipped": segments_skipped,
        "expansion": expansion,
        "expansion_skipped": expansion_skipped,
        "windows": windows,
        "windows_note": windows_note,
        "factors": factors_section(run),
        "skipped": run.skipped,
        "model_rows": model_rows,
        "model_sentence": model_sentence,
        "temporal": temporal,
        "method": method_notes(run, splits),
        "glossary": columns.glossary(),
        **excluded,
    }
