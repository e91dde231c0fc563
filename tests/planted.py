"""Studies on the project's generator, cached for the whole test session.

The planted-truth tests of several modules share these fits (a 20k-account
study takes ~20 s), so each (size, seed) is fitted once per session.
"""

from __future__ import annotations

import datetime
import functools
from types import SimpleNamespace

from milestone_discovery import Config, build_population, discover_features
from milestone_discovery.data import Dataset
from milestone_discovery.journey import discover_journey
from milestone_discovery.maturity import discover_maturity
from milestone_discovery.synth import make_synthetic

#: seeds of the acceptance checks ("several seeds") and their size
SEEDS = (0, 1, 2)
N_ACCOUNTS = 20_000


@functools.cache
def planted_study(n_accounts: int, seed: int, catalog: bool = True) -> SimpleNamespace:
    """Generate data with planted truth and run features, maturity and journey on it."""
    syn = make_synthetic(n_accounts, seed=seed)
    dataset = Dataset(
        accounts=syn.accounts.assign(plan=syn.accounts["plan"].astype(object)),
        feature_usage=syn.feature_usage,
        feature_catalog=syn.feature_catalog if catalog else None,
        activity=syn.activity,
        setup_steps=syn.setup_steps,
        as_of=datetime.date.fromisoformat(syn.truth["as_of"]),
    )
    config = Config()
    config.study.seed = seed
    population = build_population(dataset, config)
    features = discover_features(population, config, progress=False)
    maturity = discover_maturity(population, features, config)
    journey = discover_journey(dataset, population, config)
    return SimpleNamespace(truth=syn.truth, dataset=dataset, config=config, population=population,
                           features=features, maturity=maturity, journey=journey)


def roles(truth: dict) -> dict[str, str]:
    return {name: spec["role"] for name, spec in truth["features"].items()}
