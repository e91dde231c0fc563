"""The framework: everything a study decided, saved as versioned JSON.

A :class:`Framework` is plain data (no fitted model, no pickle): feature
statuses, maturity categories and thresholds, and (when the data allow)
activation, utilization and setup milestones, each with its statistics.
It round-trips through ``framework.json`` and applies to any dataset with
:meth:`Framework.score` without refitting. The file's contract is a JSON
Schema (:mod:`milestone_discovery.schema`, printed by ``milestones schema``).

Versions: 1 had the core sections (``data``, ``model``, ``features``,
``maturity``, ``activation``, ``utilization``, ``setup``, ``validation``);
2 adds ``covariates``, ``choices``, ``counts``, ``survival``,
``heterogeneity``, ``expansion`` and ``sensitivity``. Both load; a section a
file lacks reads as None, and saving writes the current version.

JSON is written deterministically: fixed key order, floats rounded to 6
decimals, NaN as null, no timestamps, so the same data and seed give a
byte-identical file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import MilestoneError

__all__ = ["Framework", "SCHEMA_VERSION", "clean_json"]

#: Version written to ``framework.json`` (see the module docstring for the versions).
SCHEMA_VERSION = 2
#: Versions :meth:`Framework.from_dict` reads.
READABLE_VERSIONS = (1, 2)


def clean_json(value: Any) -> Any:
    """Make a value JSON-safe and deterministic (numpy scalars, NaN -> None, 6-decimal floats)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean_json(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return None
        rounded = round(value, 6)
        return 0.0 if rounded == 0 else rounded
    if value is None or isinstance(value, str):
        return value
    if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass
class Framework:
    """A saved milestone framework (``framework.json``, schema version 2).

    Attributes
    ----------
    as_of : str or None
        Analysis date of the data it was fitted on.
    observation_days, horizon_days : int
        Time windows it was fitted with (scoring uses the same).
    features : list of dict
        Every feature with its status, reason and statistics.
    maturity : dict
        ``categories`` (name, features, min_features, ...), ``min_categories``.
    activation, utilization, setup : dict or None
        Journey milestones; None when the data had no activity / setup table.
    covariates : dict or None
        ``{"adjusted_for": ..., "factors": [...]}``: plan, size and other
        account attributes, each with its own retention table and effect
        (see :func:`milestone_discovery.covariates.factor_effects`).
    choices : list of dict or None
        A wide table's expanded columns (alternatives, not milestones), in
        the same form as the covariates' factors.
    counts : list of dict or None
        A wide table's numeric columns: the "``>= t``" threshold chosen for
        each (its flag is the feature ``"column>=t"``) with its held-out
        lift, CI and ``shape``, or why none was usable.
    survival : dict or None
        Time to churn from the end of the observation window, per milestone
        (hazard ratio with CI, Kaplan-Meier summaries); see
        :meth:`milestone_discovery.survival.SurvivalResult.to_dict`. Or
        ``{"skipped": reason}``.
    heterogeneity : dict or None
        Each selected feature's and milestone's effect per plan and size band
        with a test of homogeneity; see
        :meth:`milestone_discovery.heterogeneity.HeterogeneityResult.to_dict`.
        Or ``{"skipped": reason}``.
    expansion : dict or None
        The feature stage with expansion as the outcome, among retained
        accounts: per feature its ``retention`` and ``expansion`` status and
        a ``label`` (``"stay"``, ``"grow"``, ``"both"`` or None), and the
        ``milestones`` by label; see
        :meth:`milestone_discovery.expansion.ExpansionResult.to_dict`. Or
        ``{"skipped": reason}``.
    sensitivity : dict or None
        The feature stage at other observation windows and horizons: per
        feature the share of settings selecting it, and the features that
        depend on the window; see
        :meth:`milestone_discovery.sensitivity.SensitivityResult.to_dict`. Or
        ``{"skipped": reason}``.
    """

    as_of: str | None
    observation_days: int
    horizon_days: int
    seed: int
    features: list[dict]
    maturity: dict
    activation: dict | None = None
    utilization: dict | None = None
    setup: dict | None = None
    covariates: dict | None = None
    choices: list | None = None
    counts: list | None = None
    survival: dict | None = None
    heterogeneity: dict | None = None
    expansion: dict | None = None
    sensitivity: dict | None = None
    data: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    validation: dict | None = None
    schema_version: int = SCHEMA_VERSION

    # -- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return clean_json(
            {
                "schema_version": self.schema_version,
                "as_of": self.as_of,
                "observation_days": self.observation_days,
                "horizon_days": self.horizon_days,
                "seed": self.seed,
                "data": self.data,
                "model": self.model,
                "features": self.features,
                "maturity": self.maturity,
                "activation": self.activation,
                "utilization": self.utilization,
                "setup": self.setup,
                "covariates": self.covariates,
                "choices": self.choices,
                "counts": self.counts,
                "survival": self.survival,
                "heterogeneity": self.heterogeneity,
                "expansion": self.expansion,
                "sensitivity": self.sensitivity,
                "validation": self.validation,
            }
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise (and write to ``path`` if given); deterministic bytes."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict) -> Framework:
        """A framework from a parsed ``framework.json`` of version 1 or 2.

        Keys a version does not know are ignored; sections a file lacks read as
        None (``seed`` as 0, ``data`` and ``model`` as empty). The result is of
        the current version: saving it upgrades the file.

        Raises
        ------
        MilestoneError
            If ``data`` is not an object, its ``schema_version`` is not one this
            version reads, or a required key is missing.
        """
        if not isinstance(data, dict):
            raise MilestoneError(f"framework must be a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise MilestoneError(
                f"framework schema_version {version!r} is not supported (this version reads "
                f"{' and '.join(map(str, READABLE_VERSIONS))}; a newer milestone_discovery may "
                "have written it)"
            )
        missing = [
            k for k in ("observation_days", "horizon_days", "features", "maturity") if k not in data
        ]
        if missing:
            raise MilestoneError(f"framework is missing {missing}")
        # a version 1 file of the last 1.x writer may hold later sections too: kept
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: v for k, v in data.items() if k in known and k != "schema_version"}
            | {"seed": data.get("seed", 0)}
        )

    @classmethod
    def from_text(cls, text: str) -> Framework:
        """Read a framework from the JSON text of a ``framework.json``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MilestoneError(f"framework is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_json(cls, path: str | Path) -> Framework:
        """Read a framework from a ``framework.json`` file (JSON text: :meth:`from_text`)."""
        if isinstance(path, str) and path.lstrip().startswith("{"):
            raise MilestoneError(
                "Framework.from_json takes the path of a framework.json; "
                "read JSON text with Framework.from_text"
            )
        path = Path(path)
        if not path.is_file():
            raise MilestoneError(f"framework file not found: {path}")
        return cls.from_text(path.read_text(encoding="utf-8"))

    # -- accessors ---------------------------------------------------------------------
    @property
    def categories(self) -> dict[str, dict]:
        """name -> {"features": [...], "min_features": k}."""
        return {
            c["name"]: {"features": c["features"], "min_features": c.get("min_features")}
            for c in self.maturity.get("categories", [])
        }

    @property
    def min_categories(self) -> int | None:
        return self.maturity.get("min_categories")

    @property
    def selected_features(self) -> list[str]:
        return [f["feature"] for f in self.features if f.get("status") == "selected"]

    def features_frame(self) -> pd.DataFrame:
        """Every feature entry as one row (the columns named as in ``framework.json``)."""
        return pd.DataFrame(self.features)

    def to_frame(self) -> pd.DataFrame:
        """The features table: :meth:`features_frame`."""
        return self.features_frame()

    def summary(self) -> pd.DataFrame:
        """Headline figures: features selected, categories, every milestone's threshold.

        Returns
        -------
        pandas.DataFrame
            Columns ``quantity`` and ``value``.
        """
        from .html_repr import key_figures

        setup, act, util = self.setup or {}, self.activation or {}, self.utilization or {}
        rows = [
            ("as of", self.as_of),
            ("observation window (days)", self.observation_days),
            ("retention horizon (days)", self.horizon_days),
            ("features", len(self.features)),
            ("features selected", len(self.selected_features)),
            ("maturity categories", len(self.categories)),
            ("mature overall: in at least m categories, m", self.min_categories),
            ("setup: checklist steps", setup.get("min_steps")),
            (f"activation: {act.get('metric', 'metric')} at least", act.get("threshold")),
            (
                f"utilization: {util.get('metric', 'metric')} per seat at least",
                util.get("per_seat_threshold"),
            ),
        ]
        return key_figures(rows)

    def score(self, dataset, config=None, *, allow_missing: bool = False) -> pd.DataFrame:
        """Apply the framework to a dataset without refitting: one row per account.

        See :func:`milestone_discovery.scoring.score_accounts`.
        """
        from .scoring import score_accounts

        return score_accounts(self, dataset, config, allow_missing=allow_missing)

    def _repr_html_(self) -> str:
        from .html_repr import render_result

        cats = [
            f"{c['name']}: mature with at least {c.get('min_features')} of "
            + ", ".join(map(str, c["features"]))
            for c in self.maturity.get("categories", [])
        ]
        return render_result(
            "Milestone framework",
            lead=f"as of {self.as_of}",
            facts=self.summary(),
            notes=cats,
        )
