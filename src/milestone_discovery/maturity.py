"""Maturity: categories of selected features and what "mature" means in each.

* Categories come from the product managers' catalog when there is one.
  Independently, categories are proposed from the data: average-linkage
  hierarchical clustering of the selected flags with distance ``1 - phi``
  (co-adoption), the number of clusters chosen by the best silhouette score,
  each cluster named after its two most typical features (highest mean phi
  with the rest of the cluster) so product managers can rename it. When both
  exist, their agreement (adjusted Rand index) and the features whose data
  cluster disagrees with their catalog category are reported: this is how
  the catalog's hypotheses get tested.
* Per category: basic = uses any of its selected features; mature = uses at
  least ``k`` of them. Every threshold is chosen on one half of the
  population and judged on the other (:func:`~milestone_discovery.thresholds.scan_thresholds`,
  the same seeded split for every category and for ``m``): ``k`` by best phi
  against retention, with a bootstrap CI, and the category's held-out lift.
* Overall: mature in at least ``m`` categories. Retention usually rises
  with every mature category, so the best-phi split would simply pick the
  most balanced count. ``m`` is instead the count at which retention *steps
  up beyond that trend*: for each candidate, a logistic model
  ``logit P(retained) = a + b * count + c * [count >= m]`` is fitted on the
  selection half and, among the candidates with ``c > 0`` (a step *up*),
  the best likelihood wins. Its CI is a bootstrap of the selection half
  that redoes every category's ``k`` and then ``m`` on a redrawn feature
  selection (:mod:`~milestone_discovery.selection_draws`), so it carries
  the uncertainty of ``k`` and of the selection. On the held-out half the step is tested against the
  trend (``shape``: ``step``, ``gradual`` or ``none``) and the lift of
  "mature" is measured. When no count steps up, ``m`` is the best-phi count
  and the report says the cut-off is a business choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import stats
from .config import Config
from .errors import InsufficientDataError
from .features import FeatureResult
from .html_repr import key_figures, render_result, table_data
from .maturity_step import best_step, choose_step
from .population import Population
from .selection_draws import draw_selections
from .thresholds import ThresholdScan, scan_thresholds, split_halves

__all__ = ["MaturityResult", "discover_maturity", "propose_categories", "maturity_levels"]


@dataclass
class MaturityResult:
    """Result of the maturity stage.

    Attributes
    ----------
    categories : pandas.DataFrame
        One row per category: features, ``min_features`` (k) with its CI
        (``min_features_low``/``_high``), ``share_mature``, the held-out
        retention of accounts mature in it vs not (``outcome_rate_above`` and
        ``outcome_rate_below``, as in ``framework.json``) and their ratio
        ``lift``, each with ``_low``/``_high``, ``phi``, ``shape``.
    assignments : pandas.DataFrame
        One row per selected feature: catalog category, data cluster, the
        category used, and whether catalog and data agree.
    by_count : pandas.DataFrame
        Retention (with Wilson CI) by number of mature categories.
    min_categories : int
        ``m``: mature overall when mature in at least ``m`` categories.
    """

    categories: pd.DataFrame
    assignments: pd.DataFrame
    by_count: pd.DataFrame
    min_categories: int | None
    overall: ThresholdScan | None
    step: dict | None
    category_scans: dict[str, ThresholdScan]
    source: str
    adjusted_rand_index: float | None
    n_clusters: int | None
    silhouette: float | None
    levels: pd.DataFrame = field(repr=False, default=None)
    notes: list[str] = field(default_factory=list)

    @property
    def share_mature(self) -> float:
        return (
            float(self.levels["mature"].mean())
            if self.levels is not None and len(self.levels)
            else float("nan")
        )

    @property
    def disagreements(self) -> pd.DataFrame:
        """Selected features whose data cluster does not match their catalog category."""
        a = self.assignments
        return a[a["agrees"] == False]  # noqa: E712 - NaN means no catalog

    def to_frame(self) -> pd.DataFrame:
        """The categories table (a copy): one row per maturity category."""
        return self.categories.copy()

    def summary(self) -> pd.DataFrame:
        """Headline figures: categories, the overall rule ``m`` with its CI, share mature.

        Returns
        -------
        pandas.DataFrame
            Columns ``quantity`` and ``value``.
        """
        ci = self.step["ci"] if self.step else (None, None)
        return key_figures(
            [
                ("categories", len(self.categories)),
                ("categories from", self.source),
                ("mature overall: mature in at least m categories, m", self.min_categories),
                ("m, low", ci[0]),
                ("m, high", ci[1]),
                ("shape of the step at m", None if self.overall is None else self.overall.shape),
                ("share of accounts mature", self.share_mature),
                ("catalog vs data clusters, adjusted Rand index", self.adjusted_rand_index),
                ("data clusters", self.n_clusters),
                ("features whose data cluster disagrees with the catalog", len(self.disagreements)),
            ]
        )

    def _repr_html_(self) -> str:
        cols = ["category", "n_features", "min_features", "min_features_low", "min_features_high"]
        cols += ["share_mature", "outcome_rate_above", "outcome_rate_below", "lift", "lift_low"]
        cols += ["lift_high", "shape"]
        return render_result(
            "Maturity",
            lead=f"{len(self.categories)} categories ({self.source})",
            facts=self.summary(),
            charts=[self.plot_retention_by_count],
            tables=[
                table_data(self.categories, "Categories", columns=cols),
                table_data(self.by_count, "Retention by number of mature categories"),
            ],
            notes=self.notes,
        )

    def plot_retention_by_count(self, ax=None):
        """Retention by number of mature categories, with 95% CIs and the chosen m.

        Drawn by :func:`milestone_discovery.plotting.plot_retention_by_count`, as in the report.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib Axes
        """
        from .plotting import plot_retention_by_count  # charts load only when drawn

        return plot_retention_by_count(self.by_count, self.min_categories, ax=ax)

    def plot_categories(self, ax=None):
        """Share of accounts using each category at all, and mature in it.

        Drawn by :func:`milestone_discovery.plotting.plot_categories`, as in the report.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib Axes
        """
        from .plotting import plot_categories  # charts load only when drawn

        return plot_categories(self.categories, ax=ax)


# ----------------------------------------------------------------------------- clustering
def propose_categories(
    flags: pd.DataFrame, max_clusters: int = 8
) -> tuple[pd.Series, float | None, int]:
    """Group flags by co-adoption: hierarchical clustering on ``1 - phi``.

    Parameters
    ----------
    flags : pandas.DataFrame
        Accounts x features, bool.
    max_clusters : int
        Largest number of clusters tried.

    Returns
    -------
    clusters : pandas.Series
        feature -> cluster name ("a + b": its two most typical features).
    silhouette : float or None
        Silhouette score of the chosen clustering (None when too few features).
    n_clusters : int
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.metrics import silhouette_score

    names = list(flags.columns)
    p = len(names)
    if p < 3:
        return pd.Series({f: f for f in names}, dtype=object), None, p
    X = flags.to_numpy(dtype=float)
    phi = np.corrcoef(X, rowvar=False)
    phi = np.nan_to_num(phi, nan=0.0)
    dist = np.clip(1 - phi, 0, 2)
    np.fill_diagonal(dist, 0)
    tree = linkage(squareform(dist, checks=False), method="average")
    best = (None, -np.inf, None)
    for k in range(2, min(max_clusters, p - 1) + 1):
        labels = fcluster(tree, k, criterion="maxclust")
        if len(set(labels)) < 2:
            continue
        score = silhouette_score(dist, labels, metric="precomputed")
        if score > best[1] + 1e-12:
            best = (labels, score, k)
    labels, score, k = best
    if labels is None:
        labels, score, k = np.ones(p, dtype=int), None, 1
    out = {}
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(labels == lab)
        if len(idx) == 1:
            title = names[idx[0]]
        else:
            within = phi[np.ix_(idx, idx)]
            typical = (within.sum(axis=1) - 1) / (len(idx) - 1)
            top = [names[idx[i]] for i in np.argsort(-typical, kind="stable")[:2]]
            title = " + ".join(top)
        for i in idx:
            out[names[i]] = title
    return (
        pd.Series(out, dtype=object).reindex(names),
        (None if score is None else float(score)),
        int(k),
    )


# ----------------------------------------------------------------------------- levels
def maturity_levels(
    flags: pd.DataFrame, categories: dict[str, dict], min_categories: int | None
) -> pd.DataFrame:
    """Per account: features used per category, mature per category, count and overall.

    Parameters
    ----------
    flags : pandas.DataFrame
        Accounts x features, bool (missing features count as not used).
    categories : dict
        name -> {"features": [...], "min_features": k or None}.
    min_categories : int or None
    """
    out = pd.DataFrame(index=flags.index)
    mature_cols = []
    for name, spec in categories.items():
        feats = [f for f in spec["features"]]
        used = flags.reindex(columns=feats, fill_value=False).to_numpy(dtype=bool).sum(axis=1)
        out[f"{name}:features_used"] = used
        k = spec.get("min_features")
        if k is not None:
            out[f"{name}:mature"] = used >= k
            mature_cols.append(f"{name}:mature")
    out["mature_categories"] = out[mature_cols].sum(axis=1).astype(int) if mature_cols else 0
    out["mature"] = (out["mature_categories"] >= min_categories) if min_categories else False
    return out


# ----------------------------------------------------------------------------- stage
def discover_maturity(
    population: Population,
    features: FeatureResult,
    config: Config | None = None,
    *,
    progress: bool = True,
) -> MaturityResult:
    """Group selected features into categories and choose the "mature" thresholds.

    Parameters
    ----------
    population : Population
    features : FeatureResult
        Its ``selected`` features are grouped.
    config : Config, optional
        ``config.maturity`` (minimum share on each side, bootstrap size,
        category source) and ``config.study.seed``.

    Returns
    -------
    MaturityResult
    """
    config = config or Config()
    mcfg = config.maturity
    seed = config.study.seed
    alpha = config.features.alpha
    selected = sorted(features.selected)
    y = population.retained.to_numpy(dtype=bool)
    if not selected:
        return _empty_result(
            population,
            "no feature was selected by feature discovery, so there are no "
            "maturity categories: see the features table for each feature's reason",
        )
    flags = population.flags[selected]
    notes: list[str] = []
    selection = split_halves(y, seed)

    catalog = population.catalog.reindex(selected)
    clusters, silhouette, n_clusters = propose_categories(flags, mcfg.max_clusters)
    has_catalog = catalog.notna().any()
    source = (
        mcfg.categories if mcfg.categories != "auto" else ("catalog" if has_catalog else "data")
    )
    if source == "catalog" and not has_catalog:
        raise InsufficientDataError(
            "maturity.categories = 'catalog' but the dataset has no feature catalog"
        )
    if source == "catalog":
        used = catalog.fillna("uncategorised")
        if catalog.isna().any():
            notes.append(
                f"{int(catalog.isna().sum())} selected feature(s) have no catalog category: "
                "grouped as 'uncategorised'"
            )
    else:
        used = clusters

    ari = None
    if has_catalog and catalog.notna().sum() >= 2:
        from sklearn.metrics import adjusted_rand_score

        known = catalog.notna()
        ari = float(adjusted_rand_score(catalog[known], clusters[known]))
    majority = (
        pd.DataFrame({"catalog": catalog, "cluster": clusters})
        .dropna()
        .groupby("cluster")["catalog"]
        .agg(lambda s: s.value_counts().sort_index().idxmax())
    )
    assignments = pd.DataFrame(
        {
            "feature": selected,
            "catalog_category": catalog.to_numpy(dtype=object),
            "data_cluster": clusters.to_numpy(dtype=object),
            "category": used.to_numpy(dtype=object),
        }
    )
    assignments["cluster_majority_category"] = assignments["data_cluster"].map(majority)
    assignments["agrees"] = np.where(
        assignments["catalog_category"].isna(),
        None,
        assignments["catalog_category"] == assignments["cluster_majority_category"],
    )

    rows, scans, specs, used_counts = [], {}, {}, {}
    for name in sorted(assignments["category"].unique()):
        feats = assignments.loc[assignments["category"] == name, "feature"].tolist()
        used_count = flags[feats].to_numpy(dtype=bool).sum(axis=1)
        row = {
            "category": name,
            "features": feats,
            "n_features": len(feats),
            "share_basic": float((used_count >= 1).mean()),
        }
        try:
            scan = scan_thresholds(
                used_count,
                y,
                candidates=np.arange(1, len(feats) + 1),
                min_share=mcfg.min_side_share,
                n_bootstrap=mcfg.n_bootstrap,
                random_state=seed,
                alpha=alpha,
                selection=selection,
                metric_name=f"{name}: features used",
                outcome_name="retention",
            )
        except InsufficientDataError as exc:
            notes.append(f"category '{name}' has no usable 'mature' threshold: {exc}")
            specs[name] = {"features": feats, "min_features": None}
            rows.append(row | {"min_features": None})
            continue
        scans[name] = scan
        used_counts[name] = used_count
        k = int(scan.threshold)
        specs[name] = {"features": feats, "min_features": k}
        rows.append(
            row
            | {
                "min_features": k,
                "min_features_low": scan.ci[0],
                "min_features_high": scan.ci[1],
                "share_mature": scan.share_above,
                "outcome_rate_above": scan.rate_above,
                "outcome_rate_above_low": scan.rate_above_ci[0],
                "outcome_rate_above_high": scan.rate_above_ci[1],
                "outcome_rate_below": scan.rate_below,
                "outcome_rate_below_low": scan.rate_below_ci[0],
                "outcome_rate_below_high": scan.rate_below_ci[1],
                "lift": scan.lift,
                "lift_low": scan.lift_ci[0],
                "lift_high": scan.lift_ci[1],
                "phi": scan.phi,
                "shape": scan.shape,
                "bootstrap_agreement": scan.bootstrap_agreement,
            }
        )
    categories = pd.DataFrame(rows)

    levels = maturity_levels(population.flags, specs, None)
    counts = levels["mature_categories"].to_numpy()
    n_thresholded = len(used_counts)
    overall, m, step = None, mcfg.min_categories, None
    if n_thresholded >= 1:
        candidates = np.arange(1, n_thresholded + 1)
        try:
            if m is None:
                step = choose_step(
                    counts[selection],
                    y[selection],
                    candidates,
                    min_share=mcfg.min_side_share,
                    n_bootstrap=mcfg.n_bootstrap,
                    random_state=seed,
                    alpha=alpha,
                    category_counts={c: v[selection] for c, v in used_counts.items()},
                    category_candidates={
                        c: np.arange(1, len(specs[c]["features"]) + 1) for c in used_counts
                    },
                    **_selection_uncertainty(
                        population, features, config, source, specs, used_counts, selection
                    ),
                )
                m = step["m"]
            if m is None:  # no count steps up: the best-phi count, a business choice
                overall = scan_thresholds(
                    counts,
                    y,
                    candidates=candidates,
                    min_share=mcfg.min_side_share,
                    n_bootstrap=mcfg.n_bootstrap,
                    random_state=seed,
                    alpha=alpha,
                    selection=selection,
                    metric_name="mature categories",
                    outcome_name="retention",
                )
                m = int(overall.threshold)
                notes.append(
                    "retention does not step up at any number of mature categories "
                    "on the selection "
                    f"half; m = {m} is the best-separating count, a business choice"
                )
            else:
                # the step test replays how m was chosen: the step-up rule, or nothing
                # when the config fixed m
                if step is not None:

                    def rule(levels, accounts, positives):
                        keep = accounts > 0
                        return best_step(
                            levels[keep],
                            positives[keep],
                            accounts[keep],
                            candidates,
                            mcfg.min_side_share,
                        )[0]
                else:

                    def rule(levels, accounts, positives):
                        return m

                overall = scan_thresholds(
                    counts,
                    y,
                    candidates=[m],
                    min_share=0.0,
                    n_bootstrap=0,
                    random_state=seed,
                    alpha=alpha,
                    selection=selection,
                    step_rule=rule,
                    metric_name="mature categories",
                    outcome_name="retention",
                )
        except InsufficientDataError as exc:
            notes.append(f"no usable overall threshold: {exc}")
            m = None
    levels = maturity_levels(population.flags, specs, m)
    by_count = _retention_by_count(counts, y)
    return MaturityResult(
        categories=categories,
        assignments=assignments,
        by_count=by_count,
        min_categories=m,
        overall=overall,
        step=step,
        category_scans=scans,
        source=source,
        adjusted_rand_index=ari,
        n_clusters=n_clusters,
        silhouette=silhouette,
        levels=levels,
        notes=notes,
    )


def _selection_uncertainty(population, features, config, source, specs, used_counts, rows):
    """``category_flags`` and ``selections`` for :func:`choose_step`: which features each
    category could hold in a redrawn selection (with a catalog, any candidate of that
    category; with data clusters, only its selected features), on the selection half."""
    draws = draw_selections(
        features.features, config.features, config.maturity.n_bootstrap, config.study.seed
    )
    if source == "catalog":
        home = population.catalog.reindex(draws.columns).fillna("uncategorised")
    else:
        home = pd.Series(
            {f: name for name in used_counts for f in specs[name]["features"]}, dtype=object
        ).reindex(draws.columns)
    category_flags = {
        name: population.flags.loc[rows, home.index[home == name]] for name in used_counts
    }
    return {"category_flags": category_flags, "selections": draws}


def _empty_result(population: Population, why: str) -> MaturityResult:
    """Nothing to group: a valid, empty result that says why."""
    levels = maturity_levels(population.flags, {}, None)
    return MaturityResult(
        categories=pd.DataFrame(columns=["category", "features", "n_features", "min_features"]),
        assignments=pd.DataFrame(
            columns=[
                "feature",
                "catalog_category",
                "data_cluster",
                "category",
                "cluster_majority_category",
                "agrees",
            ]
        ),
        by_count=pd.DataFrame(
            columns=[
                "mature_categories",
                "accounts",
                "share",
                "retention",
                "retention_low",
                "retention_high",
            ]
        ),
        min_categories=None,
        overall=None,
        step=None,
        category_scans={},
        source="none",
        adjusted_rand_index=None,
        n_clusters=None,
        silhouette=None,
        levels=levels,
        notes=[why],
    )


def _retention_by_count(counts: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    rows = []
    for k in range(int(counts.max()) + 1 if len(counts) else 0):
        member = counts == k
        n = int(member.sum())
        kept = int(y[member].sum())
        low, high = stats.wilson_interval(kept, n)
        rows.append(
            {
                "mature_categories": k,
                "accounts": n,
                "share": n / len(y),
                "retention": kept / n if n else np.nan,
                "retention_low": float(low),
                "retention_high": float(high),
            }
        )
    return pd.DataFrame(rows)
