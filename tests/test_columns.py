"""The column dictionary: every written column is described, and the README and report show it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from milestone_discovery.columns import (
    ACCOUNT_COLUMNS,
    FEATURE_COLUMNS,
    FILES,
    RENAMED,
    describe,
    glossary,
    readme_block,
    undocumented,
    upgrade_columns,
)

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- columns:start -->", "<!-- columns:end -->"


@pytest.mark.parametrize("file", list(FILES))
def test_every_column_a_run_writes_is_described(synthetic_run, file):
    written = pd.read_csv(synthetic_run.run / file, nrows=1).columns
    assert not undocumented(written, file)


@pytest.mark.parametrize(
    "frame, file",
    [
        (lambda study: study.features.to_frame(), "features.csv"),
        (lambda study: study.to_frame(), "accounts.csv"),
    ],
)
def test_every_column_of_the_result_frames_is_described(synthetic_run, frame, file):
    assert not undocumented(frame(synthetic_run.study).columns, file)


@pytest.mark.parametrize(
    "column, file, expected",
    [
        ("importance", "features.csv", "Held-out conditional importance"),
        ("prevalence[plan=pro]", "features.csv", "Prevalence among the accounts on that plan"),
        ("prevalence[size_band=11-50]", "features.csv", "that size band"),
        ("support:mature", "accounts.csv", "Mature in that category"),
        ("a:b:features_used", "accounts.csv", "Features of that maturity category"),
        ("perm_importance", "features.csv", None),
        ("prevalence[plan=pro", "features.csv", None),
        ("mature", "features.csv", None),
    ],
)
def test_describe_matches_names_and_families(column, file, expected):
    meaning = describe(column, file)
    assert meaning is None if expected is None else expected in meaning


@pytest.mark.parametrize("columns", [FEATURE_COLUMNS, ACCOUNT_COLUMNS])
def test_entries_are_unique_and_follow_the_interval_convention(columns):
    names = [c.name for c in columns]
    assert len(names) == len(set(names))
    assert not [n for n in names if n.endswith("_ci") or "_ci_" in n]
    assert all(c.meaning.strip() and c.meaning.endswith(".") for c in columns)


def test_readme_table_is_the_dictionary():
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, "README.md lacks the column tables' markers"
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == readme_block(), (
        "README column tables are stale: paste `python -m milestone_discovery.columns`"
    )


def test_glossary_lists_every_entry_with_code_spans():
    files = {g["file"]: g["columns"] for g in glossary()}
    assert list(files) == list(FILES)
    assert [c["name"] for c in files["features.csv"]] == [c.name for c in FEATURE_COLUMNS]
    status = next(c for c in files["features.csv"] if c["name"] == "status")
    assert ("selected", True) in status["parts"]
    assert "".join(text for text, _ in status["parts"]) == status["meaning"].replace("`", "")


@pytest.mark.parametrize("old, new", sorted(RENAMED.items()))
def test_older_run_folders_read_under_todays_names(old, new):
    frame = pd.DataFrame({"feature": ["a"], old: [1.0]})
    upgraded = upgrade_columns(frame)
    assert list(upgraded.columns) == ["feature", new]
    assert old in frame  # the input is left alone


def test_old_text_intervals_are_dropped_and_current_tables_untouched():
    old = pd.DataFrame({"lift_ci": ["1.1-1.3"], "lift_ci_low": [1.1], "lift_ci_high": [1.3]})
    assert list(upgrade_columns(old).columns) == ["lift_low", "lift_high"]
    current = pd.DataFrame({"lift": [1.2], "lift_low": [1.1], "lift_high": [1.3]})
    assert upgrade_columns(current) is current
