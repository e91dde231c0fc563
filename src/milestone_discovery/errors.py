"""Errors a user can act on.

Every error raised because of the user's data or configuration derives from
:class:`MilestoneError`; the CLI prints its message and exits with code 2
instead of showing a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing the errors stays light
    import pandas as pd


class MilestoneError(Exception):
    """Base class for errors caused by the user's input, not by a bug."""


class ConfigError(MilestoneError, ValueError):
    """The study configuration (TOML file or :class:`Config`) is invalid."""


class DataValidationError(MilestoneError, ValueError):
    """One or more tables of a dataset break the input contract.

    Parameters
    ----------
    problems : list of Problem
        Every problem found; the message lists all of them.
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the input data:"]
        lines += [p.describe() for p in self.problems]
        super().__init__("\n".join(lines))


class InsufficientDataError(MilestoneError, ValueError):
    """The data are valid but cannot support the requested analysis."""


class Problem:
    """One broken rule: which table, which column, which rule, example rows.

    Parameters
    ----------
    table, column, rule : str
        Where the problem is and what rule is broken (in plain words).
    rows : pandas.DataFrame, optional
        Offending rows; up to ``max_rows`` are shown.
    n_rows : int, optional
        Total number of offending rows (defaults to ``len(rows)``).
    """

    max_rows = 5

    def __init__(
        self,
        table: str,
        column: str | None,
        rule: str,
        rows: pd.DataFrame | None = None,
        n_rows: int | None = None,
    ):
        self.table = table
        self.column = column
        self.rule = rule
        self.rows = None if rows is None else rows.head(self.max_rows)
        self.n_rows = n_rows if n_rows is not None else (0 if rows is None else len(rows))

    def describe(self) -> str:
        where = f"table '{self.table}'" + (f", column '{self.column}'" if self.column else "")
        head = f"- {where}: {self.rule}"
        if self.n_rows:
            head += f" ({self.n_rows} row{'s' if self.n_rows != 1 else ''})"
        if self.rows is None or self.rows.empty:
            return head
        shown = self.rows.to_string(max_colwidth=40)
        body = "\n".join("    " + line for line in shown.splitlines())
        more = (
            ""
            if self.n_rows <= len(self.rows)
            else f"\n    ... and {self.n_rows - len(self.rows)} more"
        )
        return f"{head}; e.g.\n{body}{more}"

    def __repr__(self) -> str:
        return f"Problem({self.table!r}, {self.column!r}, {self.rule!r}, n_rows={self.n_rows})"


class RunFolderError(MilestoneError):
    """An output path (``--out``) cannot be used: it is the input, is locked, or is not writable.

    Raised before any computation when the path breaks a rule (inside or equal
    to the dataset, an existing file where a folder is needed, a folder of other
    files, another run writing there) and when the run folder cannot be written.
    """


class FileAccessError(MilestoneError):
    """A file or folder named by the user cannot be read or written (permission, wrong kind)."""
