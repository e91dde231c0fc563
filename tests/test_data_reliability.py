"""Awkward inputs a new user might give ``load_dataset``: literal tiny files, one case each.

Every case ends in one of two ways: a clean load whose meaning is checked
(what was converted or ignored is in the notes), or a
:class:`~milestone_discovery.errors.MilestoneError` whose message names the
file or table, the column, the rule and the rows. Never a traceback, never a
silent change of meaning.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pytest

from milestone_discovery import Config, DataValidationError, load_dataset
from milestone_discovery.data import read_table
from milestone_discovery.errors import ConfigError, MilestoneError

# ----------------------------------------------------------------------------- a tiny dataset
ACCOUNTS = """\
account_id,signup_date,seats,company_size,plan,churn_date
a1,2023-01-15,5,20,pro,
a2,2023-02-01,2,8,basic,2023-12-01
a3,2024-03-01,1,3,basic,
"""
USAGE = """\
account_id,feature,first_used_at,uses
a1,inbox,2023-01-20,40
a2,inbox,2023-02-02,12
a3,bots,2024-06-30,1
"""
ACTIVITY = """\
account_id,month,conversations,resolved_conversations
a1,2023-01-01,30,20
a2,2023-02-01,10,4
"""
SETUP = """\
account_id,step,completed_at
a1,invite_team,2023-01-16
"""
AS_OF = dt.date(2024, 6, 30)  # latest behaviour: a3's first use of bots
TODAY = dt.date.today()
NEXT_YEAR = (TODAY + dt.timedelta(days=365)).isoformat()
TOMORROW_MONTH = (TODAY.replace(day=1) + dt.timedelta(days=32)).replace(day=1).isoformat()


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _xlsx_like() -> bytes:
    return b"PK\x03\x04" + b"\x00" * 100  # the start of every .xlsx (a ZIP archive)


BIG_JSON = json.dumps([{"account_id": f"a{i}", "note": "x" * 200} for i in range(5000)])


# ----------------------------------------------------------------------------- expectations
@dataclass
class Raises:
    """The case must raise ``error`` with a message matching ``match`` (``re.search``)."""

    error: type[MilestoneError]
    match: str


@dataclass
class Loads:
    """The case must load; ``check(dataset)`` asserts what it means."""

    check: Callable


def note(fragment: str) -> Callable:
    def check(ds):
        assert any(fragment in n for n in ds.notes), ds.notes

    return check


def churn_of(account: str, ds) -> pd.Timestamp:
    return ds.accounts.set_index("account_id").loc[account, "churn_date"]


def _all(*checks: Callable) -> Callable:
    def check(ds):
        for c in checks:
            c(ds)

    return check


def has(condition: Callable) -> Callable:
    def check(ds):
        assert condition(ds), ds

    return check


# Each case: (id, files written over the tiny dataset, config, expectation).
# A file value of None removes the file; ``config`` holds [study] and [data] settings.
CASES = [
    # --- the reader keeps the cause ----------------------------------------------------
    (
        "gzip named .csv",
        {"accounts.csv": gzip.compress(ACCOUNTS.encode())},
        {},
        Raises(
            DataValidationError,
            r"table 'accounts': cannot read accounts\.csv: this looks like a gzip-compressed file",
        ),
    ),
    (
        "parquet named .csv",
        {"accounts.csv": _parquet_bytes(pd.read_csv(io.StringIO(ACCOUNTS)))},
        {},
        Raises(DataValidationError, r"cannot read accounts\.csv: this looks like a Parquet file"),
    ),
    (
        "excel workbook named .csv",
        {"activity.csv": _xlsx_like()},
        {},
        Raises(DataValidationError, r"cannot read activity\.csv: this looks like a ZIP .* Excel"),
    ),
    (
        "binary file",
        {"feature_usage.csv": bytes(range(256)) * 4},
        {},
        Raises(DataValidationError, r"cannot read feature_usage\.csv: this looks like a binary"),
    ),
    (
        "json file of 1 MB",
        {"accounts.csv": BIG_JSON},
        {},
        Raises(DataValidationError, r"cannot read accounts\.csv: this looks like a JSON file"),
    ),
    (
        "html page",
        {"accounts.csv": "<!DOCTYPE html>\n<html><body><table></table></body></html>\n"},
        {},
        Raises(DataValidationError, r"cannot read accounts\.csv: this looks like an HTML"),
    ),
    (
        "latin-1 text",
        {"accounts.csv": ACCOUNTS.replace("a2,2023", "caf\xe9,2023").encode("latin-1")},
        {},
        Raises(DataValidationError, r"cannot read accounts\.csv: not UTF-8: byte 0xE9 at line 3"),
    ),
    (
        "utf-16 text",
        {"accounts.csv": ACCOUNTS.encode("utf-16")},
        {},
        Raises(DataValidationError, r"cannot read accounts\.csv: this looks like UTF-16 text"),
    ),
    (
        "empty file",
        {"activity.csv": b""},
        {},
        Raises(DataValidationError, r"table 'activity': cannot read activity\.csv: .*empty"),
    ),
    (
        "blank file",
        {"activity.csv": "\n  \n"},
        {},
        Raises(DataValidationError, r"cannot read activity\.csv: the file has no header line"),
    ),
    (
        "header only",
        {"activity.csv": "account_id,month,conversations\n"},
        {},
        Raises(DataValidationError, r"table 'activity': table is empty"),
    ),
    (
        "footer line",
        {"feature_usage.csv": USAGE + "Total,3\n"},
        {},
        Raises(
            DataValidationError,
            r"cannot read feature_usage\.csv: line 5 has 2 field\(s\) but the header has 4 "
            r"\(a footer",
        ),
    ),
    (
        "unclosed quote",
        {"feature_usage.csv": USAGE.replace("a2,inbox", 'a2,"inbox')},
        {},
        Raises(DataValidationError, r"quoted field starting on line 3 is never closed"),
    ),
    (
        "csv text named .parquet",
        {"activity.csv": None, "activity.parquet": ACTIVITY},
        {},
        Raises(DataValidationError, r"cannot read activity\.parquet: this looks like CSV"),
    ),
    (
        "semicolon-delimited csv",
        {"activity.csv": ACTIVITY.replace(",", ";")},
        {},
        Loads(has(lambda ds: ds.activity["conversations"].tolist() == [30, 10])),
    ),
    (
        "tab-delimited csv",
        {"activity.csv": ACTIVITY.replace(",", "\t")},
        {},
        Loads(has(lambda ds: ds.activity["resolved_conversations"].tolist() == [20, 4])),
    ),
    (
        "windows line endings",
        {"accounts.csv": ACCOUNTS.replace("\n", "\r\n")},
        {},
        Loads(has(lambda ds: pd.isna(churn_of("a1", ds)) and len(ds.accounts) == 3)),
    ),
    (
        "utf-8 byte order mark",
        {"accounts.csv": b"\xef\xbb\xbf" + ACCOUNTS.encode()},
        {},
        Loads(has(lambda ds: list(ds.accounts["account_id"]) == ["a1", "a2", "a3"])),
    ),
    (
        "very long column name",
        {"accounts.csv": ACCOUNTS.replace("plan,", "x" * 100_000 + ",", 1)},
        {},
        Raises(DataValidationError, r"table 'accounts', column 'xxxx+\.\.\.': unknown column"),
    ),
    # --- table names -------------------------------------------------------------------
    (
        "table name in capitals",
        {"activity.csv": None, "Activity.csv": ACTIVITY},
        {},
        Loads(has(lambda ds: ds.activity is not None and len(ds.activity) == 2)),
    ),
    (
        "extension in capitals",
        {"accounts.csv": None, "ACCOUNTS.CSV": ACCOUNTS},
        {},
        Loads(has(lambda ds: len(ds.accounts) == 3)),
    ),
    (
        "near-miss of an optional table",
        {"feature_catalogue.csv": "feature,category\ninbox,support\nbots,automation\n"},
        {},
        Raises(
            DataValidationError,
            r"table 'feature_catalog': no feature_catalog\.csv or feature_catalog\.parquet .*"
            r"but feature_catalogue\.csv looks like it: rename it to feature_catalog\.csv",
        ),
    ),
    (
        "near-miss of a required table",
        {"feature_usage.csv": None, "features_usage.csv": USAGE},
        {},
        Raises(
            DataValidationError,
            r"table 'feature_usage': required table missing: .*features_usage\.csv looks like it",
        ),
    ),
    (
        "table in an unsupported format",
        {"accounts.csv": None, "accounts.xlsx": _xlsx_like()},
        {},
        Raises(
            DataValidationError,
            r"table 'accounts': required table missing: .*accounts\.xlsx is there: "
            r"only \.csv and \.parquet",
        ),
    ),
    (
        "near-miss beside the real table",
        {"accounts_old.csv": ACCOUNTS},
        {},
        Loads(note("file accounts_old.csv ignored: table 'accounts' is read from accounts.csv")),
    ),
    (
        "unrelated csv in the folder",
        {"readme.csv": "a,b\n1,2\n"},
        {},
        Loads(note("file readme.csv ignored: not a table of the input contract")),
    ),
    # --- dates: as_of is not moved by one outlier ------------------------------------------
    (
        "default as_of from behaviour",
        {},
        {},
        Loads(
            _all(
                has(lambda ds: ds.as_of == AS_OF),
                note("as_of 2024-06-30: latest date of observed behaviour"),
            )
        ),
    ),
    (
        "signup in 2099",
        {"accounts.csv": ACCOUNTS.replace("a3,2024-03-01", "a3,2099-03-01")},
        {},
        Raises(
            DataValidationError,
            r"table 'accounts', column 'signup_date': date in the future .* \(1 row\)",
        ),
    ),
    (
        "usage typo dated 2206",
        {"feature_usage.csv": USAGE.replace("2023-02-02", "2206-02-02")},
        {},
        Raises(
            DataValidationError,
            r"table 'feature_usage', column 'first_used_at': date in the future",
        ),
    ),
    (
        "setup step in the future",
        {"setup_steps.csv": SETUP.replace("2023-01-16", "2099-01-16")},
        {},
        Raises(
            DataValidationError, r"table 'setup_steps', column 'completed_at': date in the future"
        ),
    ),
    (
        "activity month in the future",
        {"activity.csv": ACTIVITY + f"a1,{TOMORROW_MONTH},1,1\n"},
        {},
        Raises(DataValidationError, r"table 'activity', column 'month': date in the future"),
    ),
    (
        "cancellation scheduled for next year",
        {
            "accounts.csv": ACCOUNTS.replace(
                "a3,2024-03-01,1,3,basic,", f"a3,2024-03-01,1,3,basic,{NEXT_YEAR}"
            )
        },
        {},
        Loads(
            _all(
                has(lambda ds: ds.as_of == AS_OF),
                has(lambda ds: pd.isna(churn_of("a3", ds))),
                note("1 churn date(s) after as_of 2024-06-30 treated as still a customer"),
            )
        ),
    ),
    (
        "churn sentinel 9999-12-31",
        {
            "accounts.csv": ACCOUNTS.replace(
                "a3,2024-03-01,1,3,basic,", "a3,2024-03-01,1,3,basic,9999-12-31"
            )
        },
        {},
        Loads(
            _all(
                has(lambda ds: ds.as_of == AS_OF),
                has(lambda ds: pd.isna(churn_of("a3", ds))),
                has(lambda ds: ds.accounts["churn_date"].dtype == "datetime64[ns]"),
                note(
                    "accounts.churn_date: 1 far-future date(s) such as 9999-12-31 read as 'never churned'"
                ),
            )
        ),
    ),
    (
        "signup sentinel 0001-01-01",
        {"accounts.csv": ACCOUNTS.replace("a2,2023-02-01", "a2,0001-01-01")},
        {},
        Raises(
            DataValidationError,
            r"(?s)table 'accounts', column 'signup_date': date before 1980-01-01: a placeholder"
            r".*\(1 row\).*0001-01-01",
        ),
    ),
    (
        "first use at the unix epoch",
        {"feature_usage.csv": USAGE.replace("2023-02-02", "1970-01-01")},
        {},
        Raises(
            DataValidationError,
            r"table 'feature_usage', column 'first_used_at': date before 1980-01-01",
        ),
    ),
    (
        "churn sentinel 0001-01-01",
        {"accounts.csv": ACCOUNTS.replace("2023-12-01", "0001-01-01")},
        {},
        Raises(
            DataValidationError,
            r"column 'churn_date': date before 1980-01-01: .*\(leave it empty when unknown\)",
        ),
    ),
    (
        "as_of before every signup",
        {},
        {"study": {"as_of": "2020-01-01"}},
        Raises(
            ConfigError, r"as_of 2020-01-01 is before every signup_date \(the first is 2023-01-15\)"
        ),
    ),
    # --- time zones ----------------------------------------------------------------------
    (
        "timezone-aware timestamps to utc",
        {"feature_usage.csv": USAGE.replace("2023-02-02", "2023-02-02T20:30:00-05:00")},
        {},
        Loads(
            _all(
                has(
                    lambda ds: (
                        ds.feature_usage.set_index("account_id").loc["a2", "first_used_at"]
                        == pd.Timestamp("2023-02-03")
                    )
                ),
                note(
                    "feature_usage.first_used_at: 1 time-zone-aware timestamp(s) converted to "
                    "UTC before taking the date"
                ),
            )
        ),
    ),
    (
        "timezone-aware timestamps to a configured zone",
        {"feature_usage.csv": USAGE.replace("2023-02-02", "2023-02-02T20:30:00-05:00")},
        {"data": {"timezone": "America/New_York"}},
        Loads(
            _all(
                has(
                    lambda ds: (
                        ds.feature_usage.set_index("account_id").loc["a2", "first_used_at"]
                        == pd.Timestamp("2023-02-02")
                    )
                ),
                note("converted to America/New_York"),
            )
        ),
    ),
    (
        "naive timestamps keep their date",
        {"feature_usage.csv": USAGE.replace("2023-02-02", "2023-02-02 23:59:59")},
        {"data": {"timezone": "Asia/Tokyo"}},
        Loads(
            _all(
                has(
                    lambda ds: (
                        ds.feature_usage.set_index("account_id").loc["a2", "first_used_at"]
                        == pd.Timestamp("2023-02-02")
                    )
                ),
                has(lambda ds: not any("time-zone" in n for n in ds.notes)),
            )
        ),
    ),
    (
        "unknown time zone",
        {},
        {"data": {"timezone": "Mars/Olympus"}},
        Raises(ConfigError, r"\[data\] timezone: unknown time zone 'Mars/Olympus'"),
    ),
    # --- blank counts ----------------------------------------------------------------------
    (
        "blank activity count",
        {"activity.csv": ACTIVITY.replace("a2,2023-02-01,10,", "a2,2023-02-01,,")},
        {},
        Raises(
            DataValidationError,
            r"(?s)table 'activity', column 'conversations': missing values \(a blank count is "
            r"not 0.*\(1 row\).*a2",
        ),
    ),
    (
        "blank activity count read as zero when asked",
        {"activity.csv": ACTIVITY.replace("a2,2023-02-01,10,", "a2,2023-02-01,,")},
        {"data": {"missing_counts": "zero"}},
        Loads(
            _all(
                has(lambda ds: ds.activity["conversations"].tolist() == [30, 0]),
                note("activity.conversations: 1 blank value(s) counted as 0"),
            )
        ),
    ),
]


def _config(settings: dict) -> Config:
    """A config from ``{"study": {...}, "data": {...}}``."""
    return Config.from_dict(settings)


def _write(folder, files: dict):
    folder.mkdir()
    base = {
        "accounts.csv": ACCOUNTS,
        "feature_usage.csv": USAGE,
        "activity.csv": ACTIVITY,
        "setup_steps.csv": SETUP,
    }
    for name, content in {**base, **files}.items():
        if content is None:
            continue
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("files", "settings", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_awkward_input(tmp_path, files, settings, expected):
    folder = _write(tmp_path / "data", files)
    config = _config(settings)
    if isinstance(expected, Raises):
        with pytest.raises(expected.error, match=expected.match) as info:
            load_dataset(folder, config)
        assert len(str(info.value)) < 2000, "messages stay short"
    else:
        expected.check(load_dataset(folder, config))


def test_two_files_for_one_table_differing_in_case(tmp_path):
    folder = _write(tmp_path / "data", {"ACTIVITY.csv": ACTIVITY})
    if not (folder / "activity.csv").exists():  # pragma: no cover - case-insensitive file system
        pytest.skip("the file system does not tell activity.csv from ACTIVITY.csv")
    with pytest.raises(
        DataValidationError, match=r"table 'activity': both ACTIVITY\.csv and activity\.csv exist"
    ):
        load_dataset(folder)


def test_every_unreadable_file_is_reported_at_once(tmp_path):
    folder = _write(tmp_path / "data", {"activity.csv": b"", "setup_steps.csv": b"\x1f\x8b\x08"})
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    assert {p.table for p in info.value.problems} == {"activity", "setup_steps"}


def test_read_table_names_the_file_of_a_wide_table(tmp_path):
    path = tmp_path / "telco.csv"
    path.write_bytes(gzip.compress(b"id,churned\n1,yes\n"))
    with pytest.raises(DataValidationError, match=r"table 'telco': cannot read telco\.csv: .*gzip"):
        read_table(path)


def test_reader_error_keeps_its_cause_for_debugging(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS + "Total,3\n")
    with pytest.raises(DataValidationError) as info:
        read_table(path)
    assert info.value.__cause__ is not None


# ----------------------------------------------------------------------------- parquet inputs
def test_parquet_sentinel_and_zoned_timestamps(tmp_path):
    accounts = pd.read_csv(io.StringIO(ACCOUNTS), dtype=str, keep_default_na=False)
    accounts["seats"] = accounts["seats"].astype(int)
    accounts["company_size"] = accounts["company_size"].astype(int)
    accounts["signup_date"] = pd.to_datetime(accounts["signup_date"]).astype("datetime64[us]")
    churn = [None, dt.date(2023, 12, 1), dt.date(9999, 12, 31)]
    accounts["churn_date"] = pd.Series(churn, dtype=object)
    usage = pd.read_csv(io.StringIO(USAGE), dtype={"account_id": str})
    usage["first_used_at"] = (
        pd.to_datetime(usage["first_used_at"]).dt.tz_localize("Asia/Tokyo").dt.tz_convert("UTC")
    )
    folder = tmp_path / "data"
    folder.mkdir()
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    usage.to_parquet(folder / "feature_usage.parquet", index=False)
    ds = load_dataset(folder)
    assert pd.isna(churn_of("a3", ds))
    assert any("far-future date(s) such as 9999-12-31" in n for n in ds.notes), ds.notes
    # midnight in Tokyo is the previous day in UTC
    assert ds.feature_usage["first_used_at"].tolist()[0] == pd.Timestamp("2023-01-19")
    assert any("3 time-zone-aware timestamp(s) converted to UTC" in n for n in ds.notes)
    ds = load_dataset(folder, _config({"data": {"timezone": "Asia/Tokyo"}}))
    assert ds.feature_usage["first_used_at"].tolist()[0] == pd.Timestamp("2023-01-20")


# ----------------------------------------------------------------------------- as_of outliers
def _many_accounts(n: int = 120) -> tuple[str, str]:
    ids = [f"c{i:03d}" for i in range(n)]
    accounts = "account_id,signup_date,seats,company_size\n" + "".join(
        f"{a},2023-01-{1 + i % 28:02d},1,5\n" for i, a in enumerate(ids)
    )
    usage = "account_id,feature,first_used_at\n" + "".join(
        f"{a},inbox,2024-06-{1 + i % 30:02d}\n" for i, a in enumerate(ids)
    )
    return accounts, usage


def test_as_of_resting_on_one_account_is_an_error_naming_the_rows(tmp_path):
    accounts, usage = _many_accounts()
    usage = usage.replace("c007,inbox,2024-06-08", "c007,inbox,2025-06-08")  # a typo in the past
    folder = _write(tmp_path / "data", {"accounts.csv": accounts, "feature_usage.csv": usage})
    for name in ("activity.csv", "setup_steps.csv"):
        (folder / name).unlink()
    with pytest.raises(DataValidationError, match=r"(?s)default as_of would be 2025-06-08.*c007"):
        load_dataset(folder)
    # the user's way out: say when the data were taken
    config = Config.from_dict({"study": {"as_of": "2024-06-30"}})
    assert load_dataset(folder, config).as_of == dt.date(2024, 6, 30)


def test_as_of_supported_by_many_accounts_has_no_warning(tmp_path):
    accounts, usage = _many_accounts()
    folder = _write(tmp_path / "data", {"accounts.csv": accounts, "feature_usage.csv": usage})
    for name in ("activity.csv", "setup_steps.csv"):
        (folder / name).unlink()
    ds = load_dataset(folder)
    assert ds.as_of == dt.date(2024, 6, 30)
    assert not any("rests on" in n for n in ds.notes)
