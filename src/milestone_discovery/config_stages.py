"""Settings of the analysis stages.

One class per section of the study config: ``[features]``, ``[maturity]``,
``[journey]``, ``[expansion]`` and ``[sensitivity]``. They are re-exported by
:mod:`milestone_discovery.config`, which assembles the whole config and checks
that the windows of the stages fit inside the study's
(:func:`~milestone_discovery.config.check_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .constraints import (
    Boolean,
    Interval,
    ListOf,
    Options,
    Section,
    Text,
    positive_int,
    share,
    show,
)

__all__ = [
    "DAYS_PER_MONTH",
    "MIN_BOOTSTRAP",
    "ExpansionConfig",
    "FeatureConfig",
    "JourneyConfig",
    "MaturityConfig",
    "SensitivityConfig",
]

#: Days per month used to compare month windows with day windows.
DAYS_PER_MONTH = 30

#: Fewest bootstrap resamples that give a confidence interval any width.
MIN_BOOTSTRAP = 10


@dataclass
class FeatureConfig(Section):
    """Feature-discovery settings (random forest, screens, tests).

    Attributes
    ----------
    min_prevalence, max_prevalence : float
        Features adopted by fewer (``niche``) or more (``ubiquitous``) accounts are dropped.
        The floor (1%) is a product rule: a feature fewer than 1 in 100 accounts use is no
        milestone for the customer base. It is not what keeps rare features from being
        judged on too few adopters (the power check, ``underpowered``, does that) nor what
        drops premium-only features (the ``segment`` screen does), so it stays low: a
        driver adopted by 3% of accounts is still found.
    segment_adopter_share, segment_max_population : float
        ``segment``: at least this share of adopters sit in one plan or size
        band that holds less than ``segment_max_population`` of the accounts.
    leaky_days, leaky_share : int, float
        ``leaky``: among eligible adopters who churned within ``leaky_days``
        after the window, at least ``leaky_share`` first used the feature
        within ``leaky_days`` before churning, significantly more (one-sided
        Fisher test, Holm) than other adopters used it in the window's last
        ``leaky_days``.
    max_odds_ratio : float
        ``leaky`` too: an adjusted odds ratio whose whole CI lies beyond this
        (either way) is too strong to be a product effect.
    alpha : float
        Significance level of every decision (after multiplicity adjustment).
    multiplicity : str
        Adjustment of the importance tests across features: ``"fdr_bh"``
        (Benjamini-Hochberg: expected share of false selections <= alpha,
        and P(any selection) <= alpha when no feature matters) or ``"holm"``
        (family-wise error rate).
    min_effect_or, power : float
        A feature that is neither selected nor clearly without effect is
        ``underpowered`` when the study could not detect an adjusted odds
        ratio of ``min_effect_or`` with this ``power`` (1.5 is a small effect,
        Chen, Cohen & Chen 2010).
    min_relevant_or : float
        Practical relevance: a selected feature's held-out importance must be
        at least what removing a conditional odds ratio of ``min_relevant_or``
        would cost (column ``equivalent_or``; 1 turns the rule off). A very
        large study detects dependences far too small to act on (at 1M
        accounts, a proxy with an equivalent odds ratio of 1.03); the test
        says an effect is there, this rule says it is big enough to matter.
        The forest shrinks effects, so ``equivalent_or`` is below the
        planted or adjusted odds ratio (drivers with adjusted OR 1.7-2.7
        show 1.09-1.34 at 20k accounts): keep this close to 1.
    n_estimators, max_depth, min_samples_leaf : int
        The random forest (bounded depth and leaf size keep importance honest and SHAP fast).
    n_splits, n_repeats : int
        Cross-fitting: ``n_splits``-fold, repeated; every account is held out once per repeat.
    shap_sample : int
        Held-out rows explained with SHAP (0 to skip SHAP).
    permutation_max_rows : int
        Held-out rows per split used for importance and the held-out metrics
        (a fixed random subset beyond it).
    tree_max_rows : int
        Rows each tree is grown on, at most (a bootstrap sample of this size
        when a training half is larger). The default is about
        ``2**max_depth * min_samples_leaf``: enough for a full-depth tree to
        place minimum-size leaves everywhere, so more rows change a tree
        little, while the forest as a whole still sees every row. Bounds the
        cost of large studies (200k accounts: the feature stage selects the
        same features, a third faster). The conditional model of each flag
        is fitted on at most as many training rows.
    adjust_for_early_activity : bool
        Also adjust for early engagement: ``log1p`` of the activation metric
        over the activation months joins the model's covariates and the
        adjusted odds ratios' strata (tertiles). Accounts that engage more
        both adopt more features and stay longer, so without it a feature
        can be selected for going with engagement; with it, a feature whose
        effect runs *through* early activity loses that part. Needs an
        ``activity`` table.
    """

    _section: ClassVar[str] = "features"
    _constraints: ClassVar[dict[str, list]] = {
        "min_prevalence": share("left"),
        "max_prevalence": share("right"),
        "segment_adopter_share": share("right"),
        "segment_max_population": share("right"),
        "leaky_days": positive_int(),
        "leaky_share": share("right"),
        "max_odds_ratio": [Interval(float, 1, None, closed="neither")],
        "alpha": share("neither"),
        "multiplicity": [Options({"fdr_bh", "holm"})],
        "min_effect_or": [Interval(float, 1, None, closed="neither")],
        "power": share("neither"),
        "min_relevant_or": [Interval(float, 1, None, closed="left")],
        "adjust_for_early_activity": [Boolean()],
        "n_estimators": positive_int(),
        "max_depth": [Interval(int, 1, None), None],
        "min_samples_leaf": positive_int(),
        "n_splits": positive_int(2),
        "n_repeats": positive_int(),
        "shap_sample": positive_int(0),
        "permutation_max_rows": positive_int(),
        "tree_max_rows": positive_int(1000),
    }

    min_prevalence: float = 0.01
    max_prevalence: float = 0.90
    segment_adopter_share: float = 0.80
    segment_max_population: float = 0.30
    leaky_days: int = 30
    leaky_share: float = 0.5
    max_odds_ratio: float = 25.0
    alpha: float = 0.05
    multiplicity: str = "fdr_bh"
    min_effect_or: float = 1.5
    power: float = 0.8
    min_relevant_or: float = 1.05
    adjust_for_early_activity: bool = False
    n_estimators: int = 200
    max_depth: int | None = 10
    min_samples_leaf: int = 20
    n_splits: int = 2
    n_repeats: int = 4
    shap_sample: int = 200
    permutation_max_rows: int = 20000
    tree_max_rows: int = 20000

    def _check_relations(self, source: str) -> None:
        if not self.min_prevalence < self.max_prevalence:
            raise self._fail(
                source,
                "min_prevalence",
                f"must be below max_prevalence = {show(self.max_prevalence)} "
                "(need 0 <= min_prevalence < max_prevalence <= 1)",
            )


@dataclass
class MaturityConfig(Section):
    """Maturity categories and thresholds.

    Attributes
    ----------
    min_side_share : float
        Fewest accounts (share) on each side of a threshold.
    n_bootstrap : int
        Bootstrap resamples of each threshold's confidence interval.
    max_clusters : int
        Most co-adoption clusters tried when categories come from the data.
    min_categories : int or None
        Categories an account must be mature in; ``None``: chosen from the data.
    categories : str
        ``"catalog"``, ``"data"`` (co-adoption clusters) or ``"auto"`` (catalog if any).
    """

    _section: ClassVar[str] = "maturity"
    _constraints: ClassVar[dict[str, list]] = {
        "min_side_share": [Interval(float, 0, 0.5, closed="neither")],
        "n_bootstrap": positive_int(MIN_BOOTSTRAP),
        "max_clusters": positive_int(2),
        "min_categories": [Interval(int, 1, None), None],
        "categories": [Options({"auto", "catalog", "data"})],
    }

    min_side_share: float = 0.05
    n_bootstrap: int = 200
    max_clusters: int = 8
    min_categories: int | None = None  # None: chosen from data
    categories: str = "auto"  # "catalog", "data" (co-adoption clusters) or "auto" (catalog if any)


@dataclass
class JourneyConfig(Section):
    """Setup, activation and utilization milestones.

    Attributes
    ----------
    activation_metric : str
        Activity metric summed over the activation months.
    activation_months : int
        Activation uses months ``0 .. activation_months - 1`` of account age.
    early_churn_days : int
        Activation is judged against no churn by this day after signup.
    utilization_metric : str
        Activity metric per seat averaged over the utilization months.
    utilization_months : list of int
        ``[first, last]`` months of account age, after activation.
    setup_days : int
        A setup step counts when completed within this many days of signup.
    setup_routine, setup_niche : float
        Steps done by more (routine) or fewer (niche) accounts are left out.
    min_side_share : float
        Fewest accounts (share) on each side of a threshold.
    n_bootstrap : int
        Bootstrap resamples of each threshold's confidence interval.
    """

    _section: ClassVar[str] = "journey"
    _constraints: ClassVar[dict[str, list]] = {
        "activation_metric": [Text()],
        "activation_months": positive_int(),
        "early_churn_days": positive_int(),
        "utilization_metric": [Text()],
        "utilization_months": [
            ListOf(
                Interval(int, 0, None),
                min_len=2,
                max_len=2,
                what="[first, last]: two integers >= 0 (months of account age)",
            )
        ],
        "setup_days": positive_int(),
        "setup_routine": share("right"),
        "setup_niche": share("left"),
        "min_side_share": [Interval(float, 0, 0.5, closed="neither")],
        "n_bootstrap": positive_int(MIN_BOOTSTRAP),
    }

    activation_metric: str = "conversations"
    activation_months: int = 3
    early_churn_days: int = 180
    utilization_metric: str = "resolved_conversations"
    utilization_months: list[int] = field(default_factory=lambda: [3, 5])
    setup_days: int = 30
    setup_routine: float = 0.90
    setup_niche: float = 0.05
    min_side_share: float = 0.05
    n_bootstrap: int = 200

    def _check_relations(self, source: str) -> None:
        lo, hi = self.utilization_months
        if lo > hi:
            raise self._fail(
                source, "utilization_months", "must be [first, last] with first <= last"
            )
        if lo < self.activation_months:
            raise self._fail(
                source,
                "utilization_months",
                f"must start after the activation months 0-{self.activation_months - 1} "
                f"(activation_months = {self.activation_months}): utilization is "
                "measured after activation",
            )
        activation_end = self.activation_months * DAYS_PER_MONTH
        if self.early_churn_days <= activation_end:
            raise self._fail(
                source,
                "early_churn_days",
                f"must be after the activation window (activation_months = "
                f"{self.activation_months}, about day {activation_end}): the outcome "
                "would be decided before activation is measured",
            )
        if not self.setup_niche < self.setup_routine:
            raise self._fail(
                source,
                "setup_niche",
                f"must be below setup_routine = {show(self.setup_routine)}",
            )


@dataclass
class ExpansionConfig(Section):
    """Expansion as a second outcome (when ``accounts.expansion`` exists).

    Attributes
    ----------
    enabled : bool
        Run the feature stage for expansion among the retained accounts.
    n_repeats : int
        Cross-fitting repeats of its importance model (fewer than the
        retention stage's ``[features] n_repeats`` by default, for runtime).
    min_expanding : int
        Fewest expanding and non-expanding retained accounts needed; with
        fewer the stage is skipped and the framework says why.
    """

    _section: ClassVar[str] = "expansion"
    _constraints: ClassVar[dict[str, list]] = {
        "enabled": [Boolean()],
        "n_repeats": positive_int(),
        "min_expanding": positive_int(),
    }

    enabled: bool = True
    n_repeats: int = 1
    min_expanding: int = 50


_DAYS_LIST = "a list of increasing integers >= 1 (days)"


@dataclass
class SensitivityConfig(Section):
    """Re-running the feature stage at other observation windows and horizons (opt-in).

    Attributes
    ----------
    enabled : bool
        Run it. Off by default: each setting costs about a quarter of the
        feature stage (fewer repeats, no SHAP), the six default settings
        together more than the feature stage itself.
    observation_days, horizon_days : list of int
        Windows and horizons combined (pairs with a window longer than the
        horizon are left out).
    n_repeats : int
        Cross-fitting repeats of the re-runs.
    stable_share : float
        A feature selected in at least this share of the settings is stable;
        selected in fewer (but some), it depends on the window. Half by
        default: with re-runs at 80% power, a feature that matters in every
        setting still misses some of them.
    """

    _section: ClassVar[str] = "sensitivity"
    _constraints: ClassVar[dict[str, list]] = {
        "enabled": [Boolean()],
        "observation_days": [
            ListOf(Interval(int, 1, None), min_len=1, increasing=True, what=_DAYS_LIST)
        ],
        "horizon_days": [
            ListOf(Interval(int, 1, None), min_len=1, increasing=True, what=_DAYS_LIST)
        ],
        "n_repeats": positive_int(),
        "stable_share": share("right"),
    }

    enabled: bool = False
    observation_days: list[int] = field(default_factory=lambda: [90, 180, 270])
    horizon_days: list[int] = field(default_factory=lambda: [365, 540])
    n_repeats: int = 1
    stable_share: float = 0.5
