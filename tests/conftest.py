"""Shared test helpers: a dataset writer and a small valid baseline dataset.

``valid_tables()`` returns a fresh, VALID set of the five contract tables with
known dates (planted truth); tests change one thing at a time and write the
result with the ``make_dataset`` fixture.

Planted truth of the baseline (``as_of`` defaults to 2025-06-30, the latest
date in the data: a first use of ``a08``):

=========  ==========  ==========  ===============================================
account    signup      churn       status with the default 180 d window / 365 d horizon
=========  ==========  ==========  ===============================================
``007``    2023-01-15  --          eligible, retained (id keeps its leading zeros)
``a02``    2023-02-01  2023-12-01  eligible, churned between window end and horizon
``a03``    2023-03-10  2023-05-01  excluded: churned_in_window
``a04``    2023-04-01  2024-09-01  eligible, retained (churned after the horizon)
``a05``    2023-05-31  --          eligible, retained
``a06``    2023-06-15  --          eligible, retained
``a07``    2024-08-01  --          excluded: too_young
``a08``    2025-03-01  --          excluded: too_young
=========  ==========  ==========  ===============================================
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pytest

TABLE_NAMES = ("accounts", "feature_usage", "feature_catalog", "activity", "setup_steps")

#: ``as_of`` of the baseline when none is configured (latest date in the data).
BASELINE_AS_OF = "2025-06-30"


def valid_tables(*names: str) -> dict[str, pd.DataFrame]:
    """A fresh, small, VALID dataset as text-dated DataFrames.

    All five tables, or only the ``names`` asked for (reading fewer files is faster;
    ``accounts`` and ``feature_usage`` alone are already a valid dataset).
    """
    accounts = pd.DataFrame(
        {
            "account_id": ["007", "a02", "a03", "a04", "a05", "a06", "a07", "a08"],
            "signup_date": [
                "2023-01-15",
                "2023-02-01",
                "2023-03-10",
                "2023-04-01",
                "2023-05-31",
                "2023-06-15",
                "2024-08-01",
                "2025-03-01",
            ],
            "seats": [5, 2, 1, 10, 3, 25, 4, 2],
            "company_size": [20, 8, 3, 120, 45, 600, 15, 2000],
            "plan": ["pro", "basic", "basic", "pro", "basic", "enterprise", "pro", "basic"],
            "churn_date": [None, "2023-12-01", "2023-05-01", "2024-09-01", None, None, None, None],
        }
    )
    feature_usage = pd.DataFrame(
        [
            ("007", "inbox", "2023-01-20", 40),
            ("007", "bots", "2023-03-01", 5),
            ("007", "reports", "2024-06-01", 3),
            ("a02", "inbox", "2023-02-02", 12),
            ("a02", "reports", "2023-11-20", 2),
            ("a03", "inbox", "2023-03-11", 1),
            ("a04", "inbox", "2023-04-02", 30),
            ("a04", "bots", "2023-06-01", 8),
            ("a05", "inbox", "2023-06-01", 9),
            ("a06", "inbox", "2023-06-20", 50),
            ("a06", "reports", "2023-07-01", 6),
            ("a07", "inbox", "2024-08-05", 4),
            ("a08", "bots", "2025-06-30", 1),
        ],
        columns=["account_id", "feature", "first_used_at", "uses"],
    )
    feature_catalog = pd.DataFrame(
        {
            "feature": ["inbox", "bots", "reports"],
            "category": ["support_channels", "automation", "reporting"],
            "description": ["shared inbox", "answer bots", "custom reports"],
            "hypothesis": ["basic", "mature", "mature"],
        }
    )
    activity = pd.DataFrame(
        [
            ("007", "2023-01-01", 30, 20),
            ("007", "2023-02-01", 60, 45),
            ("a02", "2023-02-01", 10, 4),
            ("a05", "2023-05-01", 3, 3),
            ("a05", "2023-06-01", 12, 9),
            ("a06", "2023-07-01", 100, 75),
        ],
        columns=["account_id", "month", "conversations", "resolved_conversations"],
    )
    setup_steps = pd.DataFrame(
        [
            ("007", "invite_team", "2023-01-16"),
            ("007", "connect_email", "2023-01-20"),
            ("a02", "invite_team", "2023-02-03"),
            ("a04", "connect_email", "2023-04-05"),
            ("a06", "install_messenger", "2023-06-16"),
        ],
        columns=["account_id", "step", "completed_at"],
    )
    tables = {
        "accounts": accounts,
        "feature_usage": feature_usage,
        "feature_catalog": feature_catalog,
        "activity": activity,
        "setup_steps": setup_steps,
    }
    unknown = set(names) - set(tables)
    if unknown:  # pragma: no cover - misuse of the helper
        raise ValueError(f"unknown table(s) {sorted(unknown)}")
    return {n: t for n, t in tables.items() if not names or n in names}


def write_tables(
    folder: Path, fmt: str = "csv", **tables: pd.DataFrame | Mapping[str, list] | None
) -> Path:
    """Write tables (DataFrames or dicts of lists) as ``NAME.csv``/``NAME.parquet`` into ``folder``.

    ``None`` leaves a table out. Usable from fixtures of any scope.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if table is None:
            continue
        frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(dict(table))
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        elif fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:  # pragma: no cover - misuse of the helper
            raise ValueError(f"unknown format {fmt!r}")
    return folder


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Return ``write(fmt="csv", **tables) -> Path``: write tables into a fresh folder.

    Each keyword is a table name (``accounts``, ``feature_usage``, ...) and a
    DataFrame or a dict of lists; ``None`` leaves the table out. ``fmt`` is
    ``"csv"`` or ``"parquet"``. Every call writes a new folder under ``tmp_path``.
    """
    counter = itertools.count()

    def write(fmt: str = "csv", **tables: pd.DataFrame | Mapping[str, list] | None) -> Path:
        return write_tables(tmp_path / f"dataset_{next(counter)}", fmt, **tables)

    return write


@pytest.fixture
def valid_dataset(make_dataset: Callable[..., Path]) -> Path:
    """A folder holding the valid baseline dataset as CSV."""
    return make_dataset(**valid_tables())


class SyntheticRun(NamedTuple):
    """One ``discover`` run on a small synthetic dataset (see :func:`synthetic_run`)."""

    dataset: Path
    run: Path
    study: Any
    config: Any


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> SyntheticRun:
    """``discover`` run ONCE per session on 2,500 synthetic accounts (seed 3), CSV, without report.

    Quick settings: no temporal refit, 2 x 2-fold feature model. Tests must not
    modify the files of ``run`` or ``dataset``; copy them first.
    """
    from milestone_discovery.config import Config
    from milestone_discovery.study import discover
    from milestone_discovery.synth import make_synthetic

    dataset = make_synthetic(2500, seed=3).write(
        tmp_path_factory.mktemp("synthetic_data"), fmt="csv"
    )
    config = Config()
    config.study.temporal_validation = False
    config.features.n_repeats = 2
    run = tmp_path_factory.mktemp("synthetic_run")
    study = discover(dataset, run, config, progress=False, report=False)
    return SyntheticRun(Path(dataset), run, study, config)
