"""Tests of the engines (engines.py) and of the Ibis definitions of the event rows.

The derivation is written once as Ibis expressions; these tests run it on
DuckDB on small literal tables (the Spark runs are in ``test_spark.py``,
marked slow): typing of timestamps and counts, results typed as the
expressions say, the ``[engine]`` settings and ``--engine``, a clear error
when Spark is asked for without PySpark, and the derivation on a database
the caller is connected to through Ibis (the README's warehouse example).
"""

from __future__ import annotations

import datetime as dt
import sys

import duckdb
import ibis
import pandas as pd
import pyarrow as pa
import pytest
from conftest import valid_tables, write_tables

from milestone_discovery import Config, ConfigError, DataValidationError, load_dataset
from milestone_discovery.cli import build_parser, main
from milestone_discovery.engines import DuckDBEngine, engine_for, open_engine, spark_memory
from milestone_discovery.event_aggregate import EventKeys
from milestone_discovery.event_rows import EventSource, row_rules, typed_rows
from milestone_discovery.events import derive_tables
from milestone_discovery.queries import read_query

USER = {c: c for c in ("account_id", "event", "timestamp", "user_id", "count")}
METRICS = {"conversations": ["conversation_started"]}


@pytest.fixture
def engine():
    with open_engine(None, Config.from_dict({"data": {"timezone": "Europe/Paris"}})) as opened:
        yield opened


def typed(engine, **columns) -> pd.DataFrame:
    """The typed rows of a literal table (every column given as a list)."""
    table = engine.put("t", pa.table(columns))
    has_count = "count" in columns
    return engine.fetch_pandas(typed_rows(table, USER, has_count, trim=True))


# ----------------------------------------------------------------------------- typed rows
def test_text_timestamps_naive_keep_their_date_zoned_are_converted(engine):
    stamps = [
        "2023-03-31 23:30:00",  # naive: the date as written
        "2023-03-31T22:30:00Z",  # 00:30 in Paris
        "2023-03-31T23:30:00-05:00",
        "2023-04-01T01:30:00+02:00",  # 01:30 in Paris (summer time)
        " 2023-02-20 ",
        "",
        "01/05/2023",
    ]
    rows = typed(engine, account_id=["a"] * 7, event=["e"] * 7, timestamp=stamps)
    assert [None if pd.isna(d) else str(d) for d in rows["d"]] == [
        "2023-03-31",
        "2023-04-01",
        "2023-04-01",
        "2023-04-01",
        "2023-02-20",
        None,
        None,
    ]
    assert rows["aware"].tolist() == [False, True, True, True, False, False, False]
    assert rows["ts_missing"].tolist() == [False] * 5 + [True, False]


def test_text_counts_are_checked(engine):
    counts = ["3", " 2 ", "", "1.5", "-1", "many", "inf", "NaN"]
    rows = typed(
        engine, account_id=["a"] * 8, event=["e"] * 8, timestamp=["2023-01-01"] * 8, count=counts
    )
    assert rows["n"].tolist()[:2] == [3, 2]
    assert rows["count_missing"].tolist() == [False, False, True] + [False] * 5
    assert rows["count_bad"].tolist() == [False] * 5 + [True, True, True]
    assert rows["count_fraction"].fillna(False).tolist() == [False] * 3 + [True] + [False] * 4
    assert rows["count_negative"].fillna(False).tolist() == [False] * 4 + [True] + [False] * 3


def test_typed_columns_need_no_parsing(engine):
    zoned = pa.array([dt.datetime(2023, 3, 31, 22, 30)], type=pa.timestamp("us", tz="UTC"))
    table = engine.put(
        "t",
        pa.table({"account_id": [7], "event": ["e"], "timestamp": zoned, "count": [2]}),
    )
    rows = engine.fetch_pandas(typed_rows(table, USER, has_count=True))
    assert rows[["account_id", "n", "aware"]].values.tolist() == [["7", 2, True]]
    assert rows["d"].iloc[0] == dt.date(2023, 4, 1)  # in Paris


def test_columns_of_other_types_cannot_be_typed(engine):
    table = engine.put("t", pa.table({"account_id": ["a"], "event": ["e"], "timestamp": [1.5]}))
    assert typed_rows(table, USER, has_count=False) is None


def test_row_rules_flag_each_broken_row(engine):
    table = engine.put(
        "t",
        pa.table(
            {
                "account_id": ["a", "", "a", "a"],
                "event": ["e", "e", "e", "e"],
                "timestamp": ["2023-01-01", "2023-01-01", "1970-01-01", "2999-01-01"],
            }
        ),
    )
    p = typed_rows(table, USER, has_count=False)
    rules = row_rules(p, has_count=False, today=dt.date(2025, 1, 1))
    names = [f"{column}: {rule.split(' (')[0][:22]}" for _cond, column, rule in rules]
    flags = engine.fetch_pandas(
        p.select(**{n: c for n, (c, *_r) in zip(names, rules, strict=True)})
    )
    broken = flags.fillna(False).apply(lambda row: [c for c in flags if row[c]], axis=1)
    assert broken.tolist() == [
        [],
        ["account_id: missing values"],
        ["timestamp: date before 1980-01-01"],
        ["timestamp: date in the future"],
    ]


def test_results_are_typed_as_the_expression_says(engine):
    table = engine.put("t", pa.table({"k": ["a", "a", "b"], "n": pa.array([1, 2, 3], pa.int64())}))
    result = engine.fetch(table.group_by("k").aggregate(n=table.n.sum()).order_by("k"))
    assert result.schema.field("n").type == pa.int64()  # DuckDB sums BIGINT as HUGEINT
    assert result.to_pylist() == [{"k": "a", "n": 3}, {"k": "b", "n": 3}]


def test_event_codes_order_as_the_names(engine):
    # the aggregate keys typed sources' events by code: ordering by code orders by name,
    # as the engine orders text (byte order: upper case first, accents last)
    names = ["setup:b", "Zoom", "inbox", "écran", "bots", "setup:a"]
    keys = EventKeys(names)
    table = engine.put("n", pa.table({"event": names}))
    ordered = engine.fetch(table.order_by("event")).column("event").to_pylist()
    assert [keys.name(code) for code in range(len(names))] == ordered
    assert keys.keys(["inbox", "never", "bots"]) == [keys.names.index("bots"), 2]
    assert keys.table().column("key").to_pylist() == list(range(len(names)))
    by_name = EventKeys()
    assert not by_name.coded and by_name.keys(["b", "a", "b"]) == ["a", "b"]
    assert by_name.name("inbox") == "inbox"


# ----------------------------------------------------------------------------- engines
def test_engine_for_takes_duckdb_and_ibis_connections():
    con = duckdb.connect()
    assert isinstance(engine_for(con), DuckDBEngine)
    backend = ibis.duckdb.connect()
    assert engine_for(backend).con is backend.con
    assert engine_for(engine_for(con)).con is con
    with pytest.raises(TypeError, match="expected a DuckDB connection"):
        engine_for("duckdb://")


def test_duckdb_keeps_its_out_of_core_settings(tmp_path):
    cfg = Config.from_dict({"engine": {"memory_limit": "300MB", "temp_directory": str(tmp_path)}})
    with open_engine(None, cfg) as opened:
        settings = dict(
            opened.con.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('memory_limit', 'temp_directory', 'allocator_background_threads')"
            ).fetchall()
        )
    assert settings["temp_directory"] == str(tmp_path)
    assert settings["memory_limit"].startswith("286")  # 300 MB, shown in MiB
    # memory DuckDB frees (the aggregate, once read) goes back to the system
    assert settings["allocator_background_threads"] == "true"


def test_read_query_runs_on_the_engine(tmp_path):
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "t.csv", index=False)
    with open_engine(tmp_path) as opened:
        frame = read_query(opened, "accounts", "select sum(x) as s from 't.csv';")
    assert frame["s"].tolist() == [3]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4GB", "4g"), ("500MB", "500m"), ("2GiB", "2g"), ("1.5GB", "1536m")],
)
def test_spark_memory_from_the_duckdb_setting(value, expected):
    assert spark_memory(value) == expected


def test_spark_memory_rejects_other_values():
    with pytest.raises(ConfigError, match=r"memory_limit = '80%': with engine = \"spark\""):
        spark_memory("80%")


def test_engine_config_and_option():
    assert Config().engine.engine == "duckdb"
    assert Config.from_dict({"engine": {"engine": "spark"}}).engine.engine == "spark"
    with pytest.raises(ConfigError, match=r"\[engine\] engine = \"sparc\": must be one of"):
        Config.from_dict({"engine": {"engine": "sparc"}})
    parser = build_parser()
    for command in (["validate", "ds"], ["discover", "ds", "--out", "o"], ["score", "f", "d"]):
        extra = ["--out", "x.csv"] if command[0] == "score" else []
        assert parser.parse_args([*command, *extra, "--engine", "spark"]).engine == "spark"
        assert parser.parse_args([*command, *extra]).engine is None


def test_spark_without_pyspark_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark fails
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    folder = write_tables(
        tmp_path / "ds",
        accounts=valid_tables("accounts")["accounts"],
        events=pd.DataFrame({"account_id": ["007"], "event": ["inbox"], "timestamp": ["2023-2-1"]}),
    )
    cfg = Config.from_dict({"engine": {"engine": "spark"}})
    with pytest.raises(ConfigError, match=r'needs PySpark.*pip install -e "\.\[spark\]"'):
        load_dataset(folder, cfg)
    assert main(["validate", str(folder), "--engine", "spark"]) == 2
    err = capsys.readouterr().err
    assert "milestones validate: error:" in err and 'pip install -e ".[spark]"' in err


def test_cli_engine_option_overrides_the_config(tmp_path, capsys):
    events = pd.DataFrame(
        {
            "account_id": ["007", "007", "a02", "a04", "a08"],
            "event": ["inbox", "bots", "inbox", "bots", "bots"],
            "timestamp": ["2023-01-20", "2023-03-01", "2023-02-02", "2023-06-01", "2025-06-30"],
        }
    )
    folder = write_tables(
        tmp_path / "ds", accounts=valid_tables("accounts")["accounts"], events=events
    )
    (folder / "study.toml").write_text('[engine]\nengine = "spark"\n')
    args = ["validate", str(folder), "--config", str(folder / "study.toml"), "--engine", "duckdb"]
    assert main(args) == 0, capsys.readouterr().err
    assert "events -> feature_usage 5 rows (2 features)" in capsys.readouterr().out


# ----------------------------------------------------------------------------- warehouse
@pytest.fixture
def warehouse(tmp_path):
    """A DuckDB database file holding an ``events`` table (a warehouse stand-in)."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            """CREATE TABLE events AS SELECT * FROM (VALUES
                ('007', 'inbox', TIMESTAMP '2023-01-20 09:00:00'),
                ('007', 'conversation_started', TIMESTAMP '2023-01-21 10:00:00'),
                ('007', 'conversation_started', TIMESTAMP '2023-02-03 10:00:00'),
                ('a04', 'bots', TIMESTAMP '2023-06-01 08:00:00'),
                ('zz', 'bots', TIMESTAMP '2023-06-01 08:00:00')
            ) t(account_id, event, timestamp)"""
        )
    return path


def test_derivation_on_an_ibis_connection_to_a_database(warehouse, tmp_path):
    """The README's example: the same definitions, run where the data is."""
    ds = write_tables(tmp_path / "ds", "parquet", accounts=valid_tables("accounts")["accounts"])
    (ds / "study.toml").write_text('[events.metrics]\nconversations = ["conversation_started"]\n')

    con = ibis.duckdb.connect(warehouse)  # a database file holding a table `events`
    accounts = pd.read_parquet(ds / "accounts.parquet")  # account_id, signup_date[, churn_date]
    derived = derive_tables(
        con, EventSource("table", table="events"), accounts, Config.from_toml(ds / "study.toml")
    )
    for name in ("feature_usage", "activity", "setup_steps"):
        if getattr(derived, name) is not None:  # no metrics, no setup events: None
            getattr(derived, name).to_parquet(ds / f"{name}.parquet")

    usage = derived.feature_usage.astype({"first_used_at": str})
    assert usage.values.tolist() == [
        ["007", "inbox", "2023-01-20", 1],
        ["a04", "bots", "2023-06-01", 1],
    ]
    assert derived.activity.astype({"month": str}).values.tolist() == [
        ["007", "2023-01-01", 1],
        ["007", "2023-02-01", 1],
    ]
    assert any("1 row(s) of account_id(s) not in 'accounts' ignored" in n for n in derived.notes)
    assert derived.notes[0].startswith("events (table events): 5 rows; 4 used")
    assert con.con.execute("SELECT count(*) FROM events").fetchall() == [(5,)]  # left as it was
    assert not con.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary"
    ).fetchall()  # and nothing of ours is left in it
    dataset = load_dataset(ds, Config.from_toml(ds / "study.toml"))  # the study's input
    assert dataset.activity.values.tolist() == derived.activity.values.tolist()


def test_broken_rows_of_a_database_table_name_the_table(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("INSERT INTO events VALUES ('a04', NULL, TIMESTAMP '2023-07-01 08:00:00')")
        with pytest.raises(DataValidationError, match="missing values") as info:
            derive_tables(con, EventSource("table", table="events"), valid_tables()["accounts"])
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.n_rows) == ("events (table events)", "event", 1)
    assert problem.rows.index.name == "row" and len(problem.rows) == 1
