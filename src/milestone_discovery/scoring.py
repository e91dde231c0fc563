"""Apply a saved framework to accounts: stage, milestones reached, next step.

:func:`score_accounts` refits nothing: every threshold comes from the
framework. Before scoring, :func:`framework_gaps` checks that the data
still hold what the framework names (features, setup steps, activity
metrics); a gap is an error unless the caller allows it, and then the
result's notes say which milestones could not be judged.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .config import Config
from .data import Dataset
from .errors import DataValidationError, Problem
from .journey import STAGES, journey_metrics, setup_flags
from .maturity import maturity_levels
from .population import account_segments, retention_population, wide_outcomes, window_flags

__all__ = ["framework_gaps", "score_accounts"]


def framework_gaps(framework, dataset: Dataset) -> list[Problem]:
    """What the framework names that this dataset does not hold.

    A feature is absent when neither ``feature_usage`` nor the catalog
    knows it (a wide table: when it is not a column and not a count
    feature; one-hot levels nobody has are expected there and not listed);
    a setup step when ``setup_steps`` never mentions it; an activity
    metric when ``activity`` lacks its column (or the table itself).

    Parameters
    ----------
    framework : Framework
    dataset : Dataset

    Returns
    -------
    list of Problem
        Empty when the data hold everything the framework uses.
    """
    problems: list[Problem] = []
    named = sorted({f for c in framework.categories.values() for f in c["features"]})
    if dataset.kind == "tables":
        known = set(dataset.features)
        absent = [f for f in named if f not in known]
        if absent:
            problems.append(
                Problem(
                    "feature_usage",
                    "feature",
                    f"{len(absent)} feature(s) of the framework's maturity categories appear "
                    f"neither in feature_usage nor in feature_catalog (renamed?): "
                    f"{', '.join(absent[:10])}" + (" ..." if len(absent) > 10 else ""),
                )
            )
        steps = (framework.setup or {}).get("steps") or []
        if steps and (framework.setup or {}).get("min_steps"):
            if dataset.setup_steps is None:
                problems.append(
                    Problem(
                        "setup_steps",
                        None,
                        "the framework has a setup milestone but the "
                        "data have no setup_steps table",
                    )
                )
            else:
                seen = set(dataset.setup_steps["step"].unique())
                gone = [s for s in steps if s not in seen]
                if gone:
                    problems.append(
                        Problem(
                            "setup_steps",
                            "step",
                            "setup step(s) of the framework never "
                            f"appear in the data: {', '.join(gone)}",
                        )
                    )
        for stage, key in (("activation", "metric"), ("utilization", "metric")):
            spec = getattr(framework, stage)
            if not spec:
                continue
            if dataset.activity is None:
                problems.append(
                    Problem(
                        "activity",
                        None,
                        f"the framework has an {stage} milestone but the "
                        "data have no activity table",
                    )
                )
            elif spec.get(key) not in dataset.activity_metrics:
                problems.append(
                    Problem(
                        "activity",
                        spec.get(key),
                        f"the {stage} metric of the framework is "
                        "not a column of the activity table",
                    )
                )
    return problems


def score_accounts(
    framework, dataset: Dataset, config: Config | None = None, *, allow_missing: bool = False
) -> pd.DataFrame:
    """Apply a framework to a dataset: one row per account, no refitting.

    Columns: account basics; ``eligible``/``exclusion_reason``/``retained``
    (retention population); for each milestone its value and whether it is
    reached; per maturity category features used and mature; the number of
    mature categories and ``mature``; ``stage`` (the furthest milestone
    reached in the order Setup -> Activation -> Utilization -> Maturity);
    ``next_step`` (the first milestone not reached) and, for maturity, the category
    closest to mature and the feature in it that similar accounts (same plan
    and size band, mature in that category) adopt most. Accounts that reached
    every milestone have no next feature.

    A wide table needs no outcome column here (new customers are scored):
    ``retained`` is then empty. Its count columns become flags at the
    framework's thresholds. A level of an expanded column (a choice) is
    never proposed, unless it is an add-on and the account is on a skip
    level of that column ("does not use it"): never to an account on
    another level.

    Parameters
    ----------
    framework : Framework
    dataset : Dataset
    config : Config, optional
    allow_missing : bool
        Score even when the data lack something the framework names (see
        :func:`framework_gaps`): absent features count as not used, and
        ``result.attrs["notes"]`` says which milestones could not be judged.

    Returns
    -------
    pandas.DataFrame
        One row per account; ``attrs["notes"]`` holds notes on the data.

    Raises
    ------
    DataValidationError
        When the data lack something the framework names and
        ``allow_missing`` is false.
    """
    gaps = framework_gaps(framework, dataset)
    if gaps and not allow_missing:
        gaps.append(
            Problem(
                "framework",
                None,
                "the framework does not match these data; fix the names, or score anyway with "
                "--allow-missing (absent milestones then count as not reached, and the output "
                "says which)",
            )
        )
        raise DataValidationError(gaps)
    config = copy.deepcopy(config or Config())
    config.study.observation_days = framework.observation_days
    config.study.horizon_days = framework.horizon_days
    jc = config.journey
    acc = dataset.accounts.set_index("account_id")
    out = pd.DataFrame(index=pd.Index(acc.index, name="account_id"))
    for col in ("plan", "company_size", "seats", "signup_date", "churn_date"):
        if col in acc:
            out[col] = acc[col]
    notes: list[str] = [f"not judged: {p.describe().removeprefix('- ')}" for p in gaps]
    if dataset.kind == "wide":  # thresholds come from the framework: nothing is refitted
        info = wide_outcomes(dataset).reindex(out.index)
    else:
        info = retention_population(dataset, config).set_index("account_id")
    out["eligible"] = info["eligible"].astype(bool)
    out["exclusion_reason"] = info["exclusion_reason"]
    out["retained"] = info["retained"]
    segments = account_segments(dataset.accounts.reset_index(drop=True), config).reindex(out.index)
    out["size_band"] = segments["size_band"]

    reached: dict[str, pd.Series] = {}
    if dataset.kind == "tables":
        window_end = acc["signup_date"] + pd.Timedelta(days=framework.observation_days)
        out["window_complete"] = window_end <= pd.Timestamp(dataset.as_of)
        flags = window_flags(dataset, framework.observation_days)
    else:
        flags = _wide_flags(dataset, framework, notes)
    setup = framework.setup or {}
    if setup.get("steps") and dataset.kind == "tables":
        steps = setup["steps"]
        done = (
            setup_flags(dataset, setup.get("window_days", jc.setup_days)).reindex(
                index=out.index, columns=steps, fill_value=False
            )
            if dataset.setup_steps is not None
            else pd.DataFrame(False, index=out.index, columns=steps)
        )
        out["setup_steps_done"] = done.sum(axis=1).astype(int)
        if setup.get("min_steps"):
            reached["setup"] = out["setup_steps_done"] >= setup["min_steps"]
    act, util = framework.activation, framework.utilization
    if (act or util) and dataset.kind == "tables" and dataset.activity is not None:
        jcfg = Config(study=copy.deepcopy(config.study), journey=copy.deepcopy(jc))
        jcfg.journey.activation_metric = (act or {}).get("metric", jc.activation_metric)
        jcfg.journey.utilization_metric = (util or {}).get("metric", jc.utilization_metric)
        if act:
            jcfg.journey.activation_months = act.get("months", [0, jc.activation_months - 1])[1] + 1
        if util:
            jcfg.journey.utilization_months = util.get("months", jc.utilization_months)
        m = journey_metrics(dataset, jcfg).reindex(out.index)
        if act:
            # thresholds are saved at 6 decimals: compare values at the same precision
            out["activation_value"] = m["activation_value"]
            reached["activation"] = m["activation_value"].round(6) >= act["threshold"]
        if util:
            out["utilization_value"] = m["utilization_value"].round(6)
            reached["utilization"] = out["utilization_value"] >= util["per_seat_threshold"]

    named = sorted({f for c in framework.categories.values() for f in c["features"]})
    absent = [f for f in named if f not in flags.columns]
    if absent:
        notes.append(
            f"{len(absent)} feature(s) of the framework absent from this data, counted as "
            f"not used: {', '.join(absent)}"
        )
    levels = maturity_levels(
        flags.reindex(out.index, fill_value=False), framework.categories, framework.min_categories
    )
    out = out.join(levels)
    if framework.min_categories:
        reached["maturity"] = out["mature"]
    for name, series in reached.items():
        out[name if name != "maturity" else "mature"] = series.astype(bool)
    order = [s for s in STAGES if s in reached]
    stage = pd.Series("none", index=out.index, dtype=object)
    for s in order:  # later milestones overwrite earlier ones: the furthest reached wins
        stage[reached[s].to_numpy(dtype=bool)] = s
    out["stage"] = stage
    out["next_step"] = _next_steps(out, order, reached)
    flags = flags.reindex(out.index, fill_value=False)
    nb = _next_feature(out, flags, framework, segments, _not_proposable(flags, dataset, framework))
    done = (out["next_step"] == "all milestones reached").to_numpy()
    nb.loc[done, ["next_category", "next_feature"]] = None  # nothing left to propose
    out = out.join(nb)
    result = out.reset_index()
    result.attrs["notes"] = notes
    return result


def _wide_flags(dataset: Dataset, framework, notes: list[str]) -> pd.DataFrame:
    """A wide table's flags plus each count column cut at the framework's threshold."""
    flags = dataset.flags.copy()
    counts = dataset.wide.counts if dataset.wide is not None else pd.DataFrame()
    for entry in framework.counts or []:
        if not entry.get("feature"):
            continue
        if entry["column"] not in counts.columns:
            notes.append(
                f"count column {entry['column']!r} of the framework absent from this data: "
                f"{entry['feature']} counted as not reached"
            )
            continue
        # thresholds are saved at 6 decimals: compare values at the same precision
        value = counts[entry["column"]].reindex(flags.index).round(6)
        flags[entry["feature"]] = (value >= entry["threshold"]).to_numpy(dtype=bool)
    return flags


def _not_proposable(flags: pd.DataFrame, dataset: Dataset, framework) -> pd.DataFrame:
    """Account x feature: True where a feature must not be proposed as a next step.

    Levels of an expanded column are alternatives: a choice level is never
    proposed; an add-on level only to accounts with no level flag of its
    column (they are on a skip level, "does not use it").
    """
    blocked = pd.DataFrame(False, index=flags.index, columns=flags.columns)
    wide = dataset.wide
    choices = dict(wide.choices) if wide is not None else {}
    addons = set(wide.addons) if wide is not None else set()
    for entry in framework.choices or []:  # the framework's own record, for other data
        choices.setdefault(entry["name"], [])
        addons |= {f"{entry['name']}={level}" for level in entry.get("addons", [])}
    for column, levels in choices.items():
        prefix = f"{column}="
        members = [f for f in flags.columns if f.startswith(prefix) or f in levels]
        if not members:
            continue
        on_a_level = flags[members].to_numpy(dtype=bool)
        for j, feature in enumerate(members):
            other = np.delete(on_a_level, j, axis=1).any(axis=1)
            blocked[feature] = other if feature in addons else True
    return blocked


def _next_steps(out, order, reached) -> pd.Series:
    nxt = pd.Series("all milestones reached", index=out.index, dtype=object)
    unset = pd.Series(True, index=out.index)
    for s in order:
        miss = unset & ~reached[s]
        nxt[miss] = s
        unset &= ~miss
    return nxt


def _next_feature(out, flags, framework, segments, blocked=None) -> pd.DataFrame:
    """The non-mature category closest to mature and the feature to adopt there.

    ``blocked`` (account x feature, True = never propose) leaves out choices.
    """
    cats = {n: c for n, c in framework.categories.items() if c.get("min_features")}
    res = pd.DataFrame(
        {
            "next_category": pd.Series(None, index=out.index, dtype=object),
            "next_feature": pd.Series(None, index=out.index, dtype=object),
        }
    )
    if not cats:
        return res
    names = list(cats)
    gap = np.column_stack(
        [
            np.where(
                out[f"{n}:mature"], np.inf, cats[n]["min_features"] - out[f"{n}:features_used"]
            )
            for n in names
        ]
    )
    any_gap = np.isfinite(gap).any(axis=1)
    best = np.argmin(np.where(np.isfinite(gap), gap, np.inf), axis=1)
    peer_key = segments["plan"].astype(str) + "|" + segments["size_band"].astype(str)
    for j, name in enumerate(names):
        rows = any_gap & (best == j)
        if not rows.any():
            continue
        feats = cats[name]["features"]
        f = flags.reindex(columns=feats, fill_value=False)
        mature = out[f"{name}:mature"].to_numpy(dtype=bool)
        # adoption of each feature among mature peers (same plan and size band);
        # fall back to all mature accounts
        overall = f[mature].mean() if mature.any() else f.mean()
        peer = (
            f[mature].groupby(peer_key[mature]).mean()
            if mature.any()
            else pd.DataFrame(columns=feats)
        )
        idx = np.flatnonzero(rows)
        keys = peer_key.to_numpy()[idx]
        unused = ~f.to_numpy(dtype=bool)[idx]
        if blocked is not None:
            unused &= ~blocked.reindex(columns=feats, fill_value=False).to_numpy(dtype=bool)[idx]
        table = peer.reindex(keys).to_numpy(dtype=float)
        table = np.where(np.isnan(table), overall.to_numpy(dtype=float)[None, :], table)
        table = np.where(unused, table, -np.inf)
        choice = np.argmax(table, axis=1)
        has = np.isfinite(table[np.arange(len(idx)), choice])
        res.iloc[idx, 0] = name
        res.iloc[idx[has], 1] = np.asarray(feats, dtype=object)[choice[has]]
    return res
