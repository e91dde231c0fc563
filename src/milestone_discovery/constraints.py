"""Declarative checks of config values: the constraints and the base of the config sections.

Each section of the study config (:mod:`milestone_discovery.config`) is a
:class:`Section` with a ``_constraints`` table (key -> list of allowed kinds of
value, in the spirit of scikit-learn's ``_parameter_constraints``) built from
:class:`Interval`, :class:`Options`, :class:`Boolean`, :class:`Text`,
:class:`Date`, :class:`ListOf` and :class:`TableOf`; ``None`` in a list means
the key may be null. :func:`check_value` checks one value against its list and
returns it in canonical form, or raises a
:class:`~milestone_discovery.errors.ConfigError` naming the section, the key,
the value given (rendered by :func:`show`) and the rule::

    config [features] n_estimators = 0: must be an integer >= 1
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
from typing import Any, ClassVar

from .errors import ConfigError

__all__ = [
    "Boolean",
    "Date",
    "Interval",
    "ListOf",
    "Options",
    "Rejected",
    "Section",
    "TableOf",
    "Text",
    "check_value",
    "describe_constraints",
    "positive_int",
    "share",
    "show",
]


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


class Section:
    """Base of the config sections: every assignment is checked against ``_constraints``.

    A section is a dataclass that subclasses :class:`Section` and sets the two
    class attributes below; it may override ``_check_relations`` with the rules
    that tie its keys together (raising ``self._fail(source, key, rule)``).

    Attributes
    ----------
    _section : str
        The section's name in the config file (``"study"`` for ``[study]``).
    _constraints : dict of str to list
        Every key of the section and the constraints its value must meet
        (see :func:`check_value`); other keys are rejected.
    """

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


def share(closed: str = "both") -> list:
    """The constraints of a share: a number between 0 and 1.

    Parameters
    ----------
    closed : {"both", "left", "right", "neither"}, default "both"
        Which of 0 and 1 are allowed.

    Returns
    -------
    list
        ``[Interval(float, 0, 1, closed=closed)]``.
    """
    return [Interval(float, 0, 1, closed=closed)]


def positive_int(low: int = 1) -> list:
    """The constraints of a count: an integer of at least ``low``.

    Parameters
    ----------
    low : int, default 1
        The smallest value allowed.

    Returns
    -------
    list
        ``[Interval(int, low, None)]``.
    """
    return [Interval(int, low, None)]
