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

Validation is declarative: each section class has a ``_constraints`` table
(key -> list of allowed kinds of value, in the spirit of scikit-learn's
``_parameter_constraints``) built from :class:`Interval`, :class:`Options`,
:class:`Boolean`, :class:`Text`, :class:`Date`, :class:`ListOf` and
:class:`TableOf`; ``None`` in a list means the key may be null. Every value is
checked when it is set (also ``config.study.seed = -1`` after loading), the
rules that tie keys of one section together when the section is validated,
and the windows that must fit inside each other (adoption, activation,
utilization and setup windows, early churn and the horizon) by
:meth:`Config.validate`, which :meth:`Config.from_dict` and
:meth:`Config.from_toml` run before any data is read. Every message names the
section, the key, the value given and the rule::

    config [features] n_estimators = 0: must be an integer >= 1
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import numbers
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Standard column names of each table of the input contract: required, optional.
TABLE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "accounts": (
        ("account_id", "signup_date"),
        ("seats", "company_size", "plan", "churn_date", "expansion"),
    ),
    "feature_usage": (("account_id", "feature", "first_used_at"), ("uses",)),
    "feature_catalog": (("feature", "category"), ("description", "hypothesis")),
    "activity": (("account_id", "month"), ()),
    "setup_steps": (("account_id", "step", "completed_at"), ()),
    "events": (("account_id", "event", "timestamp"), ("user_id", "count")),
}
#: ``feature_usage`` may be replaced by ``events`` (see :class:`EventsConfig`).
REQUIRED_TABLES = ("accounts", "feature_usage")
#: Standard columns that one user column may fill together (``company_size = "seats"``).
SHARED_ROLES: dict[str, frozenset[str]] = {"accounts": frozenset({"seats", "company_size"})}
#: Tables derived from ``events``: a dataset gives either these or ``events``.
EVENT_TABLES = ("feature_usage", "activity", "setup_steps")

#: Days per month used to compare month windows with day windows.
DAYS_PER_MONTH = 30

#: Fewest bootstrap resamples that give a confidence interval any width.
MIN_BOOTSTRAP = 10


# ----------------------------------------------------------------------------- constraints
class Rejected(ValueError):
    """A value breaks a constraint; the message (may be empty) says which part."""


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"


def show(value: Any, limit: int = 60) -> str:
    """A value as it would be written in TOML, shortened to about ``limit`` characters.

    Parameters
    ----------
    value : object
        Any setting value.
    limit : int, default 60
        Longer renderings are cut and end with ``...``.

    Returns
    -------
    str

    Examples
    --------
    >>> show([10, "fifty"])
    '[10, "fifty"]'
    >>> show(True)
    'true'
    """

    def render(v: Any) -> str:
        if _is_bool(v):
            return "true" if v else "false"
        if v is None:
            return "null"
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(render(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {render(x)}" for k, x in v.items()) + "}"
        if isinstance(v, numbers.Integral):
            return str(int(v))
        if isinstance(v, numbers.Real):
            return repr(float(v))
        return repr(v)

    text = render(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bound(x: float) -> str:
    if isinstance(x, int) and x >= 2**16 and x & (x - 1) == 0:
        return f"2**{x.bit_length() - 1}"
    return f"{x:g}" if isinstance(x, float) else str(x)


class Interval:
    """A number of a given kind within bounds.

    Parameters
    ----------
    kind : {int, float}
        ``int``: integers (``True``/``False`` are not integers; a whole float
        such as ``3.0`` is accepted and stored as ``3``). ``float``: any real
        number, stored as ``float``.
    left, right : number or None
        Bounds; ``None`` means unbounded on that side.
    closed : {"both", "left", "right", "neither"}, default "both"
        Which bounds are included.

    Examples
    --------
    >>> Interval(int, 1, None).convert(3.0)
    3
    >>> str(Interval(float, 0, 1, closed="neither"))
    'a number in (0, 1)'
    """

    def __init__(
        self,
        kind: type,
        left: float | None,
        right: float | None,
        *,
        closed: str = "both",
    ) -> None:
        if kind not in (int, float) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"bad Interval({kind!r}, closed={closed!r})")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def convert(self, value: Any) -> int | float:
        """Return ``value`` as an ``int`` or ``float``, or raise :class:`Rejected`."""
        if _is_bool(value) or not isinstance(value, numbers.Real):
            raise Rejected("")
        if self.kind is int:
            if isinstance(value, numbers.Integral):
                value = int(value)
            elif float(value).is_integer():
                value = int(value)
            else:
                raise Rejected("")
        else:
            value = float(value)
        if value != value:  # NaN
            raise Rejected("")
        left_ok = self.left is None or (
            value >= self.left if self.closed in ("both", "left") else value > self.left
        )
        right_ok = self.right is None or (
            value <= self.right if self.closed in ("both", "right") else value < self.right
        )
        if not (left_ok and right_ok):
            raise Rejected("")
        return value

    def __str__(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.left is not None and self.right is not None:
            return (
                f"{noun} in {'[' if lo_in else '('}{_bound(self.left)}, "
                f"{_bound(self.right)}{']' if hi_in else ')'}"
            )
        if self.left is not None:
            return f"{noun} {'>=' if lo_in else '>'} {_bound(self.left)}"
        if self.right is not None:
            return f"{noun} {'<=' if hi_in else '<'} {_bound(self.right)}"
        return noun


class Options:
    """One of a fixed set of strings.

    Parameters
    ----------
    values : iterable of str
        The allowed values.

    Examples
    --------
    >>> str(Options({"holm", "fdr_bh"}))
    'one of "fdr_bh", "holm"'
    """

    def __init__(self, values: Any) -> None:
        self.values = frozenset(values)

    def convert(self, value: Any) -> str:
        """Return ``value`` if it is one of the options, else raise :class:`Rejected`."""
        if not isinstance(value, str) or value not in self.values:
            raise Rejected("")
        return value

    def __str__(self) -> str:
        return "one of " + ", ".join(json.dumps(v) for v in sorted(self.values))


class Boolean:
    """``true`` or ``false`` (not a string such as ``"false"``, not 0 or 1)."""

    def convert(self, value: Any) -> bool:
        """Return ``value`` as a ``bool``, or raise :class:`Rejected`."""
        if not _is_bool(value):
            raise Rejected("")
        return bool(value)

    def __str__(self) -> str:
        return "true or false (without quotes)"


class Text:
    """A string, by default non-blank (a column, metric or level name).

    Parameters
    ----------
    blank : bool, default False
        Whether an empty or all-space string is allowed.
    """

    def __init__(self, *, blank: bool = False) -> None:
        self.blank = blank

    def convert(self, value: Any) -> str:
        """Return ``value`` if it is an acceptable string, else raise :class:`Rejected`."""
        if not isinstance(value, str) or (not self.blank and not value.strip()):
            raise Rejected("")
        return value

    def __str__(self) -> str:
        return "a text in quotes" if self.blank else "a non-empty text in quotes"


class Date:
    """A calendar date: a TOML date, a date-time (cut to its date) or an ISO string."""

    def convert(self, value: Any) -> dt.date:
        """Return ``value`` as a :class:`datetime.date`, or raise :class:`Rejected`."""
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise Rejected("")

    def __str__(self) -> str:
        return "a date like 2026-06-30"


class ListOf:
    """A list whose items all satisfy one constraint.

    Parameters
    ----------
    item : constraint
        Rule for every item (items are stored converted).
    min_len, max_len : int or None
        Allowed lengths (``None``: no limit).
    increasing : bool, default False
        Items must be strictly increasing.
    unique : bool, default False
        No item may appear twice.
    what : str, optional
        Description of the list used in messages instead of the generated one.
    """

    def __init__(
        self,
        item: Any,
        *,
        min_len: int = 0,
        max_len: int | None = None,
        increasing: bool = False,
        unique: bool = False,
        what: str | None = None,
    ) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len
        self.increasing, self.unique, self.what = increasing, unique, what

    def convert(self, value: Any) -> list:
        """Return ``value`` as a list of converted items, or raise :class:`Rejected`."""
        if not isinstance(value, (list, tuple)):
            raise Rejected("")
        out = []
        for i, x in enumerate(value, 1):
            try:
                out.append(self.item.convert(x))
            except Rejected:
                raise Rejected(f"item {i} is {show(x)}") from None
        if len(out) < self.min_len or (self.max_len is not None and len(out) > self.max_len):
            raise Rejected(f"{len(out)} item{'s' if len(out) != 1 else ''} given")
        if self.increasing:
            for i, (a, b) in enumerate(zip(out[:-1], out[1:], strict=True), 2):
                if not a < b:
                    raise Rejected(f"item {i} ({show(b)}) is not above item {i - 1} ({show(a)})")
        if self.unique:
            seen = set()
            for x in out:
                if x in seen:
                    raise Rejected(f"{show(x)} is listed twice")
                seen.add(x)
        return out

    def __str__(self) -> str:
        if self.what:
            return self.what
        size = (
            f"{self.min_len} " if self.max_len is not None and self.max_len == self.min_len else ""
        )
        text = f"a list of {size}items that are each {self.item}"
        extras = [s for s, on in (("increasing", self.increasing), ("unique", self.unique)) if on]
        return text + (f" ({', '.join(extras)})" if extras else "")


class TableOf:
    """A TOML table (``key = value`` pairs) with constrained keys and values.

    Parameters
    ----------
    key, value : constraint
        Rules for every key and every value.
    what : str, optional
        Description of the table used in messages instead of the generated one.
    """

    def __init__(self, key: Any, value: Any, *, what: str | None = None) -> None:
        self.key, self.value, self.what = key, value, what

    def convert(self, value: Any) -> dict:
        """Return ``value`` as a dict of converted pairs, or raise :class:`Rejected`."""
        if not isinstance(value, dict):
            raise Rejected("")
        out = {}
        for k, v in value.items():
            try:
                out[self.key.convert(k)] = self.value.convert(v)
            except Rejected:
                raise Rejected(f"{show(k)} = {show(v)}") from None
        return out

    def __str__(self) -> str:
        return self.what or f"a table of key = value pairs, each value {self.value}"


def describe_constraints(constraints: list) -> str:
    """The rule a list of constraints states, as used in error messages.

    Parameters
    ----------
    constraints : list
        Constraint objects; ``None`` means the value may be null.

    Returns
    -------
    str
    """
    parts = [str(c) for c in constraints if c is not None]
    text = " or ".join(parts)
    return text + " (or null)" if None in constraints else text


def check_value(constraints: list, value: Any, where: str) -> Any:
    """Check one setting against its constraints and return it in canonical form.

    Parameters
    ----------
    constraints : list
        Alternatives (the value must satisfy one); ``None`` allows null.
    value : object
        The value given.
    where : str
        Location used in the message, e.g. ``"config [features] n_estimators"``.

    Returns
    -------
    object
        The converted value (e.g. ``3.0`` -> ``3`` for an integer).

    Raises
    ------
    milestone_discovery.errors.ConfigError
        ``"<where> = <value>: must be <rule>"``.
    """
    if value is None and None in constraints:
        return None
    detail = ""
    for c in constraints:
        if c is None:
            continue
        try:
            return c.convert(value)
        except Rejected as exc:
            detail = detail or str(exc)
    message = f"{where} = {show(value)}: must be {describe_constraints(constraints)}"
    raise ConfigError(message + (f"; {detail}" if detail else ""))


class _Section:
    """Base of the config sections: every assignment is checked against ``_constraints``."""

    _section: ClassVar[str] = ""
    _constraints: ClassVar[dict[str, list]] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        rules = type(self)._constraints
        if name not in rules:
            raise ConfigError(
                f"config [{self._section}]: unknown key '{name}'; known keys: {sorted(rules)}"
            )
        super().__setattr__(
            name, check_value(rules[name], value, f"config [{self._section}] {name}")
        )

    def _fail(self, source: str, key: str, rule: str) -> ConfigError:
        return ConfigError(f"{source} [{self._section}] {key} = {show(getattr(self, key))}: {rule}")

    def validate(self, source: str = "config") -> None:
        """Check every value (lists may have been changed in place) and the rules between keys.

        Parameters
        ----------
        source : str, default "config"
            Name of the config (file) used at the start of messages.

        Raises
        ------
        milestone_discovery.errors.ConfigError
        """
        for key, rules in self._constraints.items():
            value = check_value(rules, getattr(self, key), f"{source} [{self._section}] {key}")
            object.__setattr__(self, key, value)
        self._check_relations(source)

    def _check_relations(self, source: str) -> None:
        """Rules between keys of this section (none by default)."""


def _share(closed: str = "both") -> list:
    return [Interval(float, 0, 1, closed=closed)]


def _positive_int(low: int = 1) -> list:
    return [Interval(int, low, None)]


# ----------------------------------------------------------------------------- sections
@dataclass
class StudyConfig(_Section):
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
        "observation_days": _positive_int(),
        "horizon_days": _positive_int(),
        "seed": [Interval(int, 0, 2**32, closed="left")],
        "size_bands": [
            ListOf(
                Interval(int, 1, None),
                increasing=True,
                what="a list of increasing integers >= 1 (company sizes)",
            )
        ],
        "n_size_strata": _positive_int(),
        "min_accounts": _positive_int(),
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


@dataclass
class FeatureConfig(_Section):
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
        "min_prevalence": _share("left"),
        "max_prevalence": _share("right"),
        "segment_adopter_share": _share("right"),
        "segment_max_population": _share("right"),
        "leaky_days": _positive_int(),
        "leaky_share": _share("right"),
        "max_odds_ratio": [Interval(float, 1, None, closed="neither")],
        "alpha": _share("neither"),
        "multiplicity": [Options({"fdr_bh", "holm"})],
        "min_effect_or": [Interval(float, 1, None, closed="neither")],
        "power": _share("neither"),
        "adjust_for_early_activity": [Boolean()],
        "n_estimators": _positive_int(),
        "max_depth": [Interval(int, 1, None), None],
        "min_samples_leaf": _positive_int(),
        "n_splits": _positive_int(2),
        "n_repeats": _positive_int(),
        "shap_sample": _positive_int(0),
        "permutation_max_rows": _positive_int(),
    }

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
    adjust_for_early_activity: bool = False
    n_estimators: int = 200
    max_depth: int | None = 10
    min_samples_leaf: int = 20
    n_splits: int = 2
    n_repeats: int = 4
    shap_sample: int = 200
    permutation_max_rows: int = 20000

    def _check_relations(self, source: str) -> None:
        if not self.min_prevalence < self.max_prevalence:
            raise self._fail(
                source,
                "min_prevalence",
                f"must be below max_prevalence = {show(self.max_prevalence)} "
                "(need 0 <= min_prevalence < max_prevalence <= 1)",
            )


@dataclass
class MaturityConfig(_Section):
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
        "n_bootstrap": _positive_int(MIN_BOOTSTRAP),
        "max_clusters": _positive_int(2),
        "min_categories": [Interval(int, 1, None), None],
        "categories": [Options({"auto", "catalog", "data"})],
    }

    min_side_share: float = 0.05
    n_bootstrap: int = 200
    max_clusters: int = 8
    min_categories: int | None = None  # None: chosen from data
    categories: str = "auto"  # "catalog", "data" (co-adoption clusters) or "auto" (catalog if any)


@dataclass
class JourneyConfig(_Section):
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
        "activation_months": _positive_int(),
        "early_churn_days": _positive_int(),
        "utilization_metric": [Text()],
        "utilization_months": [
            ListOf(
                Interval(int, 0, None),
                min_len=2,
                max_len=2,
                what="[first, last]: two integers >= 0 (months of account age)",
            )
        ],
        "setup_days": _positive_int(),
        "setup_routine": _share("right"),
        "setup_niche": _share("left"),
        "min_side_share": [Interval(float, 0, 0.5, closed="neither")],
        "n_bootstrap": _positive_int(MIN_BOOTSTRAP),
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
class ExpansionConfig(_Section):
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
        "n_repeats": _positive_int(),
        "min_expanding": _positive_int(),
    }

    enabled: bool = True
    n_repeats: int = 1
    min_expanding: int = 50


_DAYS_LIST = "a list of increasing integers >= 1 (days)"


@dataclass
class SensitivityConfig(_Section):
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
        "n_repeats": _positive_int(),
        "stable_share": _share("right"),
    }

    enabled: bool = False
    observation_days: list[int] = field(default_factory=lambda: [90, 180, 270])
    horizon_days: list[int] = field(default_factory=lambda: [365, 540])
    n_repeats: int = 1
    stable_share: float = 0.5


#: The default ``[wide] churned_values``: any yes/no spelling of the outcome is read.
DEFAULT_CHURNED_VALUES = ("1", "yes", "true")

_NAMES = 'a list of column names in quotes, each listed once (e.g. ["Chat", "Backup"])'
_VALUES = 'a list of values in quotes (e.g. ["Yes"])'


@dataclass
class WideConfig(_Section):
    """How to read a single wide table (one row per account).

    Attributes
    ----------
    id : str or None
        Account id column; ``None`` (the default): ``account_id`` when the
        table has it, else the row number (1 = first data row).
    outcome : str
        Outcome column. With the default ``churned_values`` it must read as
        yes/no (``1``/``0``, ``1.0``/``0.0``, ``true``/``false``, ``yes``/``no``,
        any case): yes means churned.
    churned_values : list of str
        Values of the outcome that mean churned (case-insensitive; ``"1"``
        also matches ``1.0``); when set, every other value but one (retained)
        is an error, unless listed in ``exclude_values``.
    exclude_values : list of str
        Outcome values that mean neither stayed nor churned (e.g. ``"Joined"``:
        too new to judge): their rows are left out of the study and counted
        by value among the exclusions.
    flags : list of str
        Feature columns holding yes/no values.
    counts : list of str
        Numeric feature columns (counts, scores): each becomes the flag
        ``"column>=t"``, ``t`` chosen from the data by the threshold scan of
        every milestone (chosen on one half, judged on the other, ``shape``).
    expand : list of str
        Multi-level columns: each level is one *choice* (``"Column=level"``).
        Choices are alternatives, not milestones: they are analysed like
        covariates ("which choice retains better"), adjusted for, and never
        proposed as a next step or counted toward maturity, unless listed in
        ``addons``.
    addons : list of str
        Levels of expanded columns, as ``"Column=level"``, that are add-ons
        the account can adopt (e.g. a paid option): they are features like
        ``flags``, proposed as a next step only to accounts on a
        ``skip_levels`` level of that column, never to accounts on another level.
    skip_levels : list of str
        Levels of expanded columns that mean "does not use it" (e.g. ``"No"``):
        not using something is not a milestone, so no flag is made for them.
    true_values, false_values : list of str
        Extra spellings of yes and no (``"No internet service"`` etc.); ``""``
        matches blank cells.
    missing : str
        Blank flag cells: ``"error"`` (the default: an error naming the rows)
        or ``"false"`` ("not used"; blank counts read as 0, blank levels as no
        level), counted in the dataset's notes.
    plan, size, seats : str or None
        Optional segment and size columns used as covariates. ``size`` holds
        employees or text bands (``"10-50"``, ``"1000+"``, ordered by their
        lower bound); ``size`` and ``seats`` may name the same column.
    covariates : list of str
        Other account attributes (e.g. a contract type) adjusted for and
        reported with their own retention table, like ``plan``.
    catalog : dict
        Optional feature -> category mapping (the product managers' grouping);
        a ``counts`` column's name stands for its flag.
    """

    _section: ClassVar[str] = "wide"
    _constraints: ClassVar[dict[str, list]] = {
        "id": [Text(), None],
        "outcome": [Text()],
        "churned_values": [ListOf(Text(blank=True), min_len=1, what=_VALUES + ", at least one")],
        "exclude_values": [ListOf(Text(blank=True), unique=True, what=_VALUES)],
        "flags": [ListOf(Text(), unique=True, what=_NAMES)],
        "counts": [ListOf(Text(), unique=True, what=_NAMES)],
        "expand": [ListOf(Text(), unique=True, what=_NAMES)],
        "addons": [
            ListOf(
                Text(),
                unique=True,
                what='a list of "Column=level" texts, each listed once (e.g. ["Support=Premium"])',
            )
        ],
        "skip_levels": [ListOf(Text(blank=True), what=_VALUES)],
        "true_values": [ListOf(Text(blank=True), what=_VALUES)],
        "false_values": [ListOf(Text(blank=True), what=_VALUES)],
        "missing": [Options({"error", "false"})],
        "plan": [Text(), None],
        "size": [Text(), None],
        "seats": [Text(), None],
        "covariates": [ListOf(Text(), unique=True, what=_NAMES)],
        "catalog": [
            TableOf(Text(), Text(), what='a table of feature = "category" pairs (texts in quotes)')
        ],
    }

    id: str | None = None
    outcome: str = "churned"
    churned_values: list[str] = field(default_factory=lambda: list(DEFAULT_CHURNED_VALUES))
    exclude_values: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)
    expand: list[str] = field(default_factory=list)
    addons: list[str] = field(default_factory=list)
    skip_levels: list[str] = field(default_factory=list)
    true_values: list[str] = field(default_factory=list)
    false_values: list[str] = field(default_factory=list)
    missing: str = "error"
    plan: str | None = None
    size: str | None = None
    seats: str | None = None
    covariates: list[str] = field(default_factory=list)
    catalog: dict[str, str] = field(default_factory=dict)

    def _check_relations(self, source: str) -> None:
        if not self.flags and not self.expand and not self.counts:
            raise ConfigError(
                f"{source} [wide]: list the feature columns in 'flags' (and/or 'counts', 'expand')"
            )
        # each column has one role, except size and seats (one column may be both)
        roles = {
            "flags": self.flags,
            "counts": self.counts,
            "expand": self.expand,
            "covariates": self.covariates,
        }
        seen: dict[str, str] = {}
        for key, names in roles.items():
            both = sorted(c for c in names if c in seen)
            if both:
                raise self._fail(
                    source, key, f"must not repeat columns listed in {seen[both[0]]}: {show(both)}"
                )
            seen.update({c: key for c in names})
        if self.plan is not None and self.plan in seen:
            raise self._fail(source, "plan", f"must not be listed in {seen[self.plan]} too")
        if self.id is not None and self.id == self.outcome:
            raise self._fail(source, "outcome", "must be another column than id")
        covariates = {"plan": self.plan, "size": self.size, "seats": self.seats}
        for key in ("id", "outcome"):
            # without an id, "account_id" is the id when the table has it
            column = getattr(self, key) or "account_id"
            for other, names in roles.items():
                if column in names:
                    raise self._fail(
                        source, other, f"must not list the {key} column {show(column)}"
                    )
            for other, name in covariates.items():
                if name == column:
                    raise self._fail(source, other, f"must be another column than {key}")
        churned = {v.strip().lower() for v in self.churned_values}
        both = sorted(v for v in self.exclude_values if v.strip().lower() in churned)
        if both:
            raise self._fail(
                source, "exclude_values", f"must not repeat values of churned_values: {show(both)}"
            )
        for item in self.addons:
            column, sep, level = item.partition("=")
            if not sep or column not in self.expand or not level:
                raise self._fail(
                    source,
                    "addons",
                    f'item {show(item)} must be "Column=level" with Column one of the '
                    f"expand columns {show(self.expand)}",
                )


# ----------------------------------------------------------------------------- columns
def check_columns(columns: Any, source: str = "config") -> dict[str, dict[str, str]]:
    """Check the ``[columns.<table>]`` renames: known tables and names, no collisions.

    Parameters
    ----------
    columns : dict
        ``{table: {standard_name: user_name}}``.
    source : str, default "config"
        Name of the config (file) used at the start of messages.

    Returns
    -------
    dict
        A copy of ``columns``.

    Raises
    ------
    milestone_discovery.errors.ConfigError
        For an unknown table or standard name, a name that is not a non-empty
        string, two standard columns renamed to one name, or a rename to the
        name of another standard column that keeps its name. Only the roles of
        :data:`SHARED_ROLES` may share a column (``company_size = "seats"``:
        the seat count is also the size covariate).
    """
    if not isinstance(columns, dict):
        raise ConfigError(f"{source} [columns]: expected sub-tables such as [columns.accounts]")
    out: dict[str, dict[str, str]] = {}
    for table, mapping in columns.items():
        if table not in TABLE_COLUMNS:
            raise ConfigError(
                f"{source} [columns.{table}]: unknown table; known tables: {sorted(TABLE_COLUMNS)}"
            )
        where = f"{source} [columns.{table}]"
        if not isinstance(mapping, dict):
            raise ConfigError(f'{where}: expected standard_name = "your_name"')
        required, optional = TABLE_COLUMNS[table]
        known = set(required) | set(optional)
        # activity carries any numeric metric: renaming a metric is allowed too.
        unknown = sorted(set(mapping) - known) if table != "activity" else []
        if unknown:
            raise ConfigError(f"{where}: unknown column(s) {unknown}; known: {sorted(known)}")
        for std, name in mapping.items():
            check_value([Text()], name, f"{where} {std}")
            check_value([Text()], std, f"{where} standard name")
        effective = {std: mapping.get(std, std) for std in (*required, *optional, *mapping)}
        by_name: dict[str, list[str]] = {}
        for std, name in effective.items():
            by_name.setdefault(name, []).append(std)
        for name, stds in by_name.items():
            if len(stds) < 2 or set(stds) <= SHARED_ROLES.get(table, frozenset()):
                continue
            renamed = [s for s in stds if s in mapping and mapping[s] != s]
            kept = [s for s in stds if s not in renamed]
            first = renamed[0]
            if kept:
                raise ConfigError(
                    f"{where} {first} = {show(name)}: collides with the standard column "
                    f"{show(kept[0])} of table {table}; rename that one too "
                    f'({kept[0]} = "...") or choose another name'
                )
            raise ConfigError(
                f"{where} {first} = {show(name)}: {' and '.join(renamed)} are renamed to "
                "one column; each standard column needs its own"
            )
        out[table] = dict(mapping)
    return out


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
@dataclass
class DataConfig(_Section):
    """How input tables are read.

    Attributes
    ----------
    timezone : str
        IANA zone that time-zone-aware timestamps are converted to before
        they are cut to a date (naive timestamps keep the date as written).
    missing_counts : str
        ``"error"``: a blank count in ``activity`` is an error naming the
        rows; ``"zero"``: blanks count as 0 and the notes say how many.
    """

    _section: ClassVar[str] = "data"
    _constraints: ClassVar[dict[str, list]] = {
        "timezone": [Text()],
        "missing_counts": [Options({"error", "zero"})],
    }

    timezone: str = "UTC"
    missing_counts: str = "error"


@dataclass
class EventsConfig(_Section):
    """How an ``events`` table (one row per event) becomes the per-account tables.

    Attributes
    ----------
    features : "*" or list of str
        Event names that are features (``feature_usage``: first use and
        number of uses per account). ``"*"``: every event that is neither a
        metric event nor a setup step. Events of a list that never occur are
        an error; events named by no key are ignored and counted in the notes.
    setup_prefix : str or None
        Events named ``<setup_prefix><step>`` are setup steps (``setup_steps``:
        first completion per account); ``None``: no setup steps.
    metrics : dict of str to list of str
        Monthly activity metrics (``activity``): each metric is the number of
        its events (the sum of ``count``) per account and calendar month, e.g.
        ``conversations = ["conversation_started"]``.
    """

    _section: ClassVar[str] = "events"
    _constraints: ClassVar[dict[str, list]] = {
        "features": [
            Options({"*"}),
            ListOf(
                Text(),
                min_len=1,
                unique=True,
                what='a list of event names in quotes, each listed once (e.g. ["inbox"])',
            ),
        ],
        "setup_prefix": [Text(), None],
        "metrics": [
            TableOf(
                Text(),
                ListOf(Text(), min_len=1, unique=True),
                what='a table of metric = ["event", ...] pairs (at least one event name each)',
            )
        ],
    }

    features: str | list[str] = "*"
    setup_prefix: str | None = "setup:"
    metrics: dict[str, list[str]] = field(default_factory=dict)

    def _check_relations(self, source: str) -> None:
        for name in self.metrics:
            if name in ("account_id", "month"):
                raise self._fail(
                    source,
                    "metrics",
                    f"{show(name)} is a column of the activity table, not a metric",
                )
        prefix = self.setup_prefix
        if prefix is None:
            return
        for name, events in self.metrics.items():
            setup = [e for e in events if e.startswith(prefix)]
            if setup:
                raise self._fail(
                    source,
                    "metrics",
                    f"metric {show(name)} counts {show(setup[0])}, a setup step "
                    f"(setup_prefix = {show(prefix)}); rename the prefix or the event",
                )
        if isinstance(self.features, list):
            setup = [e for e in self.features if e.startswith(prefix)]
            if setup:
                raise self._fail(
                    source,
                    "features",
                    f"lists {show(setup[0])}, a setup step (setup_prefix = {show(prefix)})",
                )

    @property
    def metric_events(self) -> list[str]:
        """Every event name counted by a metric, sorted."""
        return sorted({e for events in self.metrics.values() for e in events})


@dataclass
class EngineConfig(_Section):
    """Settings of the query engine (DuckDB) that reads events and query tables.

    Attributes
    ----------
    memory_limit : str or None
        Most memory the engine may use, e.g. ``"4GB"``; beyond it, it spills
        to ``temp_directory``. ``None``: DuckDB's default (80% of the RAM).
    temp_directory : str or None
        Where the engine spills; ``None``: a fresh temporary folder, removed
        afterwards.
    threads : int or None
        Threads the engine uses; ``None``: one per core.
    """

    _section: ClassVar[str] = "engine"
    _constraints: ClassVar[dict[str, list]] = {
        "memory_limit": [Text(), None],
        "temp_directory": [Text(), None],
        "threads": [Interval(int, 1, None), None],
    }

    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = None


def check_tables(tables: Any, source: str = "config") -> dict[str, dict[str, str]]:
    """Check the ``[tables.<table>]`` sections: input tables given as SQL queries.

    Parameters
    ----------
    tables : dict
        ``{table: {"query": "select ..."}}``.
    source : str, default "config"
        Name of the config (file) used at the start of messages.

    Returns
    -------
    dict
        A copy of ``tables``.

    Raises
    ------
    milestone_discovery.errors.ConfigError
        For an unknown table, a key other than ``query``, or an empty query.
    """
    if not isinstance(tables, dict):
        raise ConfigError(f"{source} [tables]: expected sub-tables such as [tables.events]")
    out: dict[str, dict[str, str]] = {}
    for table, spec in tables.items():
        where = f"{source} [tables.{table}]"
        if table not in TABLE_COLUMNS:
            raise ConfigError(f"{where}: unknown table; known tables: {sorted(TABLE_COLUMNS)}")
        if not isinstance(spec, dict):
            raise ConfigError(f'{where}: expected query = "select ..."')
        unknown = sorted(set(spec) - {"query"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: ['query']")
        if "query" not in spec:
            raise ConfigError(f'{where}: missing key query = "select ..."')
        query = check_value([Text()], spec["query"], f"{where} query")
        out[table] = {"query": query}
    return out


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
