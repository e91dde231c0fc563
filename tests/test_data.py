"""Tests of milestone_discovery.data: reading, typing and validating a dataset folder."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINE_AS_OF, valid_tables, write_tables

from milestone_discovery import Config, DataValidationError, load_dataset
from milestone_discovery.config import StudyConfig
from milestone_discovery.errors import MilestoneError


# ----------------------------------------------------------------------------- mutations
def set_cell(table, row, column, value):
    """Change one cell of one table."""

    def mutate(tables):
        frame = tables[table]
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return mutate


def add_row(table, **values):
    def mutate(tables):
        tables[table] = pd.concat([tables[table], pd.DataFrame([values])], ignore_index=True)

    return mutate


def copy_row(table, row):
    def mutate(tables):
        frame = tables[table]
        tables[table] = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)

    return mutate


def add_column(table, column, values):
    def mutate(tables):
        tables[table][column] = values

    return mutate


def drop_column(table, column):
    def mutate(tables):
        tables[table] = tables[table].drop(columns=column)

    return mutate


def drop_table(table):
    def mutate(tables):
        del tables[table]

    return mutate


def empty_table(table):
    def mutate(tables):
        tables[table] = tables[table].iloc[0:0]

    return mutate


# Each case: one small change of the valid baseline and the message it must give,
# naming the table, the column (when the rule is about a column) and the rule.
BAD_INPUTS = [
    (
        "missing required table",
        drop_table("feature_usage"),
        r"table 'feature_usage': required table missing: no feature_usage\.csv or feature_usage\.parquet",
    ),
    (
        "missing required column",
        drop_column("accounts", "signup_date"),
        r"table 'accounts', column 'signup_date': required column\(s\) missing",
    ),
    (
        "unknown column",
        add_column("feature_usage", "colour", "red"),
        r"table 'feature_usage', column 'colour': unknown column\(s\)",
    ),
    ("empty table", empty_table("activity"), r"table 'activity': table is empty"),
    (
        "duplicate account_id",
        set_cell("accounts", 1, "account_id", "007"),
        r"table 'accounts', column 'account_id': duplicate account_id \(2 rows\)",
    ),
    (
        "missing id",
        set_cell("feature_usage", 3, "account_id", None),
        r"table 'feature_usage', column 'account_id': missing values \(1 row\)",
    ),
    (
        "missing category",
        set_cell("feature_catalog", 0, "category", None),
        r"table 'feature_catalog', column 'category': missing values",
    ),
    (
        "impossible date",
        set_cell("accounts", 2, "signup_date", "2023-02-30"),
        r"table 'accounts', column 'signup_date': unparseable dates",
    ),
    (
        "text date",
        set_cell("setup_steps", 0, "completed_at", "last week"),
        r"table 'setup_steps', column 'completed_at': unparseable dates",
    ),
    (
        "missing signup date",
        set_cell("accounts", 0, "signup_date", None),
        r"table 'accounts', column 'signup_date': missing dates",
    ),
    (
        "missing first use",
        set_cell("feature_usage", 0, "first_used_at", None),
        r"table 'feature_usage', column 'first_used_at': missing dates",
    ),
    (
        "non-numeric seats",
        set_cell("accounts", 0, "seats", "five"),
        r"table 'accounts', column 'seats': not a number",
    ),
    (
        "missing seats",
        set_cell("accounts", 0, "seats", None),
        r"table 'accounts', column 'seats': missing values",
    ),
    (
        "infinite count",
        set_cell("feature_usage", 1, "uses", "inf"),
        r"table 'feature_usage', column 'uses': not a number",
    ),
    (
        "negative count",
        set_cell("activity", 0, "conversations", -3),
        r"table 'activity', column 'conversations': negative counts",
    ),
    (
        "fractional count",
        set_cell("accounts", 0, "company_size", 2.5),
        r"table 'accounts', column 'company_size': counts must be whole numbers",
    ),
    (
        "zero seats",
        set_cell("accounts", 4, "seats", 0),
        r"table 'accounts', column 'seats': seats must be at least 1",
    ),
    (
        "zero company size",
        set_cell("accounts", 4, "company_size", 0),
        r"table 'accounts', column 'company_size': company_size \(employees\) must be at least 1",
    ),
    (
        "expansion not 0/1",
        add_column("accounts", "expansion", [0, 1, 0, 2, 0, 0, 1, 0]),
        r"table 'accounts', column 'expansion': expansion must be 0 or 1",
    ),
    (
        "churn before signup",
        set_cell("accounts", 1, "churn_date", "2023-01-31"),
        r"table 'accounts', column 'churn_date': churn_date before signup_date",
    ),
    (
        "usage of unknown account",
        add_row(
            "feature_usage", account_id="zz9", feature="inbox", first_used_at="2024-01-01", uses=1
        ),
        r"table 'feature_usage', column 'account_id': rows for accounts that are not in 'accounts'",
    ),
    (
        "usage of id without its leading zeros",
        set_cell("feature_usage", 0, "account_id", "7"),
        r"table 'feature_usage', column 'account_id': rows for accounts that are not in 'accounts'",
    ),
    (
        "activity of unknown account",
        add_row(
            "activity",
            account_id="zz9",
            month="2024-01-01",
            conversations=1,
            resolved_conversations=1,
        ),
        r"table 'activity', column 'account_id': rows for accounts that are not in 'accounts'",
    ),
    (
        "setup of unknown account",
        add_row("setup_steps", account_id="zz9", step="invite_team", completed_at="2024-01-01"),
        r"table 'setup_steps', column 'account_id': rows for accounts that are not in 'accounts'",
    ),
    (
        "first use before signup",
        set_cell("feature_usage", 0, "first_used_at", "2023-01-14"),
        r"table 'feature_usage', column 'first_used_at': first_used_at before the account's signup_date",
    ),
    (
        "activity month before signup month",
        set_cell("activity", 0, "month", "2022-12-01"),
        r"table 'activity', column 'month': month before the account's signup_date",
    ),
    (
        "setup before signup",
        set_cell("setup_steps", 0, "completed_at", "2023-01-01"),
        r"table 'setup_steps', column 'completed_at': completed_at before the account's signup_date",
    ),
    (
        "duplicate usage row",
        copy_row("feature_usage", 4),
        r"table 'feature_usage', column 'feature': more than one row for the same account and feature",
    ),
    (
        "zero uses",
        set_cell("feature_usage", 2, "uses", 0),
        r"table 'feature_usage', column 'uses': uses must be at least 1",
    ),
    (
        "month not first day",
        set_cell("activity", 1, "month", "2023-02-15"),
        r"table 'activity', column 'month': month must be the first day of a month",
    ),
    (
        "duplicate activity month",
        set_cell("activity", 1, "month", "2023-01-01"),
        r"table 'activity', column 'month': more than one row for the same account and month",
    ),
    (
        "catalog feature never used",
        add_row("feature_catalog", feature="api", category="integrations"),
        r"table 'feature_catalog', column 'feature': catalog names features that never appear in feature_usage",
    ),
    (
        "duplicate catalog feature",
        set_cell("feature_catalog", 2, "feature", "bots"),
        r"table 'feature_catalog', column 'feature': feature listed more than once",
    ),
    (
        "bad hypothesis",
        set_cell("feature_catalog", 1, "hypothesis", "premium"),
        r"table 'feature_catalog', column 'hypothesis': hypothesis must be 'basic' or 'mature'",
    ),
    (
        "duplicate setup step",
        set_cell("setup_steps", 1, "step", "invite_team"),
        r"table 'setup_steps', column 'step': step completed more than once for the same account",
    ),
]


def _changed_and_required(tables):
    """The required tables plus the optional ones a case changed: fewer files, faster tests."""
    base = valid_tables()
    return {
        n: t
        for n, t in tables.items()
        if n in ("accounts", "feature_usage") or not t.equals(base[n])
    }


@pytest.mark.parametrize(
    ("mutate", "message"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_names_table_column_and_rule(make_dataset, mutate, message):
    tables = valid_tables()
    mutate(tables)
    folder = make_dataset(**_changed_and_required(tables))
    with pytest.raises(DataValidationError, match=message) as info:
        load_dataset(folder)
    # one change breaks exactly one rule: the message is not drowned in follow-up errors
    assert len(info.value.problems) == 1, str(info.value)


def test_both_csv_and_parquet_of_a_table_is_an_error(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    folder = make_dataset(**tables)
    tables["accounts"].to_parquet(folder / "accounts.parquet", index=False)
    with pytest.raises(
        DataValidationError,
        match=r"table 'accounts': both accounts\.csv and accounts\.parquet exist",
    ):
        load_dataset(folder)


def test_unreadable_file_names_the_table(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    folder = make_dataset(**tables)
    (folder / "activity.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(
        DataValidationError, match=r"table 'activity': cannot read activity\.parquet"
    ):
        load_dataset(folder)


def test_offending_rows_are_shown_with_the_value(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("accounts", 2, "signup_date", "2023-02-30")(tables)
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(**tables))
    message = str(info.value)
    assert "a03" in message and "2023-02-30" in message


# ----------------------------------------------------------------------------- error report
def test_error_lists_all_problems_of_a_table_at_once(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("accounts", 0, "seats", 0)(tables)
    set_cell("accounts", 1, "churn_date", "2023-01-01")(tables)
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(**tables))
    message = str(info.value)
    assert message.startswith("2 problem(s) in the input data")
    assert "table 'accounts', column 'seats': seats must be at least 1" in message
    assert "table 'accounts', column 'churn_date': churn_date before signup_date" in message


def test_error_lists_problems_of_several_tables_and_columns_at_once(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("accounts", 0, "seats", "five")(tables)
    set_cell("accounts", 3, "signup_date", "yesterday")(tables)
    set_cell("feature_usage", 0, "uses", -1)(tables)
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(**tables))
    found = {(p.table, p.column) for p in info.value.problems}
    assert found == {("accounts", "seats"), ("accounts", "signup_date"), ("feature_usage", "uses")}
    message = str(info.value)
    for fragment in (
        "column 'seats': not a number",
        "column 'signup_date': unparseable dates",
        "column 'uses': negative counts",
    ):
        assert fragment in message


def test_error_shows_at_most_five_rows_and_how_many_more(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    tables["accounts"]["seats"] = 0  # all 8 accounts
    with pytest.raises(DataValidationError, match=r"\(8 rows\)") as info:
        load_dataset(make_dataset(**tables))
    message = str(info.value)
    assert "... and 3 more" in message
    shown = [a for a in tables["accounts"]["account_id"] if re.search(rf"\s{a}\s", message)]
    assert shown == ["007", "a02", "a03", "a04", "a05"]


def test_error_rows_carry_the_csv_line_number(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("feature_usage", 6, "uses", 0)(tables)  # a04 / inbox
    folder = make_dataset(**tables)
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    match = re.search(r"^\s+(\d+)\s+a04\s+inbox\s", str(info.value), flags=re.MULTILINE)
    assert match, str(info.value)
    line = int(match.group(1))
    csv_lines = (folder / "feature_usage.csv").read_text().splitlines()
    assert line == 8
    assert csv_lines[line - 1].startswith("a04,inbox,")


def test_one_problem_is_summarised_in_one_line_without_rows():
    from milestone_discovery.errors import Problem

    text = Problem("accounts", None, "table is empty").describe()
    assert text == "- table 'accounts': table is empty"


# ----------------------------------------------------------------------------- valid data
@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The valid baseline, loaded once (read-only for the tests)."""
    return load_dataset(write_tables(tmp_path_factory.mktemp("baseline"), **valid_tables()))


def test_valid_dataset_loads_with_proper_dtypes(baseline):
    ds = baseline
    acc = ds.accounts
    assert ds.kind == "tables"
    assert len(acc) == 8
    assert acc["account_id"].tolist()[0] == "007"  # leading zeros kept
    assert all(isinstance(a, str) for a in acc["account_id"])
    assert acc["signup_date"].dtype == "datetime64[ns]"
    assert acc["churn_date"].dtype == "datetime64[ns]"
    assert acc["seats"].dtype == np.int64 and acc["company_size"].dtype == np.int64
    assert acc.loc[acc["account_id"] == "a02", "churn_date"].item() == pd.Timestamp("2023-12-01")
    assert (
        acc.loc[acc["account_id"] == "007", "churn_date"].isna().item()
    )  # empty = still a customer
    usage = ds.feature_usage
    assert usage["first_used_at"].dtype == "datetime64[ns]" and usage["uses"].dtype == np.int64
    assert ds.activity["month"].dtype == "datetime64[ns]"
    assert ds.activity["conversations"].dtype == np.int64
    assert ds.activity_metrics == ["conversations", "resolved_conversations"]
    assert ds.features == ["bots", "inbox", "reports"]
    assert ds.notes == [
        "as_of 2025-06-30: latest date of observed behaviour (feature_usage.first_used_at)"
    ]
    assert ds.as_of_source == "latest date of observed behaviour (feature_usage.first_used_at)"


def test_dates_are_normalised_to_days(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("accounts", 0, "signup_date", "2023-01-15T17:45:00")(tables)
    set_cell("feature_usage", 0, "first_used_at", "2023-01-20 23:59:59")(tables)
    ds = load_dataset(make_dataset(**tables))
    assert ds.accounts.loc[0, "signup_date"] == pd.Timestamp("2023-01-15")
    assert ds.feature_usage.loc[0, "first_used_at"] == pd.Timestamp("2023-01-20")


def test_whitespace_around_values_is_ignored(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("accounts", 1, "seats", " 2 ")(tables)
    set_cell("accounts", 1, "account_id", " a02")(tables)
    ds = load_dataset(make_dataset(**tables))
    assert ds.accounts.loc[1, "account_id"] == "a02"
    assert ds.accounts.loc[1, "seats"] == 2


def test_plan_defaults_to_unknown(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    drop_column("accounts", "plan")(tables)
    ds = load_dataset(make_dataset(**tables))
    assert set(ds.accounts["plan"]) == {"unknown"}


def _typed(tables):
    """Baseline tables with real dates and numbers, as Parquet writers produce them."""
    out = {}
    for name, frame in tables.items():
        frame = frame.copy()
        for col in ("signup_date", "churn_date", "first_used_at", "month", "completed_at"):
            if col in frame:
                frame[col] = pd.to_datetime(frame[col])
        out[name] = frame
    return out


def test_parquet_input_loads_like_csv(make_dataset, baseline):
    parquet = make_dataset(fmt="parquet", **_typed(valid_tables()))
    assert sorted(p.name for p in parquet.iterdir())[0] == "accounts.parquet"
    from_parquet = load_dataset(parquet)
    from_csv = baseline
    assert from_parquet.as_of == from_csv.as_of == dt.date.fromisoformat(BASELINE_AS_OF)
    for name in ("accounts", "feature_usage", "feature_catalog", "activity", "setup_steps"):
        pd.testing.assert_frame_equal(getattr(from_parquet, name), getattr(from_csv, name))


def test_parquet_input_is_validated_too(make_dataset):
    tables = _typed(valid_tables("accounts", "feature_usage"))
    tables["accounts"].loc[2, "seats"] = -1
    with pytest.raises(
        DataValidationError, match=r"table 'accounts', column 'seats': negative counts"
    ):
        load_dataset(make_dataset(fmt="parquet", **tables))


def test_optional_tables_missing_are_none(make_dataset):
    tables = valid_tables()
    ds = load_dataset(
        make_dataset(accounts=tables["accounts"], feature_usage=tables["feature_usage"])
    )
    assert ds.feature_catalog is None and ds.activity is None and ds.setup_steps is None
    assert set(ds.tables) == {"accounts", "feature_usage"}
    assert ds.activity_metrics == []
    assert list(ds.summary()["table"]) == ["accounts", "feature_usage"]


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(MilestoneError, match="dataset not found"):
        load_dataset(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- as_of and notes
def test_as_of_defaults_to_latest_date_in_the_data(baseline):
    assert baseline.as_of == dt.date.fromisoformat(BASELINE_AS_OF)


def test_as_of_default_ignores_churn_dates_but_uses_activity(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("accounts", 3, "churn_date", "2025-09-14")(tables)  # a scheduled cancellation
    ds = load_dataset(make_dataset(**tables))
    assert ds.as_of == dt.date(2025, 6, 30)
    assert ds.accounts.set_index("account_id").loc["a04", "churn_date"] is pd.NaT
    tables = valid_tables("accounts", "feature_usage", "activity")
    add_row(
        "activity", account_id="a08", month="2025-07-01", conversations=1, resolved_conversations=0
    )(tables)
    ds = load_dataset(make_dataset(**tables))
    assert ds.as_of == dt.date(2025, 7, 1)
    assert ds.notes[0] == "as_of 2025-07-01: latest date of observed behaviour (activity.month)"


def test_as_of_from_config_wins(make_dataset):
    config = Config(study=StudyConfig(as_of=dt.date(2025, 12, 31)))
    folder = make_dataset(**valid_tables("accounts", "feature_usage"))
    ds = load_dataset(folder, config)
    assert ds.as_of == dt.date(2025, 12, 31)
    assert ds.notes[0] == "as_of 2025-12-31: set in the config ([study] as_of)"


def test_usage_after_churn_is_ignored_and_counted(make_dataset):
    tables = valid_tables()
    add_row("feature_usage", account_id="a02", feature="bots", first_used_at="2024-01-15", uses=3)(
        tables
    )
    add_row("feature_usage", account_id="a03", feature="bots", first_used_at="2023-05-02", uses=1)(
        tables
    )
    add_row(
        "activity", account_id="a02", month="2023-12-01", conversations=5, resolved_conversations=1
    )(tables)  # the churn month still counts
    add_row(
        "activity", account_id="a02", month="2024-01-01", conversations=5, resolved_conversations=1
    )(tables)
    add_row("setup_steps", account_id="a03", step="invite_team", completed_at="2023-06-01")(tables)
    ds = load_dataset(make_dataset(**tables))
    assert "feature_usage: 2 row(s) dated after the account's churn_date ignored" in ds.notes
    assert "activity: 1 row(s) dated after the account's churn_date ignored" in ds.notes
    assert "setup_steps: 1 row(s) dated after the account's churn_date ignored" in ds.notes
    assert len(ds.feature_usage) == len(valid_tables()["feature_usage"])
    a02 = ds.activity[ds.activity["account_id"] == "a02"]
    assert a02["month"].tolist() == [pd.Timestamp("2023-02-01"), pd.Timestamp("2023-12-01")]


def test_rows_after_an_earlier_as_of_are_ignored_and_counted(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    set_cell("feature_usage", 2, "first_used_at", "2024-08-01")(tables)  # 007 / reports
    config = Config(study=StudyConfig(as_of=dt.date(2024, 6, 30)))
    ds = load_dataset(make_dataset(**tables), config)
    assert ds.as_of == dt.date(2024, 6, 30)
    assert "2 account(s) signed up after as_of 2024-06-30 and are ignored" in ds.notes
    assert "1 churn date(s) after as_of 2024-06-30 treated as still a customer at as_of" in ds.notes
    assert "feature_usage: 1 row(s) dated after as_of 2024-06-30 ignored" in ds.notes
    assert "feature_usage: 2 row(s) of accounts signed up after as_of ignored" in ds.notes
    assert "a07" not in set(ds.accounts["account_id"]) and "a08" not in set(
        ds.accounts["account_id"]
    )
    assert len(ds.accounts) == 6
    assert ds.accounts.set_index("account_id").loc["a04", "churn_date"] is pd.NaT
    assert ds.feature_usage["first_used_at"].max() <= pd.Timestamp("2024-06-30")
    assert set(ds.feature_usage["account_id"]) <= set(ds.accounts["account_id"])


# ----------------------------------------------------------------------------- column names
def test_config_column_renames(make_dataset, tmp_path):
    tables = valid_tables("accounts", "feature_usage", "activity")
    tables["accounts"] = tables["accounts"].rename(
        columns={"account_id": "id", "signup_date": "created"}
    )
    tables["activity"] = tables["activity"].rename(columns={"conversations": "chats"})
    folder = make_dataset(**tables)
    toml = tmp_path / "study.toml"
    toml.write_text(
        '[columns.accounts]\naccount_id = "id"\nsignup_date = "created"\n\n'
        '[columns.activity]\nconversations = "chats"\n'
    )
    ds = load_dataset(folder, Config.from_toml(toml))
    assert list(ds.accounts.columns[:2]) == ["account_id", "signup_date"]
    assert ds.accounts["account_id"].iloc[0] == "007"
    assert ds.activity_metrics == ["conversations", "resolved_conversations"]
    assert ds.activity["conversations"].sum() == 215


def test_renamed_column_without_config_is_reported(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    tables["accounts"] = tables["accounts"].rename(columns={"account_id": "id"})
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(**tables))
    message = str(info.value)
    assert "table 'accounts', column 'account_id': required column(s) missing" in message
    assert "table 'accounts', column 'id': unknown column(s)" in message


def test_missing_renamed_column_is_reported_by_the_users_name(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    tables["accounts"] = tables["accounts"].rename(columns={"signup_date": "joined_on"})
    config = Config.from_dict({"columns": {"accounts": {"signup_date": "joined"}}})
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(**tables), config)
    message = str(info.value)
    assert "table 'accounts', column 'joined': required column(s) missing" in message
    assert "table 'accounts', column 'joined_on': unknown column(s)" in message


def test_errors_name_columns_as_the_user_named_them(make_dataset):
    tables = valid_tables()
    tables["accounts"] = tables["accounts"].rename(columns={"seats": "licences"})
    tables["accounts"].loc[0, "licences"] = -3
    path = make_dataset(**tables)
    config = Config.from_dict({"columns": {"accounts": {"seats": "licences"}}})
    with pytest.raises(
        DataValidationError, match=r"table 'accounts', column 'licences': negative counts"
    ) as err:
        load_dataset(path, config)
    assert "licences" in str(err.value).split("e.g.")[1]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_text_values_share_one_string_per_distinct_value(make_dataset, fmt):
    """Long tables hold tens of millions of rows: one str object per id, not one per row."""
    tables = _typed(valid_tables())
    first = tables["feature_usage"].loc[0, "feature"]
    set_cell("feature_usage", 0, "feature", f" {first} ")(tables)  # stripped, then shared
    ds = load_dataset(make_dataset(fmt=fmt, **tables))
    for name, col in (
        ("feature_usage", "account_id"),
        ("feature_usage", "feature"),
        ("activity", "account_id"),
        ("setup_steps", "step"),
    ):
        values = getattr(ds, name)[col]
        assert values.dtype == object
        assert all(isinstance(v, str) and v == v.strip() for v in values)
        assert len({id(v) for v in values}) == values.nunique(), (name, col)
    assert ds.features == ["bots", "inbox", "reports"]


def test_blank_optional_text_is_none(make_dataset):
    tables = valid_tables()
    set_cell("feature_catalog", 0, "description", "   ")(tables)
    ds = load_dataset(make_dataset(**tables))
    assert ds.feature_catalog.loc[0, "description"] is None
    assert ds.feature_catalog["description"].dtype == object


def test_default_as_of_outliers_are_found_per_account(make_dataset):
    """The latest date resting on fewer than 3 accounts is an error (ids keyed by position)."""
    from milestone_discovery.data import _default_as_of

    n = 120
    ids = [f"a{i:03d}" for i in range(n)]
    accounts = pd.DataFrame({"account_id": ids, "signup_date": pd.Timestamp("2024-01-01")})
    usage = pd.DataFrame(
        {
            "account_id": ids + ["a000", "a001"],
            "first_used_at": [pd.Timestamp("2024-03-01")] * n
            + [pd.Timestamp("2024-09-01"), pd.NaT],
        }
    )
    activity = pd.DataFrame(
        {"account_id": ["a001", "zzz"], "month": pd.to_datetime(["2024-09-01", "2024-02-01"])}
    )
    tables = {"accounts": accounts, "feature_usage": usage, "activity": activity}
    as_of, source, outliers = _default_as_of(tables)
    assert as_of == dt.date(2024, 9, 1)
    assert source == (
        "latest date of observed behaviour (feature_usage.first_used_at, activity.month)"
    )
    assert [p.table for p in outliers] == ["feature_usage", "activity"]
    assert "resting on 2 account(s)" in outliers[0].rule
