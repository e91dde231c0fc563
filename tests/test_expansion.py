"""Expansion as a second outcome, and the ``expansion`` scenario that plants it."""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pandas as pd
import pytest
from result_protocol import check_escaped, check_protocol

from milestone_discovery import Config, build_population, run_study
from milestone_discovery.errors import InsufficientDataError
from milestone_discovery.expansion import (
    LABELS,
    discover_expansion,
    expansion_outcome,
    outcome_labels,
    outcome_population,
)
from milestone_discovery.features import discover_features
from milestone_discovery.framework import Framework
from milestone_discovery.study import _expansion_analysis, stage_tables
from milestone_discovery.synth import make_synthetic


@functools.cache
def synth(n: int = 3000, seed: int = 0):
    return make_synthetic(n, seed=seed, scenario="expansion")


def fast_config(seed: int = 0) -> Config:
    config = Config()
    config.study.seed = seed
    config.features.n_repeats = 1
    config.features.shap_sample = 0
    config.study.temporal_validation = False
    return config


@functools.cache
def small_study():
    """The whole study on 3,000 accounts of the expansion scenario (fast settings)."""
    syn = synth()
    return syn, run_study(syn.to_dataset(), fast_config(), progress=False, temporal=False)


# ----------------------------------------------------------------------------- planted truth
def test_scenario_plants_expansion_drivers_and_a_one_plan_milestone():
    t = synth().truth
    ex = t["expansion"]
    assert set(ex["drivers"]) == set(ex["grow"]) | set(ex["both"])
    assert len(ex["grow"]) == 5 and len(ex["both"]) == 2
    roles = {f: s["role"] for f, s in t["features"].items()}
    assert all(roles[f] == "driver" for f in ex["both"] + ex["stay"])
    assert all(roles[f] == "neutral" for f in ex["grow"])  # no retention effect
    assert {f for f, s in t["features"].items() if s["expansion_role"] == "driver"} == set(
        ex["drivers"]
    )
    (one,) = t["segment_specific"]
    assert one["segment"] == "plan" and one["levels"] == ["pro"]
    spec = t["features"][one["feature"]]
    assert spec["role"] == "driver" and spec["planted_as"] == "neutral"
    assert spec["expected_status"] == "selected"
    # a driver outside the category-maturity rule
    assert all(one["feature"] not in c["drivers"] for c in t["categories"])


def test_other_scenarios_plant_no_feature_level_expansion():
    t = make_synthetic(200, seed=1).truth
    assert "expansion" not in t and "segment_specific" not in t
    assert all("expansion_role" not in s for s in t["features"].values())


def _retained_flags(syn):
    ds = syn.to_dataset()
    pop = build_population(ds, Config())
    expanded, _ = expansion_outcome(ds, pop)
    return pop, pop.flags.loc[expanded.index], expanded


def test_planted_expansion_effects_are_in_the_data():
    syn = synth(8000, 1)
    pop, flags, expanded = _retained_flags(syn)
    ex = syn.truth["expansion"]

    def lift(f):
        x = flags[f].to_numpy()
        return expanded[x].mean() / expanded[~x].mean()

    assert min(lift(f) for f in ex["drivers"]) > 1.3
    # neutral features (no effect on anything) stay near 1
    neutral = [f for f, s in syn.truth["features"].items() if s["role"] == "neutral"]
    neutral = [f for f in neutral if f not in ex["drivers"]]
    assert np.median([lift(f) for f in neutral]) == pytest.approx(1.0, abs=0.08)
    # the one-plan milestone: retention effect in pro, none elsewhere
    one = syn.truth["segment_specific"][0]["feature"]
    plan = pop.segments["plan"]
    x = pop.flags[one]
    r = pop.retained

    def odds(m):
        a, b = r[m & x].mean(), r[m & ~x].mean()
        return a / (1 - a) / (b / (1 - b))

    assert odds(plan == "pro") > 2
    assert 0.7 < odds(plan == "starter") < 1.3


# ----------------------------------------------------------------------------- building blocks
def test_expansion_outcome_reads_growth_amounts_and_counts_blanks():
    syn = synth()
    ds = syn.to_dataset()
    pop = build_population(ds, Config())
    accounts = ds.accounts.copy()
    stayed = pop.retained.index[pop.retained.to_numpy()]
    growth = pd.Series(0.0, index=accounts["account_id"])
    growth[stayed[:40]] = 2500.0  # a growth amount, not 0/1
    growth[stayed[40:45]] = np.nan  # unknown
    accounts["expansion"] = growth.to_numpy()
    expanded, unknown = expansion_outcome(dataclasses.replace(ds, accounts=accounts), pop)
    assert unknown == 5
    assert len(expanded) == len(stayed) - 5
    assert expanded.dtype == bool and expanded.sum() == 40
    assert set(expanded.index) <= set(stayed)  # only accounts that stayed


def test_expansion_outcome_without_a_column():
    ds = synth().to_dataset()
    pop = build_population(ds, Config())
    without = dataclasses.replace(ds, accounts=ds.accounts.drop(columns="expansion"))
    with pytest.raises(InsufficientDataError, match="no expansion column"):
        expansion_outcome(without, pop)
    blank = ds.accounts.assign(expansion=np.nan)
    with pytest.raises(InsufficientDataError, match="no expansion column"):
        expansion_outcome(dataclasses.replace(ds, accounts=blank), pop)


def test_outcome_population_is_a_subset_with_the_new_outcome():
    ds = synth().to_dataset()
    pop = build_population(ds, Config())
    expanded, _ = expansion_outcome(ds, pop)
    sub = outcome_population(pop, expanded)
    assert sub.flags.index.equals(expanded.index)
    assert sub.covariates.index.equals(expanded.index)
    assert sub.segments.index.equals(expanded.index)
    assert sub.retained.equals(expanded.rename(expanded.name))
    assert sub.near_churn is None
    assert pop.n_eligible > sub.n_eligible  # the original is untouched
    with pytest.raises(ValueError, match="not in the population"):
        outcome_population(pop, pd.Series([True], index=["nobody"]))


def test_outcome_labels():
    ret = pd.Series({"a": "selected", "b": "selected", "c": "dropped_niche", "d": "dropped_x"})
    exp = pd.Series({"a": "selected", "b": "dropped_unimportant", "c": "selected", "d": "x"})
    assert outcome_labels(ret, exp).to_dict() == {"a": "both", "b": "stay", "c": "grow", "d": None}
    assert set(LABELS) == {"stay", "grow", "both"}


def test_too_few_expanding_accounts_is_skipped_with_the_counts():
    ds = synth().to_dataset()
    config = fast_config()
    pop = build_population(ds, config)
    retention = discover_features(pop, config, progress=False)
    accounts = ds.accounts.copy()
    first = accounts.index[accounts["expansion"] == 1][:10]
    accounts["expansion"] = 0
    accounts.loc[first, "expansion"] = 1
    why = r"too few .*: 10 of \d+ retained accounts expanded.*at least 50 of each"
    with pytest.raises(InsufficientDataError, match=why):
        discover_expansion(dataclasses.replace(ds, accounts=accounts), pop, retention, config)
    with pytest.raises(InsufficientDataError, match="no expansion column"):
        discover_expansion(
            dataclasses.replace(ds, accounts=ds.accounts.drop(columns="expansion")),
            pop,
            retention,
            config,
        )


def test_framework_records_why_expansion_was_skipped():
    syn, study = small_study()
    fw = Framework.from_dict(study.framework.to_dict())
    config = fast_config()
    config.expansion.enabled = False
    assert _expansion_analysis(study.dataset, study.population, study.features, fw, config) is None
    assert "enabled = false" in fw.expansion["skipped"]
    without = dataclasses.replace(
        study.dataset, accounts=study.dataset.accounts.drop(columns="expansion")
    )
    fw = Framework.from_dict(study.framework.to_dict())
    _expansion_analysis(without, study.population, study.features, fw, fast_config())
    assert "no expansion column" in fw.expansion["skipped"]


# ----------------------------------------------------------------------------- the study
def test_study_runs_expansion_beside_retention():
    syn, study = small_study()
    result = study.expansion
    assert result is not None
    assert result.accounts == int(study.population.retained.sum())
    assert 0 < result.expanding < result.accounts
    labels = result.labels.set_index("feature")
    retention = study.features.features.set_index("feature")["status"]
    assert labels["retention"].equals(retention.reindex(labels.index).rename("retention"))
    for feature, row in labels.iterrows():
        stay, grow = row["retention"] == "selected", row["expansion"] == "selected"
        expected = {(1, 1): "both", (1, 0): "stay", (0, 1): "grow"}.get((stay, grow))
        assert row["label"] == expected, feature
    # even at 3,000 accounts the strongest planted expansion drivers are found
    planted = set(syn.truth["expansion"]["drivers"])
    assert len(set(result.selected) & planted) >= 3
    assert result.features.config.n_repeats == 1  # [expansion] n_repeats


def test_framework_lists_expansion_milestones():
    syn, study = small_study()
    fw = study.framework
    ex = fw.expansion
    assert ex["accounts"] == study.expansion.accounts and ex["expanding"] > 0
    assert set(ex["milestones"]) == {"stay", "grow", "both"}
    listed = {f for names in ex["milestones"].values() for f in names}
    assert listed == set(study.features.selected) | set(study.expansion.selected)
    entry = next(e for e in ex["features"] if e["feature"] in ex["milestones"]["grow"])
    assert entry["expansion"] == "selected" and entry["retention"] != "selected"
    assert {"adj_or", "importance", "expansion_adopters", "reason"} <= set(entry)
    by_name = {e["feature"]: e for e in fw.features}
    for label, names in ex["milestones"].items():
        assert all(by_name[f]["milestone_for"] == label for f in names)
    assert all("expansion_status" in e for e in fw.features)
    # JSON round trip keeps the section
    again = Framework.from_text(fw.to_json())
    assert again.expansion == json.loads(json.dumps(fw.to_dict()["expansion"]))
    assert "expansion_features" in stage_tables(study)


def test_expansion_is_deterministic():
    syn, study = small_study()
    config = fast_config()
    a = discover_expansion(study.dataset, study.population, study.features, config)
    b = discover_expansion(study.dataset, study.population, study.features, config)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    assert "<strong>Expansion</strong>" in a._repr_html_()


@pytest.mark.parametrize(
    "name",
    [lambda r: r.labels["feature"].iloc[0], lambda r: r.labels["feature"].iloc[-1]],
    ids=["first feature", "last feature"],
)
def test_result_protocol(name):
    _, study = small_study()
    result = study.expansion
    check_protocol(result)
    figures = result.summary().set_index("quantity")["value"]
    assert figures["accounts that expanded"] == result.expanding
    assert result.plot_importance(top=5).patches
    check_escaped(result, name(result))


# ----------------------------------------------------------------------------- acceptance (slow)
N_ACCOUNTS = 20_000
SEEDS = (0, 1, 2)


@functools.cache
def planted_expansion_study(seed: int):
    syn = make_synthetic(N_ACCOUNTS, seed=seed, scenario="expansion")
    config = Config()
    config.study.seed = seed
    return syn.truth, run_study(syn.to_dataset(), config, progress=False, temporal=False)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_expansion_recovers_planted_drivers(seed):
    truth, study = planted_expansion_study(seed)
    planted = set(truth["expansion"]["drivers"])
    chosen = set(study.expansion.selected)
    f1 = 2 * len(chosen & planted) / (len(chosen) + len(planted))
    assert f1 >= 0.85, (f1, sorted(chosen - planted), sorted(planted - chosen))
    stay_listed = chosen & set(truth["expansion"]["stay"])
    assert not stay_listed, f"retention-only drivers listed for expansion: {sorted(stay_listed)}"
    milestones = study.framework.expansion["milestones"]
    assert not set(milestones["grow"]) & set(truth["expansion"]["stay"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_one_plan_milestone_is_flagged_segment_specific(seed):
    truth, study = planted_expansion_study(seed)
    one = truth["segment_specific"][0]
    feature, level = one["feature"], one["levels"][0]
    assert feature in study.features.selected
    assert study.heterogeneity.segment_specific.get(feature) == f"plan = {level}"
    entry = next(e for e in study.framework.features if e["feature"] == feature)
    assert entry["segment_specific"] == f"plan = {level}"
