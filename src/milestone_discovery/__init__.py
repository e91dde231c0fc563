"""milestone_discovery: find the product-usage milestones that make B2B SaaS customers stay.

The study follows Intercom's Customer Milestones Framework (Setup ->
Activation -> Utilization -> Maturity, with retention as the outcome):

>>> from milestone_discovery import Config, load_dataset, build_population
>>> ds = load_dataset("data/synthetic/demo")                  # doctest: +SKIP
>>> pop = build_population(ds, Config())                      # doctest: +SKIP
"""

from .config import Config
from .data import Dataset, load_dataset
from .errors import ConfigError, DataValidationError, InsufficientDataError, MilestoneError
from .features import FeatureResult, discover_features
from .population import Population, build_population, monthly_activity

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "DataValidationError",
    "Dataset",
    "FeatureResult",
    "InsufficientDataError",
    "MilestoneError",
    "Population",
    "build_population",
    "discover_features",
    "load_dataset",
    "monthly_activity",
]
