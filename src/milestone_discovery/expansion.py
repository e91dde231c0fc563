"""Expansion as a second outcome: which features go with staying, growing or both.

Intercom's framework was built on customers who stay *and* expand. When the
``accounts`` table has an ``expansion`` column (0/1, or a growth amount: any
value above 0 counts as expanded), the feature stage runs a second time with
the same machinery (:func:`~milestone_discovery.features.discover_features`:
screens, held-out conditional importance, adjusted odds ratio, traps) on the
accounts that stayed (retained at the horizon), with expansion as the outcome.
Every feature then has a retention status and an expansion status, and a label:

* ``"stay"``: selected for retention only;
* ``"grow"``: selected for expansion only;
* ``"both"``: selected for both;
* ``None``: selected for neither.

The expansion column has no date: expansion is taken as known at the horizon,
after the observation window in which adoption is measured. If expansions in
the data can happen inside the window, a feature adopted *because* the account
expanded (more seats, a higher plan) can look like a driver; the framework's
``expansion.notes`` say so.

>>> from milestone_discovery.expansion import discover_expansion
>>> result = discover_expansion(                                     # doctest: +SKIP
...     study.dataset, study.population, study.features, study.config)
>>> result.labels.query("label == 'grow'")                          # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import Config
from .data import Dataset
from .errors import InsufficientDataError
from .features import FeatureResult, discover_features
from .framework import clean_json
from .html_repr import key_figures, render_result, table_data
from .population import Population

__all__ = [
    "ExpansionResult",
    "LABELS",
    "discover_expansion",
    "expansion_outcome",
    "outcome_labels",
    "outcome_population",
]

#: label -> plain words
LABELS = {
    "stay": "goes with staying (retention) only",
    "grow": "goes with growing (expansion) only",
    "both": "goes with staying and growing",
}

_TABLE_COLUMNS = [
    "feature",
    "category",
    "retention",
    "expansion",
    "label",
    "reason",
    "prevalence",
    "adopters",
    "expansion_adopters",
    "expansion_non_adopters",
    "lift",
    "adj_or",
    "adj_or_low",
    "adj_or_high",
    "adj_p_holm",
    "importance",
    "importance_se",
    "importance_q",
]


def expansion_outcome(dataset: Dataset, population: Population) -> tuple[pd.Series, int]:
    """Expanded or not, for the accounts of the retention population that stayed.

    Parameters
    ----------
    dataset : Dataset
        Its ``accounts`` table may have an ``expansion`` column (0/1 or a
        growth amount; blank = unknown).
    population : Population
        The retention population (:func:`~milestone_discovery.build_population`).

    Returns
    -------
    expanded : pandas.Series
        Bool, indexed by ``account_id``: retained accounts with a known
        expansion value, True when it is above 0.
    unknown : int
        Retained accounts left out because their expansion value is blank.

    Raises
    ------
    InsufficientDataError
        Without an expansion column (or with every value blank), or for a wide table.
    """
    accounts = dataset.accounts
    if dataset.kind != "tables":
        raise InsufficientDataError("a wide table has no accounts.expansion column")
    if "expansion" not in accounts.columns or accounts["expansion"].isna().all():
        raise InsufficientDataError("the accounts table has no expansion column (or it is empty)")
    value = pd.to_numeric(accounts.set_index("account_id")["expansion"], errors="coerce")
    stayed = population.retained.index[population.retained.to_numpy(dtype=bool)]
    value = value.reindex(stayed)
    known = value.notna()
    return (value[known] > 0).rename("expanded"), int((~known).sum())


def outcome_population(population: Population, outcome: pd.Series) -> Population:
    """The population restricted to ``outcome``'s accounts, with ``outcome`` as its outcome.

    Flags, covariates, segments (and a wide table's factors) keep only those
    accounts; the outcome takes the place of ``retained``, so that
    :func:`~milestone_discovery.features.discover_features` studies it. The
    near-churn timing of the leak screen describes churn, not this outcome,
    and is dropped (the "too strong to be true" screen still applies).

    Parameters
    ----------
    population : Population
    outcome : pandas.Series
        Bool, indexed by account ids of the population.

    Returns
    -------
    Population
    """
    ids = pd.Index(outcome.index, name=population.flags.index.name)
    missing = ids.difference(population.flags.index)
    if len(missing):
        raise ValueError(f"{len(missing)} accounts of the outcome are not in the population")
    return dataclasses.replace(
        population,
        flags=population.flags.loc[ids],
        retained=pd.Series(outcome.to_numpy(dtype=bool), index=ids, name=outcome.name),
        covariates=population.covariates.loc[ids],
        segments=population.segments.loc[ids],
        factors=population.factors.loc[ids] if population.factors is not None else None,
        near_churn=None,
    )


def outcome_labels(retention: pd.Series, expansion: pd.Series) -> pd.Series:
    """``"stay"``, ``"grow"``, ``"both"`` or None from two status series (same index)."""
    stay = (retention.reindex(expansion.index) == "selected").to_numpy()
    grow = (expansion == "selected").to_numpy()
    names = {(True, True): "both", (True, False): "stay", (False, True): "grow"}
    return pd.Series(
        [names.get((bool(s), bool(g))) for s, g in zip(stay, grow, strict=True)],
        index=expansion.index,
        dtype=object,
    )


@dataclass
class ExpansionResult:
    """The feature stage with expansion as the outcome, beside the retention one.

    Attributes
    ----------
    features : FeatureResult
        The feature stage on the retained accounts, outcome = expanded
        (``FeatureResult.retention_rate`` is the expansion rate there).
    labels : pandas.DataFrame
        One row per feature: ``feature``, ``category``, ``retention`` and
        ``expansion`` (statuses), ``label`` (``"stay"``, ``"grow"``,
        ``"both"`` or None), the expansion statistics (``expansion_adopters``
        and ``expansion_non_adopters`` are the expansion rates of adopters
        and non-adopters, ``adj_or`` the odds ratio of expanding adjusted as
        in the retention stage, ``importance`` the held-out conditional
        importance) and the expansion ``reason``.
    accounts : int
        Retained accounts studied (with a known expansion value).
    expanding : int
        Of them, accounts that expanded.
    unknown : int
        Retained accounts left out: blank expansion value.
    horizon_days : int
        Retention horizon of the accounts studied.
    notes : list of str
    timings : dict
    """

    features: FeatureResult
    labels: pd.DataFrame
    accounts: int
    expanding: int
    unknown: int
    horizon_days: int
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def expansion_rate(self) -> float:
        return self.expanding / self.accounts if self.accounts else float("nan")

    @property
    def selected(self) -> list[str]:
        """Features selected for expansion, most important first."""
        return self.features.selected

    def milestones(self) -> dict[str, list[str]]:
        """label -> features (``stay``, ``grow``, ``both``), each sorted by name."""
        return {
            label: sorted(self.labels.loc[self.labels["label"] == label, "feature"])
            for label in LABELS
        }

    def to_frame(self) -> pd.DataFrame:
        """The per-feature table (a copy of :attr:`labels`)."""
        return self.labels.copy()

    def summary(self) -> pd.DataFrame:
        """Headline figures: accounts studied, expansion rate, features per label.

        Returns
        -------
        pandas.DataFrame
            Columns ``quantity`` and ``value``.
        """
        return key_figures(
            [
                ("retained accounts studied", self.accounts),
                ("accounts that expanded", self.expanding),
                ("expansion rate", self.expansion_rate),
                ("retained accounts without an expansion value", self.unknown),
                *((f"features: {LABELS[k]}", len(v)) for k, v in self.milestones().items()),
            ]
        )

    def to_dict(self) -> dict:
        """JSON-ready summary (the ``expansion`` section of ``framework.json``)."""
        fr = self.features
        m = fr.metrics.set_index("model")
        rows = self.labels.sort_values("feature", kind="stable")
        return clean_json(
            {
                "outcome": "expansion",
                "definition": (
                    "accounts.expansion above 0, among the accounts retained at "
                    f"{self.horizon_days} days"
                ),
                "accounts": self.accounts,
                "expanding": self.expanding,
                "expansion_rate": self.expansion_rate,
                "excluded": {"expansion_unknown": self.unknown},
                "adjusted_for": fr.adjusted_for,
                "model": {
                    "n_repeats": fr.config.n_repeats,
                    "metrics": fr.metrics.to_dict(orient="records"),
                    "roc_auc_gain_vs_covariates": float(
                        m.loc["covariates+features", "roc_auc_gain_vs_covariates"]
                    )
                    if "covariates+features" in m.index
                    else None,
                },
                "labels": dict(LABELS),
                "milestones": self.milestones(),
                "features": [
                    {k: (None if _missing(v) else v) for k, v in row.items()}
                    for row in rows.to_dict(orient="records")
                ],
                "notes": list(self.notes),
            }
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tidy tables for a run folder (``RUN/tables/<name>.csv``)."""
        return {"expansion_features": self.to_frame()}

    def plot_importance(self, top: int = 30, ax=None):
        """Held-out conditional importance for expansion of the ``top`` features; the Axes.

        Drawn on ``ax`` (default: a new figure) by
        :func:`milestone_discovery.plotting.plot_importance`.
        """
        from .plotting import plot_importance

        return plot_importance(self.features.features, top=top, ax=ax)

    def _repr_html_(self) -> str:
        ms = self.milestones()
        cols = ["feature", "retention", "expansion", "label", "prevalence", "adj_or", "importance"]
        return render_result(
            "Expansion",
            lead=f"{self.accounts:,} retained accounts, {self.expanding:,} expanded",
            facts=self.summary(),
            tables=[table_data(self.labels, "Features", columns=cols)],
            notes=[
                f"{label} ({LABELS[label]}): {', '.join(ms[label]) or 'none'}" for label in LABELS
            ]
            + self.notes,
        )


def _missing(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


def discover_expansion(
    dataset: Dataset,
    population: Population,
    retention: FeatureResult,
    config: Config | None = None,
    *,
    n_repeats: int | None = None,
    min_expanding: int | None = None,
    progress: bool = False,
) -> ExpansionResult:
    """Run the feature stage for expansion among the retained accounts.

    Parameters
    ----------
    dataset : Dataset
    population : Population
        The retention population the retention stage used.
    retention : FeatureResult
        The retention feature stage (its statuses label each feature).
    config : Config, optional
        ``config.features`` as for retention (same screens, tests and forest;
        no SHAP), ``config.expansion`` the defaults below.
    n_repeats : int, optional
        Cross-fitting repeats of the importance model (default
        ``[expansion] n_repeats``, 1: a quarter of the retention stage's cost).
    min_expanding : int, optional
        Fewest expanding and non-expanding accounts needed (default
        ``[expansion] min_expanding``).
    progress : bool

    Returns
    -------
    ExpansionResult

    Raises
    ------
    InsufficientDataError
        No expansion column, or too few (expanding) accounts: the message is
        the reason the framework records.
    """
    config = config or Config()
    n_repeats = n_repeats or config.expansion.n_repeats
    min_expanding = min_expanding or config.expansion.min_expanding
    started = time.perf_counter()
    expanded, unknown = expansion_outcome(dataset, population)
    n, k = len(expanded), int(expanded.sum())
    if n < config.study.min_accounts:
        raise InsufficientDataError(
            f"only {n} retained accounts with an expansion value (need at least "
            f"{config.study.min_accounts}, [study] min_accounts)"
        )
    if min(k, n - k) < min_expanding:
        raise InsufficientDataError(
            f"too few accounts on one side of the expansion outcome: {k} of {n} retained "
            f"accounts expanded, {n - k} did not (need at least {min_expanding} of each)"
        )
    sub = outcome_population(population, expanded)
    cfg = copy.deepcopy(config)
    cfg.features.n_repeats = n_repeats
    cfg.features.shap_sample = 0  # not reported for expansion
    try:
        result = discover_features(sub, cfg, progress=progress)
    except InsufficientDataError as exc:
        raise InsufficientDataError(f"expansion among retained accounts: {exc}") from None
    t = result.features.set_index("feature")
    status = retention.features.set_index("feature")["status"]
    labels = pd.DataFrame(
        {
            "feature": t.index,
            "category": t["category"].to_numpy(),
            "retention": status.reindex(t.index).to_numpy(dtype=object),
            "expansion": t["status"].to_numpy(),
            "label": outcome_labels(status, t["status"]).to_numpy(),
            "reason": t["reason"].to_numpy(),
            "prevalence": t["prevalence"].to_numpy(),
            "adopters": t["adopters"].to_numpy(),
            "expansion_adopters": t["retention_adopters"].to_numpy(),
            "expansion_non_adopters": t["retention_non_adopters"].to_numpy(),
            "lift": t["lift"].to_numpy(),
            "adj_or": t["adj_or"].to_numpy(),
            "adj_or_low": t["adj_or_low"].to_numpy(),
            "adj_or_high": t["adj_or_high"].to_numpy(),
            "adj_p_holm": t["adj_p_holm"].to_numpy(),
            "importance": t["importance"].to_numpy(),
            "importance_se": t["importance_se"].to_numpy(),
            "importance_q": t["importance_q"].to_numpy(),
        }
    )[_TABLE_COLUMNS]
    # keep None (no label) as None: pandas would read a text column's None as missing text
    labels["label"] = pd.Series(
        outcome_labels(status, t["status"]).tolist(), index=labels.index, dtype=object
    )
    notes = [
        "Expansion has no date in the data: it is taken as known at the horizon, after the "
        "observation window. If accounts can expand inside the window, a feature adopted "
        "because the account expanded (more seats, a higher plan) can look like a driver."
    ]
    if unknown:
        notes.append(f"{unknown} retained accounts have no expansion value and are left out.")
    return ExpansionResult(
        features=result,
        labels=labels,
        accounts=n,
        expanding=k,
        unknown=unknown,
        horizon_days=population.horizon_days,
        notes=notes,
        timings={"expansion": time.perf_counter() - started, **result.timings},
    )
