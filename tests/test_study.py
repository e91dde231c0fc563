"""Tests of milestone_discovery.study: options that change what the whole study adjusts for."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from result_protocol import check_escaped, check_protocol

from milestone_discovery import Config, build_population, run_study
from milestone_discovery.errors import InsufficientDataError
from milestone_discovery.journey import with_early_activity
from milestone_discovery.synth import make_synthetic


@pytest.fixture(scope="module")
def dataset():
    return make_synthetic(1500, seed=3).to_dataset()


def test_early_activity_adjustment_reaches_model_strata_and_framework(dataset):
    config = Config()
    config.features.adjust_for_early_activity = True
    config.features.n_repeats = 1
    study = run_study(dataset, config, progress=False, temporal=False)
    assert "early_activity" in study.features.covariates
    assert study.framework.model["adjusted_for"].endswith("months 0-2)")
    assert "early activity" in study.framework.model["adjusted_for"]
    # every reason that cites an adjusted effect says what it was adjusted for
    confounded = study.features.features.query("status == 'dropped_confounded'")
    assert confounded["reason"].str.contains("early activity").all()


def test_early_activity_adjustment_needs_an_activity_table(dataset):
    config = Config()
    config.features.adjust_for_early_activity = True
    without = dataclasses.replace(dataset, activity=None)
    population = build_population(without, config)
    with pytest.raises(InsufficientDataError, match="needs an 'activity' table"):
        with_early_activity(population, without, config)


@pytest.mark.parametrize(
    "name",
    [lambda study: study.features.selected[0], lambda study: study.dataset.source],
    ids=["a selected feature", "the dataset"],
)
def test_result_protocol(synthetic_run, name):
    study = synthetic_run.study
    check_protocol(study)
    assert study.to_frame().equals(study.accounts)
    figures = study.summary().set_index("quantity")["value"]
    assert figures["features selected"] == len(study.features.selected)
    check_escaped(study, name(study))


def test_summaries_are_dataframes_for_every_stage(synthetic_run):
    study = synthetic_run.study
    stages = [study.population, study.features, study.maturity, study.journey, study.framework]
    stages += [s for s in (study.survival, study.heterogeneity, study.expansion) if s is not None]
    for stage in stages:
        assert isinstance(stage.summary(), pd.DataFrame), type(stage).__name__


_RUN_STUDY = """
study = run_study(dataset, config, progress=False, temporal=False, secondary=False)
population = weakref.ref(study.population)
del study
"""
_FEATURES_ONLY = """
frame = build_population(dataset, config)
features = discover_features(frame, config)
population = weakref.ref(frame)
del frame, features
"""


@pytest.mark.parametrize("entry", [_RUN_STUDY, _FEATURES_ONLY], ids=["run_study", "features"])
def test_a_dropped_result_leaves_nothing_alive(entry):
    """The first ``import shap`` keeps its importer's frames alive: it is imported apart.

    Run in a fresh interpreter, where shap is not imported yet, through the whole
    study and through the feature stage called on its own.
    """
    import subprocess
    import sys
    import textwrap

    code = (
        textwrap.dedent(
            """
        import gc, sys, weakref
        from milestone_discovery import Config, build_population, discover_features, run_study
        from milestone_discovery.synth import make_synthetic
        assert "shap" not in sys.modules
        config = Config()
        config.features.n_repeats = 1
        dataset = make_synthetic(1500, seed=3).to_dataset()
        """
        )
        + textwrap.dedent(entry)
        + textwrap.dedent(
            """
        assert "shap" in sys.modules
        gc.collect()
        print("freed" if population() is None else "alive")
        """
        )
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "freed"
