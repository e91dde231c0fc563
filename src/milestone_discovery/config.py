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
in a ``[wide]`` section; see :class:`WideConfig`. An ``events`` table is mapped
to features, monthly metrics and setup steps by ``[events]`` (see
:class:`EventsConfig`), and any input table may be a SQL query run on the files
of the dataset folder (``[tables.events] query = "select ..."``, see
:func:`check_tables`; engine settings in ``[engine]``).

The sections that say how the input is read are in
:mod:`milestone_discovery.config_input`, those of the analysis stages in
:mod:`milestone_discovery.config_stages`; every one is re-exported here.

Validation is declarative: each section class has a ``_constraints`` table
(key -> list of allowed kinds of value) built from the constraints of
:mod:`milestone_discovery.constraints`; ``None`` in a list means the key may be
null. Every value is checked when it is set (also ``config.study.seed = -1``
after loading), the rules that tie keys of one section together when the
section is validated, and the windows that must fit inside each other
(adoption, activation, utilization and setup windows, early churn and the
horizon) by :meth:`Config.validate`, which :meth:`Config.from_dict` and
:meth:`Config.from_toml` run before any data is read. Every message names the
section, the key, the value given and the rule::

    config [features] n_estimators = 0: must be an integer >= 1
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .config_input import (
    DEFAULT_CHURNED_VALUES,
    EVENT_TABLES,
    REQUIRED_TABLES,
    SHARED_ROLES,
    TABLE_COLUMNS,
    DataConfig,
    EngineConfig,
    EventsConfig,
    WideConfig,
    check_columns,
    check_tables,
)
from .config_stages import (
    DAYS_PER_MONTH,
    MIN_BOOTSTRAP,
    ExpansionConfig,
    FeatureConfig,
    JourneyConfig,
    MaturityConfig,
    SensitivityConfig,
)
from .constraints import (
    Boolean,
    Date,
    Interval,
    ListOf,
    Options,
    Rejected,
    Section,
    TableOf,
    Text,
    check_value,
    describe_constraints,
    positive_int,
    show,
)
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "DAYS_PER_MONTH",
    "DEFAULT_CHURNED_VALUES",
    "EVENT_TABLES",
    "MIN_BOOTSTRAP",
    "REQUIRED_TABLES",
    "SHARED_ROLES",
    "TABLE_COLUMNS",
    "Boolean",
    "Config",
    "DataConfig",
    "Date",
    "EngineConfig",
    "EventsConfig",
    "ExpansionConfig",
    "FeatureConfig",
    "Interval",
    "JourneyConfig",
    "ListOf",
    "MaturityConfig",
    "Options",
    "Rejected",
    "Section",
    "SensitivityConfig",
    "StudyConfig",
    "TableOf",
    "Text",
    "WideConfig",
    "check_columns",
    "check_tables",
    "check_value",
    "check_windows",
    "describe_constraints",
    "show",
]


# ----------------------------------------------------------------------------- sections
@dataclass
class StudyConfig(Section):
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
        Seed for every random step (forests, bootstraps, splits), ``0 <= seed < 2**32``.
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

    _section: ClassVar[str] = "study"
    _constraints: ClassVar[dict[str, list]] = {
        "as_of": [Date(), None],
        "observation_days": positive_int(),
        "horizon_days": positive_int(),
        "seed": [Interval(int, 0, 2**32, closed="left")],
        "size_bands": [
            ListOf(
                Interval(int, 1, None),
                increasing=True,
                what="a list of increasing integers >= 1 (company sizes)",
            )
        ],
        "n_size_strata": positive_int(),
        "min_accounts": positive_int(),
        "temporal_validation": [Boolean()],
        "temporal_split": [Interval(float, 0.2, 0.9)],
    }

    as_of: dt.date | None = None
    observation_days: int = 180
    horizon_days: int = 365
    seed: int = 0
    size_bands: list[int] = field(default_factory=lambda: [10, 50, 200, 1000])
    n_size_strata: int = 10
    min_accounts: int = 200
    temporal_validation: bool = True
    temporal_split: float = 0.7

    def _check_relations(self, source: str) -> None:
        if self.observation_days > self.horizon_days:
            raise self._fail(
                source,
                "observation_days",
                f"must not exceed horizon_days = {self.horizon_days} "
                f"({self.observation_days} > {self.horizon_days}): adoption would be "
                "measured after the outcome",
            )


# ----------------------------------------------------------------------------- windows
def check_windows(
    study: StudyConfig,
    features: FeatureConfig,
    journey: JourneyConfig,
    source: str = "config",
) -> None:
    """Check that the windows of the stages fit inside each other.

    Activation months, utilization months, the setup window and the leaky-feature
    window lie inside the observation (adoption) window (months count as
    :data:`DAYS_PER_MONTH` days), which lies inside the horizon.

    Parameters
    ----------
    study, features, journey : section configs
    source : str, default "config"
        Name of the config (file) used at the start of messages.

    Raises
    ------
    milestone_discovery.errors.ConfigError
    """
    window = study.observation_days
    ref = f"the observation window ([study] observation_days = {window})"
    hint = "; shorten it or lengthen observation_days"
    activation_end = journey.activation_months * DAYS_PER_MONTH
    if activation_end > window:
        raise journey._fail(
            source,
            "activation_months",
            f"must end inside {ref}: months 0-{journey.activation_months - 1} end "
            f"about day {activation_end}{hint}",
        )
    last = journey.utilization_months[1]
    utilization_end = (last + 1) * DAYS_PER_MONTH
    if utilization_end > window:
        raise journey._fail(
            source,
            "utilization_months",
            f"must end inside {ref}: month {last} ends about day {utilization_end}{hint}",
        )
    if journey.setup_days > window:
        raise journey._fail(source, "setup_days", f"must not exceed {ref}{hint}")
    if features.leaky_days > window:
        raise features._fail(source, "leaky_days", f"must not exceed {ref}{hint}")


# ----------------------------------------------------------------------------- config
_SECTIONS: dict[str, type] = {
    "study": StudyConfig,
    "data": DataConfig,
    "events": EventsConfig,
    "engine": EngineConfig,
    "features": FeatureConfig,
    "maturity": MaturityConfig,
    "journey": JourneyConfig,
    "expansion": ExpansionConfig,
    "sensitivity": SensitivityConfig,
    "wide": WideConfig,
}


@dataclass
class Config:
    """The whole study configuration.

    Constructing a config checks every value and each section's own rules;
    :meth:`validate` (run by :meth:`from_dict` and :meth:`from_toml`) also checks
    that the windows of different sections fit inside each other.

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
    data: DataConfig = field(default_factory=DataConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    maturity: MaturityConfig = field(default_factory=MaturityConfig)
    journey: JourneyConfig = field(default_factory=JourneyConfig)
    expansion: ExpansionConfig = field(default_factory=ExpansionConfig)
    sensitivity: SensitivityConfig = field(default_factory=SensitivityConfig)
    wide: WideConfig | None = None

    def __post_init__(self) -> None:
        self._validate_sections("config")

    # -- loading ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> Config:
        """Build a config from nested dicts and validate it completely.

        Parameters
        ----------
        data : dict
            ``{section: {key: value}}`` as read from TOML (or :meth:`to_dict`).
        source : str, default "config"
            Name of the config (file) used at the start of messages.

        Returns
        -------
        Config

        Raises
        ------
        milestone_discovery.errors.ConfigError
            For an unknown section or key or any value that breaks its rule.
        """
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
                kwargs[name] = check_columns(value, source)
            elif name == "tables":
                kwargs[name] = check_tables(value, source)
            else:
                kwargs[name] = _section_from_dict(_SECTIONS[name], value, source)
        config = cls(**kwargs)
        config.validate(source)
        return config

    @classmethod
    def from_toml(cls, path: str | Path) -> Config:
        """Read a study config from a TOML file and validate it.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        Config

        Raises
        ------
        milestone_discovery.errors.ConfigError
            Missing or unreadable file, invalid TOML, or an invalid setting.
        """
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

    def _validate_sections(self, source: str) -> None:
        for name, klass in _SECTIONS.items():
            section = getattr(self, name)
            if name == "wide" and section is None:
                continue
            if not isinstance(section, klass):
                raise ConfigError(
                    f"{source} [{name}]: expected a {klass.__name__}, got {type(section).__name__}"
                )
            section.validate(source)
        self.columns = check_columns(self.columns, source)
        self.tables = check_tables(self.tables, source)

    def validate(self, source: str = "config") -> None:
        """Check every value, each section's rules and that the windows fit inside each other.

        Parameters
        ----------
        source : str, default "config"
            Name of the config (file) used at the start of messages.

        Raises
        ------
        milestone_discovery.errors.ConfigError
            Naming the section, the key, the value given and the rule.
        """
        self._validate_sections(source)
        check_windows(self.study, self.features, self.journey, source)

    def column(self, table: str, name: str) -> str:
        """The user's name of a standard column of ``table``."""
        return self.columns.get(table, {}).get(name, name)


def _section_from_dict(klass: type, value: Any, source: str) -> Any:
    where = f"{source} [{klass._section}]"
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    rules = klass._constraints
    unknown = sorted(set(value) - set(rules))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(rules)}")
    kwargs = {key: check_value(rules[key], val, f"{where} {key}") for key, val in value.items()}
    section = klass(**kwargs)
    section.validate(source)
    return section
