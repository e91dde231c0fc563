"""Feature discovery: which feature-usage flags predict retention, and which are traps.

Every feature ends with a status and a reason (see :data:`STATUSES`). The
steps, in order:

1. Association per feature: prevalence (overall, per plan and size band),
   retention of adopters vs non-adopters, lift, phi, raw odds ratio, and an
   odds ratio adjusted for size and plan (Mantel-Haenszel across
   size-stratum x plan strata) with its 95% CI.
2. Screening filters, each a parameter with a recorded reason: ``leaky``
   (first use clusters just before churn, or an association too strong to be
   true), ``ubiquitous``, ``niche``, ``segment``.
3. A random forest with size and plan covariates, evaluated out of sample by
   repeated stratified K-fold (default: 5 x 2-fold, i.e. half-sample refits):
   ROC-AUC, PR-AUC and Brier for covariates only and covariates + features.
4. Held-out permutation importance on every split. For a 0/1 flag it is
   computed exactly in expectation instead of by Monte-Carlo shuffles: each
   held-out row's flag is redrawn from its held-out prevalence, so the
   expected log-loss is ``p * loss(flag=1) + (1-p) * loss(flag=0)``; one
   extra prediction per feature and no shuffling noise (on held-out halves
   larger than ``permutation_max_rows`` a fixed random subset is used). SHAP mean |value|
   (TreeExplainer on a bounded held-out sample) and impurity importance
   (biased towards frequent flags; shown for reference only) are reported
   beside it.
5. Stability selection: the share of splits in which a feature carries at
   least ``importance_threshold`` of the split's largest importance among
   features with a positive adjusted effect (a dominant negative feature must
   not hide the positive ones). A feature that is not stably important is
   ``unimportant``.
6. Decision: ``negative`` (adjusted effect significantly below 1),
   ``confounded`` (raw association significant, adjusted one not),
   ``unimportant``, else ``selected``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

from . import stats
from ._progress import progress_bar
from ._treeflip import forest_predictions
from .config import Config, FeatureConfig
from .errors import InsufficientDataError
from .population import Population

__all__ = ["FeatureResult", "discover_features", "STATUSES", "DROP_REASONS"]

DROP_REASONS = {
    "leaky": "first use clusters just before churn, or the association is too strong to be true",
    "ubiquitous": "used by nearly everyone: cannot separate accounts",
    "niche": "used by too few accounts to be a milestone",
    "segment": "adopters concentrated in one plan or size band",
    "negative": "adoption goes with churn after adjusting for size and plan",
    "confounded": "the raw association disappears after adjusting for size and plan",
    "unimportant": "not stably important in the held-out retention model (its signal may be carried by "
                   "correlated features), or no clear adjusted effect",
}
STATUSES = ["selected"] + [f"dropped_{r}" for r in DROP_REASONS]
_EPS = 1e-6


@dataclass
class FeatureResult:
    """Result of feature discovery.

    Attributes
    ----------
    features : pandas.DataFrame
        One row per feature: prevalence (overall and per segment), adopters'
        and non-adopters' retention, lift, phi, raw and adjusted odds ratios
        with CIs, permutation importance (mean, sd), SHAP, impurity
        importance, stability, status and reason.
    metrics : pandas.DataFrame
        Held-out model metrics (mean and sd over splits) for covariates only
        and covariates + features.
    timings : dict
        Seconds spent per step.
    """

    features: pd.DataFrame
    metrics: pd.DataFrame
    config: FeatureConfig
    n_accounts: int
    retention_rate: float
    covariates: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def selected(self) -> list[str]:
        """Selected features, most important first."""
        sel = self.features[self.features["status"] == "selected"]
        return sel.sort_values("perm_importance", ascending=False)["feature"].tolist()

    def status_counts(self) -> pd.Series:
        return self.features["status"].value_counts().reindex(STATUSES, fill_value=0)

    def to_frame(self) -> pd.DataFrame:
        """The tidy features table (a copy)."""
        return self.features.copy()

    # -- display -------------------------------------------------------------------
    def _repr_html_(self) -> str:
        m = self.metrics.set_index("model")
        auc = m["roc_auc_mean"]
        counts = self.status_counts()
        head = (
            f"<div><strong>Feature discovery</strong>: {self.n_accounts:,} accounts, "
            f"retention {self.retention_rate:.1%}, {len(self.features)} features, "
            f"{counts['selected']} selected. Held-out ROC-AUC covariates only "
            f"{auc.get('covariates', float('nan')):.3f}, with features "
            f"{auc.get('covariates+features', float('nan')):.3f}.</div>"
        )
        cols = ["feature", "category", "status", "prevalence", "lift", "adj_or", "adj_or_low",
                "adj_or_high", "perm_importance", "stability"]
        table = self.features[[c for c in cols if c in self.features]].round(3)
        from .plotting import safe_figure_html

        return (head + self.status_counts().to_frame("features").T.to_html(escape=True)
                + safe_figure_html(lambda: self.plot_importance(top=20))
                + table.to_html(index=False, escape=True, max_rows=40))

    def plot_importance(self, top: int = 30, ax=None):
        """Held-out permutation importance with its spread over splits (bar = mean, line = sd)."""
        import matplotlib.pyplot as plt

        from .plotting import STATUS_COLORS

        data = self.features.dropna(subset=["perm_importance"]).nlargest(top, "perm_importance")[::-1]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.25 * len(data) + 1.2))
        colors = [STATUS_COLORS.get(s, "grey") for s in data["status"]]
        ax.barh(data["feature"], data["perm_importance"], xerr=data["perm_importance_sd"],
                color=colors, error_kw={"elinewidth": 0.8})
        ax.set_xlabel("held-out permutation importance (increase in log loss)")
        ax.set_title("Which features predict retention")
        _status_legend(ax, data["status"])
        ax.figure.tight_layout()
        return ax.figure

    def plot_prevalence_importance(self, ax=None):
        """Prevalence vs importance, with the ubiquitous and niche zones shaded."""
        import matplotlib.pyplot as plt

        from .plotting import STATUS_COLORS

        data = self.features
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        ax.axvspan(0, self.config.min_prevalence, color="0.85", zorder=0)
        ax.axvspan(self.config.max_prevalence, 1, color="0.85", zorder=0)
        ymax = float(np.nanmax(data["perm_importance"])) if data["perm_importance"].notna().any() else 1.0
        ax.text(self.config.min_prevalence / 2, ymax, "niche", ha="center", va="top", rotation=90, fontsize=8)
        ax.text((1 + self.config.max_prevalence) / 2, ymax, "ubiquitous", ha="center", va="top", rotation=90, fontsize=8)
        for status, group in data.groupby("status"):
            ax.scatter(group["prevalence"], group["perm_importance"].fillna(0), s=22,
                       color=STATUS_COLORS.get(status, "grey"), label=status, zorder=2)
        ax.set_xlim(0, 1)
        ax.set_xlabel("prevalence (share of accounts adopting in the window)")
        ax.set_ylabel("held-out permutation importance")
        ax.set_title("Prevalence vs importance")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
        ax.figure.tight_layout()
        return ax.figure


def _status_legend(ax, statuses) -> None:
    from matplotlib.patches import Patch

    from .plotting import STATUS_COLORS

    present = [s for s in STATUSES if s in set(statuses)]
    ax.legend(handles=[Patch(color=STATUS_COLORS[s], label=s) for s in present], fontsize=7, loc="lower right")


# ----------------------------------------------------------------------------- association
def _association(pop: Population, alpha: float) -> pd.DataFrame:
    X = pop.flags.to_numpy(dtype=bool)
    y = pop.retained.to_numpy(dtype=bool)
    a, b, c, d = stats.cell_counts(X, y)
    n1, n0 = a + b, c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        ret1, ret0 = a / n1, c / n0
    raw_or, raw_low, raw_high = stats.odds_ratio(X, y, alpha)
    raw_p = _raw_p_value(a, b, c, d)
    strata = pop.segments["size_stratum"].astype(str) + "|" + pop.segments["plan"].astype(str)
    mh = stats.mantel_haenszel(X, y, strata.to_numpy(), alpha)
    out = pd.DataFrame({
        "feature": pop.flags.columns.astype(str),
        "category": pop.catalog.reindex(pop.flags.columns).fillna("").to_numpy(dtype=object),
        "adopters": n1.astype(int),
        "prevalence": n1 / len(y),
        "retention_adopters": ret1,
        "retention_non_adopters": ret0,
        "lift": ret1 / ret0,
        "phi": stats.phi_coefficient(X, y),
        "raw_or": raw_or, "raw_or_low": raw_low, "raw_or_high": raw_high, "raw_p": raw_p,
        "raw_p_holm": _holm(raw_p),
        "adj_or": mh["or_mh"].to_numpy(), "adj_or_low": mh["or_low"].to_numpy(),
        "adj_or_high": mh["or_high"].to_numpy(), "adj_p": mh["p_value"].to_numpy(),
        "adj_p_holm": _holm(mh["p_value"].to_numpy()),
    })
    return out


def _raw_p_value(a, b, c, d) -> np.ndarray:
    """Pearson chi-square p-value of each 2x2 table (no continuity correction)."""
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    from scipy.stats import chi2 as _chi2

    return _chi2.sf(chi2, 1)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (NaN stays NaN)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def _segment_concentration(pop: Population) -> pd.DataFrame:
    """For each feature, the segment holding the largest share of its adopters."""
    X = pop.flags.to_numpy(dtype=np.float64)
    adopters = X.sum(axis=0)
    best_share = np.zeros(X.shape[1])
    best_pop = np.ones(X.shape[1])
    best_name = np.array([""] * X.shape[1], dtype=object)
    prevalence = {}
    for column in ("plan", "size_band"):
        values = pop.segments[column].astype(str).to_numpy()
        for value in sorted(set(values)):
            member = values == value
            pop_share = member.mean()
            share = (X[member].sum(axis=0) / np.maximum(adopters, 1))
            prevalence[f"prevalence[{column}={value}]"] = X[member].mean(axis=0)
            better = share > best_share
            best_share = np.where(better, share, best_share)
            best_pop = np.where(better, pop_share, best_pop)
            best_name = np.where(better, f"{column}={value}", best_name)
    out = pd.DataFrame({"top_segment": best_name, "top_segment_adopter_share": best_share,
                        "top_segment_population_share": best_pop})
    return pd.concat([out, pd.DataFrame(prevalence)], axis=1)


# ----------------------------------------------------------------------------- model
def _forest(cfg: FeatureConfig, seed: int, n_estimators: int | None = None) -> RandomForestClassifier:
    """The forest of the study: bounded depth and leaf size, balanced classes, covariates included."""
    return RandomForestClassifier(
        n_estimators=n_estimators or cfg.n_estimators, max_depth=cfg.max_depth, min_samples_leaf=cfg.min_samples_leaf,
        max_features="sqrt", class_weight="balanced", n_jobs=-1, random_state=seed,
    )


def _log_loss_rows(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def expected_permutation_importance(model, X: np.ndarray, y: np.ndarray, columns) -> tuple[np.ndarray, np.ndarray]:
    """Exact expected permutation importance of 0/1 columns (increase in mean log loss).

    Permuting a 0/1 column redraws each row's value from the column's
    prevalence ``p``, so the expected loss of row i is
    ``p * loss(x_ij=1) + (1 - p) * loss(x_ij=0)``: only the prediction with
    the flag flipped is needed, which :func:`forest_predictions` computes
    exactly by walking each tree once per row.

    Returns
    -------
    importance : ndarray, one value per column
    base : ndarray
        The unmodified predictions (class 1 probability) of the rows.
    """
    columns = list(columns)
    base, flipped = forest_predictions(model, X, columns)
    base_loss = _log_loss_rows(base, y)
    out = np.zeros(len(columns))
    for k, j in enumerate(columns):
        col = X[:, j]
        p = col.mean()
        flip_loss = _log_loss_rows(flipped[:, k], y)
        loss1 = np.where(col == 1, base_loss, flip_loss)
        loss0 = np.where(col == 1, flip_loss, base_loss)
        out[k] = np.mean(p * loss1 + (1 - p) * loss0) - base_loss.mean()
    return out, base


def _shap_mean_abs(model, X: np.ndarray, n_features: int, max_trees: int = 50) -> np.ndarray:
    """Mean |SHAP| per feature (class "retained") on the rows ``X``.

    A forest's SHAP values are the average of its trees' SHAP values, so a
    fixed subset of ``max_trees`` trees gives a cheap, close estimate.
    """
    import copy

    import shap

    if len(model.estimators_) > max_trees:
        model = copy.copy(model)
        model.estimators_ = model.estimators_[:max_trees]
        model.n_estimators = max_trees
    values = shap.TreeExplainer(model).shap_values(X, check_additivity=False)
    if isinstance(values, list):  # older shap: one array per class
        values = values[1]
    values = np.asarray(values)
    if values.ndim == 3:  # (n, p, n_classes)
        values = values[:, :, 1]
    return np.abs(values).mean(axis=0)[:n_features]


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": roc_auc_score(y, p), "pr_auc": average_precision_score(y, p),
            "brier": brier_score_loss(y, p)}


def _fit_models(pop, model_features, cfg, seed, progress, reference=None):
    """Fit the forests on repeated half-sample splits; importance, stability and metrics.

    ``reference`` (bool per model feature) marks the features whose largest
    importance sets the bar for stability: only features that could become
    milestones (positive adjusted effect) should, so that a dominant
    negative feature does not hide the positive ones.
    """
    X_feat = pop.flags[model_features].to_numpy(dtype=np.float32)
    X_cov = pop.covariates.to_numpy(dtype=np.float32)
    X = np.hstack([X_feat, X_cov]) if X_cov.shape[1] else X_feat
    y = pop.retained.to_numpy(dtype=int)
    p = len(model_features)
    splitter = RepeatedStratifiedKFold(n_splits=cfg.n_splits, n_repeats=cfg.n_repeats, random_state=seed)
    splits = list(splitter.split(X, y))
    perm = np.zeros((len(splits), p))
    impurity = np.zeros((len(splits), p))
    rows = []
    shap_values = np.full(p, np.nan)
    timings = {"fit": 0.0, "predict_permutation": 0.0, "shap": 0.0, "covariates": 0.0}
    for s, (train, test) in enumerate(progress_bar(splits, desc="feature model", disable=not progress)):
        t0 = time.perf_counter()
        model = _forest(cfg, seed + s).fit(X[train], y[train])
        # threads would sum the trees in a varying order: predict on one for exact reproducibility
        model.set_params(n_jobs=1)
        timings["fit"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        rows_used = test
        if len(test) > cfg.permutation_max_rows:  # a large held-out half: a fixed random subset is plenty
            keep = np.random.default_rng(seed + s).choice(len(test), cfg.permutation_max_rows, replace=False)
            rows_used = test[np.sort(keep)]
        perm[s], base = expected_permutation_importance(model, X[rows_used], y[rows_used], range(p))
        if len(rows_used) < len(test):
            base = model.predict_proba(X[test])[:, 1]
        rows.append({"model": "covariates+features", "split": s, **_metrics(y[test], base)})
        impurity[s] = model.feature_importances_[:p]
        timings["predict_permutation"] += time.perf_counter() - t0
        if s == 0 and cfg.shap_sample > 0:
            t0 = time.perf_counter()
            rng = np.random.default_rng(seed)
            sample = rng.choice(test, size=min(cfg.shap_sample, len(test)), replace=False)
            shap_values = _shap_mean_abs(model, X[sample], p)
            timings["shap"] += time.perf_counter() - t0
        if s >= cfg.n_splits:  # the baseline is compared on the first repeat's splits only
            continue
        t0 = time.perf_counter()
        if X_cov.shape[1]:
            cov_model = _forest(cfg, seed + s, n_estimators=max(cfg.n_estimators // 4, 10))
            cov_model.fit(X_cov[train], y[train]).set_params(n_jobs=1)
            cov_pred = cov_model.predict_proba(X_cov[test])[:, 1]
        else:  # no covariates: the baseline is the training retention rate
            cov_pred = np.full(len(test), y[train].mean())
        rows.append({"model": "covariates", "split": s, **_metrics(y[test], cov_pred)})
        timings["covariates"] += time.perf_counter() - t0
    per_split = pd.DataFrame(rows)
    metrics = per_split.groupby("model", sort=False)[["roc_auc", "pr_auc", "brier"]].agg(["mean", "std"])
    metrics.columns = [f"{m}_{s}" for m, s in metrics.columns]
    metrics.insert(0, "splits", per_split.groupby("model", sort=False).size())
    metrics = metrics.reset_index()
    # paired gain of the features on the splits where both models were evaluated
    paired = per_split.pivot(index="split", columns="model", values="roc_auc").dropna()
    gain = paired["covariates+features"] - paired["covariates"]
    metrics["roc_auc_gain_vs_covariates"] = [float(gain.mean()), 0.0]
    ref = np.ones(p, dtype=bool) if reference is None or not np.any(reference) else np.asarray(reference, dtype=bool)
    top = perm[:, ref].max(axis=1, keepdims=True)
    chosen = perm >= cfg.importance_threshold * np.maximum(top, _EPS)
    chosen &= perm > 0
    imp = pd.DataFrame({
        "feature": model_features,
        "perm_importance": perm.mean(axis=0),
        "perm_importance_sd": perm.std(axis=0, ddof=1) if len(splits) > 1 else 0.0,
        "shap_mean_abs": shap_values,
        "impurity_importance_biased": impurity.mean(axis=0),
        "stability": chosen.mean(axis=0),
    })
    return imp, metrics, per_split, timings


# ----------------------------------------------------------------------------- decision
def _decide(table: pd.DataFrame, pop: Population, cfg: FeatureConfig) -> pd.DataFrame:
    t = table
    status = pd.Series("selected", index=t.index, dtype=object)
    reason = pd.Series("", index=t.index, dtype=object)

    def mark(mask, name, why):
        mask = mask & (status == "selected")
        status[mask] = f"dropped_{name}"
        reason[mask] = why[mask] if isinstance(why, pd.Series) else why

    near = t["near_churn_share"].fillna(0)
    timing_leak = (near >= cfg.leaky_share) & (t["churned_adopters"].fillna(0) >= 10)
    too_strong = (t["adj_or"] > cfg.max_odds_ratio) | (t["adj_or"] < 1 / cfg.max_odds_ratio)
    mark(timing_leak, "leaky", t["near_churn_share"].map(
        lambda s: f"{s:.0%} of churned adopters first used it within {cfg.leaky_days} days before churning"))
    mark(too_strong, "leaky", t["adj_or"].map(lambda o: f"adjusted odds ratio {o:.3g} is too strong to be true"))
    mark(t["prevalence"] > cfg.max_prevalence, "ubiquitous",
         t["prevalence"].map(lambda p: f"prevalence {p:.1%} > {cfg.max_prevalence:.0%}"))
    mark(t["prevalence"] < cfg.min_prevalence, "niche",
         t["prevalence"].map(lambda p: f"prevalence {p:.1%} < {cfg.min_prevalence:.0%}"))
    seg = (t["top_segment_adopter_share"] >= cfg.segment_adopter_share) & (
        t["top_segment_population_share"] < cfg.segment_max_population)
    mark(seg, "segment", t.apply(
        lambda r: f"{r.top_segment_adopter_share:.0%} of adopters are in {r.top_segment}, "
                  f"which holds {r.top_segment_population_share:.0%} of accounts", axis=1))
    # Claims of an effect are corrected for testing every feature (Holm);
    # "the effect disappears" is the uncorrected, stricter test.
    raw_sig = t["raw_p_holm"] < cfg.alpha
    adj_pos = (t["adj_or"] > 1) & (t["adj_p_holm"] < cfg.alpha)
    adj_neg = (t["adj_or"] < 1) & (t["adj_p_holm"] < cfg.alpha)
    ci = t.apply(lambda r: f"{r.adj_or:.2f} (95% CI {r.adj_or_low:.2f}-{r.adj_or_high:.2f})", axis=1)
    mark(adj_neg, "negative", "adjusted odds ratio " + ci)
    mark(raw_sig & (t["adj_p"] >= cfg.alpha), "confounded", t.apply(
        lambda r: f"raw odds ratio {r.raw_or:.2f} ({r.raw_or_low:.2f}-{r.raw_or_high:.2f}) but adjusted "
                  f"for size and plan {r.adj_or:.2f} ({r.adj_or_low:.2f}-{r.adj_or_high:.2f})", axis=1))
    unstable = t["stability"].fillna(0) < cfg.stability_threshold
    mark(unstable, "unimportant", t["stability"].map(
        lambda s: f"important in {0 if pd.isna(s) else s:.0%} of held-out splits (< {cfg.stability_threshold:.0%})"))
    mark(~adj_pos, "unimportant", "adjusted effect not clearly positive: odds ratio " + ci)
    reason[status == "selected"] = t.loc[status == "selected"].apply(
        lambda r: f"stable in {r.stability:.0%} of splits; adjusted odds ratio {r.adj_or:.2f} "
                  f"({r.adj_or_low:.2f}-{r.adj_or_high:.2f})", axis=1)
    return t.assign(status=status.to_numpy(), reason=reason.to_numpy())


def _check_population(pop: Population, config: Config) -> None:
    n = pop.n_eligible
    if n < config.study.min_accounts:
        raise InsufficientDataError(
            f"only {n} eligible accounts in the retention population (need at least "
            f"{config.study.min_accounts}); exclusions: "
            + ", ".join(f"{r.reason}={r.accounts}" for r in pop.exclusions.itertuples())
        )
    counts = pop.retained.value_counts()
    if len(counts) < 2 or counts.min() < 10:
        raise InsufficientDataError(
            "the retention outcome has a single class (or fewer than 10 accounts in one class): "
            f"retained={int(counts.get(True, 0))}, churned={int(counts.get(False, 0))}; "
            "check the outcome column / churn_date and the horizon"
        )
    varying = pop.flags.any(axis=0) & ~pop.flags.all(axis=0)
    if not varying.any():
        raise InsufficientDataError(
            "no usable feature: every flag is constant in the retention population "
            "(no feature adopted inside the observation window, or all adopted by everyone)"
        )


def discover_features(population: Population, config: Config | None = None, *, progress: bool = True) -> FeatureResult:
    """Rank feature-usage flags by how well they predict retention and filter the traps.

    Parameters
    ----------
    population : Population
        From :func:`~milestone_discovery.build_population`.
    config : Config, optional
        ``config.features`` holds every threshold; ``config.study.seed`` the seed.
    progress : bool
        Show progress bars.

    Returns
    -------
    FeatureResult
    """
    config = config or Config()
    cfg = config.features
    seed = config.study.seed
    _check_population(population, config)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    table = _association(population, cfg.alpha)
    table = pd.concat([table, _segment_concentration(population)], axis=1)
    if population.near_churn is not None:
        near = population.near_churn.reindex(table["feature"])
        table["churned_adopters"] = near["churned_adopters"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table["near_churn_share"] = (near["first_use_near_churn"] / near["churned_adopters"]).to_numpy()
    else:
        table["churned_adopters"] = np.nan
        table["near_churn_share"] = np.nan
    timings["association"] = time.perf_counter() - t0

    # Leaky flags would dominate the model and distort everyone else's importance.
    leaky_timing = (table["near_churn_share"].fillna(0) >= cfg.leaky_share) & (table["churned_adopters"].fillna(0) >= 10)
    varying = (table["adopters"] > 0) & (table["adopters"] < population.n_eligible)
    model_features = table.loc[varying & ~leaky_timing, "feature"].tolist()
    t0 = time.perf_counter()
    positive = table.set_index("feature").loc[model_features, "adj_or"].to_numpy() > 1
    imp, metrics, _per_split, fit_timings = _fit_models(population, model_features, cfg, seed, progress,
                                                        reference=positive)
    timings.update({f"model_{k}": v for k, v in fit_timings.items()})
    timings["model_total"] = time.perf_counter() - t0
    table = table.merge(imp, on="feature", how="left")
    table = _decide(table, population, cfg)
    order = ["feature", "category", "status", "reason", "prevalence", "adopters", "retention_adopters",
             "retention_non_adopters", "lift", "phi", "raw_or", "raw_or_low", "raw_or_high", "adj_or",
             "adj_or_low", "adj_or_high", "adj_p", "adj_p_holm", "raw_p", "raw_p_holm", "perm_importance", "perm_importance_sd", "stability",
             "shap_mean_abs", "impurity_importance_biased", "churned_adopters", "near_churn_share",
             "top_segment", "top_segment_adopter_share", "top_segment_population_share"]
    rest = [c for c in table.columns if c not in order]
    table = table[order + rest].assign(_rank=table["status"].map(STATUSES.index))
    table = table.sort_values(["_rank", "perm_importance", "feature"], ascending=[True, False, True],
                              kind="mergesort", na_position="last").drop(columns="_rank")
    return FeatureResult(
        features=table.reset_index(drop=True),
        metrics=metrics,
        config=cfg,
        n_accounts=population.n_eligible,
        retention_rate=population.retention_rate,
        covariates=list(population.covariates.columns),
        timings=timings,
    )

