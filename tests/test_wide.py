"""Tests of milestone_discovery.wide: one row per account, one column per feature.

Also the traits of real one-row-per-customer tables (issue 12): outcome values
left out, count columns with thresholds from the data, blank flags, text size
bands, no id column, choices that are not milestones, covariates with their own
effects, scoring new customers, and an optional company size in the
multi-table contract.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import valid_tables

from milestone_discovery import Config, ConfigError, DataValidationError, load_dataset
from milestone_discovery.covariates import factor_effects, factor_table
from milestone_discovery.features import _segment_concentration, adjustment_label
from milestone_discovery.framework import Framework
from milestone_discovery.population import (
    account_segments,
    band_order,
    build_population,
    count_feature_name,
)
from milestone_discovery.scoring import score_accounts

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


# ============================================================================= issue 12
# A small table with every trait of a real export: no id column, a third outcome status,
# blank flag cells, a count column with a blank, text size bands, a plan, a contract
# covariate and a choice column with a skip level and an add-on.
TRAITS_TOML = """
[wide]
outcome = "Status"
churned_values = ["Churned"]
exclude_values = ["Joined"]
flags = ["Chat", "Bots"]
missing = "false"
counts = ["Articles"]
expand = ["Tier"]
skip_levels = ["None"]
addons = ["Tier=Premium"]
plan = "Plan"
size = "Size"
covariates = ["Contract"]
"""


def traits_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Plan": ["Basic", "Pro", "Basic", "Pro", "Basic", "Pro"],
            "Contract": ["Monthly", "Annual", "Monthly", "Two-year", "Annual", "Monthly"],
            "Size": ["10-50", "1000+", "100-250", "10-50", "<10", "100-250"],
            "Tier": ["None", "Standard", "Premium", "Standard", "None", "Premium"],
            "Chat": ["Yes", "", "Yes", "", "Yes", ""],
            "Bots": ["", "Yes", "", "", "Yes", "Yes"],
            "Articles": ["3", "7", "", "0", "12", "5"],
            "Status": ["Stayed", "Churned", "Joined", "Stayed", "churned", "Stayed"],
        }
    )


def load_traits(write_wide, frame=None, toml=TRAITS_TOML, **kwargs):
    path, config = write_wide(traits_table() if frame is None else frame, toml)
    return load_dataset(path, config, **kwargs)


def test_table_with_every_trait_loads_without_reshaping(write_wide):
    ds = load_traits(write_wide)
    # no id column: accounts are numbered by row
    assert ds.flags.index.tolist() == ["1", "2", "3", "4", "5", "6"]
    assert any("numbered by row" in n for n in ds.notes)
    # blank flag cells are "not used" (missing = "false"), and the notes say how many
    assert ds.flags["Chat"].tolist() == [True, False, True, False, True, False]
    assert any("6 blank flag cell(s) in 2 column(s)" in n for n in ds.notes)
    # "Joined" is neither stayed nor churned: kept, outcome unknown, reason recorded
    assert ds.churned.tolist()[:2] == [False, True] and ds.churned.isna().tolist()[2]
    assert ds.wide.excluded.dropna().to_dict() == {"3": "outcome=Joined"}
    # counts stay numbers (a blank is 0 with missing = "false")
    assert ds.wide.counts["Articles"].tolist() == [3, 7, 0, 0, 12, 5]
    # the expanded column: one flag per level but the skip level; its levels are choices
    assert ds.wide.choices == {"Tier": ["Tier=Premium", "Tier=Standard"]}
    assert ds.wide.addons == ["Tier=Premium"] and ds.wide.choice_levels == ["Tier=Standard"]
    assert ds.wide.factors["Contract"].tolist()[:2] == ["Monthly", "Annual"]
    assert ds.wide.roles == {"Tier": "choice", "Contract": "covariate"}
    # text size bands are kept as given
    assert ds.accounts["company_size"].tolist()[:2] == ["10-50", "1000+"]


def test_population_leaves_out_excluded_rows_and_choices(write_wide):
    population = build_population(load_traits(write_wide), Config.from_dict({}))
    assert population.exclusions.to_dict(orient="records") == [
        {
            "reason": "outcome=Joined",
            "accounts": 1,
            "description": "outcome value listed in [wide] exclude_values: neither stayed nor churned",
        }
    ]
    assert population.n_eligible == 5 and "3" not in population.flags.index
    assert population.retained.tolist() == [True, False, True, False, True]
    # the choice "Tier=Standard" is a covariate, never a feature; the add-on is a feature
    assert "Tier=Standard" not in population.flags and "Tier=Premium" in population.flags
    assert {"Tier=Standard", "Contract=Annual", "Contract=Two-year"} <= set(population.covariates)
    assert population.extra_adjustments == ("Tier", "Contract")
    # the add-on is a feature, so its accounts are grouped with the skip level's to adjust
    assert set(population.segments["factor:Tier_stratum"]) == {"Standard", "(add-on or none)"}
    # text bands are strata ordered by their lower bound
    assert population.segments["size_band"].tolist() == [
        "10-50",
        "1000+",
        "10-50",
        "<10",
        "100-250",
    ]
    assert population.segments["size_stratum"].tolist() == [1, 3, 1, 0, 2]
    assert population.labels == {"size": "company size bands (Size)", "plan": "plan (Plan)"}
    # the count becomes a flag at its threshold, or is skipped with the reason
    assert set(population.count_features) | set(population.count_skipped) == {"Articles"}
    accounts = population.accounts.set_index("account_id")
    assert accounts.loc["3", "exclusion_reason"] == "outcome=Joined"
    assert not accounts.loc["3", "eligible"] and np.isnan(accounts.loc["3", "retained"])


OUTCOMES = [
    ("0/1 integers", [1, 0, 0, 1, 1, 0], "csv"),
    ("0.0/1.0", ["1.0", "0.0", "0.0", "1.0", "1.0", "0.0"], "csv"),
    ("true/false", ["TRUE", "false", "False", "true", "True", "FALSE"], "csv"),
    ("yes/no", ["Yes", "no", "NO", "y", "yes", "n"], "csv"),
    ("parquet bool", [True, False, False, True, True, False], "parquet"),
    ("parquet float", [1.0, 0.0, 0.0, 1.0, 1.0, 0.0], "parquet"),
]


@pytest.mark.parametrize(("values", "fmt"), [o[1:] for o in OUTCOMES], ids=[o[0] for o in OUTCOMES])
def test_outcome_recognised_as_yes_no(write_wide, values, fmt):
    toml = BASE_TOML.replace('churned_values = ["Yes"]\n', "")
    ds = load(write_wide, base_wide().assign(Churn=values), toml, fmt)
    assert ds.churned.tolist() == [True, False, False, True, True, False]


def test_third_outcome_status_is_an_error_that_points_to_exclude_values(write_wide):
    frame = base_wide().assign(Churn=["1", "0", "Joined", "1", "0", "0"])
    toml = BASE_TOML.replace('churned_values = ["Yes"]\n', "")
    with pytest.raises(
        DataValidationError,
        match=r"column 'Churn': outcome values not recognised as yes/no .*\['Joined'\].*"
        r"in exclude_values \(1 row\)",
    ):
        load(write_wide, frame, toml)
    ds = load(write_wide, frame, toml + 'exclude_values = ["joined"]\n')
    assert ds.churned.isna().tolist() == [False, False, True, False, False, False]
    assert ds.wide.excluded["c03"] == "outcome=joined"


def test_blank_outcomes_can_be_left_out(write_wide):
    frame = set_value("Churn", 1, None)(base_wide())
    ds = load(write_wide, frame, BASE_TOML + 'exclude_values = ["", "Joined"]\n')
    assert ds.wide.excluded["c02"] == "outcome=(blank)"


def test_id_column_optional(write_wide):
    toml = BASE_TOML.replace('id = "cust"\n', "")
    ds = load(write_wide, toml=toml)  # no "account_id" column: row numbers
    assert ds.flags.index.tolist() == ["1", "2", "3", "4", "5", "6"]
    ds = load(write_wide, base_wide().rename(columns={"cust": "account_id"}), toml)
    assert ds.flags.index.tolist()[0] == "c01"  # the standard name is found
    with pytest.raises(DataValidationError, match=r"column 'customer': column\(s\) named"):
        load(write_wide, toml=toml + 'id = "customer"\n')


BLANKS = [
    (
        "blank flag cell is an error by default",
        set_value("Chat", 2, None),
        "",
        r"column 'Chat': blank flag cells; set missing = \"false\" in \[wide\] .*\(1 row\)",
    ),
    (
        "count that is not a number",
        lambda f: f.assign(Visits=["1", "2", "many", "4", "5", "6"]),
        'counts = ["Visits"]\n',
        r"column 'Visits': count values that are not numbers: \['many'\]",
    ),
    (
        "blank count is an error by default",
        lambda f: f.assign(Visits=["1", "2", "", "4", "5", "6"]),
        'counts = ["Visits"]\n',
        r"column 'Visits': blank count cells; set missing = \"false\"",
    ),
    (
        "size that is neither a number nor a band",
        set_value("Employees", 1, "big"),
        "",
        r"column 'Employees': company_size must be a positive number or a size band",
    ),
    (
        "add-on level that no row has",
        same,
        'addons = ["Internet=Satellite"]\n',
        r"column 'Internet': \[wide\] addons names 'Internet=Satellite': no row has that level",
    ),
    (
        "add-on that is a skip level",
        same,
        'addons = ["Internet=No"]\nskip_levels = ["No"]\n',
        r"addons names 'Internet=No', a skip level",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "extra", "message"), [b[1:] for b in BLANKS], ids=[b[0] for b in BLANKS]
)
def test_bad_trait_names_column_and_rule(write_wide, mutate, extra, message):
    with pytest.raises(DataValidationError, match=message) as info:
        load(write_wide, mutate(base_wide()), BASE_TOML + extra)
    assert len(info.value.problems) == 1, str(info.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [('missing = "false"\n', False), ('false_values = ["No internet service", ""]\n', False)],
)
def test_blank_flag_cells_can_mean_not_used(write_wide, extra, expected):
    frame = set_value("Chat", 2, None)(base_wide())
    toml = BASE_TOML.replace('false_values = ["No internet service"]\n', "") + extra
    toml += 'false_values = ["No internet service"]\n' if "false_values" not in extra else ""
    ds = load(write_wide, frame, toml)
    assert ds.flags.loc["c03", "Chat"] == expected


def test_blank_level_with_missing_false_is_no_level(write_wide):
    frame = set_value("Internet", 0, None)(base_wide())
    ds = load(write_wide, frame, BASE_TOML + 'missing = "false"\n')
    assert not ds.flags.loc["c01", [c for c in ds.flags if c.startswith("Internet=")]].any()
    assert ds.wide.factors.loc["c01", "Internet"] == "unknown"


@pytest.mark.parametrize(
    ("bands", "order"),
    [
        (["1000+", "10-50", "100-250", "10-50"], ["10-50", "100-250", "1000+"]),
        (
            ["1,001-5,000", "under 10", "11 to 50", "5k+"],
            ["under 10", "11 to 50", "1,001-5,000", "5k+"],
        ),
        (["51-200", "unknown", "1-10"], ["1-10", "51-200", "unknown"]),
    ],
)
def test_size_bands_are_ordered_by_their_lower_bound(bands, order):
    assert band_order(bands) == order


def test_text_size_bands_are_segments(write_wide):
    frame = base_wide().assign(Employees=["1000+", "10-50", "100-250", "10-50", "<10", "1000+"])
    ds = load(write_wide, frame)
    seg = account_segments(ds.accounts, Config())
    assert seg["size_band"].tolist() == ["1000+", "10-50", "100-250", "10-50", "<10", "1000+"]
    assert seg["size_stratum"].tolist() == [3, 1, 2, 1, 0, 3]


CONFIG_ERRORS = [
    (
        {"flags": ["a"], "counts": ["a"]},
        r"counts = \[\"a\"\]: must not repeat columns listed in flags",
    ),
    ({"flags": ["a"], "expand": ["t"], "addons": ["x=1"]}, r'addons = .*must be "Column=level"'),
    ({"flags": ["a"], "expand": ["t"], "addons": ["t"]}, r'addons = .*must be "Column=level"'),
    (
        {"flags": ["a"], "churned_values": ["Yes"], "exclude_values": ["yes"]},
        r"exclude_values = .*must not repeat values of churned_values",
    ),
    (
        {"flags": ["a"], "plan": "c", "covariates": ["c"]},
        r"plan = \"c\": must not be listed in covariates",
    ),
    ({"flags": ["a"], "missing": "zero"}, r'missing = "zero": must be one of "error", "false"'),
    ({"counts": ["churned"]}, r"counts = .*must not list the outcome column"),
]


@pytest.mark.parametrize(("wide", "message"), CONFIG_ERRORS)
def test_new_wide_keys_are_checked(wide, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict({"wide": wide})


def test_counts_alone_describe_a_table():
    assert Config.from_dict({"wide": {"counts": ["visits"]}}).wide.counts == ["visits"]


# ----------------------------------------------------------------------------- counts
def planted_counts(n: int = 600) -> pd.DataFrame:
    """Retention steps up at 5 articles; every 9th account breaks the rule."""
    articles = np.arange(n) % 12
    stayed = (articles >= 5) ^ (np.arange(n) % 9 == 0)
    return pd.DataFrame(
        {
            "Chat": np.where(np.arange(n) % 2 == 0, "Yes", "No"),
            "Articles": articles,
            "Flat": np.full(n, 3),
            "Status": np.where(stayed, "Stayed", "Churned"),
        }
    )


def test_count_threshold_is_chosen_from_the_data(write_wide):
    toml = '[wide]\noutcome = "Status"\nchurned_values = ["Churned"]\nflags = ["Chat"]\n'
    toml += 'counts = ["Articles", "Flat"]\n[wide.catalog]\nArticles = "content"\n'
    path, config = write_wide(planted_counts(), toml)
    config.journey.n_bootstrap = 20
    population = build_population(load_dataset(path, config), config)
    scan = population.count_scans["Articles"]
    assert scan.threshold == 5 and scan.shape == "step" and scan.lift_ci[0] > 1
    assert population.count_features == {"Articles": "Articles>=5"}
    assert population.flags["Articles>=5"].mean() == pytest.approx(7 / 12)
    assert population.catalog.to_dict() == {"Articles>=5": "content"}
    # a constant column has no threshold: skipped with the reason, no flag
    assert "Flat" in population.count_skipped and "Flat" not in population.flags


@pytest.mark.parametrize(
    ("column", "threshold", "name"),
    [
        ("articles_viewed", 5.0, "articles_viewed>=5"),
        ("csat", 7.5, "csat>=7.5"),
        ("m", 1e6, "m>=1000000"),
    ],
)
def test_count_feature_name(column, threshold, name):
    assert count_feature_name(column, threshold) == name


# ----------------------------------------------------------------------------- covariates
def test_factor_table_retention_and_effects():
    values = pd.Series(["a"] * 6 + ["b"] * 4 + ["c"] * 2)
    retained = pd.Series([1, 1, 1, 1, 0, 0] + [1, 0, 0, 0] + [1, 1], dtype=bool)
    table, overall = factor_table(values, retained, None)
    assert table["level"].tolist() == ["a", "b", "c"] and overall["reference"] == "a"
    assert table["retention"].tolist() == pytest.approx([4 / 6, 1 / 4, 1.0])
    assert table.loc[1, "raw_or"] == pytest.approx((1 * 2) / (3 * 4))  # b vs a: (1/3) / (4/2)
    assert "adj_or" not in table  # nothing to adjust for: no "adjusted" odds ratio
    assert overall["best_level"] == "c" and overall["worst_level"] == "b"
    assert 0 < overall["cramers_v"] < 1


def test_every_covariate_and_choice_speaks(write_wide):
    frame = pd.concat([traits_table()] * 4, ignore_index=True)
    frame["Status"] = ["Stayed", "Churned", "Joined", "Stayed", "Churned", "Stayed"] * 3 + [
        "Churned",
        "Stayed",
        "Stayed",
        "Churned",
        "Stayed",
        "Churned",
    ]
    population = build_population(load_traits(write_wide, frame), Config())
    effects = factor_effects(population)
    covariates = {c["name"]: c for c in effects["covariates"]}
    assert list(covariates) == ["size", "plan", "Contract"]
    assert [lv["level"] for lv in covariates["size"]["levels"]] == [
        "<10",
        "10-50",
        "100-250",
        "1000+",
    ]
    assert covariates["Contract"]["adjusted_for"] == (
        "company size bands (Size), plan (Plan) and Tier"
    )
    contract = {lv["level"]: lv for lv in covariates["Contract"]["levels"]}
    assert contract["Monthly"]["reference"] and contract["Monthly"]["adj_or"] == 1.0
    assert contract["Annual"]["accounts"] == 8 and "adj_or_low" in contract["Annual"]
    (tier,) = effects["choices"]
    assert tier["name"] == "Tier" and tier["role"] == "choice" and tier["addons"] == ["Premium"]
    assert {lv["level"] for lv in tier["levels"]} == {"None", "Standard", "Premium"}


def test_absent_covariates_say_why_and_nothing_is_called_adjusted(write_wide):
    toml = BASE_TOML.replace('size = "Employees"\n', "")
    frame = pd.concat([base_wide()] * 3, ignore_index=True)
    frame["cust"] = [f"c{i:02d}" for i in range(len(frame))]
    population = build_population(load(write_wide, frame, toml), Config())
    # the only other factor is the choice column "Internet": plan is adjusted for it
    assert adjustment_label(population) == "plan (Contract) and Internet"
    effects = factor_effects(population)
    size, plan = effects["covariates"]
    assert not size["present"] and size["absent"].startswith("no company size or seats")
    assert plan["present"] and plan["adjusted_for"] == "Internet"
    toml = BASE_TOML.replace('size = "Employees"\n', "").replace('plan = "Contract"\n', "")
    toml = toml.replace('expand = ["Internet"]\n', "")
    population = build_population(load(write_wide, frame, toml), Config())
    assert adjustment_label(population).startswith("nothing (no size, plan or other covariate")


@pytest.mark.parametrize(
    ("toml_edit", "label"),
    [
        (lambda t: t, "company size (Employees), plan (Contract) and Internet"),
        (
            lambda t: t.replace('size = "Employees"', 'seats = "Employees"'),
            "size (seats, Employees), plan (Contract) and Internet",
        ),
        (lambda t: t.replace('plan = "Contract"\n', ""), "company size (Employees) and Internet"),
    ],
)
def test_adjustment_label_names_what_was_adjusted_for(write_wide, toml_edit, label):
    population = build_population(load(write_wide, toml=toml_edit(BASE_TOML)), Config())
    assert adjustment_label(population) == label


def segment_population(write_wide, plan: bool):
    """40 accounts, no size column: "Export" is used only in the small "Ent" plan."""
    n = 40
    plans = ["Ent"] * 4 + ["Basic"] * 18 + ["Pro"] * 18
    frame = pd.DataFrame(
        {
            "cust": [f"a{i:02d}" for i in range(n)],
            "Export": ["Yes"] * 4 + ["No"] * 36,
            "Inbox": ["Yes", "No"] * 20,
            "Plan": plans,
            "Churn": ["Yes", "No", "No", "No"] * 10,
        }
    )
    toml = '[wide]\nid = "cust"\noutcome = "Churn"\nflags = ["Export", "Inbox"]\n'
    toml += 'plan = "Plan"\n' if plan else ""
    return build_population(load(write_wide, frame, toml), Config())


def test_segment_screen_uses_plan_alone_when_size_is_absent(write_wide):
    population = segment_population(write_wide, plan=True)
    seg = _segment_concentration(population).set_index(population.flags.columns)
    assert seg.loc["Export", "top_segment"] == "plan=Ent"
    assert seg.loc["Export", "top_segment_adopter_share"] == 1.0
    assert not seg["top_segment"].str.startswith("size_band").any()  # no "unknown" band
    none = segment_population(write_wide, plan=False)
    assert (_segment_concentration(none)["top_segment"] == "").all()


# ----------------------------------------------------------------------------- scoring
SCORE_TOML = """
[wide]
outcome = "Status"
churned_values = ["Churned"]
flags = ["Chat", "Bots"]
missing = "false"
counts = ["Articles"]
expand = ["Tier"]
skip_levels = ["None"]
addons = ["Tier=Premium"]
"""


def score_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Tier": ["None", "Standard", "Premium", "None", "Standard"],
            "Chat": ["Yes", "Yes", "Yes", "", ""],
            "Bots": ["", "", "", "", ""],
            "Articles": [1, 1, 9, 9, 1],
            "Status": ["Stayed", "Churned", "Stayed", "Stayed", "Churned"],
        }
    )


def saved_framework(extra_feature: str | None = None) -> Framework:
    support = ["Bots", "Chat", "Tier=Premium"] + ([extra_feature] if extra_feature else [])
    return Framework(
        as_of=None,
        observation_days=180,
        horizon_days=365,
        seed=0,
        features=[],
        maturity={
            "categories": [
                {"name": "support", "features": support, "min_features": 2},
                {"name": "content", "features": ["Articles>=5"], "min_features": 1},
            ],
            "min_categories": 2,
        },
        choices=[{"name": "Tier", "addons": ["Premium"]}],
        counts=[{"column": "Articles", "feature": "Articles>=5", "threshold": 5.0}],
    )


def test_choices_are_never_proposed_to_an_account_on_another_level(write_wide):
    path, config = write_wide(score_table(), SCORE_TOML)
    scored = score_accounts(saved_framework(), load_dataset(path, config), config)
    by = scored.set_index("account_id")
    # the count column is cut at the framework's threshold
    assert by["content:features_used"].tolist() == [0, 0, 1, 1, 0]
    # the add-on is proposed on the skip level ("None"), never on another level
    assert by.loc["1", "next_feature"] == "Tier=Premium"
    assert by.loc["2", "next_feature"] == "Bots"
    assert by.loc["5", "next_feature"] == "Articles>=5"  # the closest category
    tier = score_table()["Tier"].to_numpy()
    proposed = by["next_feature"].fillna("").to_numpy()
    assert not any(
        p.startswith("Tier=") and t != "None" for p, t in zip(proposed, tier, strict=True)
    )
    # every milestone reached: no next step at all
    assert by.loc["3", "next_step"] == "all milestones reached"
    assert by.loc["3", ["next_category", "next_feature"]].isna().all()


def test_new_customers_are_scored_without_an_outcome(write_wide):
    frame = score_table().drop(columns="Status")
    frame.loc[0, "Tier"] = "Gold"  # a level the framework never saw
    path, config = write_wide(frame, SCORE_TOML)
    with pytest.raises(DataValidationError, match=r"column\(s\) named .* not found"):
        load_dataset(path, config)  # a study needs the outcome
    ds = load_dataset(path, config, outcome_required=False)
    assert ds.churned is None and any("no outcome column 'Status'" in n for n in ds.notes)
    with pytest.raises(DataValidationError, match=r"column 'Status': outcome column not found"):
        build_population(ds, config)
    scored = score_accounts(saved_framework(extra_feature="Tier=Platinum"), ds, config)
    assert len(scored) == 5 and scored["retained"].isna().all() and not scored["eligible"].any()
    assert (scored["exclusion_reason"] == "no_outcome").all()
    assert any("absent from this data" in n and "Tier=Platinum" in n for n in scored.attrs["notes"])
    assert scored.loc[0, "next_feature"] != "Tier=Premium"  # on "Gold", another level


def test_absent_levels_are_noted_when_scoring(write_wide):
    frame = score_table().drop(columns="Status")
    frame["Tier"] = ["None", "Standard", "Standard", "None", "None"]  # nobody on Premium
    toml = SCORE_TOML + '[wide.catalog]\n"Tier=Premium" = "support"\nChat = "support"\n'
    path, config = write_wide(frame, toml)
    ds = load_dataset(path, config, outcome_required=False)
    assert any("add-on 'Tier=Premium' absent" in n for n in ds.notes)
    assert any("[wide.catalog] names level(s) no row has" in n for n in ds.notes)
    scored = score_accounts(saved_framework(), ds, config)
    assert scored["support:features_used"].tolist() == [1, 1, 1, 0, 0]
    assert not scored["next_feature"].eq("Tier=Premium").iloc[[1, 2]].any()


# ----------------------------------------------------------------------------- multi-table size
@pytest.mark.parametrize(
    ("drop", "columns", "band", "label"),
    [
        (["company_size"], {}, "1-10", "size (seats)"),  # seats alone are the size
        (["company_size", "seats"], {}, "unknown", None),  # no size at all
        (["company_size"], {"company_size": "seats"}, "1-10", "company size (seats)"),
    ],
)
def test_company_size_is_optional_in_the_tables(make_dataset, drop, columns, band, label):
    tables = valid_tables("accounts", "feature_usage")
    tables["accounts"] = tables["accounts"].drop(columns=drop)
    config = Config.from_dict({"columns": {"accounts": columns}} if columns else {})
    ds = load_dataset(make_dataset(**tables), config)
    acc = ds.accounts.set_index("account_id")
    if columns:  # one column, two roles
        assert acc["company_size"].tolist() == acc["seats"].tolist()
    population = build_population(ds, config)
    assert account_segments(ds.accounts, config).loc["007", "size_band"] == band
    assert population.labels.get("size") == label


def test_text_size_bands_in_the_tables(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    bands = ["11-50", "1-10", "1-10", "51-200", "11-50", "201-1000", "11-50", "1000+"]
    tables["accounts"]["company_size"] = bands
    ds = load_dataset(make_dataset(**tables), Config())
    assert ds.accounts["company_size"].tolist() == bands
    seg = account_segments(ds.accounts, Config())
    assert seg["size_stratum"].tolist() == [1, 0, 0, 2, 1, 3, 1, 4]
    tables["accounts"].loc[2, "company_size"] = "lots"
    with pytest.raises(
        DataValidationError,
        match=r"table 'accounts', column 'company_size': neither a number nor a size band",
    ):
        load_dataset(make_dataset(**tables), Config())


# ----------------------------------------------------------------------------- the example
EXAMPLES = REPO / "examples"


def _example_module():
    spec = importlib.util.spec_from_file_location("make_wide_saas", EXAMPLES / "make_wide_saas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    from milestone_discovery.study import discover

    config = Config.from_toml(EXAMPLES / "wide_saas.toml")
    config.features.n_estimators = 100  # quicker; the example's findings are strong
    config.journey.n_bootstrap = 50
    config.maturity.n_bootstrap = 50
    out = tmp_path_factory.mktemp("wide_saas") / "run"
    study = discover(EXAMPLES / "wide_saas.csv", out, config, progress=False, report=False)
    return study, out, config


def test_example_table_is_what_its_script_writes(tmp_path):
    written = _example_module().main(tmp_path / "wide_saas.csv")
    assert written.read_bytes() == (EXAMPLES / "wide_saas.csv").read_bytes()


@pytest.mark.parametrize("file", ["features.csv", "accounts.csv"])
def test_example_run_columns_are_in_the_column_dictionary(example_run, file):
    from milestone_discovery.columns import undocumented

    _, out, _ = example_run
    assert not undocumented(pd.read_csv(out / file, nrows=1).columns, file)


def test_example_runs_without_reshaping(example_run):
    study, out, _ = example_run
    raw = pd.read_csv(EXAMPLES / "wide_saas.csv", keep_default_na=False)
    framework = json.loads((out / "framework.json").read_text())
    joined = int((raw["Status"] == "Joined").sum())
    assert framework["data"]["exclusions"] == {"outcome=Joined": joined}
    assert framework["data"]["eligible"] == len(raw) - joined
    assert framework["model"]["adjusted"] is True
    assert "Contract" in framework["model"]["adjusted_for"]


def test_example_count_thresholds_are_found_and_kept(example_run):
    study, out, _ = example_run
    counts = {c["column"]: c for c in json.loads((out / "framework.json").read_text())["counts"]}
    assert list(counts) == ["Articles Viewed", "Emails Clicked", "CSAT"]
    articles = counts["Articles Viewed"]
    assert articles["feature"] == "Articles Viewed>=5" and articles["threshold"] == 5
    assert articles["shape"] == "step" and articles["lift_ci"][0] > 1
    assert articles["status"] == "selected"
    assert counts["CSAT"]["status"] != "selected"  # planted: no effect
    assert (out / "tables" / "count_scan__Articles Viewed.csv").is_file() or any(
        p.name.startswith("count_scan") for p in (out / "tables").iterdir()
    )


def test_example_covariates_and_choices_speak(example_run):
    study, out, _ = example_run
    framework = json.loads((out / "framework.json").read_text())
    covariates = {c["name"]: c for c in framework["covariates"]["factors"]}
    choices = {c["name"]: c for c in framework["choices"]}
    strongest = max([*covariates.values(), *choices.values()], key=lambda c: c["cramers_v"])
    assert strongest["name"] == "Contract" and strongest["best_level"] == "Two-year"
    size = [lv["level"] for lv in covariates["size"]["levels"]]
    assert size == ["1-10", "11-50", "51-200", "201-1000", "1000+"]
    assert choices["Channel"]["worst_level"] == "Phone"
    assert choices["Support Tier"]["addons"] == ["Premium"]
    features = set(study.features.features["feature"])
    assert (
        not {"Channel=Email", "Channel=Chat", "Channel=Phone", "Support Tier=Standard"} & features
    )
    assert "Support Tier=Premium" in features  # the add-on is a feature


def test_example_accounts_never_suggest_another_level(example_run):
    _, out, _ = example_run
    accounts = pd.read_csv(out / "accounts.csv", keep_default_na=False, dtype=str)
    raw = pd.read_csv(EXAMPLES / "wide_saas.csv", keep_default_na=False, dtype=str)
    proposed = accounts["next_feature"]
    for column in ("Channel", "Support Tier"):
        level = proposed.str.extract(rf"^{column}=(.*)$")[0]
        wrong = level.notna() & (level != raw[column]) & (raw[column] != "None")
        assert not wrong.any(), accounts[wrong].head()
    assert not proposed.str.startswith("Channel=").any()
    done = accounts["next_step"] == "all milestones reached"
    assert (accounts.loc[done, "next_feature"] == "").all()
    assert len(accounts) == len(raw)  # "Joined" customers are scored too


def test_example_scores_new_customers(example_run, tmp_path):
    study, out, config = example_run
    new = pd.read_csv(EXAMPLES / "wide_saas.csv", keep_default_na=False, dtype=str)
    new = new[new["Status"] == "Joined"].drop(columns="Status")
    new.to_csv(tmp_path / "new.csv", index=False)
    ds = load_dataset(tmp_path / "new.csv", config, outcome_required=False)
    scored = Framework.from_json(out / "framework.json").score(ds, config)
    assert len(scored) == len(new) and scored["retained"].isna().all()
    assert scored["stage"].isin(["none", "maturity"]).all()


def test_churned_values_match_numbers_however_written(write_wide):
    frame = base_wide().assign(Churn=["1.0", "0.0", "0", "1", "1.00", "0"])
    ds = load(
        write_wide, frame, BASE_TOML.replace('churned_values = ["Yes"]', 'churned_values = ["1"]')
    )
    assert ds.churned.tolist() == [True, False, False, True, True, False]
