"""Tests of milestone_discovery.config: defaults, TOML loading and validation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from milestone_discovery import Config, ConfigError, MilestoneError
from milestone_discovery.config import StudyConfig, WideConfig


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
observation_days = 90
horizon_days = 270
seed = 7

[columns.accounts]
account_id = "customer_id"

[features]
min_prevalence = 0.1
n_estimators = 50

[journey]
activation_metric = "chats"
utilization_months = [2, 4]
""")
    config = Config.from_toml(path)
    assert config.study.as_of == dt.date(2026, 6, 30)
    assert (config.study.observation_days, config.study.horizon_days, config.study.seed) == (
        90,
        270,
        7,
    )
    assert config.column("accounts", "account_id") == "customer_id"
    assert config.column("accounts", "seats") == "seats"
    assert config.features.min_prevalence == 0.1 and config.features.n_estimators == 50
    assert config.features.max_prevalence == 0.90  # untouched keys keep their defaults
    assert config.journey.activation_metric == "chats"
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
        ("study", "observation_days", '"180"', r"'observation_days' must be a number, got '180'"),
        ("study", "horizon_days", "true", r"'horizon_days' must be a number, got True"),
        ("study", "size_bands", "10", r"'size_bands' must be a list, got 10"),
        ("features", "alpha", '"0.05"', r"'alpha' must be a number"),
        ("journey", "activation_metric", "3", r"'activation_metric' must be a string, got 3"),
        ("journey", "utilization_months", "4", r"'utilization_months' must be a list"),
        ("wide", "id", "1", r"'id' must be a string"),
    ],
)
def test_wrong_types_are_errors(write_toml, section, key, value, message):
    with pytest.raises(ConfigError, match=rf"\[{section}\]: {message}"):
        Config.from_toml(write_toml(f"[{section}]\n{key} = {value}\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[study]\nas_of = "30/06/2026"\n',
            r"as_of must be a date like 2026-06-30, got '30/06/2026'",
        ),
        (
            "[study]\nobservation_days = 400\n",
            r"observation_days must not exceed horizon_days \(400 > 365\)",
        ),
        ("[study]\nobservation_days = 0\n", r"observation_days and horizon_days must be positive"),
        ("[study]\nsize_bands = [50, 10]\n", r"size_bands must be increasing"),
        ("[study]\nn_size_strata = 0\n", r"n_size_strata must be at least 1"),
        (
            "[features]\nmin_prevalence = 0.9\nmax_prevalence = 0.5\n",
            r"min_prevalence < max_prevalence",
        ),
        ("[features]\nalpha = 1.5\n", r"alpha must be in \(0, 1\)"),
        ("[features]\nn_splits = 1\n", r"n_splits must be >= 2"),
        ("[journey]\nutilization_months = [5, 3]\n", r"utilization_months must be \[first, last\]"),
        ("[journey]\nutilization_months = [3]\n", r"utilization_months must be \[first, last\]"),
        ("[wide]\nid = 'customerID'\n", r"list the feature columns in 'flags'"),
    ],
)
def test_bad_values_are_errors(write_toml, text, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_toml(write_toml(text))


def test_window_longer_than_horizon_is_rejected_in_code_too():
    with pytest.raises(ConfigError, match="adoption would be measured after the outcome"):
        Config(study=StudyConfig(observation_days=200, horizon_days=100))


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
    "section, key, value, message",
    [
        ("study", "observation_days", 180.5, "must be a whole number"),
        ("features", "n_estimators", 99.9, "must be a whole number"),
        ("wide", "catalog", "support", "must be a table"),
    ],
)
def test_settings_of_the_wrong_kind_are_rejected(section, key, value, message):
    data = {section: {key: value}}
    if section == "wide":
        data[section]["flags"] = ["a"]
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(data)


def test_whole_float_is_accepted_as_an_int():
    assert Config.from_dict({"study": {"horizon_days": 400.0}}).study.horizon_days == 400
