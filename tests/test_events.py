"""Tests of events input (events.py) and query tables (queries.py).

Small literal event logs over the baseline accounts of ``conftest`` (signups
and churn dates there); every rule of the events contract has a case: what is
derived, what is ignored and counted in the notes, what is an error.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import valid_tables, write_tables

from milestone_discovery import Config, ConfigError, DataValidationError, load_dataset
from milestone_discovery.cli import main

METRICS = {
    "conversations": ["conversation_started"],
    "resolved_conversations": ["conversation_resolved"],
}

#: Baseline events; accounts of conftest: 007 signed up 2023-01-15 (never churned),
#: a02 2023-02-01 (churned 2023-12-01), a04 2023-04-01, a08 2025-03-01.
BASE = [
    ("007", "inbox", "2023-01-20 09:00:00"),
    ("007", "inbox", "2023-02-03 10:00:00"),
    ("007", "bots", "2023-03-01T11:00:00"),
    ("007", "conversation_started", "2023-01-20 09:05:00"),
    ("007", "conversation_started", "2023-02-20"),
    ("007", "conversation_resolved", "2023-02-21"),
    ("007", "setup:invite_team", "2023-01-16"),
    ("a02", "inbox", "2023-02-02"),
    ("a04", "bots", "2023-06-01"),
    ("a08", "bots", "2025-06-30"),
]
COLUMNS = ["account_id", "event", "timestamp"]


def events_frame(rows=(), base=True, columns=COLUMNS) -> pd.DataFrame:
    return pd.DataFrame([*(BASE if base else []), *rows], columns=columns)


def with_count(rows=(), counts=None) -> pd.DataFrame:
    frame = events_frame(rows)
    frame["count"] = counts if counts is not None else [1] * len(frame)
    return frame


def config(**sections) -> Config:
    data = {"events": {"metrics": METRICS}}
    for name, value in sections.items():
        data[name] = {**data.get(name, {}), **value}
    return Config.from_dict(data)


@pytest.fixture
def load(tmp_path):
    """``load(events, config=None, fmt="csv", **tables) -> Dataset`` on a fresh folder."""
    counter = iter(range(1000))

    def run(events, cfg=None, fmt="csv", folder=None, **tables):
        folder = folder or tmp_path / f"ds{next(counter)}"
        tables.setdefault("accounts", valid_tables("accounts")["accounts"])
        write_tables(folder, fmt, events=events, **tables)
        return load_dataset(folder, cfg or config())

    return run


def notes_text(ds) -> str:
    return "\n".join(ds.notes)


# ----------------------------------------------------------------------------- derivation
def test_events_give_feature_usage_activity_and_setup_steps(load):
    ds = load(events_frame())
    assert ds.feature_usage.astype({"first_used_at": str}).values.tolist() == [
        ["007", "bots", "2023-03-01", 1],
        ["007", "inbox", "2023-01-20", 2],
        ["a02", "inbox", "2023-02-02", 1],
        ["a04", "bots", "2023-06-01", 1],
        ["a08", "bots", "2025-06-30", 1],
    ]
    assert ds.activity.astype({"month": str}).values.tolist() == [
        ["007", "2023-01-01", 1, 0],
        ["007", "2023-02-01", 1, 1],
    ]
    assert ds.setup_steps.astype({"completed_at": str}).values.tolist() == [
        ["007", "invite_team", "2023-01-16"]
    ]
    assert ds.as_of == dt.date(2025, 6, 30)
    assert "events.timestamp" in ds.as_of_source
    assert ds.events["rows"] == len(BASE)
    assert ds.features == ["bots", "inbox"]  # metric and setup events are not features


def test_count_column_sums_rollups(load):
    # a monthly rollup dated on the 1st of the signup month (007 signed up on the 15th)
    rows = [("007", "conversation_started", "2023-01-01"), ("007", "inbox", "2023-01-01")]
    ds = load(with_count(rows, counts=[1] * len(BASE) + [40, 5]))
    act = ds.activity.set_index("month")["conversations"]
    assert act[pd.Timestamp("2023-01-01")] == 41  # counted in month 0
    usage = ds.feature_usage.set_index(["account_id", "feature"])
    assert usage.loc[("007", "inbox"), "uses"] == 7
    # dated at signup, not before it
    assert usage.loc[("007", "inbox"), "first_used_at"] == pd.Timestamp("2023-01-15")
    assert re.search(
        r"2 row\(s\) dated in the signup month but before the signup day", notes_text(ds)
    )


def test_summary_and_validate_print_the_events(tmp_path, capsys):
    folder = write_tables(
        tmp_path / "ds", accounts=valid_tables("accounts")["accounts"], events=events_frame()
    )
    (folder / "study.toml").write_text(
        '[events.metrics]\nconversations = ["conversation_started"]\n'
        'resolved_conversations = ["conversation_resolved"]\n'
    )
    assert main(["validate", str(folder), "--config", str(folder / "study.toml")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"events\s+10\s+account_id, event, timestamp\s+2023-01-16\s+2025-06-30", out)
    assert "note: events: 10 rows; 10 used: 2023-01-16 to 2025-06-30, 5 event names, " in out
    assert "4 accounts (rows per account: median 1" in out
    assert "4 account(s) without events" in out
    assert "events -> feature_usage 5 rows (2 features); activity 2 rows" in out


def test_columns_are_renamed_and_extra_columns_listed(load):
    frame = events_frame().rename(columns={"account_id": "groupId", "timestamp": "sent_at"})
    frame["properties"] = "{}"
    cfg = config()
    cfg.columns = {"events": {"account_id": "groupId", "timestamp": "sent_at"}}
    ds = load(frame, cfg)
    assert len(ds.feature_usage) == 5
    assert "events: column(s) not used: properties" in notes_text(ds)


def test_features_list_ignores_and_counts_other_events(load):
    cfg = config(events={"features": ["inbox"]})
    ds = load(events_frame(), cfg)
    assert ds.features == ["inbox"]
    assert re.search(
        r"3 row\(s\) of 1 event name\(s\) that \[events\] does not map .* ignored: bots",
        notes_text(ds),
    )


def test_no_metrics_and_no_setup_prefix_skip_those_tables(load):
    cfg = Config.from_dict({"events": {"setup_prefix": None}})
    ds = load(events_frame(), cfg)
    assert ds.activity is None and ds.setup_steps is None
    # without metrics and setup prefix every event is a feature
    assert "setup:invite_team" in ds.features and "conversation_started" in ds.features


# ----------------------------------------------------------------------------- rules
@pytest.mark.parametrize(
    ("row", "note", "kept"),
    [
        pytest.param(
            ("zz", "reports", "2023-05-01"),
            r"1 row\(s\) of account_id\(s\) not in 'accounts' ignored \(1 id\(s\), e.g. 'zz'\)",
            False,
            id="unknown-account",
        ),
        pytest.param(
            ("a02", "reports", "2023-01-31"),
            r"1 row\(s\) dated before the calendar month of the account's signup_date ignored",
            False,
            id="before-signup-month",
        ),
        pytest.param(
            ("a02", "reports", "2023-12-02"),
            r"1 row\(s\) dated after the account's churn_date ignored \(1 account\(s\)\)",
            False,
            id="after-churn",
        ),
        pytest.param(("a02", "reports", "2023-12-01 23:59:59"), None, True, id="on-churn-day"),
        pytest.param(
            ("007", "reports", "2023-01-02"),
            r"1 row\(s\) dated in the signup month but before the signup day",
            True,
            id="signup-month-before-signup-day",
        ),
    ],
)
def test_rows_outside_the_account_life_are_counted(load, row, note, kept):
    ds = load(events_frame([row]))
    used = ds.feature_usage[ds.feature_usage["feature"] == "reports"]
    assert len(used) == int(kept)
    if note:
        assert re.search(note, notes_text(ds))
    if row[2] == "2023-01-02":
        assert used["first_used_at"].iloc[0] == pd.Timestamp("2023-01-15")  # dated at signup


def test_events_after_a_configured_as_of_are_counted(load):
    cfg = config(study={"as_of": "2025-01-01"})
    ds = load(events_frame([("007", "reports", "2025-02-01")]), cfg)
    assert "reports" not in set(ds.feature_usage["feature"])
    # and a08's event of 2025-06-30 (a08 signed up after as_of: ignored as a whole)
    assert re.search(r"events: 2 row\(s\) dated after as_of ignored", notes_text(ds))


def test_zero_counts_are_ignored_and_counted(load):
    frame = with_count([("a04", "reports", "2023-07-01")], counts=[1] * len(BASE) + [0])
    ds = load(frame)
    assert "reports" not in set(ds.feature_usage["feature"])
    assert re.search(r"1 row\(s\) with count 0 \(no event happened\) ignored", notes_text(ds))


def test_default_as_of_includes_events_after_churn(load):
    # a02 churned 2023-12-01; an export on 2025-07-02 still is observed behaviour
    ds = load(events_frame([("a02", "export", "2025-07-02")]))
    assert ds.as_of == dt.date(2025, 7, 2)
    assert "export" not in ds.features


@pytest.mark.parametrize(
    ("timezone", "stamp", "month"),
    [
        ("UTC", "2023-03-31 23:30:00", "2023-03-01"),  # naive: the date as written
        ("UTC", "2023-03-31T23:30:00-05:00", "2023-04-01"),
        ("Europe/Paris", "2023-03-31T22:30:00Z", "2023-04-01"),
        ("America/New_York", "2023-04-01T02:00:00+00:00", "2023-03-01"),
    ],
)
def test_time_zone_aware_timestamps_are_converted(load, timezone, stamp, month):
    cfg = config(data={"timezone": timezone})
    ds = load(events_frame([("007", "conversation_started", stamp)]), cfg)
    late = ds.activity[ds.activity["month"] >= "2023-03-01"]  # 007's base events end in February
    assert late["month"].dt.strftime("%Y-%m-%d").tolist() == [month]
    aware = "Z" in stamp or "+" in stamp or stamp.endswith("-05:00")
    assert ("time-zone-aware timestamp(s) converted" in notes_text(ds)) == aware


def test_zoned_parquet_timestamps_are_converted(load):
    frame = events_frame([("007", "conversation_started", "2023-03-31T23:30:00")], base=False)
    frame = pd.concat([events_frame(), frame], ignore_index=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601").dt.tz_localize("UTC")
    ds = load(frame, config(data={"timezone": "Asia/Tokyo"}), fmt="parquet")
    late = ds.activity[ds.activity["month"] >= "2023-03-01"]
    assert late["month"].dt.strftime("%Y-%m-%d").tolist() == ["2023-04-01"]


#: Every rule at once (with a count column): an unknown account, before the signup
#: month, after churn, count 0, the signup month before the signup day (kept), an
#: event [events] does not map (chat) and, with FEATURES, a feature that a metric counts.
EVERY_RULE = [
    ("zz", "reports", "2023-05-01", 1),
    ("a02", "reports", "2023-01-31", 1),
    ("a02", "reports", "2023-12-02", 2),
    ("a04", "bots", "2023-07-01", 0),
    ("007", "reports", "2023-01-02", 3),
    ("007", "chat", "2023-02-01", 1),
]
FEATURES = ["bots", "inbox", "reports", "conversation_started"]


def every_rule_frame() -> pd.DataFrame:
    return with_count(
        [r[:3] for r in EVERY_RULE], counts=[1] * len(BASE) + [r[3] for r in EVERY_RULE]
    )


@pytest.mark.parametrize("typed_columns", [False, True], ids=["text", "typed"])
def test_parquet_events_give_what_csv_gives(load, typed_columns):
    # the aggregate keys Parquet events by a code and CSV events by name: same tables and notes
    cfg = config(events={"features": FEATURES})
    frame = every_rule_frame()
    csv = load(frame, cfg)
    if typed_columns:
        stamps = pd.to_datetime(frame["timestamp"], format="ISO8601")
        frame = frame.assign(timestamp=stamps, count=frame["count"].astype("int64"))
    parquet = load(frame, cfg, fmt="parquet")
    for name in ("feature_usage", "activity", "setup_steps"):
        pd.testing.assert_frame_equal(getattr(parquet, name), getattr(csv, name))
    assert parquet.notes == csv.notes
    assert parquet.events == csv.events
    text = notes_text(csv)
    for rule in (
        r"1 row\(s\) of account_id\(s\) not in 'accounts' ignored \(1 id\(s\), e.g. 'zz'\)",
        r"1 row\(s\) dated before the calendar month",
        r"1 row\(s\) dated after the account's churn_date ignored \(1 account\(s\)\)",
        r"1 row\(s\) with count 0",
        r"1 row\(s\) dated in the signup month but before the signup day \(1 account\(s\)\)",
        r"1 row\(s\) of 1 event name\(s\) that \[events\] does not map .* ignored: chat",
    ):
        assert re.search(rule, text), rule
    usage = csv.feature_usage.set_index(["account_id", "feature"])
    assert usage.loc[("007", "conversation_started"), "uses"] == 2  # a feature a metric counts
    assert usage.loc[("007", "reports"), "first_used_at"] == pd.Timestamp("2023-01-15")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_events_are_read_once(load, monkeypatch, fmt):
    # every rule checked and every table derived from one read of the events (Parquet:
    # plus its event names, one column); everything else reads the aggregate
    from milestone_discovery.engines import DuckDBEngine

    statements, made = [], []
    run, materialize = DuckDBEngine.run, DuckDBEngine.materialize

    def recorded_run(self, sql):
        statements.append(sql)
        return run(self, sql)

    def recorded_materialize(self, name, expr):
        statements.append(self.compile(expr))
        made.append(name)
        return materialize(self, name, expr)

    monkeypatch.setattr(DuckDBEngine, "run", recorded_run)
    monkeypatch.setattr(DuckDBEngine, "materialize", recorded_materialize)
    load(every_rule_frame(), config(events={"features": FEATURES}), fmt=fmt)
    reads = [sql for sql in statements if '"__events"' in sql]
    assert len(reads) == (1 if fmt == "csv" else 2)
    if fmt == "parquet":
        assert reads[0].startswith("SELECT DISTINCT")
    assert made == ["__agg", "__per"]


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("row", "column", "rule"),
    [
        (("", "inbox", "2023-05-01", "1"), "account_id", "missing values"),
        (("a04", "", "2023-05-01", "1"), "event", "missing values"),
        (("a04", "inbox", "", "1"), "timestamp", "missing dates"),
        (("a04", "inbox", "01/05/2023", "1"), "timestamp", "unparseable dates"),
        (("a04", "inbox", "1970-01-01", "1"), "timestamp", "date before 1980-01-01"),
        (("a04", "inbox", "2999-01-01", "1"), "timestamp", "date in the future"),
        (("a04", "inbox", "2023-05-01", "-2"), "count", "negative counts"),
        (("a04", "inbox", "2023-05-01", "1.5"), "count", "counts must be whole numbers"),
        (("a04", "inbox", "2023-05-01", "many"), "count", "not a number"),
        (("a04", "inbox", "2023-05-01", ""), "count", "missing values"),
    ],
)
def test_bad_rows_are_errors_naming_column_rule_and_line(load, row, column, rule):
    frame = with_count().astype(str)
    frame.loc[len(frame)] = row
    with pytest.raises(DataValidationError, match=re.escape(rule)) as info:
        load(frame)
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.n_rows) == ("events", column, 1)
    assert problem.rows.index.name == "line"
    assert problem.rows.index.tolist() == [len(BASE) + 2]  # header + 1-based


def test_errors_name_the_users_column(load):
    cfg = config()
    cfg.columns = {"events": {"timestamp": "sent_at"}}
    frame = events_frame([("a04", "inbox", "not a date")]).rename(columns={"timestamp": "sent_at"})
    with pytest.raises(DataValidationError, match="column 'sent_at': unparseable dates") as info:
        load(frame, cfg)
    assert "sent_at" in info.value.problems[0].rows.columns


def test_missing_required_column(load):
    with pytest.raises(
        DataValidationError, match=r"column 'timestamp': required column\(s\) missing"
    ):
        load(events_frame().drop(columns="timestamp"))


@pytest.mark.parametrize(
    ("section", "match"),
    [
        (
            {"features": ["inbox", "chat"]},
            r"\[events\] features lists event\(s\) that never occur: \['chat'\]",
        ),
        (
            {"metrics": {"conversations": ["conversation_opened"]}},
            r"\[events.metrics\] conversations counts event\(s\) that never occur",
        ),
    ],
)
def test_mapped_events_that_never_occur_are_errors(load, section, match):
    with pytest.raises(DataValidationError, match=match):
        load(events_frame(), Config.from_dict({"events": section}))


def test_setup_event_without_step_is_an_error(load):
    with pytest.raises(DataValidationError, match="setup event 'setup:' without a step name"):
        load(events_frame([("007", "setup:", "2023-01-20")]))


def test_no_known_account_is_an_error(load):
    frame = events_frame().assign(account_id=lambda t: "x" + t["account_id"])
    with pytest.raises(DataValidationError, match="no event belongs to an account of 'accounts'"):
        load(frame)


@pytest.mark.parametrize(
    ("tables", "match"),
    [
        (
            {"feature_usage": valid_tables("feature_usage")["feature_usage"]},
            "both events and feature_usage are given",
        ),
        ({"activity": valid_tables("activity")["activity"]}, "both events and activity"),
    ],
)
def test_events_with_derived_tables_is_an_error(load, tables, match):
    with pytest.raises(DataValidationError, match=match):
        load(events_frame(), **tables)


def test_neither_events_nor_feature_usage_names_both(tmp_path):
    folder = write_tables(tmp_path / "ds", accounts=valid_tables("accounts")["accounts"])
    with pytest.raises(
        DataValidationError, match=r"no feature_usage.csv or feature_usage.parquet \(or events\)"
    ):
        load_dataset(folder)


def test_a_catalog_feature_without_events_is_an_error(load):
    catalog = valid_tables("feature_catalog")["feature_catalog"]  # lists reports, never used here
    with pytest.raises(DataValidationError, match="never appear in the feature events"):
        load(events_frame(), feature_catalog=catalog)


# ----------------------------------------------------------------------------- sources
def test_parquet_file_and_csv_with_semicolons(tmp_path):
    accounts = valid_tables("accounts")["accounts"]
    parquet = write_tables(tmp_path / "p", "parquet", accounts=accounts, events=events_frame())
    csv = tmp_path / "c"
    write_tables(csv, accounts=accounts)
    events_frame().to_csv(csv / "events.csv", sep=";", index=False)
    a, b = load_dataset(parquet, config()), load_dataset(csv, config())
    pd.testing.assert_frame_equal(a.feature_usage, b.feature_usage)
    pd.testing.assert_frame_equal(a.activity, b.activity)


def test_hive_partitioned_folder_with_error_location(tmp_path):
    folder = write_tables(tmp_path / "ds", accounts=valid_tables("accounts")["accounts"])
    frame = with_count()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    for year, part in frame.groupby(frame["timestamp"].dt.year):
        (folder / "events" / f"year={year}").mkdir(parents=True)
        part.to_parquet(folder / "events" / f"year={year}" / "part-0.parquet", index=False)
    ds = load_dataset(folder, config())
    assert len(ds.feature_usage) == 5
    assert "events: column(s) not used: year" in notes_text(ds)
    bad = frame.iloc[:2].assign(count=[1, -3])
    bad.to_parquet(folder / "events" / "year=2023" / "part-1.parquet", index=False)
    with pytest.raises(DataValidationError, match="negative counts") as info:
        load_dataset(folder, config())
    rows = info.value.problems[0].rows
    assert rows.index.name == "row" and rows.index.tolist() == [2]
    assert rows["file"].iloc[0].endswith("part-1.parquet")


def test_two_sources_for_events_is_an_error(tmp_path):
    folder = write_tables(
        tmp_path / "ds", accounts=valid_tables("accounts")["accounts"], events=events_frame()
    )
    (folder / "events").mkdir()
    events_frame().to_parquet(folder / "events" / "p.parquet")
    with pytest.raises(DataValidationError, match="both events.csv and events exist"):
        load_dataset(folder, config())


# ----------------------------------------------------------------------------- query tables
@pytest.fixture
def raw_export(tmp_path) -> Path:
    """Usage logged per subscription, accounts under other names: nothing matches the contract."""
    folder = tmp_path / "raw"
    accounts = valid_tables("accounts")["accounts"].rename(columns={"account_id": "customer"})
    write_tables(folder, customers=accounts)
    pd.DataFrame(
        {
            "subscription_id": ["s1", "s1", "s2", "s3"],
            "feature_name": ["inbox", "bots", "inbox", "bots"],
            "usage_date": ["2023-01-20", "2023-03-01", "2023-02-02", "2023-06-01"],
            "usage_count": [3, 2, 5, 1],
        }
    ).to_csv(folder / "usage.csv", index=False)
    pd.DataFrame({"subscription_id": ["s1", "s2", "s3"], "account": ["007", "a02", "a04"]}).to_csv(
        folder / "subscriptions.csv", index=False
    )
    return folder


QUERIES = {
    "accounts": {
        "query": "select * exclude (customer), customer as account_id "
        "from read_csv('customers.csv', all_varchar = true)"
    },
    "events": {
        "query": """select s.account, u.feature_name as event, u.usage_date as timestamp,
                           u.usage_count as count
                    from 'usage.csv' u join read_csv('subscriptions.csv', all_varchar = true) s
                    using (subscription_id)"""
    },
}


def test_query_tables_read_files_of_the_dataset_folder(raw_export):
    cfg = Config.from_dict({"tables": QUERIES, "columns": {"events": {"account_id": "account"}}})
    ds = load_dataset(raw_export, cfg)
    assert ds.feature_usage.astype({"first_used_at": str}).values.tolist() == [
        ["007", "bots", "2023-03-01", 2],
        ["007", "inbox", "2023-01-20", 3],
        ["a02", "inbox", "2023-02-02", 5],
        ["a04", "bots", "2023-06-01", 1],
    ]
    assert {"007", "a02", "a04"} <= set(ds.accounts["account_id"])
    text = notes_text(ds)
    for name, table in (("customers.csv", "accounts"), ("usage.csv", "events")):
        assert f"file {name} read by the [tables.{table}] query" in text


def test_query_results_are_validated_like_files(raw_export):
    queries = dict(QUERIES)
    queries["accounts"] = {
        "query": "select customer as account_id, signup_date || 'x' as signup_date, seats, "
        "company_size from read_csv('customers.csv', all_varchar = true)"
    }
    cfg = Config.from_dict({"tables": queries, "columns": {"events": {"account_id": "account"}}})
    with pytest.raises(DataValidationError) as info:
        load_dataset(raw_export, cfg)
    (problem,) = info.value.problems
    assert problem.table == "accounts ([tables.accounts] query)"
    assert problem.column == "signup_date"
    assert problem.rule.startswith("unparseable dates")
    assert problem.rows.index.name == "row" and problem.rows.index[0] == 1


@pytest.mark.parametrize(
    ("query", "match"),
    [
        (
            "select * from 'nowhere.csv'",
            r"events \(\[tables.events\] query\).*the query failed: .*nowhere.csv",
        ),
        ("select 1 as a; select 2 as b", "the query must be a single SELECT statement"),
        (
            "select subscription_id as account_id, feature_name as event from 'usage.csv'",
            r"column 'timestamp': required column\(s\) missing",
        ),
    ],
)
def test_query_errors_name_the_table(raw_export, query, match):
    cfg = Config.from_dict(
        {"tables": {"accounts": QUERIES["accounts"], "events": {"query": query}}}
    )
    with pytest.raises(DataValidationError, match=match):
        load_dataset(raw_export, cfg)


def test_a_contract_table_may_be_a_query_too(load, tmp_path):
    folder = tmp_path / "fu"
    write_tables(folder, accounts=valid_tables("accounts")["accounts"])
    valid_tables("feature_usage")["feature_usage"].rename(columns={"feature": "name"}).to_csv(
        folder / "usage_export.csv", index=False
    )
    cfg = Config.from_dict(
        {
            "tables": {
                "feature_usage": {
                    "query": "select account_id, name as feature, first_used_at, uses "
                    "from read_csv('usage_export.csv', all_varchar = true)"
                }
            }
        }
    )
    ds = load_dataset(folder, cfg)
    assert len(ds.feature_usage) == 13


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"events": {"features": []}}, r"\[events\] features = \[\]: must be one of \"\*\""),
        ({"events": {"features": "all"}}, r"\[events\] features = \"all\""),
        ({"events": {"metrics": {"chats": []}}}, r"\[events\] metrics"),
        ({"events": {"metrics": {"month": ["x"]}}}, "is a column of the activity table"),
        ({"events": {"metrics": {"chats": ["setup:chat"]}}}, "a setup step"),
        (
            {"events": {"features": ["setup:a"]}},
            r"features = \[\"setup:a\"\]: lists \"setup:a\", a setup step",
        ),
        ({"events": {"prefix": "s:"}}, r"unknown key\(s\) \['prefix'\]"),
        ({"tables": {"usage": {"query": "select 1"}}}, r"\[tables.usage\]: unknown table"),
        ({"tables": {"events": {"sql": "select 1"}}}, r"unknown key\(s\) \['sql'\]"),
        ({"tables": {"events": {"query": " "}}}, r"\[tables.events\] query"),
        ({"engine": {"threads": 0}}, r"\[engine\] threads = 0"),
    ],
)
def test_bad_events_config_is_rejected(data, match):
    with pytest.raises(ConfigError, match=match):
        Config.from_dict(data)


def test_events_config_round_trips():
    cfg = Config.from_dict(
        {
            "events": {"features": ["inbox"], "setup_prefix": "setup/", "metrics": METRICS},
            "tables": {"events": {"query": "select 1"}},
            "engine": {"memory_limit": "2GB", "threads": 1},
        }
    )
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.events.metric_events == ["conversation_resolved", "conversation_started"]


def test_engine_settings_are_applied(load):
    cfg = config(engine={"memory_limit": "500MB", "threads": 1})
    ds = load(events_frame(), cfg)
    assert len(ds.feature_usage) == 5
    with pytest.raises(ConfigError, match=r"config \[engine\] memory_limit = 'lots'"):
        load(events_frame(), config(engine={"memory_limit": "lots"}))


# ----------------------------------------------------------------------------- synthetic truth
def _without_zero_months(activity):
    return activity[(activity["conversations"] > 0) | (activity["resolved_conversations"] > 0)]


def _same(a: pd.DataFrame, b: pd.DataFrame, keys):
    a = a.sort_values(keys).reset_index(drop=True).astype({"account_id": str})
    b = b.sort_values(keys).reset_index(drop=True).astype({"account_id": str})
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


@pytest.mark.parametrize(("fmt", "max_rows"), [("parquet", 4), ("csv", 2)])
def test_synthetic_events_give_back_the_tables(tmp_path, fmt, max_rows):
    from milestone_discovery.synth import make_synthetic

    data = make_synthetic(300, seed=2)
    folder = data.write_events(tmp_path / "ev", fmt=fmt, max_rows=max_rows, chunk_accounts=120)
    ds = load_dataset(folder, Config.from_toml(folder / "study.toml"))
    _same(ds.feature_usage, data.feature_usage, ["account_id", "feature"])
    _same(ds.activity, _without_zero_months(data.activity), ["account_id", "month"])
    _same(ds.setup_steps, data.setup_steps, ["account_id", "step"])
    assert ds.as_of.isoformat() == data.truth["as_of"]
    assert "ignored" not in notes_text(ds)  # no event lies outside an account's life


def test_synthetic_events_are_individual_events():
    from milestone_discovery.synth import make_synthetic

    data = make_synthetic(200, seed=1)
    events = data.events(accounts=slice(0, 5))
    assert list(events.columns) == ["account_id", "event", "timestamp"]  # no count: one row each
    ids = set(data.accounts["account_id"][:5])
    usage = data.feature_usage[data.feature_usage["account_id"].isin(ids)]
    names = events["event"].astype(str)
    metric = names.isin(["conversation_started", "conversation_resolved"])
    features = events[~metric & ~names.str.startswith("setup:")]
    assert len(features) == usage["uses"].sum()
    assert events["timestamp"].is_monotonic_increasing
    capped = data.events(accounts=slice(0, 5), max_rows=3)
    assert capped["count"].sum() == len(events)


@pytest.mark.slow
def test_study_on_events_finds_the_same_framework(tmp_path):
    """The study on the truth written as events = the study on the tables (about 30 s)."""
    from milestone_discovery import run_study
    from milestone_discovery.synth import make_synthetic

    data = make_synthetic(2500, seed=3)
    tables = data.write(tmp_path / "tables")
    events = data.write_events(tmp_path / "events", max_rows=5)
    results = []
    for folder, cfg in ((tables, Config()), (events, Config.from_toml(events / "study.toml"))):
        cfg.features.n_repeats = 1
        cfg.study.temporal_validation = False
        study = run_study(load_dataset(folder, cfg), cfg, progress=False)
        framework = study.framework.to_dict()
        framework["data"].pop("notes", None)  # the events add their summary
        results.append(framework)
    selected = [f["feature"] for f in results[0]["features"] if f["status"] == "selected"]
    assert selected
    assert results[0] == results[1]


@pytest.mark.parametrize(
    ("write", "match"),
    [
        (
            lambda f: (f / "events.csv").write_text(
                "account_id,event,timestamp\n007,inbox,2023-01-20\n007,inbox,2023-01-21,extra\n"
            ),
            r"cannot read events.csv: line 3 has 4 field\(s\) but the header has 3",
        ),
        (lambda f: (f / "events.csv").write_bytes(b""), "the file is empty"),
        (lambda f: (f / "events").mkdir(), r"the folder events/ holds no .parquet file"),
        (
            lambda f: (f / "events.csv").write_bytes(
                b"account_id,event,timestamp\n007,caf\xe9,2023\n"
            ),
            "not UTF-8",
        ),
    ],
)
def test_unreadable_events_are_errors(tmp_path, write, match):
    folder = write_tables(tmp_path / "ds", accounts=valid_tables("accounts")["accounts"])
    write(folder)
    with pytest.raises(DataValidationError, match=match):
        load_dataset(folder, config())
