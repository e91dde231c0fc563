"""Feature discovery: which feature-usage flags predict retention, and which are traps.

Every feature ends with a status and a reason (see :data:`STATUSES`). The
steps, in order:

1. Association per feature: prevalence (overall, per plan and size band),
   retention of adopters vs non-adopters, lift, phi, raw odds ratio, and an
   odds ratio adjusted for size and plan (Mantel-Haenszel across
   size-stratum x plan strata, with a 0.5 correction for sparse tables) with
   its CI and the *minimum detectable* adjusted odds ratio at the study's
   size (two-sided ``alpha``, power ``power``).
2. Screens, each with a recorded reason: ``leaky`` (in-window first use
   clusters just before churning among accounts that churned right after the
   window, significantly more than among the other adopters; or an adjusted
   odds ratio whose whole CI lies beyond ``max_odds_ratio``), ``ubiquitous``,
   ``niche``, ``segment``.
3. Held-out *conditional* importance (:mod:`~milestone_discovery.importance`):
   a calibrated random forest, cross-fitted on repeated 2-fold splits; each
   flag is redrawn from its probability given the other flags and
   covariates, and the per-row loss increases give each feature a mean, a
   standard error and a one-sided p-value. p-values are adjusted across
   features by ``multiplicity`` (Benjamini-Hochberg by default).
4. Decision: ``negative`` (adjusted effect significantly below 1, Holm);
   ``selected`` when the importance test rejects at ``alpha`` after
   adjustment, the importance is worth at least a conditional odds ratio
   of ``min_relevant_or`` (practical relevance, which a very large study
   does not get from the test alone) and the adjusted odds ratio is above 1
   at ``alpha``; otherwise
   ``confounded`` (raw association significant, adjusted one not),
   ``underpowered`` (the study could not detect an adjusted odds ratio of
   ``min_effect_or``) or ``unimportant``.

No threshold here is relative to other features: a feature's fate does not
depend on how strong the strongest one is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

from . import stats
from .config import Config, FeatureConfig
from .errors import InsufficientDataError
from .html_repr import key_figures, render_result, table_data
from .importance import cross_fitted_importance
from .population import Population

__all__ = ["FeatureResult", "discover_features", "STATUSES", "DROP_REASONS"]

DROP_REASONS = {
    "leaky": "first use clusters just before churn, or the association is too strong to be true",
    "ubiquitous": "used by nearly everyone: cannot separate accounts",
    "niche": "used by too few accounts to be a milestone",
    "segment": "adopters concentrated in one plan or size band",
    "negative": "adoption goes with churn (after adjusting for size, plan and other covariates)",
    "confounded": (
        "the raw association disappears after adjusting for size, plan or other covariates"
    ),
    "underpowered": "too little data to tell: the study could not detect a meaningful effect",
    "unimportant": (
        "adds no held-out predictive information beyond the other features and covariates"
    ),
}
STATUSES = ["selected"] + [f"dropped_{r}" for r in DROP_REASONS]


@dataclass
class FeatureResult:
    """Result of feature discovery.

    Attributes
    ----------
    features : pandas.DataFrame
        One row per feature: prevalence (overall and per segment), adopters'
        and non-adopters' retention, lift, phi, raw and adjusted odds ratios
        with CIs, held-out conditional importance (``importance``, its
        standard error and p-values), SHAP, impurity importance, stability,
        status and reason; every column is described in
        :data:`milestone_discovery.columns.FEATURE_COLUMNS`.
    metrics : pandas.DataFrame
        Held-out model metrics (mean and sd over splits) for covariates only
        and covariates + features.
    timings : dict
        Seconds spent per step.
    adjusted_for : str
        Plain words for what the adjusted effects are adjusted for.
    """

    features: pd.DataFrame
    metrics: pd.DataFrame
    config: FeatureConfig
    n_accounts: int
    retention_rate: float
    covariates: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    adjusted_for: str = ""

    @property
    def selected(self) -> list[str]:
        """Selected features, most important first."""
        sel = self.features[self.features["status"] == "selected"]
        return sel.sort_values("importance", ascending=False)["feature"].tolist()

    def status_counts(self) -> pd.Series:
        """Features per status, in the order of :data:`STATUSES`."""
        return self.features["status"].value_counts().reindex(STATUSES, fill_value=0)

    def to_frame(self) -> pd.DataFrame:
        """The features table (a copy): what ``features.csv`` holds, one row per feature."""
        return self.features.copy()

    def summary(self) -> pd.DataFrame:
        """Headline figures: accounts, retention, features per status, held-out ROC-AUC.

        Returns
        -------
        pandas.DataFrame
            Columns ``quantity`` and ``value``.
        """
        auc = self.metrics.set_index("model")["roc_auc_mean"]
        return key_figures(
            [
                ("accounts", self.n_accounts),
                ("retention rate", self.retention_rate),
                ("features", len(self.features)),
                *(
                    (f"features {status.replace('dropped_', 'dropped: ')}", int(n))
                    for status, n in self.status_counts().items()
                ),
                ("held-out ROC-AUC, covariates only", auc.get("covariates")),
                ("held-out ROC-AUC, covariates + features", auc.get("covariates+features")),
                ("adjusted for", self.adjusted_for),
            ]
        )

    # -- display -------------------------------------------------------------------
    def _repr_html_(self) -> str:
        cols = ["feature", "category", "status", "prevalence", "lift", "adj_or", "adj_or_low"]
        cols += ["adj_or_high", "min_detectable_or", "importance", "importance_se", "importance_q"]
        return render_result(
            "Feature discovery",
            lead=f"{len(self.selected)} of {len(self.features)} features selected",
            facts=self.summary(),
            charts=[lambda: self.plot_importance(top=20)],
            tables=[table_data(self.features, "Features", columns=cols)],
        )

    def plot_importance(self, top: int = 30, ax=None):
        """Held-out conditional importance of the ``top`` features, with 95% intervals.

        Drawn by :func:`milestone_discovery.plotting.plot_importance`, as in the report.

        Parameters
        ----------
        top : int
            Features shown, most important first.
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).

        Returns
        -------
        matplotlib Axes
        """
        from .plotting import plot_importance  # charts load only when drawn

        return plot_importance(self.features, top=top, ax=ax)

    def plot_prevalence_importance(self, ax=None):
        """Prevalence vs importance, with the ubiquitous and niche zones shaded.

        Drawn by :func:`milestone_discovery.plotting.plot_prevalence_importance`, as in the report.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib Axes
        """
        from .plotting import plot_prevalence_importance  # charts load only when drawn

        low, high = self.config.min_prevalence, self.config.max_prevalence
        return plot_prevalence_importance(self.features, low, high, ax=ax)


# ----------------------------------------------------------------------------- association
def _association(pop: Population, cfg: FeatureConfig) -> pd.DataFrame:
    alpha = cfg.alpha
    X = pop.flags.to_numpy(dtype=bool)
    y = pop.retained.to_numpy(dtype=bool)
    a, b, c, d = stats.cell_counts(X, y)
    n1, n0 = a + b, c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        ret1, ret0 = a / n1, c / n0
    raw_or, raw_low, raw_high = stats.odds_ratio(X, y, alpha)
    raw_p = _chi2_p_value(a, b, c, d)
    mh = stats.mantel_haenszel(X, y, pop.adjustment_strata.to_numpy(), alpha)
    # SE of the adjusted log odds ratio, read back from its CI, gives the smallest
    # odds ratio this study detects with the configured power (two-sided alpha).
    with np.errstate(invalid="ignore", divide="ignore"):
        se = (np.log(mh["or_high"].to_numpy()) - np.log(mh["or_low"].to_numpy())) / (
            2 * stats.z_value(alpha)
        )
        mdor = np.exp((stats.z_value(alpha) + _st.norm.ppf(cfg.power)) * se)
    return pd.DataFrame(
        {
            "feature": pop.flags.columns.astype(str),
            "category": pop.catalog.reindex(pop.flags.columns).fillna("").to_numpy(dtype=object),
            "adopters": n1.astype(int),
            "prevalence": n1 / len(y),
            "retention_adopters": ret1,
            "retention_non_adopters": ret0,
            "lift": ret1 / ret0,
            "phi": stats.phi_coefficient(X, y),
            "raw_or": raw_or,
            "raw_or_low": raw_low,
            "raw_or_high": raw_high,
            "raw_p": raw_p,
            "raw_p_holm": _adjust(raw_p, "holm"),
            "adj_or": mh["or_mh"].to_numpy(),
            "adj_or_low": mh["or_low"].to_numpy(),
            "adj_or_high": mh["or_high"].to_numpy(),
            "adj_p": mh["p_value"].to_numpy(),
            "adj_p_holm": _adjust(mh["p_value"].to_numpy(), "holm"),
            "min_detectable_or": mdor,
        }
    )


def _chi2_p_value(a, b, c, d) -> np.ndarray:
    """Pearson chi-square p-value of each 2x2 table (no continuity correction)."""
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    return _st.chi2.sf(chi2, 1)


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Multiplicity-adjusted p-values (``holm`` or ``fdr_bh``); NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.adjust_p_values(p[ok], method)
    return out


def _segment_concentration(pop: Population) -> pd.DataFrame:
    """For each feature, the segment holding the largest share of its adopters.

    Only real segments compete: a column with a single level (no size data,
    one plan) concentrates nothing.
    """
    X = pop.flags.to_numpy(dtype=np.float64)
    adopters = X.sum(axis=0)
    best_share = np.zeros(X.shape[1])
    best_pop = np.ones(X.shape[1])
    best_name = np.array([""] * X.shape[1], dtype=object)
    prevalence = {}
    for column in ("plan", "size_band"):
        values = pop.segments[column].astype(str).to_numpy()
        levels = sorted(set(values))
        for value in levels:
            member = values == value
            prevalence[f"prevalence[{column}={value}]"] = X[member].mean(axis=0)
            if len(levels) < 2 or value == "unknown":
                continue
            share = X[member].sum(axis=0) / np.maximum(adopters, 1)
            better = share > best_share
            best_share = np.where(better, share, best_share)
            best_pop = np.where(better, member.mean(), best_pop)
            best_name = np.where(better, f"{column}={value}", best_name)
    out = pd.DataFrame(
        {
            "top_segment": best_name,
            "top_segment_adopter_share": best_share,
            "top_segment_population_share": best_pop,
        }
    )
    return pd.concat([out, pd.DataFrame(prevalence, index=out.index)], axis=1)


def _timing_leak(table: pd.DataFrame, cfg: FeatureConfig) -> pd.DataFrame:
    """Leak screen: first use just before churning, beyond the other adopters' late-window share.

    One-sided Fisher exact test per feature (Holm across features); a leak
    also needs most churned adopters (``leaky_share``) to show the pattern.
    """
    k1 = table["first_use_near_churn"].fillna(0).to_numpy(dtype=int)
    n1 = table["churned_adopters"].fillna(0).to_numpy(dtype=int)
    k0 = table["other_first_use_late"].fillna(0).to_numpy(dtype=int)
    n0 = table["other_adopters"].fillna(0).to_numpy(dtype=int)
    p = np.ones(len(table))
    for i in np.flatnonzero(n1 > 0):
        p[i] = _st.fisher_exact(
            [[k1[i], n1[i] - k1[i]], [k0[i], n0[i] - k0[i]]], alternative="greater"
        )[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n1 > 0, k1 / np.maximum(n1, 1), np.nan)
        other = np.where(n0 > 0, k0 / np.maximum(n0, 1), np.nan)
    p_holm = _adjust(p, "holm")
    leak = (np.nan_to_num(share) >= cfg.leaky_share) & (p_holm < cfg.alpha)
    return pd.DataFrame(
        {
            "near_churn_share": share,
            "other_late_share": other,
            "leak_p_holm": p_holm,
            "timing_leak": leak,
        },
        index=table.index,
    )


# ----------------------------------------------------------------------------- decision
def _fmt_or(r) -> str:
    return f"{r.adj_or:.2f} ({r.adj_or_low:.2f}-{r.adj_or_high:.2f})"


def _is_segment_feature(t: pd.DataFrame, cfg: FeatureConfig) -> pd.Series:
    """Adopters concentrated in one small plan or size band (a premium-only feature)."""
    return (t["top_segment_adopter_share"] >= cfg.segment_adopter_share) & (
        t["top_segment_population_share"] < cfg.segment_max_population
    )


def _decide(t: pd.DataFrame, cfg: FeatureConfig, level: str) -> pd.DataFrame:
    # with nothing to adjust for, the "adjusted" odds ratio is the raw one: do not call it adjusted
    or_word = "odds ratio" if level.startswith("nothing") else "adjusted odds ratio"
    status = pd.Series("selected", index=t.index, dtype=object)
    reason = pd.Series("", index=t.index, dtype=object)

    def mark(mask, name, why):
        mask = mask & (status == "selected")
        status[mask] = f"dropped_{name}"
        reason[mask] = why[mask] if isinstance(why, pd.Series) else why

    def rows(fn):
        return t.apply(fn, axis=1) if len(t) else pd.Series(dtype=object)

    days = cfg.leaky_days
    mark(
        t["timing_leak"],
        "leaky",
        rows(
            lambda r: (
                f"{r.near_churn_share:.0%} of adopters who churned within {days} days "
                "after the window first "
                f"used it within {days} days before churning, "
                f"vs {r.other_late_share:.0%} of other adopters "
                f"in the window's last {days} days"
            )
        ),
    )
    too_strong = (t["adj_or_low"] > cfg.max_odds_ratio) | (
        t["adj_or_high"] < 1 / cfg.max_odds_ratio
    )
    mark(
        too_strong,
        "leaky",
        rows(
            lambda r: (
                f"{or_word} {_fmt_or(r)} lies wholly beyond {cfg.max_odds_ratio:g}x: too strong to "
                "be a product effect (check that it is not recorded at or after cancellation)"
            )
        ),
    )
    mark(
        t["prevalence"] > cfg.max_prevalence,
        "ubiquitous",
        t["prevalence"].map(lambda p: f"prevalence {p:.1%} > {cfg.max_prevalence:.0%}"),
    )
    mark(
        t["prevalence"] < cfg.min_prevalence,
        "niche",
        t["prevalence"].map(lambda p: f"prevalence {p:.1%} < {cfg.min_prevalence:.0%}"),
    )
    mark(
        _is_segment_feature(t, cfg),
        "segment",
        rows(
            lambda r: (
                f"{r.top_segment_adopter_share:.0%} of adopters are in {r.top_segment}, "
                f"which holds {r.top_segment_population_share:.0%} of accounts"
            )
        ),
    )
    adj_neg = (t["adj_or"] < 1) & (t["adj_p_holm"] < cfg.alpha)
    mark(
        adj_neg,
        "negative",
        rows(lambda r: f"{or_word} {_fmt_or(r)}, Holm p {r.adj_p_holm:.2g}"),
    )
    important = t["importance_q"] < cfg.alpha
    relevant = t["equivalent_or"] >= cfg.min_relevant_or
    # Both tests must agree: held-out information beyond the other features, and a positive
    # association after adjusting for size and plan (each a test at alpha); and the information
    # must be big enough to act on, which a very large study does not guarantee.
    chosen = important & relevant & (t["adj_or"] > 1) & (t["adj_p"] < cfg.alpha)
    undecided = ~chosen & (status == "selected")
    raw_sig = t["raw_p_holm"] < cfg.alpha
    mark(
        undecided & raw_sig & (t["adj_p"] >= cfg.alpha),
        "confounded",
        rows(
            lambda r: (
                f"raw odds ratio {r.raw_or:.2f} ({r.raw_or_low:.2f}-{r.raw_or_high:.2f}) "
                "but adjusted for "
                f"{level} {_fmt_or(r)}, and no held-out importance beyond the covariates"
            )
        ),
    )
    mark(
        undecided & (t["min_detectable_or"] > cfg.min_effect_or),
        "underpowered",
        rows(
            lambda r: (
                f"at this size only an {or_word} above {r.min_detectable_or:.2f} would be detected "
                f"(power {cfg.power:.0%}); observed {_fmt_or(r)}"
            )
        ),
    )

    def unimportant(r) -> str:
        if pd.isna(r.importance):
            return "not in the model (constant in the population)"
        text = (
            f"held-out conditional importance {r.importance:.2g} (SE {r.importance_se:.2g}, "
            f"adjusted p {r.importance_q:.2g}); {or_word} {_fmt_or(r)}"
        )
        if r.importance_q < cfg.alpha and r.equivalent_or < cfg.min_relevant_or:
            text += (
                f"; real but negligible: worth a conditional odds ratio of {r.equivalent_or:.3f}, "
                f"below {cfg.min_relevant_or:g} (features.min_relevant_or)"
            )
        elif r.adj_or_low > 1:
            text += (
                "; its association is clear but adds nothing the correlated features do not carry "
                "(a proxy, or too little data to separate them)"
            )
        return text

    mark(undecided, "unimportant", rows(unimportant))
    reason[status == "selected"] = rows(
        lambda r: (
            f"held-out conditional importance {r.importance:.2g} (SE {r.importance_se:.2g}, "
            f"adjusted p {r.importance_q:.2g}); {or_word} {_fmt_or(r)}"
        )
    )[status == "selected"]
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


def adjustment_label(pop: Population) -> str:
    """Plain words for what the adjusted effects were adjusted for.

    Only covariates that vary in the population count, named as the data
    names them (``"plan (Contract)"``, ``"size (seats)"``, a wide table's
    choice and covariate columns); ``"nothing ..."`` when none does.
    """
    labels = getattr(pop, "labels", None) or {}
    parts = []
    if pop.segments["size_stratum"].nunique() > 1:
        parts.append(labels.get("size", "size"))
    if pop.segments["plan"].nunique() > 1:
        parts.append(labels.get("plan", "plan"))
    parts += list(pop.extra_adjustments)
    if not parts:
        return "nothing (no size, plan or other covariate: adjusted equals raw)"
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


#: The first columns of ``features.csv``, in order (each described in :mod:`.columns`)
_ORDER = (
    "feature category status reason prevalence adopters retention_adopters "
    "retention_non_adopters lift phi raw_or raw_or_low raw_or_high adj_or adj_or_low "
    "adj_or_high adj_p adj_p_holm raw_p raw_p_holm min_detectable_or importance "
    "importance_se importance_p importance_q equivalent_or stability marginal_importance "
    "shap_mean_abs impurity_importance_biased churned_adopters near_churn_share other_late_share "
    "leak_p_holm top_segment top_segment_adopter_share top_segment_population_share"
).split()


def discover_features(
    population: Population, config: Config | None = None, *, progress: bool = True
) -> FeatureResult:
    """Rank feature-usage flags by held-out conditional importance and filter the traps.

    Parameters
    ----------
    population : Population
        From :func:`~milestone_discovery.build_population`.
    config : Config, optional
        ``config.features`` holds every setting; ``config.study.seed`` the seed.
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
    table = _association(population, cfg)
    table = pd.concat([table, _segment_concentration(population)], axis=1)
    near_cols = [
        "churned_adopters",
        "first_use_near_churn",
        "other_adopters",
        "other_first_use_late",
    ]
    if population.near_churn is not None:
        near = population.near_churn.reindex(table["feature"])
        for col in near_cols:
            table[col] = near[col].to_numpy() if col in near else np.nan
    else:
        for col in near_cols:
            table[col] = np.nan
    table = pd.concat([table, _timing_leak(table, cfg)], axis=1)
    timings["association"] = time.perf_counter() - t0

    # Leaky flags would dominate the model and distort everyone else's importance.
    varying = (table["adopters"] > 0) & (table["adopters"] < population.n_eligible)
    model_features = table.loc[varying & ~table["timing_leak"], "feature"].tolist()
    t0 = time.perf_counter()
    fit = cross_fitted_importance(
        population.flags[model_features],
        population.covariates,
        population.retained,
        cfg,
        seed,
        progress=progress,
    )
    timings.update({f"model_{k}": v for k, v in fit.timings.items()})
    timings["model_total"] = time.perf_counter() - t0
    table = table.merge(fit.importance, on="feature", how="left")
    # Screens that never look at retention (prevalence, segment concentration) and the leak
    # screen decide which features may be selected at all: the error rate is controlled over
    # those candidates only, so screened-out features cost no power.
    candidate = (
        table["importance_p"].notna()
        & ~table["timing_leak"]
        & table["prevalence"].between(cfg.min_prevalence, cfg.max_prevalence)
        & ~_is_segment_feature(table, cfg)
    )
    table["importance_q"] = np.nan
    table.loc[candidate, "importance_q"] = _adjust(
        table.loc[candidate, "importance_p"].to_numpy(), cfg.multiplicity
    )
    adjusted_for = adjustment_label(population)
    table = _decide(table, cfg, adjusted_for)
    rest = [c for c in table.columns if c not in _ORDER and c not in ("timing_leak",)]
    table = table[_ORDER + rest].assign(_rank=table["status"].map(STATUSES.index))
    table = table.sort_values(
        ["_rank", "importance", "feature"],
        ascending=[True, False, True],
        kind="mergesort",
        na_position="last",
    ).drop(columns="_rank")
    return FeatureResult(
        features=table.reset_index(drop=True),
        metrics=fit.metrics,
        config=cfg,
        n_accounts=population.n_eligible,
        retention_rate=population.retention_rate,
        covariates=list(population.covariates.columns),
        timings=timings,
        adjusted_for=adjusted_for,
    )
