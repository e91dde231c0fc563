"""Tests of milestone_discovery.config: defaults, TOML loading and validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from milestone_discovery import Config, ConfigError, MilestoneError
from milestone_discovery.cli import main
from milestone_discovery.config import (
    FeatureConfig,
    JourneyConfig,
    MaturityConfig,
    StudyConfig,
    WideConfig,
)

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))


@pytest.fixture
def write_toml(tmp_path):
    def write(text: str):
        path = tmp_path / "study.toml"
        path.write_text(text)
        return path

    return write


def test_defaults_follow_the_spec():
    config = Config()
    assert config.study.as_of is None  # latest date in the data
    assert config.study.observation_days == 180
    assert config.study.horizon_days == 365
    assert config.study.seed == 0
    assert config.journey.activation_months == 3
    assert config.journey.utilization_months == [3, 5]
    assert config.journey.setup_days == 30
    assert config.features.leaky_days == 30
    assert config.wide is None
    assert config.columns == {}
    assert config.column("accounts", "account_id") == "account_id"


def test_defaults_are_not_shared_between_configs():
    a, b = Config(), Config()
    a.study.size_bands.append(5000)
    assert b.study.size_bands == [10, 50, 200, 1000]


def test_from_toml_reads_every_section(write_toml):
    path = write_toml("""
[study]
as_of = 2026-06-30
observation_days = 150
horizon_days = 270
seed = 7

[columns.accounts]
account_id = "customer_id"

[features]
min_prevalence = 0.1
n_estimators = 50

[journey]
activation_metric = "chats"
activation_months = 2
utilization_months = [2, 4]
""")
    config = Config.from_toml(path)
    assert config.study.as_of == dt.date(2026, 6, 30)
    assert (config.study.observation_days, config.study.horizon_days, config.study.seed) == (
        150,
        270,
        7,
    )
    assert config.column("accounts", "account_id") == "customer_id"
    assert config.column("accounts", "seats") == "seats"
    assert config.features.min_prevalence == 0.1 and config.features.n_estimators == 50
    assert config.features.max_prevalence == 0.90  # untouched keys keep their defaults
    assert config.journey.activation_metric == "chats"
    assert config.journey.activation_months == 2
    assert config.journey.utilization_months == [2, 4]


def test_as_of_may_be_a_toml_date_or_an_iso_string(write_toml):
    assert Config.from_toml(write_toml('[study]\nas_of = "2026-06-30"\n')).study.as_of == dt.date(
        2026, 6, 30
    )
    assert Config.from_toml(
        write_toml("[study]\nas_of = 2026-06-30T12:00:00\n")
    ).study.as_of == dt.date(2026, 6, 30)


def test_to_dict_is_json_and_round_trips(write_toml):
    config = Config.from_toml(
        write_toml("""
[study]
as_of = 2026-06-30
seed = 3
[columns.activity]
conversations = "chats"
""")
    )
    data = json.loads(json.dumps(config.to_dict()))
    assert data["study"]["as_of"] == "2026-06-30"
    assert Config.from_dict(data) == config
    assert Config.from_dict(Config().to_dict()) == Config()


def test_wide_section_round_trips(write_toml):
    config = Config.from_toml(
        write_toml("""
[wide]
id = "customerID"
outcome = "Churn"
churned_values = ["Yes"]
flags = ["PhoneService"]
[wide.catalog]
PhoneService = "phone"
""")
    )
    assert config.wide == WideConfig(
        id="customerID",
        outcome="Churn",
        churned_values=["Yes"],
        flags=["PhoneService"],
        catalog={"PhoneService": "phone"},
    )
    assert Config.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[studdy]\nseed = 1\n", r"unknown section\(s\) \['studdy'\]"),
        ("[study]\nobervation_days = 90\n", r"\[study\]: unknown key\(s\) \['obervation_days'\]"),
        (
            "[features]\nmin_prevalance = 0.1\n",
            r"\[features\]: unknown key\(s\) \['min_prevalance'\]",
        ),
        ("[wide]\nflags = ['a']\nflag = ['b']\n", r"\[wide\]: unknown key\(s\) \['flag'\]"),
        ("[columns.acounts]\naccount_id = 'id'\n", r"\[columns.acounts\]: unknown table"),
        (
            "[columns.accounts]\naccount = 'id'\n",
            r"\[columns.accounts\]: unknown column\(s\) \['account'\]",
        ),
        ("columns = 3\n", r"\[columns\]: expected sub-tables"),
        ("study = 3\n", r"\[study\]: expected a table of settings"),
    ],
)
def test_unknown_names_are_errors(write_toml, text, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_toml(write_toml(text))


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        (
            "study",
            "observation_days",
            '"180"',
            r'observation_days = "180": must be an integer >= 1',
        ),
        ("study", "horizon_days", "true", r"horizon_days = true: must be an integer >= 1"),
        ("study", "size_bands", "10", r"size_bands = 10: must be a list of increasing integers"),
        ("features", "alpha", '"0.05"', r'alpha = "0.05": must be a number in \(0, 1\)'),
        ("journey", "activation_metric", "3", r"activation_metric = 3: must be a non-empty text"),
        ("journey", "utilization_months", "4", r"utilization_months = 4: must be \[first, last\]"),
        ("wide", "id", "1", r"id = 1: must be a non-empty text"),
    ],
)
def test_wrong_types_are_errors_naming_the_file(write_toml, section, key, value, message):
    path = write_toml(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + rf" \[{section}\] {message}"):
        Config.from_toml(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[study]\nas_of = "30/06/2026"\n',
            r'as_of = "30/06/2026": must be a date like 2026-06-30',
        ),
        (
            "[study]\nobservation_days = 400\n",
            r"observation_days = 400: must not exceed horizon_days = 365 \(400 > 365\)",
        ),
        ("[study]\nobservation_days = 0\n", r"observation_days = 0: must be an integer >= 1"),
        ("[study]\nsize_bands = [50, 10]\n", r"item 2 \(10\) is not above item 1 \(50\)"),
        ("[study]\nn_size_strata = 0\n", r"n_size_strata = 0: must be an integer >= 1"),
        (
            "[features]\nmin_prevalence = 0.9\nmax_prevalence = 0.5\n",
            r"min_prevalence < max_prevalence",
        ),
        ("[features]\nalpha = 1.5\n", r"alpha = 1.5: must be a number in \(0, 1\)"),
        ("[features]\nn_splits = 1\n", r"n_splits = 1: must be an integer >= 2"),
        ("[journey]\nutilization_months = [5, 3]\n", r"must be \[first, last\] with first <= last"),
        ("[journey]\nutilization_months = [3]\n", r"must be \[first, last\].*; 1 item given"),
        ("[wide]\nid = 'customerID'\n", r"list the feature columns in 'flags'"),
    ],
)
def test_bad_values_are_errors(write_toml, text, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_toml(write_toml(text))


# (section, key, value, fragment of the message after "config [section] key = value: ")
BAD_SETTINGS = [
    # types: the audit's cases, each once a traceback or a silent change of meaning
    ("study", "size_bands", [10, "fifty"], r'\[10, "fifty"\]: must be a list of increasing'),
    ("study", "size_bands", [10, "fifty"], r'item 2 is "fifty"'),
    ("journey", "utilization_months", ["march", "may"], r'\["march", "may"\]: must be \[first'),
    ("maturity", "min_categories", "three", r'"three": must be an integer >= 1 \(or null\)'),
    ("study", "temporal_validation", "false", r'"false": must be true or false'),
    ("study", "temporal_validation", 1, r"1: must be true or false"),
    ("features", "n_estimators", True, r"true: must be an integer >= 1"),
    ("study", "seed", False, r"false: must be an integer in \[0, 2\*\*32\)"),
    ("study", "observation_days", 180.5, r"180.5: must be an integer >= 1"),
    ("features", "n_estimators", 99.9, r"99.9: must be an integer >= 1"),
    ("features", "alpha", None, r"null: must be a number in \(0, 1\)"),
    ("features", "multiplicity", "bonferroni", r'"bonferroni": must be one of "fdr_bh", "holm"'),
    ("maturity", "categories", "clusters", r'must be one of "auto", "catalog", "data"'),
    ("journey", "activation_metric", "", r'"": must be a non-empty text'),
    ("journey", "utilization_metric", ["a"], r'\["a"\]: must be a non-empty text'),
    ("study", "as_of", 20260630, r"20260630: must be a date like 2026-06-30"),
    ("study", "size_bands", 10, r"10: must be a list"),
    # ranges
    ("features", "n_estimators", 0, r"0: must be an integer >= 1"),
    ("features", "min_samples_leaf", 0, r"0: must be an integer >= 1"),
    ("features", "max_depth", 0, r"0: must be an integer >= 1 \(or null\)"),
    ("features", "n_repeats", 0, r"0: must be an integer >= 1"),
    ("features", "shap_sample", -1, r"-1: must be an integer >= 0"),
    ("features", "permutation_max_rows", 0, r"0: must be an integer >= 1"),
    ("features", "leaky_days", 0, r"0: must be an integer >= 1"),
    ("features", "alpha", 0, r"0: must be a number in \(0, 1\)"),
    ("features", "alpha", 1, r"1: must be a number in \(0, 1\)"),
    ("features", "alpha", float("nan"), r"nan: must be a number in \(0, 1\)"),
    ("features", "power", 1.0, r"1.0: must be a number in \(0, 1\)"),
    ("features", "min_prevalence", -0.1, r"-0.1: must be a number in \[0, 1\)"),
    ("features", "max_prevalence", 1.5, r"1.5: must be a number in \(0, 1\]"),
    ("features", "leaky_share", 0, r"0: must be a number in \(0, 1\]"),
    ("features", "max_odds_ratio", 1, r"1: must be a number > 1"),
    ("features", "min_effect_or", 0.5, r"0.5: must be a number > 1"),
    ("features", "min_relevant_or", 0.9, r"0.9: must be a number >= 1"),
    ("journey", "setup_days", -10, r"-10: must be an integer >= 1"),
    ("journey", "activation_months", 0, r"0: must be an integer >= 1"),
    ("journey", "early_churn_days", -1, r"-1: must be an integer >= 1"),
    ("journey", "n_bootstrap", 0, r"0: must be an integer >= 10"),
    ("journey", "utilization_months", [-1, 2], r"two integers >= 0"),
    ("journey", "utilization_months", [3, 4, 5], r"3 items given"),
    ("journey", "setup_routine", 0, r"0: must be a number in \(0, 1\]"),
    ("journey", "min_side_share", 0.5, r"0.5: must be a number in \(0, 0.5\)"),
    ("maturity", "n_bootstrap", 0, r"0: must be an integer >= 10"),
    ("maturity", "max_clusters", 0, r"0: must be an integer >= 2"),
    ("maturity", "min_categories", 0, r"0: must be an integer >= 1"),
    ("maturity", "min_side_share", 0, r"0: must be a number in \(0, 0.5\)"),
    ("study", "seed", -1, r"-1: must be an integer in \[0, 2\*\*32\)"),
    ("study", "seed", 2**32, r"4294967296: must be an integer in \[0, 2\*\*32\)"),
    ("study", "horizon_days", 0, r"0: must be an integer >= 1"),
    ("study", "min_accounts", 0, r"0: must be an integer >= 1"),
    ("study", "size_bands", [0, 10], r"item 1 is 0"),
    ("study", "size_bands", [10, 10], r"item 2 \(10\) is not above item 1 \(10\)"),
    ("study", "temporal_split", 0.95, r"0.95: must be a number in \[0.2, 0.9\]"),
    # rules between keys of one section
    ("study", "observation_days", 400, r"400: must not exceed horizon_days = 365"),
    ("journey", "utilization_months", [5, 3], r"first <= last"),
    ("journey", "utilization_months", [1, 5], r"must start after the activation months 0-2"),
    ("journey", "early_churn_days", 60, r"60: must be after the activation window"),
    ("journey", "setup_niche", 0.95, r"0.95: must be below setup_routine = 0.9"),
    # windows that must fit inside each other (observation window of 180 days)
    ("journey", "utilization_months", [3, 8], r"must end inside the observation window"),
    ("journey", "utilization_months", [12, 14], r"month 14 ends about day 450"),
    ("journey", "setup_days", 200, r"200: must not exceed the observation window"),
    ("features", "leaky_days", 181, r"181: must not exceed the observation window"),
]


@pytest.mark.parametrize(("section", "key", "value", "message"), BAD_SETTINGS)
def test_every_bad_setting_names_section_key_value_and_rule(section, key, value, message):
    with pytest.raises(ConfigError, match=rf"^config \[{section}\] {key} = .*{message}"):
        Config.from_dict({section: {key: value}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"study": {"observation_days": 90}},
            r"\[journey\] utilization_months = \[3, 5\]: must end inside the observation window "
            r"\(\[study\] observation_days = 90\): month 5 ends about day 180",
        ),
        (
            {"study": {"observation_days": 60, "horizon_days": 365}},
            r"\[journey\] activation_months = 3: must end inside the observation window",
        ),
        (
            {
                "journey": {
                    "activation_months": 7,
                    "utilization_months": [7, 8],
                    "early_churn_days": 250,
                }
            },
            r"activation_months = 7: must end inside .* months 0-6 end about day 210",
        ),
        (
            {"columns": {"accounts": {"seats": "plan"}}},
            r'\[columns.accounts\] seats = "plan": collides with the standard column "plan"',
        ),
        (
            {"columns": {"accounts": {"plan": "n", "churn_date": "n"}}},
            r"plan and churn_date are renamed to one column",
        ),
        (
            {"columns": {"activity": {"conversations": "month"}}},
            r'\[columns.activity\] conversations = "month": collides with the standard column',
        ),
        ({"columns": {"accounts": {"seats": 3}}}, r"\[columns.accounts\] seats = 3: must be"),
        ({"columns": {"accounts": {"seats": " "}}}, r'seats = " ": must be a non-empty text'),
        ({"wide": {"flags": ["a", "a"]}}, r'flags = \["a", "a"\].*"a" is listed twice'),
        ({"wide": {"flags": ["a"], "expand": ["a"]}}, r"expand = .*must not repeat"),
        ({"wide": {"flags": ["churned"]}}, r"flags = .*must not list the outcome column"),
        ({"wide": {"flags": ["a"], "id": "x", "outcome": "x"}}, r"must be another column"),
        ({"wide": {"flags": ["a"], "plan": "account_id"}}, r"plan = .*another column than id"),
        ({"wide": {"flags": ["a"], "churned_values": [1]}}, r"churned_values = \[1\]: must be"),
        ({"wide": {"flags": ["a"], "churned_values": []}}, r"at least one; 0 items given"),
        ({"wide": {"flags": ["a"], "catalog": {"a": 1}}}, r'catalog = \{a = 1\}: .*"a" = 1'),
        ({"wide": {"flags": ["a"], "catalog": "support"}}, r"catalog = \"support\": must be"),
        ({"study": StudyConfig()}, r"\[study\]: expected a table of settings"),
    ],
)
def test_relations_windows_renames_and_wide_roles(data, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(data)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"journey": {"activation_metric": 7, "utilization_metric": "x" * 500}})
    assert "activation_metric = 7" in str(info.value)
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"study": {"size_bands": list(range(1, 300)) + ["x"]}})
    assert len(str(info.value)) < 300 and "item 300 is" in str(info.value)


def test_the_defaults_and_every_example_validate():
    assert EXAMPLES, "no example configs found"
    config = Config()
    config.validate()
    for klass in (StudyConfig, FeatureConfig, MaturityConfig, JourneyConfig):
        klass().validate()
    for path in EXAMPLES:
        Config.from_toml(path).validate(str(path))
    assert Config.from_dict(Config().to_dict()) == config


@pytest.mark.parametrize(
    "data",
    [
        {"features": {"max_depth": None}, "maturity": {"min_categories": None}},
        {"maturity": {"min_categories": 2, "max_clusters": 2, "n_bootstrap": 10}},
        {"study": {"size_bands": []}},
        {"study": {"seed": 2**32 - 1, "as_of": None}},
        {"features": {"max_odds_ratio": float("inf"), "shap_sample": 0, "min_prevalence": 0}},
        {"journey": {"utilization_months": [5, 5], "setup_days": 180}},
        {
            "study": {"observation_days": 365, "horizon_days": 730},
            "journey": {"utilization_months": [6, 11]},
        },
        {"columns": {"accounts": {"plan": "seats", "seats": "plan"}}},  # a swap is not a collision
        # one column, two roles: the seat count is also the size covariate
        {"columns": {"accounts": {"seats": "n", "company_size": "n"}}},
        {"columns": {"accounts": {"company_size": "seats"}}},
        {"columns": {"accounts": {"account_id": "account_id"}}},
        {"columns": {"activity": {"conversations": "chats", "resolved": "done"}}},
        {"wide": {"flags": ["a"], "plan": "p", "size": "n", "seats": "n", "catalog": {}}},
    ],
)
def test_unusual_but_valid_settings_are_accepted(data):
    Config.from_dict(data).validate()


def test_whole_float_is_accepted_as_an_int():
    config = Config.from_dict({"study": {"horizon_days": 400.0}, "features": {"alpha": 1 / 20}})
    assert config.study.horizon_days == 400 and type(config.study.horizon_days) is int
    assert Config.from_dict({"features": {"max_odds_ratio": 30}}).features.max_odds_ratio == 30.0


def test_numpy_scalars_are_stored_as_python_numbers():
    study = StudyConfig(observation_days=np.int64(90), temporal_split=np.float64(0.5))
    assert type(study.observation_days) is int and type(study.temporal_split) is float
    assert json.dumps(dataclasses.asdict(study), default=str)
    assert StudyConfig(temporal_validation=np.bool_(False)).temporal_validation is False
    with pytest.raises(ConfigError, match=r"seed = true: must be an integer"):
        StudyConfig(seed=np.bool_(True))


def test_settings_are_checked_when_assigned_too():
    config = Config.from_dict({"features": {"n_estimators": 50}})
    with pytest.raises(ConfigError, match=r"^config \[study\] seed = -1: must be an integer"):
        config.study.seed = -1  # e.g. ``milestones discover --seed -1``
    with pytest.raises(ConfigError, match=r"\[features\] n_estimators = 0"):
        config.features.n_estimators = 0
    with pytest.raises(ConfigError, match=r"\[study\]: unknown key 'sede'"):
        config.study.sede = 1
    config.study.seed = 5.0
    assert config.study.seed == 5 and type(config.study.seed) is int
    assert config.features.n_estimators == 50


def test_windows_are_checked_by_validate_not_when_built_in_code():
    """Code may build a config piece by piece (e.g. a shorter window for one stage);
    files and dicts are checked completely, and ``validate()`` checks any config."""
    config = Config(study=StudyConfig(observation_days=90))
    with pytest.raises(ConfigError, match=r"utilization_months = \[3, 5\]: must end inside"):
        config.validate()
    config.study.size_bands.append(5)  # changed in place: caught by validate() too
    with pytest.raises(ConfigError, match=r"size_bands = \[10, 50, 200, 1000, 5\]"):
        config.validate()


def test_window_longer_than_horizon_is_rejected_in_code_too():
    with pytest.raises(ConfigError, match="adoption would be measured after the outcome"):
        Config(study=StudyConfig(observation_days=200, horizon_days=100))
    with pytest.raises(ConfigError, match=r"^config \[features\] n_estimators = 0"):
        Config(features=FeatureConfig(n_estimators=0))
    with pytest.raises(ConfigError, match=r"\[journey\]: expected a JourneyConfig, got dict"):
        Config(journey={"setup_days": 3})


def test_activity_columns_may_rename_any_metric():
    config = Config.from_dict({"columns": {"activity": {"chats_resolved": "resolved"}}})
    assert config.column("activity", "chats_resolved") == "resolved"


def test_missing_or_invalid_file(tmp_path, write_toml):
    with pytest.raises(ConfigError, match="config file not found"):
        Config.from_toml(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.from_toml(write_toml("[study\nseed = 1\n"))


def test_config_errors_are_user_errors():
    with pytest.raises(MilestoneError):
        Config.from_dict({"nope": {}})
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    ("config_text", "extra", "key"),
    [
        ("[features]\nn_estimators = 0\n", [], "n_estimators = 0"),
        ('[journey]\nutilization_months = ["march", "may"]\n', [], "utilization_months"),
        ("[study]\nobservation_days = 90\n", [], "observation_days = 90"),
        ("[study]\nseed = 1\n", ["--seed", "4294967296"], "seed"),
        ("[study]\nseed = 1\n", ["--seed", "-1"], "seed"),
    ],
)
def test_cli_discover_fails_on_a_bad_config_before_any_work(
    tmp_path, capsys, config_text, extra, key
):
    bad = tmp_path / "bad.toml"
    bad.write_text(config_text)
    data = tmp_path / "data"  # not even a dataset: the config must fail first
    data.mkdir()
    out = tmp_path / "run"
    start = time.perf_counter()
    code = main(["discover", str(data), "--out", str(out), "--config", str(bad), *extra])
    elapsed = time.perf_counter() - start
    _, err = capsys.readouterr()
    assert code == 2
    assert elapsed < 2.0
    assert key in err and "milestones discover: error:" in err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("missing_counts", "ignore", r'\[data\] missing_counts = "ignore": must be one of'),
        ("timezone", "", r"\[data\] timezone"),
    ],
)
def test_data_section_is_checked(key, value, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict({"data": {key: value}})
