"""Synthetic B2B SaaS usage data with a planted milestone truth.

The generator produces the five input tables of the project (accounts,
feature usage, feature catalog, monthly activity and setup steps) together
with a ``truth`` dictionary describing exactly what was planted: which
features drive retention and through which category-maturity rule, which
features are traps (ubiquitous, niche, segment, confounded, leaky, negative,
survivor), the activation threshold, the utilization threshold and the setup
steps that matter.  It is the project's main test instrument: the analysis
code is judged on whether it recovers the planted truth and avoids the traps.

Modules: :mod:`.catalog` (constants, features, ``EFFECTS``),
:mod:`.scenarios` (presets), :mod:`.generator` (:func:`make_synthetic`),
:mod:`.truth` (the truth dictionary, :func:`planted_maturity`),
:mod:`.dataset` (:class:`SyntheticDataset`) and :mod:`.evaluate`
(:func:`recovery`: how far a study found the planted truth).

Planted roles (``truth["features"][name]["role"]``)
--------------------------------------------------
driver
    Adoption depends on the category latent; a category is *mature* when at
    least ``k`` of its drivers are adopted in the window, and retention
    depends on the drivers only through these maturity flags (plus a bonus
    for being mature in at least ``min_categories`` categories).  Some
    scenarios add direct per-driver effects (``direct_effect`` in the
    feature's truth entry).
proxy, neutral
    Correlated with the drivers (proxy) or with nothing (neutral); no effect.
ubiquitous, niche, segment, confounded, leaky, negative, survivor
    Traps: near-universal; rare and premium-only; premium-only; driven by
    company size; used right before churning; truly harmful; adopted after
    the window by accounts that stay.
engagement
    ``engagement_null`` only: adoption and retention share a latent cause,
    the feature itself has no effect (a confounded null).

A feature relabelled by a scenario keeps its generating role in
``planted_as`` (e.g. the former drivers of ``null``).

Scenarios (``make_synthetic(..., scenario=NAME)``, ``milestones synth --scenario NAME``)
----------------------------------------------------------------------------------------
default
    The reference shape: category maturity (``k`` per category, bonus at
    ``min_categories = 3``), an activation step at 60 conversations in months
    0-2 and a utilization step at 8 resolved conversations per seat.
imbalanced
    As default with a higher retention intercept: ~95% of eligible accounts
    are retained.
dominant
    As default plus a direct +2.0 retention log-odds effect of one driver
    (``workflows``); the other drivers keep their maturity-mediated effects.
many_weak
    26 drivers (the default drivers and proxies), each a direct effect of
    +0.2..+0.35; no maturity rule (``min_categories`` and ``k`` are ``None``).
gradual
    No threshold: retention log-odds linear in ``log1p`` of the activation
    metric, in ``log`` of utilization and in the number of drivers adopted
    per category; activation-window churn also smooth in the metric.
rare_drivers
    Every driver adopted in the window by 5-15% of accounts; a category is
    mature with one driver and the bonus needs two mature categories.
first_renewal
    Monthly contracts: ~12% of accounts churn at the first renewal (days
    28-40, ~25% of churners) and drivers are adopted early (Beta(1, 6) over
    the window).
small
    The default shape, 2,000 accounts unless given.
null
    No feature or milestone affects retention; only size and plan do.
    Former drivers, proxies and negatives are labelled ``neutral``.
engagement_null
    A latent engagement drives adoption, activity and retention; no feature
    is causal (drivers, proxies and neutrals labelled ``engagement``).
expansion
    Default retention; expansion (0/1, among accounts still customers at
    day 365) no longer follows category maturity but a direct effect of five
    neutral features (raise expansion only: ``grow``) and two drivers
    (``both``); the other drivers raise retention only (``stay``), listed in
    ``truth["expansion"]``, with ``expansion_role`` per feature. And
    ``away_mode`` raises retention on the ``pro`` plan only: a driver outside
    the maturity rule, ``truth["segment_specific"]``.

Every truth records ``scenario``, ``shape`` (``activation``,
``utilization``, ``maturity``: ``"step"``, ``"gradual"`` or ``"none"``) and
the realised ``retention_rate`` of the eligible population.

Time conventions (shared with the analysis code)
-------------------------------------------------
* ``churn_date = signup + d`` means the account is a customer on days
  ``0 .. d-1`` after signup; it is "a customer at day t" iff ``d > t``.
* Feature adoption counts if ``first_used_at <= signup + 180 days``.
* Retention: still a customer at day 365, judged for accounts signed up at
  least 365 days before ``as_of`` that were still customers at day 180.
* Activation: conversations summed over account-age months 0-2 (month 0 is
  the calendar month of signup).  Setup: a step completed within 30 days.
  Utilization: ``resolved_conversations / seats`` averaged over months 3-5.
"""

from __future__ import annotations

from .catalog import (
    CATEGORIES,
    CATEGORY_K,
    EFFECTS,
    EXPECTED_STATUS,
    HORIZON_DAYS,
    MIN_CATEGORIES,
    OBSERVATION_DAYS,
)
from .dataset import SyntheticDataset
from .evaluate import TRAP_ROLES, recovery
from .generator import make_synthetic
from .scenarios import SCENARIOS, Scenario, UnknownScenarioError, get_scenario, scenario_names
from .truth import planted_maturity

__all__ = [
    "CATEGORIES",
    "CATEGORY_K",
    "EFFECTS",
    "EXPECTED_STATUS",
    "HORIZON_DAYS",
    "MIN_CATEGORIES",
    "OBSERVATION_DAYS",
    "SCENARIOS",
    "Scenario",
    "SyntheticDataset",
    "TRAP_ROLES",
    "UnknownScenarioError",
    "get_scenario",
    "make_synthetic",
    "planted_maturity",
    "recovery",
    "scenario_names",
]
