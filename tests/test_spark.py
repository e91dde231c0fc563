"""The event derivation on Spark gives what it gives on DuckDB (slow: starts a JVM).

One definition (Ibis expressions) runs on both engines: the study on a
synthetic event log writes a byte-identical ``framework.json`` with
``engine = "spark"`` and with DuckDB, and the derived tables, notes and
errors (with their CSV lines and Parquet rows) are the same. Spark runs in
``local[2]`` mode; one session serves the whole module. Skipped where
PySpark is not installed (``pip install -e ".[spark]"``; ``make test-slow``
installs it).
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import valid_tables, write_tables

pytest.importorskip(
    "pyspark", reason='PySpark is not installed (the spark extra: pip install -e ".[spark]")'
)

from milestone_discovery import Config, DataValidationError, load_dataset  # noqa: E402
from milestone_discovery.cli import main  # noqa: E402
from milestone_discovery.engines import SparkEngine, spark_session  # noqa: E402

pytestmark = pytest.mark.slow

METRICS = {
    "conversations": ["conversation_started"],
    "resolved_conversations": ["conversation_resolved"],
}

#: accounts of conftest: 007 signed up 2023-01-15 (never churned), a02 2023-02-01
#: (churned 2023-12-01), a04 2023-04-01, a08 2025-03-01.
EVENTS = pd.DataFrame(
    [
        ("007", "inbox", "2023-01-20 09:00:00", "2"),
        ("007", "inbox", "2023-02-03T10:00:00", "1"),
        ("007", "bots", "2023-01-02", "1"),  # signup month, before the signup day: kept
        ("007", "conversation_started", "2023-03-31T22:30:00Z", "40"),  # April in Paris
        ("007", "conversation_resolved", "2023-02-21", "3"),
        ("007", "setup:invite_team", "2023-01-16", "1"),
        ("a02", "inbox", " 2023-02-02 ", "1"),
        ("a02", "reports", "2023-12-02", "1"),  # after churn
        ("a02", "reports", "2023-01-31", "1"),  # before the signup month
        ("a04", "bots", "2023-06-01", "0"),  # count 0
        ("a08", "bots", "2025-06-30", "1"),
        ("zz", "bots", "2023-06-01", "1"),  # unknown account
    ],
    columns=["account_id", "event", "timestamp", "count"],
)


@pytest.fixture(scope="module")
def spark():
    """One local[2] SparkSession for the module (the engine uses the active session)."""
    session, owned = spark_session()
    yield session
    if owned:
        session.stop()


def both(folder, config: Config, **kwargs):
    """The dataset loaded with DuckDB and with Spark."""
    out = []
    for engine in ("duckdb", "spark"):
        cfg = Config.from_dict(config.to_dict())
        cfg.engine.engine = engine
        out.append(load_dataset(folder, cfg, **kwargs))
    return out


def test_framework_json_is_byte_identical(tmp_path, spark, monkeypatch):
    from milestone_discovery.study import discover
    from milestone_discovery.synth import make_synthetic

    data = make_synthetic(2500, seed=3)
    folder = data.write_events(tmp_path / "events", max_rows=5, chunk_accounts=1000)
    ran = []
    materialize = SparkEngine.materialize
    monkeypatch.setattr(
        SparkEngine, "materialize", lambda self, *a: ran.append(a[0]) or materialize(self, *a)
    )
    written = {}
    for engine in ("duckdb", "spark"):
        cfg = Config.from_toml(folder / "study.toml")
        cfg.features.n_repeats = 1
        cfg.study.temporal_validation = False
        cfg.engine.engine = engine
        discover(folder, tmp_path / engine, cfg, progress=False, report=False)
        written[engine] = (tmp_path / engine / "framework.json").read_bytes()
    assert ran == ["__agg", "__per"]  # the Spark run derived the tables on Spark
    assert b'"status": "selected"' in written["duckdb"] and b'"threshold"' in written["duckdb"]
    assert written["spark"] == written["duckdb"]


def test_tables_and_notes_are_the_same(tmp_path, spark):
    # CSV: every value read as text and typed by the same definitions (the study test
    # above reads typed Parquet files)
    folder = write_tables(
        tmp_path / "ds", accounts=valid_tables("accounts")["accounts"], events=EVENTS
    )
    config = Config.from_dict(
        {"events": {"metrics": METRICS}, "data": {"timezone": "Europe/Paris"}}
    )
    duck, spark_ds = both(folder, config)
    for name in ("feature_usage", "activity", "setup_steps", "accounts"):
        pd.testing.assert_frame_equal(getattr(spark_ds, name), getattr(duck, name))
    assert spark_ds.notes == duck.notes
    assert spark_ds.events == duck.events and spark_ds.as_of == duck.as_of
    text = "\n".join(spark_ds.notes)
    for ignored in ("not in 'accounts'", "before the calendar month", "after the account's churn"):
        assert ignored in text
    april = spark_ds.activity[spark_ds.activity["month"] == "2023-04-01"]
    assert april["conversations"].tolist() == [40]


def test_errors_name_the_same_lines_and_rows(tmp_path, spark):
    bad = pd.concat(
        [
            EVENTS,
            pd.DataFrame(
                [("a04", "inbox", "01/05/2023", "1"), ("a04", "inbox", "2023-05-01", "-2")],
                columns=EVENTS.columns,
            ),
        ],
        ignore_index=True,
    )
    csv = write_tables(tmp_path / "csv", accounts=valid_tables("accounts")["accounts"], events=bad)
    folder = write_tables(tmp_path / "pq", accounts=valid_tables("accounts")["accounts"])
    (folder / "events" / "year=2023").mkdir(parents=True)
    bad.astype({"count": int}).to_parquet(folder / "events" / "year=2023" / "p.parquet")
    for path in (csv, folder):
        found = []
        for engine in ("duckdb", "spark"):
            cfg = Config.from_dict({"engine": {"engine": engine}})
            with pytest.raises(DataValidationError) as info:
                load_dataset(path, cfg)
            found.append(
                [
                    (p.table, p.column, p.rule, p.n_rows, p.rows.to_dict())
                    for p in info.value.problems
                ]
            )
        assert found[1] == found[0]
        assert [(f[1], f[2].split(" (")[0], f[3]) for f in found[0]] == [
            ("timestamp", "unparseable dates", 1),
            ("count", "negative counts", 1),
        ]


def test_query_tables_are_spark_sql_on_the_folder_files(tmp_path, spark):
    folder = write_tables(tmp_path / "ds", accounts=valid_tables("accounts")["accounts"])
    EVENTS.rename(columns={"event": "name"}).to_csv(folder / "raw_events.csv", index=False)
    query = "select account_id, name as event, timestamp, count from raw_events"
    cfg = Config.from_dict({"engine": {"engine": "spark"}, "tables": {"events": {"query": query}}})
    ds = load_dataset(folder, cfg)
    # the CSV file is a view of text columns, typed by the derivation like events.csv
    plain = write_tables(
        tmp_path / "plain", accounts=valid_tables("accounts")["accounts"], events=EVENTS
    )
    pd.testing.assert_frame_equal(ds.feature_usage, load_dataset(plain).feature_usage)


def test_cli_engine_spark(tmp_path, spark, capsys):
    folder = write_tables(
        tmp_path / "ds", accounts=valid_tables("accounts")["accounts"], events=EVENTS
    )
    assert main(["validate", str(folder), "--engine", "spark"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "note: events: 12 rows (53 events, with count); 8 used" in out
