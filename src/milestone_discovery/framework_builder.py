"""Build the :class:`~milestone_discovery.framework.Framework` from the stage results.

:func:`build_framework` is the one writer of ``framework.json``'s content
(its contract is :mod:`milestone_discovery.schema`); :func:`funnel_table`
counts accounts reaching each milestone of a scored table.
"""

from __future__ import annotations

import pandas as pd

from . import stats
from .config import Config
from .covariates import factor_effects
from .data import Dataset
from .features import FeatureResult
from .framework import Framework
from .journey import JourneyResult, compare_rates
from .maturity import MaturityResult
from .population import Population

__all__ = ["build_framework", "funnel_table"]


def _scan_dict(scan, **extra) -> dict:
    return {**extra, **scan.to_dict()}


def _caveats(config: Config, features: FeatureResult, dataset: Dataset) -> list[str]:
    """Plain-words limits of what was adjusted for, when they matter to the findings."""
    if not features.selected or config.features.adjust_for_early_activity:
        return []
    if dataset.kind != "tables" or dataset.activity is None:
        return []
    return [
        f"Milestone effects are adjusted for {features.adjusted_for}, not for how engaged an "
        "account was from the start: engaged accounts tend both to adopt more features and to "
        "stay, so a selected feature may mark engagement rather than cause retention. To see "
        "which milestones hold beyond early engagement, re-run with "
        "features.adjust_for_early_activity = true."
    ]


def build_framework(
    config: Config,
    population: Population,
    features: FeatureResult,
    maturity: MaturityResult,
    journey: JourneyResult,
    dataset: Dataset,
) -> Framework:
    """Collect the stage results into a :class:`Framework`."""
    jc = config.journey
    feat_cols = [
        "feature",
        "category",
        "status",
        "reason",
        "prevalence",
        "adopters",
        "retention_adopters",
        "retention_non_adopters",
        "lift",
        "phi",
        "raw_or",
        "adj_or",
        "adj_or_low",
        "adj_or_high",
        "adj_p_holm",
        "min_detectable_or",
        "importance",
        "importance_se",
        "importance_q",
        "stability",
        "marginal_importance",
        "shap_mean_abs",
        "impurity_importance_biased",
    ]
    feat = features.features[feat_cols]
    feat = feat.sort_values("feature", kind="stable")
    feature_list = [
        {k: (None if (isinstance(v, float) and pd.isna(v)) else v) for k, v in row.items()}
        for row in feat.to_dict(orient="records")
    ]
    cats = []
    for row in maturity.categories.to_dict(orient="records"):
        entry = {
            "name": row["category"],
            "features": row["features"],
            "min_features": row.get("min_features"),
        }
        if row.get("min_features") is not None and pd.notna(row.get("min_features")):
            scan = maturity.category_scans[row["category"]]
            entry["min_features"] = int(row["min_features"])
            entry["min_features_ci"] = [scan.ci[0], scan.ci[1]]
            entry.update(
                {k: v for k, v in scan.to_dict().items() if k not in ("threshold", "threshold_ci")}
            )
            entry["share_basic"] = row["share_basic"]
        cats.append(entry)
    overall = maturity.overall
    maturity_dict = {
        "source": maturity.source,
        "categories": cats,
        "min_categories": maturity.min_categories,
        "shape": overall.shape if overall is not None else "none",
        "min_categories_holdout": (
            {k: v for k, v in overall.to_dict().items() if k not in ("threshold", "threshold_ci")}
            if overall is not None
            else None
        ),
        "min_categories_ci": list(maturity.step["ci"]) if maturity.step else None,
        "min_categories_bootstrap_agreement": maturity.step["bootstrap_agreement"]
        if maturity.step
        else None,
        "min_categories_bootstrap_no_step": maturity.step["bootstrap_no_step"]
        if maturity.step
        else None,
        "share_mature": maturity.share_mature,
        "retention_by_mature_categories": maturity.by_count.to_dict(orient="records"),
        "adjusted_rand_index_catalog_vs_data": maturity.adjusted_rand_index,
        "data_clusters": {"n_clusters": maturity.n_clusters, "silhouette": maturity.silhouette},
        "catalog_disagreements": maturity.disagreements[
            ["feature", "catalog_category", "data_cluster", "cluster_majority_category"]
        ].to_dict(orient="records"),
    }
    if maturity.overall is not None and maturity.min_categories is not None:
        reached = maturity.levels["mature"].to_numpy()
        maturity_dict["mature_vs_not"] = compare_rates(
            "retained", reached, population.retained.to_numpy()
        )
    activation = utilization = setup = None
    if journey.activation is not None:
        activation = _scan_dict(
            journey.activation,
            metric=jc.activation_metric,
            window_days=jc.activation_months * 30,
            months=[0, jc.activation_months - 1],
            outcome=journey.activation.outcome,
        )
        activation["validation"] = journey.activation_validation.to_dict(orient="records")
    if journey.utilization is not None:
        s = journey.utilization.to_dict()
        utilization = {
            "metric": jc.utilization_metric,
            "per_seat_threshold": s.pop("threshold"),
            "per_seat_threshold_ci": s.pop("threshold_ci"),
            "months": list(jc.utilization_months),
            "outcome": "retention",
            **s,
            "raw_volume_threshold": journey.utilization_raw.threshold,
            "attainment_by_size": journey.utilization_by_size.to_dict(orient="records"),
        }
    if journey.setup_steps is not None:
        table = journey.setup_steps
        setup = {
            "window_days": jc.setup_days,
            "steps": journey.checklist,
            "min_steps": int(journey.setup.threshold) if journey.setup is not None else None,
            "dropped": [
                {"step": r.step, "reason": r.status.replace("dropped_", ""), "detail": r.reason}
                for r in table.itertuples()
                if r.status != "checklist"
            ],
            "table": table.drop(columns=["reason"]).to_dict(orient="records"),
        }
        if journey.setup is not None:
            setup.update(
                {
                    f"min_steps_{k}": v
                    for k, v in journey.setup.to_dict().items()
                    if k != "threshold"
                }
            )
    m = features.metrics.set_index("model")
    adjusted = not features.adjusted_for.startswith("nothing")
    model = {
        "n_accounts": features.n_accounts,
        "covariates": features.covariates,
        "adjusted_for": features.adjusted_for,
        # False: the "adjusted" odds ratios equal the raw ones (nothing to adjust for)
        "adjusted": adjusted,
        # what the baseline ("covariates") model knows, in plain words
        "baseline": (
            f"{features.adjusted_for} only"
            if features.covariates
            else "nothing: the average retention rate (ROC-AUC 0.5 by construction)"
        ),
        "metrics": features.metrics.to_dict(orient="records"),
        "roc_auc_gain_vs_covariates": float(
            m.loc["covariates+features", "roc_auc_gain_vs_covariates"]
        ),
    }
    effects = factor_effects(population, config.features.alpha)
    data = {
        "kind": dataset.kind,
        "accounts": int(len(dataset.accounts)),
        "eligible": population.n_eligible,
        "retention_rate": population.retention_rate,
        "exclusions": {r.reason: int(r.accounts) for r in population.exclusions.itertuples()},
        "journey_exclusions": (
            journey.exclusions.to_dict(orient="records") if journey.exclusions is not None else []
        ),
        "skipped_stages": journey.skipped,
        "notes": list(dataset.notes) + list(maturity.notes) + _caveats(config, features, dataset),
    }
    return Framework(
        as_of=dataset.as_of.isoformat() if dataset.as_of else None,
        observation_days=config.study.observation_days,
        horizon_days=config.study.horizon_days,
        seed=config.study.seed,
        features=feature_list,
        maturity=maturity_dict,
        activation=activation,
        utilization=utilization,
        setup=setup,
        covariates={
            "adjusted_for_in_features": features.adjusted_for,
            "factors": effects["covariates"],
        },
        choices=effects["choices"] if dataset.kind == "wide" else None,
        counts=_count_sections(population, features, dataset) if dataset.kind == "wide" else None,
        data=data,
        model=model,
    )


def _count_sections(
    population: Population, features: FeatureResult, dataset: Dataset
) -> list[dict]:
    """Per count column: the threshold chosen, its held-out lift and shape, its flag's status."""
    status = features.features.set_index("feature")["status"]
    out = []
    for col, scan in population.count_scans.items():
        name = population.count_features[col]
        out.append(
            {
                "column": col,
                "feature": name,
                "status": status.get(name),
                "metric": scan.metric,
                "outcome": scan.outcome,
                **scan.to_dict(),
            }
        )
    for col, why in population.count_skipped.items():
        out.append({"column": col, "feature": None, "status": "no_threshold", "skipped": why})
    order = list(dataset.wide.counts.columns) if dataset.wide is not None else []
    return sorted(
        out, key=lambda e: order.index(e["column"]) if e["column"] in order else len(order)
    )


def funnel_table(accounts: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """The funnel on the retention population, in milestone order.

    One row per stage (``none`` first): accounts that reached the milestone
    (``reached``), those that reached it and every earlier one
    (``reached_in_order``) and the ``conversion`` from the previous stage in
    that sense, accounts whose furthest milestone it is (``at_stage``) and
    their retention with a Wilson 95% CI.
    """
    elig = accounts[accounts["eligible"].astype(bool)]
    milestones = [s for s in ("setup", "activation", "utilization", "mature") if s in elig.columns]
    rows, still, prev = [], pd.Series(True, index=elig.index), len(elig)
    for name in ["none"] + milestones:
        stage = "maturity" if name == "mature" else name
        hit = elig[name].astype(bool) if name != "none" else pd.Series(True, index=elig.index)
        still = still & hit
        in_order = int(still.sum())
        member = elig["stage"] == stage
        n, kept = int(member.sum()), int(elig.loc[member, "retained"].astype(float).sum())
        lo, hi = stats.wilson_interval(kept, n)
        rows.append(
            {
                "stage": stage,
                "reached": int(hit.sum()),
                "share_reached": float(hit.mean()) if len(elig) else float("nan"),
                "reached_in_order": in_order,
                "conversion": in_order / prev if prev else float("nan"),
                "at_stage": n,
                "retention": kept / n if n else float("nan"),
                "retention_low": float(lo),
                "retention_high": float(hi),
            }
        )
        prev = in_order
    return pd.DataFrame(rows)
