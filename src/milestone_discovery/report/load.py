"""Reading a run folder for the report.

:func:`load_run` reads what :func:`milestone_discovery.study.discover` wrote:
``framework.json`` (required, read with :meth:`Framework.from_json
<milestone_discovery.framework.Framework.from_json>`), and when present
``run.json``, ``features.csv``, the milestone columns of ``accounts.csv`` and
every ``tables/*.csv``; columns of earlier versions get today's names
(:func:`milestone_discovery.columns.upgrade_columns`: ``perm_importance`` is
``importance``). Text cells of the CSV files were neutralised against
spreadsheet formulas when written; they are restored here, so names show as
they are in the data. Only empty cells are missing values: a feature named
``NA`` stays text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..columns import upgrade_columns
from ..errors import MilestoneError
from ..framework import Framework
from ..runfolder import restore_formulas
from .format import interval, num

__all__ = ["RunData", "load_run", "read_csv", "retention_comparison", "scan_comparison"]

#: The columns of ``accounts.csv`` the report uses (whether each account reached each milestone).
ACCOUNT_COLUMNS = frozenset(
    {"eligible", "retained", "setup", "activation", "utilization", "mature"}
)


def read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    """A CSV output of a run: only empty cells missing, neutralised formulas restored."""
    return restore_formulas(pd.read_csv(path, keep_default_na=False, na_values=[""], **kwargs))


def _plain(section: Any) -> dict:
    """A framework section as a JSON-like dict (empty when the stage was skipped)."""
    if section is None:
        return {}
    if isinstance(section, dict):
        return section
    return section.to_dict() if hasattr(section, "to_dict") else {}


@dataclass
class RunData:
    """A run folder as the report reads it (optional parts None or empty).

    Attributes
    ----------
    path : Path
    framework : Framework
    info : dict
        ``run.json`` (dataset, creation time, versions, config).
    features : pandas.DataFrame or None
        ``features.csv``, else the features of ``framework.json`` under the
        same column names; ``feature``, ``status``, ``category`` and
        ``reason`` as text, the importance and prevalence as numbers.
    accounts : pandas.DataFrame or None
        The :data:`ACCOUNT_COLUMNS` of ``accounts.csv``.
    tables : dict of str to pandas.DataFrame
        ``tables/<name>.csv`` by name.
    """

    path: Path
    framework: Framework
    info: dict = field(default_factory=dict)
    features: pd.DataFrame | None = None
    accounts: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame | None:
        """``tables/<name>.csv``, or None when it is missing or empty."""
        frame = self.tables.get(name)
        return frame if frame is not None and len(frame) else None

    def config(self, section: str, key: str, default: Any) -> Any:
        """A setting the run used (``run.json``), else ``default``."""
        value = ((self.info.get("config") or {}).get(section) or {}).get(key)
        return default if value is None else value

    # -- the framework's sections, as plain data -----------------------------------------
    @property
    def data(self) -> dict:
        return _plain(self.framework.data)

    @property
    def setup(self) -> dict:
        return _plain(self.framework.setup)

    @property
    def activation(self) -> dict:
        return _plain(self.framework.activation)

    @property
    def utilization(self) -> dict:
        return _plain(self.framework.utilization)

    @property
    def maturity(self) -> dict:
        return _plain(self.framework.maturity)

    @property
    def model(self) -> dict:
        return _plain(self.framework.model)

    @property
    def validation(self) -> dict:
        return _plain(self.framework.validation)

    @property
    def survival(self) -> dict:
        """Time to churn from the landmark (``{"skipped": why}`` when not run; empty when absent)."""
        return _plain(self.framework.survival)

    @property
    def heterogeneity(self) -> dict:
        """Effects per plan and size band (``{"skipped": why}`` when not run; empty when absent)."""
        return _plain(self.framework.heterogeneity)

    @property
    def expansion(self) -> dict:
        """Expansion as a second outcome (``{"skipped": why}`` when not run; empty when absent)."""
        return _plain(getattr(self.framework, "expansion", None))

    @property
    def sensitivity(self) -> dict:
        """The feature stage at other windows (``{"skipped": why}`` when not run; empty when absent)."""
        return _plain(getattr(self.framework, "sensitivity", None))

    @property
    def covariates(self) -> dict:
        """The account factors (``factors``) with their own effects; empty when absent."""
        return _plain(self.framework.covariates)

    @property
    def choices(self) -> list[dict]:
        """A wide table's choice columns (alternatives), in the form of the covariates' factors."""
        return [c for c in self.framework.choices or [] if isinstance(c, dict)]

    @property
    def counts(self) -> list[dict]:
        """A wide table's count columns: the threshold chosen for each, or why none."""
        return [c for c in self.framework.counts or [] if isinstance(c, dict)]

    # -- derived ---------------------------------------------------------------------------
    @property
    def wide(self) -> bool:
        """A wide-table run (no dates: windows cannot be enforced)."""
        return self.data.get("kind") == "wide"

    @property
    def retention(self) -> float | None:
        return num(self.data.get("retention_rate"))

    @property
    def at_horizon(self) -> str:
        horizon = self.framework.horizon_days
        return f"at day {horizon}" if horizon and not self.wide else "(did not churn)"

    @property
    def skipped(self) -> dict[str, str]:
        """Stage -> why the run skipped it."""
        return {str(k): str(v) for k, v in (self.data.get("skipped_stages") or {}).items()}

    def funnel_share(self, stage: str) -> float | None:
        """Share of accounts reaching ``stage`` (``tables/funnel.csv``)."""
        f = self.table("funnel")
        if f is None or not {"stage", "share_reached"} <= set(f.columns):
            return None
        hit = f[f["stage"].astype(str) == stage]
        return num(hit["share_reached"].iloc[0]) if len(hit) else None


def _features_frame(framework: Framework, csv: pd.DataFrame | None) -> pd.DataFrame | None:
    if csv is not None:
        frame = csv.copy()
    elif framework.features:
        frame = framework.features_frame()
    else:
        return None
    if "feature" not in frame or "status" not in frame:
        return None
    frame["feature"] = frame["feature"].astype(str)
    frame["status"] = frame["status"].astype(str)
    for col in ("category", "reason"):
        frame[col] = frame[col].fillna("").astype(str) if col in frame else ""
    for col in ("importance", "importance_se", "prevalence"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder.

    Raises
    ------
    MilestoneError
        If ``run_dir`` has no ``framework.json``, or it is not a readable framework.
    """
    path = Path(run_dir)
    fw_path = path / "framework.json"
    if not path.is_dir() or not fw_path.is_file():
        raise MilestoneError(
            f"{path} is not a run folder: framework.json not found "
            "(write one with `milestones discover DATASET --out RUN`)"
        )
    try:
        framework = Framework.from_json(fw_path)
    except MilestoneError as exc:
        raise MilestoneError(f"{fw_path}: {exc}") from None
    run = RunData(path=path, framework=framework)
    if (path / "run.json").is_file():
        try:
            info = json.loads((path / "run.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            info = {}
        run.info = info if isinstance(info, dict) else {}
    features = read_csv(path / "features.csv") if (path / "features.csv").is_file() else None
    features = None if features is None else upgrade_columns(features)
    run.features = _features_frame(framework, features)
    if (path / "accounts.csv").is_file():
        run.accounts = read_csv(path / "accounts.csv", usecols=lambda c: c in ACCOUNT_COLUMNS)
    if (path / "tables").is_dir():
        for csv in sorted((path / "tables").glob("*.csv")):
            try:
                run.tables[csv.stem] = upgrade_columns(read_csv(csv))
            except pd.errors.EmptyDataError:
                continue
    return run


# ----------------------------------------------------------------------------- comparisons
#: The fields of a reached-vs-not comparison, as the report uses them.
COMPARISON_FIELDS = (
    "rate_reached",
    "rate_reached_low",
    "rate_reached_high",
    "rate_not_reached",
    "rate_not_reached_low",
    "rate_not_reached_high",
    "relative_risk",
    "relative_risk_low",
    "relative_risk_high",
)


def scan_comparison(summary: dict, prefix: str = "") -> dict:
    """A stored threshold summary (``ThresholdScan.summary()`` fields) as a reached-vs-not comparison.

    The summary's ``outcome_rate_above``/``_below`` and ``lift`` (with their
    ``_ci`` pairs) become ``rate_reached``/``rate_not_reached`` and
    ``relative_risk`` (with ``_low``/``_high``); the account counts come from
    ``n_accounts`` and ``share_above``. ``prefix`` selects a nested summary
    (``"min_steps_"`` for the setup milestone).
    """
    out: dict[str, Any] = {}
    for name, key in (
        ("rate_reached", "outcome_rate_above"),
        ("rate_not_reached", "outcome_rate_below"),
        ("relative_risk", "lift"),
    ):
        lo, hi = interval(summary, prefix + key)
        out.update({name: summary.get(prefix + key), f"{name}_low": lo, f"{name}_high": hi})
    n, share = num(summary.get(f"{prefix}n_accounts")), num(summary.get(f"{prefix}share_above"))
    if n is not None and share is not None:
        out["accounts_reached"] = round(n * share)
        out["accounts_not_reached"] = n - round(n * share)
    return out


def retention_comparison(accounts: pd.DataFrame | None, column: str) -> dict | None:
    """Retention of the eligible accounts of ``accounts.csv`` that reached a milestone vs not.

    Computed by :func:`milestone_discovery.journey.compare_rates` (Wilson
    intervals, Katz risk ratio), the function the study uses for every
    stored comparison; None when the columns are missing or no account is
    eligible.
    """
    from ..journey import compare_rates

    if accounts is None or not {column, "eligible", "retained"} <= set(accounts.columns):
        return None
    elig = accounts[_is_true(accounts["eligible"])]
    retained = pd.to_numeric(elig["retained"], errors="coerce")
    elig, retained = elig[retained.notna()], retained[retained.notna()]
    if elig.empty:
        return None
    return compare_rates("retained", _is_true(elig[column]), retained.to_numpy() == 1)


def _is_true(values: pd.Series) -> pd.Series:
    """Booleans, also when read back from a CSV as text."""
    return values.astype(str).str.lower().isin(["true", "1", "1.0"])
