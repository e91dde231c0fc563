"""Every default of a study in one place, loadable from a TOML file.

A study config file has one section per stage; every key is optional and
unknown keys are an error (a typo must not silently fall back to a default)::

    [study]
    as_of = "2026-06-30"     # default: the latest date found in the data
    observation_days = 180
    horizon_days = 365
    seed = 0

    [columns.accounts]       # rename: standard name = your column name
    account_id = "customer_id"

    [features]
    min_prevalence = 0.05

A wide table (one row per account, one flag column per feature) is described
in a ``[wide]`` section; see :class:`WideConfig`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Standard column names of each table of the input contract: required, optional.
TABLE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "accounts": (
        ("account_id", "signup_date", "seats", "company_size"),
        ("plan", "churn_date", "expansion"),
    ),
    "feature_usage": (("account_id", "feature", "first_used_at"), ("uses",)),
    "feature_catalog": (("feature", "category"), ("description", "hypothesis")),
    "activity": (("account_id", "month"), ()),
    "setup_steps": (("account_id", "step", "completed_at"), ()),
}
REQUIRED_TABLES = ("accounts", "feature_usage")


@dataclass
class StudyConfig:
    """Time windows and global settings.

    Attributes
    ----------
    as_of : datetime.date or None
        Analysis date; ``None`` means the latest date found in the data.
    observation_days : int
        Adoption window after signup: a feature counts only if first used inside it.
    horizon_days : int
        Retention is judged this many days after signup.
    seed : int
        Seed for every random step (forests, bootstraps, splits).
    size_bands : list of int
        Upper edges of the company-size bands used for segments and reports.
    n_size_strata : int
        Number of company-size quantile strata used when adjusting for size.
    min_accounts : int
        Fewest eligible accounts a study accepts.
    temporal_validation : bool
        Refit on the earlier signup cohorts and check the milestones on the later ones.
    temporal_split : float
        Share of the retention population (by signup date) used for that refit.
    """

    as_of: dt.date | None = None
    observation_days: int = 180
    horizon_days: int = 365
    seed: int = 0
    size_bands: list[int] = field(default_factory=lambda: [10, 50, 200, 1000])
    n_size_strata: int = 10
    min_accounts: int = 200
    temporal_validation: bool = True
    temporal_split: float = 0.7

    def validate(self) -> None:
        if self.observation_days <= 0 or self.horizon_days <= 0:
            raise ConfigError("study: observation_days and horizon_days must be positive")
        if self.observation_days > self.horizon_days:
            raise ConfigError(
                "study: observation_days must not exceed horizon_days "
                f"({self.observation_days} > {self.horizon_days}): adoption would be "
                "measured after the outcome"
            )
        if sorted(self.size_bands) != list(self.size_bands) or any(b <= 0 for b in self.size_bands):
            raise ConfigError("study: size_bands must be increasing positive numbers")
        if self.n_size_strata < 1:
            raise ConfigError("study: n_size_strata must be at least 1")
        if not 0.2 <= self.temporal_split <= 0.9:
            raise ConfigError("study: temporal_split must be between 0.2 and 0.9")


@dataclass
class FeatureConfig:
    """Feature-discovery settings (random forest, screens, tests).

    Attributes
    ----------
    min_prevalence, max_prevalence : float
        Features adopted by fewer (``niche``) or more (``ubiquitous``) accounts are dropped.
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
    n_estimators, max_depth, min_samples_leaf : int
        The random forest (bounded depth and leaf size keep importance honest and SHAP fast).
    n_splits, n_repeats : int
        Cross-fitting: ``n_splits``-fold, repeated; every account is held out once per repeat.
    shap_sample : int
        Held-out rows explained with SHAP (0 to skip SHAP).
    permutation_max_rows : int
        Held-out rows per split used for importance (a fixed random subset beyond it).
    """

    min_prevalence: float = 0.05
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
    n_estimators: int = 200
    max_depth: int | None = 10
    min_samples_leaf: int = 20
    n_splits: int = 2
    n_repeats: int = 4
    shap_sample: int = 200
    permutation_max_rows: int = 20000

    def validate(self) -> None:
        if not 0 <= self.min_prevalence < self.max_prevalence <= 1:
            raise ConfigError("features: need 0 <= min_prevalence < max_prevalence <= 1")
        if not 0 < self.alpha < 1:
            raise ConfigError("features: alpha must be in (0, 1)")
        if self.n_splits < 2 or self.n_repeats < 1:
            raise ConfigError("features: n_splits must be >= 2 and n_repeats >= 1")
        if self.multiplicity not in ("fdr_bh", "holm"):
            raise ConfigError("features: multiplicity must be 'fdr_bh' or 'holm'")
        if not self.min_effect_or > 1:
            raise ConfigError("features: min_effect_or must be above 1")
        if not 0 < self.power < 1:
            raise ConfigError("features: power must be in (0, 1)")


@dataclass
class MaturityConfig:
    """Maturity categories and thresholds."""

    min_side_share: float = 0.05
    n_bootstrap: int = 200
    max_clusters: int = 8
    min_categories: int | None = None  # None: chosen from data
    categories: str = "auto"  # "catalog", "data" (co-adoption clusters) or "auto" (catalog if any)

    def validate(self) -> None:
        if self.categories not in ("auto", "catalog", "data"):
            raise ConfigError("maturity: categories must be 'auto', 'catalog' or 'data'")
        if not 0 < self.min_side_share < 0.5:
            raise ConfigError("maturity: min_side_share must be in (0, 0.5)")


@dataclass
class JourneyConfig:
    """Setup, activation and utilization milestones."""

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

    def validate(self) -> None:
        if len(self.utilization_months) != 2:
            raise ConfigError(
                "journey: utilization_months must be [first, last] with first <= last"
            )
        lo, hi = self.utilization_months
        if not 0 <= lo <= hi:
            raise ConfigError(
                "journey: utilization_months must be [first, last] with first <= last"
            )


@dataclass
class WideConfig:
    """How to read a single wide table (one row per account).

    Attributes
    ----------
    id : str
        Account id column.
    outcome : str
        Outcome column; ``churned_values`` say which of its values mean churned
        (everything else means retained).
    flags : list of str
        Feature columns holding yes/no values.
    expand : list of str
        Multi-level columns turned into one flag per level (``"Column=level"``).
    skip_levels : list of str
        Levels of expanded columns that mean "does not use it" (e.g. ``"No"``):
        not using something is not a milestone, so no flag is made for them.
    true_values, false_values : list of str
        Extra spellings of yes and no (``"No internet service"`` etc.).
    plan, size, seats : str or None
        Optional segment and size columns used as covariates.
    catalog : dict
        Optional feature -> category mapping (the product managers' grouping).
    """

    id: str = "account_id"
    outcome: str = "churned"
    churned_values: list[str] = field(default_factory=lambda: ["1", "yes", "true"])
    flags: list[str] = field(default_factory=list)
    expand: list[str] = field(default_factory=list)
    skip_levels: list[str] = field(default_factory=list)
    true_values: list[str] = field(default_factory=list)
    false_values: list[str] = field(default_factory=list)
    plan: str | None = None
    size: str | None = None
    seats: str | None = None
    catalog: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.flags and not self.expand:
            raise ConfigError("wide: list the feature columns in 'flags' (and/or 'expand')")


@dataclass
class Config:
    """The whole study configuration.

    Examples
    --------
    >>> cfg = Config()
    >>> cfg.study.observation_days
    180
    >>> Config.from_dict({"study": {"horizon_days": 400}}).study.horizon_days
    400
    """

    study: StudyConfig = field(default_factory=StudyConfig)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    maturity: MaturityConfig = field(default_factory=MaturityConfig)
    journey: JourneyConfig = field(default_factory=JourneyConfig)
    wide: WideConfig | None = None

    def __post_init__(self) -> None:
        self.validate()

    # -- loading ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> Config:
        """Build a config from nested dicts; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a table of sections")
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(
                f"{source}: unknown section(s) {unknown}; known sections: {sorted(sections)}"
            )
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name == "wide" and value is None:  # as written by to_dict() without a wide table
                continue
            if name == "columns":
                kwargs[name] = _columns_from_dict(value, source)
            else:
                klass = {
                    "study": StudyConfig,
                    "features": FeatureConfig,
                    "maturity": MaturityConfig,
                    "journey": JourneyConfig,
                    "wide": WideConfig,
                }[name]
                kwargs[name] = _dataclass_from_dict(klass, value, f"{source} [{name}]")
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> Config:
        """Read a study config from a TOML file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (dates as ISO strings), used in ``run.json``."""
        out = dataclasses.asdict(self)
        if self.study.as_of is not None:
            out["study"]["as_of"] = self.study.as_of.isoformat()
        return out

    def validate(self) -> None:
        self.study.validate()
        self.features.validate()
        self.maturity.validate()
        self.journey.validate()
        if self.wide is not None:
            self.wide.validate()

    def column(self, table: str, name: str) -> str:
        """The user's name of a standard column of ``table``."""
        return self.columns.get(table, {}).get(name, name)


def _columns_from_dict(value: Any, source: str) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{source} [columns]: expected sub-tables such as [columns.accounts]")
    out: dict[str, dict[str, str]] = {}
    for table, mapping in value.items():
        if table not in TABLE_COLUMNS:
            raise ConfigError(
                f"{source} [columns.{table}]: unknown table; known tables: {sorted(TABLE_COLUMNS)}"
            )
        if not isinstance(mapping, dict):
            raise ConfigError(f'{source} [columns.{table}]: expected standard_name = "your_name"')
        required, optional = TABLE_COLUMNS[table]
        known = set(required) | set(optional)
        # activity carries any numeric metric: renaming a metric is allowed too.
        unknown = sorted(set(mapping) - known) if table != "activity" else []
        if unknown:
            raise ConfigError(
                f"{source} [columns.{table}]: unknown column(s) {unknown}; known: {sorted(known)}"
            )
        out[table] = {str(k): str(v) for k, v in mapping.items()}
    return out


def _dataclass_from_dict(klass: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")
    kwargs = dict(value)
    if "as_of" in kwargs and kwargs["as_of"] is not None:
        kwargs["as_of"] = _to_date(kwargs["as_of"], where)
    defaults = klass()
    for key, val in kwargs.items():
        expected = getattr(defaults, key)
        if isinstance(expected, bool) or expected is None or key == "as_of":
            continue
        if isinstance(expected, (int, float)) and (
            isinstance(val, bool) or not isinstance(val, (int, float))
        ):
            raise ConfigError(f"{where}: '{key}' must be a number, got {val!r}")
        if isinstance(expected, int) and isinstance(val, float):
            if not val.is_integer():
                raise ConfigError(f"{where}: '{key}' must be a whole number, got {val!r}")
            kwargs[key] = int(val)
        if isinstance(expected, dict) and not isinstance(val, dict):
            raise ConfigError(f"{where}: '{key}' must be a table (key = value pairs), got {val!r}")
        if isinstance(expected, list) and not isinstance(val, list):
            raise ConfigError(f"{where}: '{key}' must be a list, got {val!r}")
        if isinstance(expected, str) and not isinstance(val, str):
            raise ConfigError(f"{where}: '{key}' must be a string, got {val!r}")
    try:
        return klass(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        raise ConfigError(f"{where}: {exc}") from None


def _to_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: as_of must be a date like 2026-06-30, got {value!r}") from None
