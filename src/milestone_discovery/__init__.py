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

from .config import Config
from .data import Dataset, load_dataset
from .errors import ConfigError, DataValidationError, InsufficientDataError, MilestoneError
from .features import FeatureResult, discover_features
from .framework import Framework
from .journey import JourneyResult, discover_journey, score_accounts
from .maturity import MaturityResult, discover_maturity
from .population import Population, build_population, monthly_activity
from .review import RunComparison, TemporalValidation, compare_runs, temporal_validation
from .study import Study, discover, run_study
from .synth import make_synthetic
from .thresholds import ThresholdScan, scan_thresholds

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "DataValidationError",
    "Dataset",
    "FeatureResult",
    "Framework",
    "InsufficientDataError",
    "JourneyResult",
    "MaturityResult",
    "MilestoneError",
    "Population",
    "RunComparison",
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
