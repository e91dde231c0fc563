"""Benchmark: events -> per-account tables, DuckDB (the toolkit) vs pandas, time and peak memory.

Issue 11 target: 100M events (about 1M accounts) -> per-account tables with DuckDB
in <= 5 min and <= 6 GB peak on 2 cores, >= 10x faster than pandas.

The data: ``--events`` random events for ``--events / 100`` accounts (about 100
events per account, as in the issue's 100M events ~ 1M accounts), written as
a folder of Parquet files (``events/part-*.parquet``) plus ``accounts.parquet``:
60 feature events (Zipf-distributed), 2 metric events (40% of rows), 8 setup
steps, timestamps over each account's life; about 0.5% of rows dated before
the signup month, 0.1% of unknown accounts and some after churn, so every rule
is exercised. Each engine runs in its own process (peak RSS of that process):

* ``--engine duckdb`` (default): :func:`milestone_discovery.load_dataset` on the
  folder, i.e. the whole validated load, events -> ``feature_usage``,
  ``activity``, ``setup_steps`` (every row typed and checked), accounts,
  as_of rules; with ``--memory-limit`` and ``--threads`` as ``[engine]``
  settings.
* ``--engine spark``: the same load with ``[engine] engine = "spark"`` (PySpark
  in ``local[threads]`` mode, ``--memory-limit`` its driver memory). The
  session is started first (its start-up, printed apart, is not timed); CPU
  seconds and peak memory add the JVM's (from ``/proc``) to Python's.
* ``pandas``: the same derivation written by hand in pandas (read the Parquet
  folder, join accounts, filter by the same rules, group by), without the
  row-level validation. The outputs are compared (identical tables).

Usage::

    python benchmarks/bench_events.py --events 10000000 [--format parquet|csv]
        [--engine duckdb|spark] [--memory-limit 4GB] [--threads 2]
        [--data DIR (keep / reuse the data)] [--skip-pandas]

``--format csv`` writes one ``events.csv`` instead (pandas then reads it with
``read_csv`` and ``to_datetime``; DuckDB reads every value as text and checks it).
Wall times depend on what else runs on the machine; CPU seconds (all threads)
are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = np.datetime64("2026-06-30")
METRICS = {
    "conversations": ["conversation_started"],
    "resolved_conversations": ["conversation_resolved"],
}
CHUNK = 5_000_000
TARGET = {"events": 100_000_000, "seconds": 300, "gb": 6.0, "speedup": 10.0}


# ----------------------------------------------------------------------------- data
def generate(folder: Path, n_events: int, n_accounts: int, seed: int = 0, fmt: str = "parquet"):
    """Write ``accounts.parquet`` and ``events/part-*.parquet`` or ``events.csv``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = AS_OF - np.timedelta64(3 * 365, "D")
    signup = start + rng.integers(0, 3 * 365 - 30, n_accounts).astype("timedelta64[D]")
    life = rng.exponential(500, n_accounts).astype(np.int64) + 1
    churn = signup + life.astype("timedelta64[D]")
    churn = np.where(churn <= AS_OF, churn, np.datetime64("NaT"))
    ids = np.char.add("acc", np.char.zfill(np.arange(n_accounts).astype(str), 8))
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "signup_date": signup.astype("datetime64[s]"),
            "seats": rng.integers(1, 50, n_accounts),
            "company_size": rng.integers(1, 5000, n_accounts),
            "plan": rng.choice(["starter", "pro", "enterprise"], n_accounts),
            "churn_date": churn.astype("datetime64[s]"),
        }
    )
    accounts.to_parquet(folder / "accounts.parquet", index=False)

    features = [f"feature_{i:02d}" for i in range(60)]
    setup = [f"setup:step_{i}" for i in range(8)]
    names = features + METRICS["conversations"] + METRICS["resolved_conversations"] + setup
    zipf = 1.0 / np.arange(1, 61) ** 0.8
    weights = np.concatenate([0.58 * zipf / zipf.sum(), [0.22, 0.18], np.full(8, 0.02 / 8)])
    dictionary = pa.array(names)
    id_dictionary = pa.array(np.append(ids, ["test_account_1", "test_account_2"]))
    end = np.where(np.isnat(churn), AS_OF, churn).astype("datetime64[D]").astype(np.int64)
    first = signup.astype("datetime64[D]").astype(np.int64)
    if fmt == "parquet":
        (folder / "events").mkdir(exist_ok=True)
    writer = None
    for part, lo in enumerate(range(0, n_events, CHUNK)):
        n = min(CHUNK, n_events - lo)
        acc = rng.integers(0, n_accounts, n)
        span = end[acc] - first[acc] + 15  # a few days after churn
        day = first[acc] + np.floor(rng.random(n) * span).astype(np.int64)
        early = rng.random(n) < 0.005  # before the signup month
        day[early] = first[acc[early]] - 40
        day = np.minimum(day, AS_OF.astype("datetime64[D]").astype(np.int64))
        unknown = rng.random(n) < 0.001
        acc[unknown] = n_accounts + rng.integers(0, 2, int(unknown.sum()))
        seconds = day * 86400 + rng.integers(0, 86400, n)
        event = rng.choice(len(names), n, p=weights)
        count = np.where(rng.random(n) < 0.9, 1, rng.integers(1, 20, n))
        table = pa.table(
            {
                "account_id": pa.DictionaryArray.from_arrays(
                    pa.array(acc.astype(np.int32)), id_dictionary
                ),
                "event": pa.DictionaryArray.from_arrays(
                    pa.array(event.astype(np.int32)), dictionary
                ),
                "timestamp": pa.array(seconds.astype("datetime64[s]")),
                "count": pa.array(count.astype(np.int64)),
            }
        )
        if fmt == "parquet":
            pq.write_table(table, folder / "events" / f"part-{part:05d}.parquet")
            continue
        table = pa.table(
            [
                c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                for c in table.columns
            ],
            names=table.column_names,
        )
        writer = writer or pacsv.CSVWriter(folder / "events.csv", table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


# ----------------------------------------------------------------------------- engines
def _cpu() -> float:
    """CPU seconds of this process, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _config(engine: str, memory_limit: str | None, threads: int | None):
    from milestone_discovery import Config

    settings = {"engine": engine, "memory_limit": memory_limit, "threads": threads}
    return Config.from_dict(
        {
            "events": {"metrics": METRICS},
            "study": {"as_of": str(AS_OF)},
            "engine": {k: v for k, v in settings.items() if v is not None},
        }
    )


def _jvm(pid: int) -> tuple[float, float]:
    """CPU seconds (with its reaped children) and peak RSS in GB of a process, from /proc."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    return cpu, int(hwm.split()[1]) / 1024**2


def run_engine(folder: Path, engine: str, memory_limit: str | None, threads: int | None) -> dict:
    from milestone_discovery import load_dataset

    config = _config(engine, memory_limit, threads)
    jvm, started = None, 0.0
    if engine == "spark":  # started here: load_dataset uses the active session
        from milestone_discovery.engines import spark_session

        t0 = time.perf_counter()
        session, _owned = spark_session(config)
        session.range(1).count()  # the JVM is up
        started = time.perf_counter() - t0
        jvm = session.sparkContext._gateway.proc.pid
        jvm_cpu0 = _jvm(jvm)[0]
    t0, c0 = time.perf_counter(), _cpu()
    ds = load_dataset(folder, config)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    jvm_cpu, jvm_peak = (0.0, 0.0)
    if jvm is not None:
        jvm_cpu, jvm_peak = _jvm(jvm)
        jvm_cpu -= jvm_cpu0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu + jvm_cpu,
        "jvm": None if jvm is None else {"cpu": jvm_cpu, "peak_gb": jvm_peak, "start": started},
        "tables": {
            "feature_usage": ds.feature_usage,
            "activity": ds.activity,
            "setup_steps": ds.setup_steps,
        },
        "rows": ds.events["rows"],
        "notes": ds.notes,
    }


def run_pandas(folder: Path) -> dict:
    """The derivation by hand, in pandas: what a user would write without the toolkit."""
    t0, c0 = time.perf_counter(), _cpu()
    acc = pd.read_parquet(
        folder / "accounts.parquet", columns=["account_id", "signup_date", "churn_date"]
    )
    if (folder / "events.csv").exists():
        ev = pd.read_csv(folder / "events.csv", dtype={"account_id": "str", "event": "str"})
        ev["timestamp"] = pd.to_datetime(ev["timestamp"], format="%Y-%m-%d %H:%M:%S")
    else:
        ev = pd.read_parquet(folder / "events")
    ev["account_id"] = ev["account_id"].astype(str)
    ev["event"] = ev["event"].astype(str)
    ev["d"] = ev["timestamp"].dt.floor("D")
    ev = ev.merge(acc, on="account_id", how="inner")  # unknown accounts dropped
    signup_month = ev["signup_date"].dt.to_period("M").dt.to_timestamp()
    as_of = pd.Timestamp(AS_OF)
    keep = (ev["d"] >= signup_month) & (ev["d"] <= as_of)
    keep &= ev["churn_date"].isna() | (ev["d"] <= ev["churn_date"])
    keep &= ev["count"] > 0
    ev = ev.loc[keep]
    ev["d"] = ev["d"].where(ev["d"] >= ev["signup_date"], ev["signup_date"])
    metric_events = {e for events in METRICS.values() for e in events}
    is_metric = ev["event"].isin(metric_events)
    is_setup = ev["event"].str.startswith("setup:")
    features = (
        ev.loc[~is_metric & ~is_setup]
        .groupby(["account_id", "event"], as_index=False)
        .agg(first_used_at=("d", "min"), uses=("count", "sum"))
        .rename(columns={"event": "feature"})
    )
    m = ev.loc[is_metric, ["account_id", "event", "d", "count"]]
    m["month"] = m["d"].dt.to_period("M").dt.to_timestamp()
    activity = m.pivot_table(
        index=["account_id", "month"], columns="event", values="count", aggfunc="sum", fill_value=0
    )
    activity = pd.DataFrame(
        {metric: activity[events].sum(axis=1) for metric, events in METRICS.items()}
    ).reset_index()
    setup = (
        ev.loc[is_setup]
        .assign(step=lambda t: t["event"].str.slice(len("setup:")))
        .groupby(["account_id", "step"], as_index=False)
        .agg(completed_at=("d", "min"))
    )
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "tables": {"feature_usage": features, "activity": activity, "setup_steps": setup},
        "rows": None,
        "notes": [],
    }


def child(args) -> int:
    folder = Path(args.data)
    if args.child == "pandas":
        result = run_pandas(folder)
    else:
        result = run_engine(folder, args.child, args.memory_limit, args.threads)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_gb = usage.ru_maxrss / 1024**2  # KB on Linux
    jvm = result.get("jvm")
    if jvm:  # Python and the JVM (an upper bound of their peak at once)
        peak_gb += jvm["peak_gb"]
    out = folder / f"out_{args.child}"
    out.mkdir(exist_ok=True)
    for name, table in result["tables"].items():
        table.to_parquet(out / f"{name}.parquet", index=False)
    print(
        json.dumps(
            {
                "seconds": result["seconds"],
                "cpu_seconds": result["cpu_seconds"],
                "peak_gb": peak_gb,
                "rows": result["rows"],
                "notes": result["notes"],
                "jvm": jvm,
            }
        )
    )
    return 0


def same_tables(folder: Path, engine: str = "duckdb") -> list[str]:
    """Tables that differ between the engine's and pandas' outputs (empty: identical)."""
    differ = []
    keys = {
        "feature_usage": ["account_id", "feature"],
        "activity": ["account_id", "month"],
        "setup_steps": ["account_id", "step"],
    }
    for name, by in keys.items():
        a = pd.read_parquet(folder / f"out_{engine}" / f"{name}.parquet")
        b = pd.read_parquet(folder / "out_pandas" / f"{name}.parquet")
        a = a.sort_values(by).reset_index(drop=True).astype(object)
        b = b[a.columns].sort_values(by).reset_index(drop=True).astype(object)
        if not a.equals(b):
            differ.append(name)
    return differ


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--accounts", type=int, help="default: events / 100")
    ap.add_argument("--data", help="folder for the generated data (kept; reused if present)")
    ap.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    ap.add_argument(
        "--memory-limit", help="[engine] memory_limit, e.g. 4GB (Spark: the driver memory)"
    )
    ap.add_argument("--threads", type=int, help="[engine] threads (Spark: local[threads])")
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--child", choices=["duckdb", "spark", "pandas"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-events-")
        args.data = tmp.name
    folder = Path(args.data)
    n_accounts = args.accounts or max(args.events // 100, 100)
    t0 = time.perf_counter()
    source = folder / ("events" if args.format == "parquet" else "events.csv")
    if not source.exists():
        generate(folder, args.events, n_accounts, fmt=args.format)
        print(
            f"generated {args.events:,} events for {n_accounts:,} accounts in "
            f"{time.perf_counter() - t0:.1f} s -> {folder}"
        )
    files = list(source.glob("*.parquet")) if source.is_dir() else [source]
    size = sum(p.stat().st_size for p in files) / 1e6
    print(
        f"events: {args.events:,} rows, {size:,.0f} MB of {args.format}; accounts: {n_accounts:,}"
    )

    print(
        f"settings: engine {args.engine}, memory_limit {args.memory_limit or 'default'}, "
        f"threads {args.threads or 'default'}"
    )
    results = {}
    for engine in (args.engine,) + (() if args.skip_pandas else ("pandas",)):
        cmd = [sys.executable, __file__, "--child", engine, "--data", str(folder)]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{engine}: failed\n{proc.stderr[-3000:]}")
            results[engine] = None
            continue
        results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[engine]
        print(
            f"{engine:<7} wall {r['seconds']:7.1f} s   cpu {r['cpu_seconds']:7.1f} s   "
            f"peak {r['peak_gb']:5.2f} GB"
        )
        if r.get("jvm"):
            j = r["jvm"]
            print(
                f"        of which the JVM: cpu {j['cpu']:.1f} s, peak {j['peak_gb']:.2f} GB "
                f"(session start-up {j['start']:.1f} s, not timed)"
            )
    duck = results.get(args.engine)
    if duck:
        for note in duck["notes"]:
            print(f"  note: {note}")
    if duck and results.get("pandas"):
        pan = results["pandas"]
        print(
            f"pandas / {args.engine}: wall {pan['seconds'] / duck['seconds']:.1f}x, "
            f"cpu {pan['cpu_seconds'] / duck['cpu_seconds']:.1f}x, "
            f"peak memory {pan['peak_gb'] / duck['peak_gb']:.1f}x"
        )
        differ = same_tables(folder, args.engine)
        print("outputs: identical" if not differ else f"outputs DIFFER: {differ}")
    if duck and args.engine == "duckdb":
        scale = TARGET["events"] / args.events
        print(
            f"linear extrapolation to {TARGET['events']:,} events: wall "
            f"{duck['seconds'] * scale / 60:.1f} min as measured, "
            f"{duck['cpu_seconds'] * scale / 2 / 60:.1f} min if both cores were free "
            f"(cpu / 2; target <= {TARGET['seconds'] / 60:.0f} min)"
        )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
