"""milestone_discovery: find the product-usage milestones that make B2B SaaS customers stay.

The study follows Intercom's Customer Milestones Framework (Setup ->
Activation -> Utilization -> Maturity, with retention as the outcome). One
module per stage, one result object per stage:

==============  ============================  ==================
module          entry point                   result
==============  ============================  ==================
``data``        :func:`load_dataset`          :class:`Dataset`
``population``  :func:`build_population`      :class:`Population`
``features``    :func:`discover_features`     :class:`FeatureResult`
``maturity``    :func:`discover_maturity`     :class:`MaturityResult`
``journey``     :func:`discover_journey`      :class:`JourneyResult`
``study``       :func:`run_study`             :class:`Study` (+ :class:`Framework`)
``review``      :func:`compare_runs`          :class:`RunComparison`
==============  ============================  ==================

>>> from milestone_discovery import Config, load_dataset, run_study
>>> study = run_study(load_dataset("data/synthetic/demo"), Config())   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> the module that defines it; loaded on first access (PEP 562), so
#: ``import milestone_discovery`` (and ``milestones --help``) loads no numerical library
_EXPORTS = {
    "Config": "config",
    "ConfigError": "errors",
    "DataValidationError": "errors",
    "Dataset": "data",
    "FeatureResult": "features",
    "FileAccessError": "errors",
    "Framework": "framework",
    "InsufficientDataError": "errors",
    "JourneyResult": "journey",
    "MaturityResult": "maturity",
    "MilestoneError": "errors",
    "Population": "population",
    "RunComparison": "review",
    "RunFolderError": "errors",
    "Study": "study",
    "TemporalValidation": "review",
    "ThresholdScan": "thresholds",
    "build_population": "population",
    "compare_runs": "review",
    "discover": "study",
    "discover_features": "features",
    "discover_journey": "journey",
    "discover_maturity": "maturity",
    "load_dataset": "data",
    "make_synthetic": "synth",
    "monthly_activity": "population",
    "run_study": "study",
    "scan_thresholds": "thresholds",
    "score_accounts": "scoring",
    "temporal_validation": "study",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load on first use
    from .config import Config
    from .data import Dataset, load_dataset
    from .errors import (
        ConfigError,
        DataValidationError,
        FileAccessError,
        InsufficientDataError,
        MilestoneError,
        RunFolderError,
    )
    from .features import FeatureResult, discover_features
    from .framework import Framework
    from .journey import JourneyResult, discover_journey
    from .maturity import MaturityResult, discover_maturity
    from .population import Population, build_population, monthly_activity
    from .review import RunComparison, TemporalValidation, compare_runs
    from .scoring import score_accounts
    from .study import Study, discover, run_study, temporal_validation
    from .synth import make_synthetic
    from .thresholds import ThresholdScan, scan_thresholds


def __getattr__(name: str):
    """Import the module defining the public ``name`` on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Config",
    "ConfigError",
    "DataValidationError",
    "Dataset",
    "FeatureResult",
    "FileAccessError",
    "Framework",
    "InsufficientDataError",
    "JourneyResult",
    "MaturityResult",
    "MilestoneError",
    "Population",
    "RunComparison",
    "RunFolderError",
    "Study",
    "TemporalValidation",
    "ThresholdScan",
    "build_population",
    "compare_runs",
    "discover",
    "discover_features",
    "discover_journey",
    "discover_maturity",
    "load_dataset",
    "make_synthetic",
    "monthly_activity",
    "run_study",
    "scan_thresholds",
    "score_accounts",
    "temporal_validation",
]
