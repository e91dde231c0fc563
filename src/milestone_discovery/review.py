"""How do we know the framework still works?

* :func:`compare_runs` compares two run folders (e.g. last quarter's and this
  quarter's): features added, removed or re-categorised, thresholds that
  moved and whether the move is beyond their confidence intervals, and each
  milestone's retention lift then and now.
* :func:`temporal_validation` fits the framework on the earlier signup
  cohorts only and measures each milestone's retention lift on the later
  cohorts, which the fit never saw: an out-of-time check of whether the
  milestones still separate retained from churned accounts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .data import Dataset
from .errors import InsufficientDataError, MilestoneError
from .framework import Framework

__all__ = [
    "RunComparison",
    "compare_runs",
    "TemporalValidation",
    "temporal_validation",
    "milestone_lifts",
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
                    f"  {change} ({len(names)}): {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}"
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
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        summary = "<br>".join(html.escape(line) for line in self.summary().splitlines())
        return (
            f"<div><strong>Run comparison</strong><p>{summary}</p></div>"
            + self.thresholds.to_html(index=False, escape=True)
            + self.lifts.round(3).to_html(index=False, escape=True)
            + self.changed_features.to_html(index=False, escape=True)
        )


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


def _outside(value, ci) -> bool:
    return ci is not None and value is not None and None not in ci and not (ci[0] <= value <= ci[1])


def compare_runs(run_a: str | Path, run_b: str | Path) -> RunComparison:
    """Compare two run folders (or framework.json files).

    Returns
    -------
    RunComparison
        ``features`` (status and category in A and B, and the change),
        ``thresholds`` (each threshold with its CI in A and B and whether
        it moved beyond them) and ``lifts`` (each milestone's retention lift
        with CI, then and now).
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
    return RunComparison(str(run_a), str(run_b), features, thresholds, lifts)


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
        from .plotting import safe_figure_html

        return (
            f"<div><strong>Temporal validation</strong>: fitted on {self.train_accounts:,} accounts signed up "
            f"before {html.escape(self.split_date)}, evaluated on {self.test_accounts:,} later ones.</div>"
            + safe_figure_html(self.plot)
            + self.table.round(3).to_html(index=False, escape=True)
        )

    def plot(self, ax=None):
        """Lift on the fit cohorts vs the later cohorts, per milestone, with 95% CIs."""
        import matplotlib.pyplot as plt

        t = self.table.dropna(subset=["test_lift"])
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 0.45 * len(t) + 1.3))
        y = np.arange(len(t))
        for offset, prefix, color, label in (
            (-0.15, "fit", "#92c5de", "earlier cohorts (fit)"),
            (0.15, "test", "#2166ac", "later cohorts (held out)"),
        ):
            err = np.vstack(
                [
                    t[f"{prefix}_lift"] - t[f"{prefix}_lift_low"],
                    t[f"{prefix}_lift_high"] - t[f"{prefix}_lift"],
                ]
            )
            ax.errorbar(
                t[f"{prefix}_lift"],
                y + offset,
                xerr=err,
                fmt="o",
                color=color,
                label=label,
                capsize=2,
            )
        ax.axvline(1, color="black", lw=0.8)
        ax.set_yticks(y, t["milestone"])
        ax.set_xlabel("retention lift: reached / not reached (95% CI)")
        ax.legend(fontsize=7)
        ax.figure.tight_layout()
        return ax.figure


def milestone_lifts(accounts: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """Retention lift of every milestone among eligible scored accounts (risk ratio, Katz CI)."""
    from . import stats

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


def temporal_validation(
    dataset: Dataset,
    config: Config | None = None,
    *,
    split_quantile: float = 0.7,
    progress: bool = False,
) -> TemporalValidation:
    """Fit on the earlier signup cohorts, measure milestone lifts on the later ones.

    Parameters
    ----------
    dataset : Dataset
        A dated dataset (wide tables have no signup dates).
    config : Config, optional
    split_quantile : float
        Share of the retention population (by signup date) used for fitting.

    Returns
    -------
    TemporalValidation

    Raises
    ------
    InsufficientDataError
        For wide tables, or when either side has too few accounts.
    """
    from .population import build_population
    from .study import run_study

    config = config or Config()
    if dataset.kind == "wide":
        raise InsufficientDataError("temporal validation needs signup dates; a wide table has none")
    population = build_population(dataset, config)
    signup = dataset.accounts.set_index("account_id")["signup_date"]
    eligible_signups = signup.reindex(population.flags.index).sort_values()
    if len(eligible_signups) < 2 * config.study.min_accounts:
        raise InsufficientDataError(
            f"temporal validation needs at least {2 * config.study.min_accounts} eligible accounts, "
            f"found {len(eligible_signups)}"
        )
    split = eligible_signups.iloc[int(split_quantile * len(eligible_signups))]
    early_ids = signup.index[signup < split]
    early = dataset.subset(early_ids)
    fitted = run_study(early, config, progress=progress, temporal=False)
    fw = fitted.framework
    scored = fw.score(dataset, config)
    later = scored[pd.to_datetime(scored["signup_date"]) >= split]
    fit_lifts = milestone_lifts(fitted.accounts, fw).set_index("milestone")
    test_lifts = milestone_lifts(later, fw).set_index("milestone")
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
        train_accounts=int(fitted.population.n_eligible),
        test_accounts=int(later["eligible"].astype(bool).sum()),
        table=table,
    )
