"""Studies on the project's generator, cached for the whole test session.

The planted-truth tests of several modules share these fits (a 20k-account
study takes ~15 s), so each (size, seed) is fitted once per session.
"""

from __future__ import annotations

import functools

from milestone_discovery import Config, run_study
from milestone_discovery.synth import make_synthetic

#: seeds of the acceptance checks ("several seeds") and their size
SEEDS = (0, 1, 2)
N_ACCOUNTS = 20_000


@functools.cache
def planted_study(n_accounts: int, seed: int):
    """Generate data with planted truth and run the study (no temporal refit) on it.

    Returns the :class:`~milestone_discovery.study.Study` with the planted ``truth`` attached.
    """
    syn = make_synthetic(n_accounts, seed=seed)
    config = Config()
    config.study.seed = seed
    study = run_study(syn.to_dataset(), config, progress=False, temporal=False)
    study.truth = syn.truth
    return study


def roles(truth: dict) -> dict[str, str]:
    return {name: spec["role"] for name, spec in truth["features"].items()}
