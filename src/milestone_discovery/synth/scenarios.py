"""Named scenario presets of the generator.

A :class:`Scenario` is a set of overrides on the default generator: nested
values merged into :data:`~milestone_discovery.synth.catalog.EFFECTS`, the
generating role or target prevalence of some features, the role written to
the truth, and the planted category-maturity rule.  The generator code is
the same for every scenario; ``default`` overrides nothing and reproduces
the historical data byte for byte.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..errors import MilestoneError
from .catalog import CATEGORIES, CATEGORY_K, EFFECTS, FEATURES, MIN_CATEGORIES

__all__ = ["SCENARIOS", "Scenario", "UnknownScenarioError", "get_scenario", "scenario_names"]

STEP = {"activation": "step", "utilization": "step", "maturity": "step"}


class UnknownScenarioError(MilestoneError, ValueError):
    """The scenario name is not one of :data:`SCENARIOS`."""


@dataclass(frozen=True)
class Scenario:
    """Overrides of the default generator that make one named preset.

    Attributes
    ----------
    name : str
        Preset name (``milestones synth --scenario NAME``).
    summary : str
        One line describing what is planted.
    shape : dict of str to str
        ``activation``, ``utilization`` and ``maturity``: ``"step"``,
        ``"gradual"`` or ``"none"`` (what the retention model plants).
    effects : dict
        Nested overrides merged into ``EFFECTS`` (dicts are merged key by
        key, any other value replaces the default).
    roles : dict of str to str
        Feature -> generating role (changes its adoption model and its role
        in the truth), e.g. proxies turned into drivers.
    labels : dict of str to str
        Generating role -> role written to the truth (adoption unchanged),
        e.g. drivers without any effect labelled ``"neutral"``.
    prevalence : dict of str to float
        Feature -> target in-window prevalence.
    category_k : dict of str to int or None
        Drivers needed per category for it to be mature; ``None`` when no
        category-maturity step is planted.
    min_categories : int or None
        Mature categories that earn the retention bonus; ``None`` when no
        overall maturity step is planted.
    default_n : int
        Number of accounts when the caller does not give one.
    note : str
        Anything a reader of the truth should know (written to the truth).
    """

    name: str
    summary: str
    shape: dict = field(default_factory=lambda: dict(STEP))
    effects: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    prevalence: dict = field(default_factory=dict)
    category_k: dict | None = field(default_factory=lambda: dict(CATEGORY_K))
    min_categories: int | None = MIN_CATEGORIES
    default_n: int = 3000
    note: str = ""

    def merged_effects(self) -> dict:
        """``EFFECTS`` with this scenario's overrides merged in (a deep copy).

        Returns
        -------
        dict
        """
        return _merge(copy.deepcopy(EFFECTS), self.effects)

    def features(self) -> tuple[tuple[str, str, str, str, float], ...]:
        """The feature table with generating roles and target prevalences overridden.

        Returns
        -------
        tuple of (name, category, generating role, hypothesis, prevalence)
        """
        return tuple(
            (f[0], f[1], self.roles.get(f[0], f[2]), f[3], self.prevalence.get(f[0], f[4]))
            for f in FEATURES
        )

    def label(self, role: str) -> str:
        """Role written to the truth for a feature generated with ``role``.

        Parameters
        ----------
        role : str
            Generating role.

        Returns
        -------
        str
        """
        return self.labels.get(role, role)


def _merge(base: dict, over: dict) -> dict:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _names(role: str) -> tuple[str, ...]:
    return tuple(f[0] for f in FEATURES if f[2] == role)


DRIVERS = _names("driver")
PROXIES = _names("proxy")
_MATURE = EFFECTS["retention_logit"]["mature_category"]
_NO_MATURITY = {"mature_category": dict.fromkeys(CATEGORIES, 0.0), "min_categories_bonus": 0.0}
_NO_FEATURE_EFFECT = {
    **_NO_MATURITY,
    "activated": 0.0,
    "utilized": 0.0,
    "ubiquitous_skipped_each": 0.0,
    "negative_feature_each": 0.0,
}
_NONE = {"activation": "none", "utilization": "none", "maturity": "none"}
# Null scenarios: activation-window churn does not depend on activation either.
_FLAT_ACTIVATION_CHURN = {"activation_prob_below": 0.15, "activation_prob_above": 0.15}
# The ``expansion`` scenario: expansion log-odds effects of in-window adoption. Neutral
# features (no retention effect, adoption independent of every latent) raise expansion only
# ("grow"); two drivers raise both ("both"); the other drivers raise retention only ("stay").
EXPANSION_ONLY = {
    "typing_indicators": 0.9,
    "ai_summaries": 0.8,
    "collision_detection": 0.9,
    "zapier_connector": 0.8,
    "dashboard_sharing": 0.9,
}
EXPANSION_BOTH = {"workflows": 0.8, "slack_integration": 0.8}
# ... and a neutral feature that raises retention on one plan only (segment-specific).
ONE_PLAN_FEATURE, ONE_PLAN, ONE_PLAN_EFFECT = "away_mode", "pro", 1.2
# The dominant driver of the ``dominant`` scenario.
DOMINANT_DRIVER = "workflows"
OTHER_DRIVER_EFFECT = 0.2


def _spread(names, lo: float, hi: float) -> dict[str, float]:
    """Values evenly spread over [lo, hi], assigned in a fixed shuffled order."""
    order = np.random.default_rng(12345).permutation(len(names))
    values = np.linspace(lo, hi, len(names))[order]
    return {f: round(float(v), 4) for f, v in zip(names, values, strict=True)}


_SCENARIOS = (
    Scenario("default", "the reference shape: maturity, activation and utilization steps"),
    Scenario(
        "imbalanced",
        "default drivers, traps and steps, ~95% of the eligible accounts retained",
        effects={"retention_logit": {"intercept": 2.1}},
    ),
    Scenario(
        "dominant",
        f"default shape; one driver ({DOMINANT_DRIVER}) has a direct +2.0 retention effect",
        effects={
            "retention_logit": {
                "intercept": -2.13,
                "direct_feature": {
                    f: 2.0 if f == DOMINANT_DRIVER else OTHER_DRIVER_EFFECT for f in DRIVERS
                },
            }
        },
        note=(
            "The other drivers act through category maturity plus a direct "
            f"+{OTHER_DRIVER_EFFECT} each (adjusted OR ~1.4-1.7)."
        ),
    ),
    Scenario(
        "many_weak",
        "26 drivers (default drivers and proxies), each a weak direct effect (+0.2..+0.35)",
        # each driver adds to retention, so more mature categories go with more retention
        shape={"activation": "step", "utilization": "step", "maturity": "gradual"},
        effects={
            "retention_logit": {
                "intercept": -1.84,
                **_NO_MATURITY,
                "direct_feature": _spread(DRIVERS + PROXIES, 0.2, 0.35),
            },
            "expansion_logit": {"n_mature": 0.0},
        },
        roles=dict.fromkeys(PROXIES, "driver"),
        category_k=None,
        min_categories=None,
        note="Drivers act directly and additively; no category-maturity rule is planted.",
    ),
    Scenario(
        "gradual",
        "retention linear in log activation, log utilization and drivers adopted; no step",
        shape={"activation": "gradual", "utilization": "gradual", "maturity": "gradual"},
        effects={
            "retention_logit": {
                "intercept": -3.6,
                **_NO_MATURITY,
                "activated": 0.0,
                "utilized": 0.0,
                "activation_log1p": 0.35,
                "utilization_log": 0.8,
                "per_driver": {c: round(_MATURE[c] / CATEGORY_K[c], 6) for c in CATEGORIES},
            },
            "churn": {"activation_smooth": {"intercept": 0.8, "log1p_slope": -0.7}},
            "expansion_logit": {"n_mature": 0.0, "utilized": 0.0},
        },
        category_k=None,
        min_categories=None,
        note=(
            "Each driver adopted adds mature_category[c] / k_c to the retention logit (so k_c "
            "drivers add what a mature category adds by default): the log-odds are linear in "
            "the number of drivers adopted, with no category or overall threshold. Activation "
            "enters as log1p(conversations in months 0-2), utilization as "
            "log(utilization_log_offset + resolved conversations per seat)."
        ),
    ),
    Scenario(
        "rare_drivers",
        "every driver adopted by 5-15% of accounts; a category is mature with 1 driver, m = 2",
        effects={"retention_logit": {"intercept": -0.19}},
        prevalence=_spread(DRIVERS, 0.06, 0.145),
        category_k=dict.fromkeys(CATEGORIES, 1),
        min_categories=2,
        note="Target prevalences are for accounts that stay; realised in-window shares are lower.",
    ),
    Scenario(
        "first_renewal",
        "monthly contracts: many churners leave at the first renewal (days 28-40); drivers early",
        effects={
            "churn": {"first_renewal_prob": 0.12},
            "adoption": {"window_day_beta_by_role": {"driver": [1.0, 6.0]}},
        },
        note="First-renewal churners are outside the retention population; drivers stay drivers.",
    ),
    Scenario("small", "the default shape with 2,000 accounts by default", default_n=2000),
    Scenario(
        "null",
        "no feature or milestone affects retention (only company size and plan do)",
        shape=dict(_NONE),
        effects={
            "retention_logit": {"intercept": 0.69, **_NO_FEATURE_EFFECT},
            "churn": _FLAT_ACTIVATION_CHURN,
            "adoption": {"driver": {"plan": dict.fromkeys(("starter", "pro", "premium"), 0.0)}},
            "expansion_logit": {"n_mature": 0.0, "utilized": 0.0},
        },
        labels={"driver": "neutral", "proxy": "neutral", "negative": "neutral"},
        category_k=None,
        min_categories=None,
        note=(
            "Former drivers keep their correlated (latent) adoption but have no effect; their "
            "truth entry has planted_as = 'driver'. Traps about distribution (ubiquitous, "
            "niche, segment), size (confounded) and outcome timing (leaky, survivor) remain. "
            "The activation metric (conversations, not per seat) still tracks company size, "
            "which affects retention: associated, not causal. Utilization per seat is not."
        ),
    ),
    Scenario(
        "engagement_null",
        "latent engagement drives adoption, activity and retention; no feature is causal",
        # Associations, not causes: utilization per seat and the drivers adopted both load on
        # engagement, so retention rises with them; activation is judged against early churn,
        # which engagement does not move.
        shape={"activation": "none", "utilization": "gradual", "maturity": "gradual"},
        effects={
            "retention_logit": {"intercept": 0.78, **_NO_FEATURE_EFFECT, "engagement": 0.8},
            "churn": _FLAT_ACTIVATION_CHURN,
            "adoption": {
                "driver": {"plan": dict.fromkeys(("starter", "pro", "premium"), 0.0)},
                "engagement_loading": {"driver": 1.0, "proxy": 1.0, "neutral": 1.0},
            },
            "conversations": {"per_seat_rate_g_loading": 0.5},
            "expansion_logit": {"n_mature": 0.0, "utilized": 0.0},
        },
        labels={
            "driver": "engagement",
            "proxy": "engagement",
            "neutral": "engagement",
            "negative": "neutral",
        },
        category_k=None,
        min_categories=None,
        note=(
            "Confounded null: the account engagement latent (the general factor g, N(0, 1)) "
            "raises adoption of every 'engagement' feature (loading 1.0 on top of the category "
            "latent), conversation volume and retention (+0.8 g on the logit); no feature, "
            "activation or utilization has a causal effect. Any association is confounding."
        ),
    ),
    Scenario(
        "expansion",
        "default retention; 5 features raise expansion only, 2 drivers raise both, "
        f"{ONE_PLAN_FEATURE} raises retention on the {ONE_PLAN} plan only",
        effects={
            "retention_logit": {
                "plan_feature": {ONE_PLAN_FEATURE: {ONE_PLAN: ONE_PLAN_EFFECT}},
            },
            "expansion_logit": {
                "intercept": -3.2,
                "n_mature": 0.0,
                # utilization loads on engagement, as the drivers do: it would tie them to
                # expansion without any effect of theirs
                "utilized": 0.0,
                "direct_feature": {**EXPANSION_ONLY, **EXPANSION_BOTH},
            },
        },
        note=(
            "Expansion (0/1, accounts still customers at day 365) depends on company size "
            "and a direct effect of in-window adoption of the expansion drivers "
            "(truth['expansion']; expansion_role per feature), not on category maturity: the "
            "drivers other than the two 'both' ones raise retention only. "
            f"{ONE_PLAN_FEATURE} (adoption as a neutral feature) adds {ONE_PLAN_EFFECT:+g} to the "
            f"retention log-odds of {ONE_PLAN} accounts only and is labelled a driver outside "
            "the category-maturity rule (truth['segment_specific'])."
        ),
    ),
)

#: name -> :class:`Scenario`, in presentation order
SCENARIOS: dict[str, Scenario] = {s.name: s for s in _SCENARIOS}


def scenario_names() -> list[str]:
    """Names of the presets, ``default`` first.

    Returns
    -------
    list of str
    """
    return list(SCENARIOS)


def get_scenario(name: str | Scenario) -> Scenario:
    """Look up a preset by name.

    Parameters
    ----------
    name : str or Scenario
        Preset name (a :class:`Scenario` is returned as is).

    Returns
    -------
    Scenario

    Raises
    ------
    UnknownScenarioError
        If no preset has this name; the message lists the valid names.
    """
    if isinstance(name, Scenario):
        return name
    try:
        return SCENARIOS[name]
    except (KeyError, TypeError):
        valid = ", ".join(SCENARIOS)
        raise UnknownScenarioError(f"unknown scenario {name!r}; choose one of: {valid}") from None
