"""The report's sections on a second outcome and on the time windows, as plain data.

* stay, grow or both (``framework.json → expansion``): the feature stage run
  again on the retained accounts with expansion as the outcome; each feature
  goes with staying, growing or both (``features[].milestone_for``);
* do the features depend on the time window (``sensitivity``, opt-in): the
  feature stage re-run at other observation windows and horizons, the grid
  of which feature is selected where, the window-dependent features with
  their verdicts and what the fewer repeats of the re-runs cost.

Each builder returns display strings and chart ``data:`` URIs. The grid is
drawn by :meth:`milestone_discovery.sensitivity.SensitivityResult.plot_selection`
from ``tables/sensitivity_*.csv`` (else from ``framework.json``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..plotting import status_rank, status_word
from . import charts
from .format import MISSING, fmt_ci, fmt_int, fmt_pct, fmt_ratio, interval, label, num
from .load import RunData

__all__ = [
    "OPT_IN",
    "OUTCOME_LABELS",
    "expansion_headline",
    "expansion_section",
    "label_badge",
    "milestone_for",
    "sensitivity_section",
]

#: label -> (badge text, CSS class, what the features go with); the class never comes from the data.
OUTCOME_LABELS = {
    "both": ("stay + grow", "out-both", "staying and growing"),
    "grow": ("grow", "out-grow", "growing (expansion) only"),
    "stay": ("stay", "out-stay", "staying (retention) only"),
}
#: What the sensitivity section says when the check was not run.
OPT_IN = (
    "Whether these features depend on the usage window and the retention horizon was not "
    "checked: the check is opt-in ([sensitivity] enabled = true in the config file), because "
    "every window setting re-runs the feature stage."
)


def label_badge(value: Any) -> dict | None:
    """``"grow" -> {"text": "grow", "class": "out-grow", "meaning": ...}``; None for no label."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    text, css, what = OUTCOME_LABELS.get(str(value), (str(value), "out-other", ""))
    return {"text": text, "class": css, "meaning": f"goes with {what}" if what else ""}


def milestone_for(run: RunData) -> dict[str, str] | None:
    """Feature -> ``"stay"``, ``"grow"`` or ``"both"`` (labelled features only).

    From ``features[].milestone_for``, else from ``expansion.features[].label``;
    None when the expansion stage did not run (the features table then has no
    such column).
    """
    entries = [f for f in run.framework.features or [] if isinstance(f, dict)]
    ran = isinstance(run.expansion.get("features"), list)
    if not ran and not any("milestone_for" in f for f in entries):
        return None
    out = {
        str(f.get("feature")): str(f["milestone_for"]) for f in entries if f.get("milestone_for")
    }
    if not out and ran:
        for f in run.expansion["features"]:
            if isinstance(f, dict) and f.get("label"):
                out[str(f.get("feature"))] = str(f["label"])
    return out


def _status(status: Any) -> dict:
    from .badges import status_class

    if status is None or status == "" or (isinstance(status, float) and status != status):
        return {"word": "not studied", "class": "drop"}
    return {"word": status_word(str(status)), "class": status_class(str(status))}


def _adjusted(text: Any) -> str | None:
    text = str(text or "").strip()
    return None if not text or text.startswith("nothing") else text


# ----------------------------------------------------------------------------- expansion
def expansion_section(run: RunData) -> tuple[dict | None, str | None]:
    """The stay-grow-both section, or (None, why the run skipped it); (None, None) when absent."""
    exp = run.expansion
    if not exp:
        return None, None
    if not isinstance(exp.get("features"), list):
        return None, str(exp.get("skipped") or "not run")
    entries = [e for e in exp["features"] if isinstance(e, dict) and e.get("feature") is not None]
    order = list(OUTCOME_LABELS)

    def key(e: dict):
        lab = str(e.get("label") or "")
        imp = num(e.get("importance"))
        return (
            order.index(lab) if lab in order else len(order),
            status_rank(str(e.get("expansion") or "")),
            -(imp if imp is not None else float("-inf")),
            str(e.get("feature")),
        )

    rows = []
    for e in sorted(entries, key=key):
        lo, hi = interval(e, "adj_or")
        rows.append(
            {
                "feature": label(e["feature"]),
                "category": label(e.get("category") or ""),
                "retention": _status(e.get("retention")),
                "expansion": _status(e.get("expansion")),
                "label": label_badge(e.get("label")),
                "prevalence": fmt_pct(e.get("prevalence")),
                "adopters": fmt_pct(e.get("expansion_adopters")),
                "non_adopters": fmt_pct(e.get("expansion_non_adopters")),
                "adj_or": fmt_ratio(e.get("adj_or")),
                "adj_or_ci": fmt_ci(lo, hi),
                "reason": str(e.get("reason") or ""),
            }
        )
    labelled = [r for r in rows if r["label"]]
    groups = []
    for text, css, what in OUTCOME_LABELS.values():
        names = [r["feature"] for r in labelled if r["label"]["class"] == css]
        n = len(names)
        groups.append(
            {
                "text": text,
                "class": css,
                "meaning": f"{n} feature{'s go' if n != 1 else ' goes'} with {what}",
                "what": what,
                "features": names,
                "n": n,
            }
        )
    accounts, expanding = num(exp.get("accounts")), num(exp.get("expanding"))
    rate = num(exp.get("expansion_rate"))
    if rate is None and accounts and expanding is not None:
        rate = expanding / accounts
    horizon = run.framework.horizon_days
    who = f"still customers at day {horizon}" if horizon and not run.wide else "retained"
    intro = (
        f"{fmt_int(accounts)} accounts {who} were studied again with expansion as the outcome; "
        f"{fmt_int(expanding)} of them ({fmt_pct(rate)}) expanded."
    )
    adjusted = _adjusted(exp.get("adjusted_for"))
    model = exp.get("model") if isinstance(exp.get("model"), dict) else {}
    gain = num(model.get("roc_auc_gain_vs_covariates"))
    notes = [str(n) for n in exp.get("notes") or []]
    caveat = None
    if not any("no date" in n for n in notes):
        caveat = (
            "Expansion has no date in the data: it is taken as known at the horizon, after the "
            "usage window. A feature adopted because the account expanded can look like a driver."
        )
    unknown = num((exp.get("excluded") or {}).get("expansion_unknown"))
    return {
        "intro": intro,
        "definition": str(exp.get("definition") or ""),
        "adjusted": adjusted or "",
        "odds_ratio_name": "Adjusted odds ratio of expanding" if adjusted else "Odds ratio",
        "groups": groups,
        "n_labelled": len(labelled),
        "rows": labelled,
        "others": [r for r in rows if not r["label"]],
        "n": len(rows),
        "gain": f"{gain:+.2f}" if gain is not None else "",
        "notes": notes,
        "caveat": caveat,
        "unknown": fmt_int(unknown) if unknown else "",
    }, None


def expansion_headline(section: dict | None) -> str | None:
    """One sentence for "In short": how many features go with staying, growing or both."""
    if not section:
        return None
    parts = []
    for g in section["groups"]:
        if g["n"]:
            names = ", ".join(g["features"][:4]) + (" …" if g["n"] > 4 else "")
            parts.append(f"{g['meaning']} ({names})")
    if not any(g["n"] for g in section["groups"][:2]):
        parts.append("no feature goes with growing (expansion)")
    text = "; ".join(parts)
    return f"Staying vs growing: {text} (see Stay, grow or both)."


# ----------------------------------------------------------------------------- time windows
def _setting_key(window: Any, horizon: Any) -> str:
    w, h = num(window), num(horizon)
    return f"{w:g}/{h:g}" if w is not None and h is not None else MISSING


def _grid(run: RunData, sens: dict, settings: list[dict]):
    """Features x settings run (readable names) and the features' shares, for the chart."""
    run_settings = [str(s.get("setting")) for s in settings if s.get("status") != "skipped"]
    table = run.table("sensitivity_features")
    if table is not None and {"feature", "selected_at", "selected_in", "share"} <= set(
        table.columns
    ):
        records = [
            {
                "feature": str(r["feature"]),
                "share": num(r["share"]),
                "selected_in": num(r["selected_in"]) or 0,
                "selected_at": [s for s in str(r["selected_at"] or "").split("; ") if s]
                if isinstance(r["selected_at"], str)
                else [],
            }
            for r in table.to_dict("records")
        ]
    else:
        records = [
            {
                "feature": str(f.get("feature")),
                "share": num(f.get("share")),
                "selected_in": num(f.get("selected_in")) or 0,
                "selected_at": [str(s) for s in f.get("selected_at") or []],
            }
            for f in sens.get("features") or []
            if isinstance(f, dict)
        ]
    records = [r for r in records if r["selected_in"] > 0]
    if not records or not run_settings:
        return None, None
    names = [label(r["feature"]) for r in records]
    selection = pd.DataFrame(
        {s: [s in r["selected_at"] for r in records] for s in run_settings},
        index=pd.Index(names, name="feature"),
    )
    features = pd.DataFrame(
        {
            "feature": names,
            "share": [r["share"] or 0.0 for r in records],
            "selected_in": [int(r["selected_in"]) for r in records],
        }
    )
    return selection, features


def _calibration(sens: dict) -> str:
    cal = sens.get("calibration") if isinstance(sens.get("calibration"), dict) else {}
    lost = cal.get("lost_to_repeats")
    repeats = num(sens.get("n_repeats"))
    fewer = (
        f"The re-runs use {fmt_int(repeats)} cross-fitting repeat{'s' if repeats != 1 else ''} "
        "(fewer than the study itself, to save time), so they have less power."
        if repeats is not None
        else "The re-runs use fewer cross-fitting repeats than the study, so they have less power."
    )
    main = str(sens.get("main") or "the study's own setting")
    if lost is None:
        return (
            f"{fewer} The study's own setting ({main}) could not be re-run, so how much that "
            "costs is unknown: a feature missing from some settings is a prompt to look, not "
            "proof that it depends on the window."
        )
    lost = [label(x) for x in lost]
    if not lost:
        return (
            f"{fewer} Re-run at the study's own setting ({main}), they still select every "
            "feature the study selected, so a feature missing from other settings most likely "
            "reflects the window itself."
        )
    return (
        f"{fewer} Re-run at the study's own setting ({main}), they miss "
        f"{len(lost)} feature{'s' if len(lost) != 1 else ''} the study did select "
        f"({', '.join(lost)}): this is what the fewer repeats alone cost. A feature missing from "
        "some settings is therefore a prompt to look, not proof that it depends on the window."
    )


def sensitivity_section(run: RunData) -> tuple[dict | None, str | None]:
    """The time-window section, or (None, one line on why it is not in the report).

    When the check was not run (absent, or off by default) the line says it
    is opt-in; when it was turned on but could not run, it gives the reason.
    """
    sens = run.sensitivity
    if not isinstance(sens.get("settings"), list):
        skipped = str(sens.get("skipped") or "")
        if run.wide:
            return None, None
        if not skipped or "off by default" in skipped or "[sensitivity] enabled" in skipped:
            return None, OPT_IN
        return None, f"Whether these features depend on the time window was not checked: {skipped}."
    settings = [s for s in sens["settings"] if isinstance(s, dict)]
    table = run.table("sensitivity_settings")
    if table is not None and {"setting", "status"} <= set(table.columns):
        settings = table.to_dict("records")
    main = str(sens.get("main") or "")
    rows = []
    for s in settings:
        skipped = str(s.get("status")) == "skipped"
        selected = num(s.get("selected"))
        reason = s.get("reason")
        rows.append(
            {
                "setting": str(
                    s.get("setting")
                    or _setting_key(s.get("observation_days"), s.get("horizon_days"))
                ),
                "window": fmt_int(s.get("observation_days")),
                "horizon": fmt_int(s.get("horizon_days")),
                "main": bool(s.get("main") is True or str(s.get("main")).lower() == "true")
                or str(s.get("setting")) == main,
                "skipped": skipped,
                "accounts": fmt_int(s.get("eligible")),
                "retention": fmt_pct(s.get("retention_rate")),
                "selected": MISSING if skipped or selected is None else fmt_int(selected),
                "reason": "" if reason is None or reason != reason else str(reason),
            }
        )
    n_run = sum(not r["skipped"] for r in rows)
    share = num(sens.get("stable_share"))
    share_text = fmt_pct(share if share is not None else 0.5)
    entries = {str(f.get("feature")): f for f in sens.get("features") or [] if isinstance(f, dict)}
    dependent = []
    names = [str(x) for x in sens.get("window_dependent") or []]
    if not names:
        names = [k for k, f in entries.items() if f.get("window_dependent")]
    for name in sorted(
        names,
        key=lambda n: (-(num((entries.get(n) or {}).get("share")) or 0.0), n),
    ):
        f = entries.get(name) or {}
        main_sel = f.get("selected_main")
        dependent.append(
            {
                "feature": label(name),
                "study": MISSING if main_sel is None else ("yes" if main_sel else "no"),
                "selected_in": (
                    f"{fmt_int(f.get('selected_in'))} of {fmt_int(f.get('settings_run'))}"
                ),
                "where": ", ".join(str(s) for s in f.get("selected_at") or []),
                "verdict": str(f.get("verdict") or "depends on the window"),
                "missed_by_rerun": bool(f.get("missed_by_rerun")),
            }
        )
    stable = [label(x) for x in sens.get("stable") or []]
    windows = ", ".join(fmt_int(w) for w in sens.get("observation_days") or [])
    horizons = ", ".join(fmt_int(h) for h in sens.get("horizon_days") or [])
    selection, features = _grid(run, sens, settings)
    intro = (
        f"The feature stage was re-run at {n_run} of {len(rows)} settings"
        + (
            f": usage windows of {windows} days × retention horizons of {horizons} days"
            if windows and horizons
            else ""
        )
        + (f" (this study: {main})" if main else "")
        + f". {len(stable)} feature{'s are' if len(stable) != 1 else ' is'} selected in at least "
        f"{share_text} of the settings run; {len(dependent)} "
        f"depend{'s' if len(dependent) == 1 else ''} on the window (selected in some settings, "
        f"but in fewer than {share_text})."
    )
    return {
        "intro": intro,
        "main": main,
        "rows": rows,
        "stable": stable,
        "dependent": dependent,
        "share": share_text,
        "calibration": _calibration(sens),
        "chart": charts.selection_chart(selection, features),
    }, None
