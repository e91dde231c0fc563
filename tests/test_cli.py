"""Tests of the ``milestones`` command line (``validate``; ``synth`` is tested with synth)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import valid_tables

from milestone_discovery import DataValidationError
from milestone_discovery.cli import main


def test_validate_valid_folder(valid_dataset, capsys):
    assert main(["validate", str(valid_dataset)]) == 0
    out, err = capsys.readouterr()
    assert "valid (tables), as of 2025-06-30" in out
    for table, rows in [
        ("accounts", 8),
        ("feature_usage", 13),
        ("feature_catalog", 3),
        ("activity", 6),
        ("setup_steps", 5),
    ]:
        assert re.search(rf"^\s*{table}\s+{rows}\s", out, flags=re.MULTILINE), (table, out)
    assert re.search(r"excluded: churned_in_window\s+1$", out, flags=re.MULTILINE)
    assert re.search(r"excluded: too_young\s+2$", out, flags=re.MULTILINE)
    assert re.search(r"eligible \(retention population\)\s+5$", out, flags=re.MULTILINE)
    assert "retention rate among eligible: 80.0%" in out
    assert err == ""


def test_validate_prints_notes(make_dataset, capsys):
    tables = valid_tables("accounts", "feature_usage")
    tables["feature_usage"].loc[len(tables["feature_usage"])] = ["a02", "bots", "2024-01-15", 1]
    assert main(["validate", str(make_dataset(**tables))]) == 0
    out = capsys.readouterr().out
    assert "note: feature_usage: 1 row(s) dated after the account's churn_date ignored" in out


def test_validate_with_config(valid_dataset, tmp_path, capsys):
    config = tmp_path / "study.toml"
    config.write_text("[study]\nas_of = 2024-12-31\nhorizon_days = 400\n")
    assert main(["validate", str(valid_dataset), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "as of 2024-12-31" in out and "horizon 400 d" in out
    assert "note: 1 account(s) signed up after as_of 2024-12-31 and are ignored" in out


def test_validate_wide_table(tmp_path, capsys):
    pd.DataFrame({"id": ["a", "b"], "chat": ["Yes", "No"], "churned": ["yes", "no"]}).to_csv(
        tmp_path / "wide.csv", index=False
    )
    config = tmp_path / "wide.toml"
    config.write_text('[wide]\nid = "id"\nflags = ["chat"]\n')
    assert main(["validate", str(tmp_path / "wide.csv"), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "valid (wide)" in out and "flags (wide)" in out and "no time windows" in out


def _bad_dataset(make_dataset):
    tables = valid_tables("accounts", "feature_usage")
    tables["accounts"].loc[2, "seats"] = 0
    return make_dataset(**tables)


def test_validate_bad_dataset_exits_2_without_traceback(make_dataset, capsys):
    assert main(["validate", str(_bad_dataset(make_dataset))]) == 2
    out, err = capsys.readouterr()
    assert "table 'accounts', column 'seats': seats must be at least 1" in err
    assert "a03" in err  # the offending row
    assert "--debug" in err
    assert "Traceback" not in out + err
    assert "valid" not in out


def test_debug_reraises(make_dataset):
    with pytest.raises(DataValidationError, match="column 'seats'"):
        main(["--debug", "validate", str(_bad_dataset(make_dataset))])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "{tmp}/no_such_folder"], "dataset not found"),
        (["validate", "{tmp}", "--config", "{tmp}/missing.toml"], "config file not found"),
        (["validate", "{tmp}", "--config", "{tmp}/bad.toml"], r"unknown key\(s\) \['seeed'\]"),
        (["validate", "{tmp}/bad.toml"], "single file: describe it as a wide table"),
        (["validate", "{tmp}"], "required table missing"),
    ],
)
def test_user_errors_exit_2_with_a_message(tmp_path, capsys, args, message):
    (tmp_path / "bad.toml").write_text("[study]\nseeed = 1\n")
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    out, err = capsys.readouterr()
    assert re.search(
        r"^milestones validate: error: .*" + message, err, flags=re.MULTILINE | re.DOTALL
    )
    assert "Traceback" not in out + err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "validate" in capsys.readouterr().out
