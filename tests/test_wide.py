"""Tests of milestone_discovery.wide: one row per account, one yes/no column per feature."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from milestone_discovery import Config, ConfigError, DataValidationError, load_dataset

REPO = Path(__file__).resolve().parents[1]
TELCO = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "telco" / "telco_customer_churn.csv"
)

BASE_TOML = """
[wide]
id = "cust"
outcome = "Churn"
churned_values = ["Yes"]
flags = ["Chat", "Bots", "Backup"]
expand = ["Internet"]
false_values = ["No internet service"]
plan = "Contract"
size = "Employees"
"""


def base_wide() -> pd.DataFrame:
    """Six customers; every yes/no spelling appears; planted truth in the tests below."""
    return pd.DataFrame(
        {
            "cust": ["c01", "c02", "c03", "c04", "c05", "c06"],
            "Chat": ["Yes", "no", "1", "0", "TRUE", "false"],
            "Bots": ["y", "N", "t", "F", "1.0", "0.0"],
            "Backup": ["Yes", "No internet service", "No", "Yes", "No internet service", "No"],
            "Internet": ["DSL", "Fiber optic", "No", "DSL", "Fiber optic", "DSL"],
            "Contract": ["Monthly", "Yearly", "Monthly", "Monthly", "Two year", "Yearly"],
            "Employees": [5, 20, 3, 100, 8, 40],
            "Churn": ["Yes", "No", "No", "yes", "No", "No"],
        }
    )


@pytest.fixture
def write_wide(tmp_path):
    """Return ``write(frame, toml=BASE_TOML, fmt="csv") -> (table path, Config)``."""

    def write(frame=None, toml=BASE_TOML, fmt="csv"):
        frame = base_wide() if frame is None else frame
        config_path = tmp_path / "wide.toml"
        config_path.write_text(toml)
        path = tmp_path / f"customers.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path, Config.from_toml(config_path)

    return write


def load(write_wide, frame=None, toml=BASE_TOML, fmt="csv"):
    return load_dataset(*write_wide(frame, toml, fmt))


# ----------------------------------------------------------------------------- valid tables
def test_yes_no_spellings_map_to_bools(write_wide):
    ds = load(write_wide)
    assert ds.flags.index.tolist() == ["c01", "c02", "c03", "c04", "c05", "c06"]
    assert ds.flags["Chat"].tolist() == [True, False, True, False, True, False]
    assert ds.flags["Bots"].tolist() == [True, False, True, False, True, False]
    assert ds.flags.dtypes.eq(bool).all()


def test_config_false_values_count_as_no(write_wide):
    ds = load(write_wide)
    assert ds.flags["Backup"].tolist() == [True, False, False, True, False, False]


def test_extra_true_values(write_wide):
    frame = base_wide()
    frame["Chat"] = ["enabled", "no", "Enabled", "0", "yes", "no"]
    ds = load(write_wide, frame, BASE_TOML + 'true_values = ["Enabled"]\n')
    assert ds.flags["Chat"].tolist() == [True, False, True, False, True, False]


def test_expand_makes_one_flag_per_level(write_wide):
    ds = load(write_wide)
    levels = ["Internet=DSL", "Internet=Fiber optic", "Internet=No"]
    assert [c for c in ds.flags.columns if c.startswith("Internet")] == levels
    assert ds.flags[levels].sum(axis=1).tolist() == [1] * 6  # exactly one level per account
    assert ds.flags.loc["c02", "Internet=Fiber optic"] and ds.flags.loc["c03", "Internet=No"]
    assert ds.features == sorted(["Chat", "Bots", "Backup", *levels])


def test_churned_mapping_is_case_insensitive(write_wide):
    ds = load(write_wide)
    assert ds.churned.tolist() == [True, False, False, True, False, False]


def test_default_churned_values_read_a_0_1_outcome(write_wide):
    frame = base_wide().assign(Churn=[1, 0, 0, 1, 1, 0])
    toml = BASE_TOML.replace('churned_values = ["Yes"]\n', "")
    ds = load(write_wide, frame, toml)
    assert ds.churned.tolist() == [True, False, False, True, True, False]


def test_wide_dataset_carries_segments_and_says_windows_are_not_enforced(write_wide):
    ds = load(write_wide)
    assert ds.kind == "wide" and ds.feature_usage is None and ds.as_of is None
    acc = ds.accounts.set_index("account_id")
    assert acc.loc["c05", "plan"] == "Two year"
    assert acc.loc["c04", "company_size"] == 100
    assert acc["seats"].isna().all()
    assert any("cannot be enforced" in note for note in ds.notes)


def test_wide_parquet_with_bool_and_int_flags(write_wide):
    frame = base_wide()
    frame["Chat"] = [True, False, True, False, True, False]
    frame["Bots"] = [1, 0, 1, 0, 1, 0]
    ds = load(write_wide, frame, fmt="parquet")
    assert (
        ds.flags["Chat"].tolist()
        == ds.flags["Bots"].tolist()
        == [True, False, True, False, True, False]
    )


def test_ids_keep_leading_zeros(write_wide):
    frame = base_wide().assign(cust=["001", "002", "003", "004", "005", "006"])
    assert load(write_wide, frame).flags.index[0] == "001"


# ----------------------------------------------------------------------------- bad tables
def set_value(column, row, value):
    def mutate(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return mutate


def same(frame):
    return frame


BAD_WIDE = [
    (
        "unrecognised flag value",
        set_value("Chat", 2, "maybe"),
        BASE_TOML,
        r"table 'customers', column 'Chat': flag values not recognised as yes/no: \['maybe'\]",
    ),
    (
        "no false_values for 'No internet service'",
        same,
        BASE_TOML.replace('false_values = ["No internet service"]\n', ""),
        r"table 'customers', column 'Backup': flag values not recognised as yes/no: \['No internet service'\]",
    ),
    (
        "duplicate id",
        set_value("cust", 3, "c01"),
        BASE_TOML,
        r"table 'customers', column 'cust': duplicate or missing account id \(2 rows\)",
    ),
    (
        "missing id",
        set_value("cust", 3, None),
        BASE_TOML,
        r"table 'customers', column 'cust': duplicate or missing account id \(1 row\)",
    ),
    (
        "blank id",
        set_value("cust", 3, "  "),
        BASE_TOML,
        r"table 'customers', column 'cust': duplicate or missing account id \(1 row\)",
    ),
    (
        "flag column missing",
        same,
        BASE_TOML.replace('"Backup"]', '"Backup", "Streaming"]'),
        r"table 'customers', column 'Streaming': column\(s\) named in the config's \[wide\] section not found",
    ),
    (
        "outcome column missing",
        same,
        BASE_TOML.replace('outcome = "Churn"', 'outcome = "Churned"'),
        r"table 'customers', column 'Churned': column\(s\) named in the config's \[wide\] section not found",
    ),
    (
        "outcome with an extra value",
        set_value("Churn", 1, "Maybe"),
        BASE_TOML,
        r"table 'customers', column 'Churn': outcome has several values besides the churned ones "
        r"\['Yes'\]: \['maybe', 'no'\]",
    ),
    (
        "missing outcome",
        set_value("Churn", 1, None),
        BASE_TOML,
        r"table 'customers', column 'Churn': missing outcome values",
    ),
    (
        "missing level to expand",
        set_value("Internet", 0, None),
        BASE_TOML,
        r"table 'customers', column 'Internet': missing values in a column to expand",
    ),
    (
        "size not positive",
        set_value("Employees", 0, 0),
        BASE_TOML,
        r"table 'customers', column 'Employees': company_size must be a positive number",
    ),
    (
        "catalog names an unknown feature",
        same,
        BASE_TOML + '\n[wide.catalog]\nChatt = "channels"\n',
        r"table 'customers', column 'Chatt': \[wide.catalog\] names features that are not flag columns",
    ),
    ("empty table", lambda frame: frame.iloc[0:0], BASE_TOML, r"table 'customers': table is empty"),
]


@pytest.mark.parametrize(
    ("mutate", "toml", "message"), [c[1:] for c in BAD_WIDE], ids=[c[0] for c in BAD_WIDE]
)
def test_bad_wide_table_names_table_column_and_rule(write_wide, mutate, toml, message):
    with pytest.raises(DataValidationError, match=message) as info:
        load(write_wide, mutate(base_wide()), toml)
    assert len(info.value.problems) == 1, str(info.value)


def test_catalog_becomes_the_feature_catalog(write_wide):
    toml = BASE_TOML + '\n[wide.catalog]\nChat = "channels"\n"Internet=DSL" = "internet"\n'
    ds = load(write_wide, toml=toml)
    assert ds.feature_catalog.set_index("feature")["category"].to_dict() == {
        "Chat": "channels",
        "Internet=DSL": "internet",
    }


def test_single_file_without_wide_config_is_a_config_error(write_wide):
    path, _ = write_wide()
    with pytest.raises(ConfigError, match=r"single file: describe it as a wide table"):
        load_dataset(path, Config())


def test_folder_with_wide_config_is_a_config_error(write_wide):
    path, config = write_wide()
    with pytest.raises(ConfigError, match=r"\[wide\] section but .* is a folder"):
        load_dataset(path.parent, config)


# ----------------------------------------------------------------------------- real data
def test_telco_table_loads():
    if not TELCO.is_file():
        pytest.skip(f"shared Telco data not found at {TELCO}")
    ds = load_dataset(TELCO, Config.from_toml(REPO / "examples" / "telco.toml"))
    assert len(ds.accounts) == 7043
    # 9 yes/no services + 2 internet levels + 4 payment methods ("InternetService=No" is skipped)
    assert ds.flags.shape == (7043, 15)
    assert "InternetService=No" not in ds.flags.columns
    assert ds.churned.mean() == pytest.approx(0.265, abs=0.001)
    # "No internet service" is a no, not a missing value
    assert ds.flags["StreamingTV"].mean() == pytest.approx(0.384, abs=0.001)
    assert set(ds.accounts["plan"]) == {"Month-to-month", "One year", "Two year"}
    assert set(ds.feature_catalog["feature"]) == set(ds.flags.columns)


def test_skip_levels_drop_absence_levels_of_expanded_columns(write_wide):
    ds = load(write_wide, toml=BASE_TOML + 'skip_levels = ["no"]\n')
    assert sorted(c for c in ds.flags.columns if c.startswith("Internet=")) == [
        "Internet=DSL",
        "Internet=Fiber optic",
    ]
