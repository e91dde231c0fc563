"""Tests of the ``milestones`` command line (``validate``; ``synth`` is tested with synth)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import valid_tables

from milestone_discovery import DataValidationError
from milestone_discovery.cli import main, terminal_text


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


# ----------------------------------------------------------------------------- one error path
@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "validate", "{bad}"],
        ["validate", "--debug", "{bad}"],
        ["validate", "{bad}", "--debug"],
    ],
)
def test_debug_is_accepted_anywhere(make_dataset, argv):
    bad = str(_bad_dataset(make_dataset))
    with pytest.raises(DataValidationError, match="column 'seats'"):
        main([a.format(bad=bad) for a in argv])


def test_debug_after_the_command_on_a_valid_dataset(valid_dataset, capsys):
    assert main(["validate", str(valid_dataset), "--debug"]) == 0
    assert "valid (tables)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "--seed", "-1", "--out", "{tmp}/d"], r"argument --seed: must be a whole number"),
        (["synth", "--seed", "4294967296", "--out", "{tmp}/d"], r"from 0 to 4294967295"),
        (["synth", "--seed", "1.5", "--out", "{tmp}/d"], r"argument --seed: .*not '1.5'"),
        (["synth", "--as-of", "notadate", "--out", "{tmp}/d"], r"--as-of: must be a date .*YYYY"),
        (["synth", "--as-of", "2026-02-30", "--out", "{tmp}/d"], r"not '2026-02-30'"),
        (["discover", "{tmp}", "--out", "{tmp}/r", "--seed", "-1"], r"argument --seed"),
        (["discover", "{tmp}", "--out", "{tmp}/r", "--seed", str(2**32)], r"argument --seed"),
    ],
)
def test_invalid_arguments_exit_2(tmp_path, capsys, args, message):
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    out, err = capsys.readouterr()
    assert re.search(rf"^milestones {args[0]}: error: .*{message}", err, re.M), err
    assert "Traceback" not in out + err
    assert not (tmp_path / "d").exists() and not (tmp_path / "r").exists()


def test_help_exits_0(capsys):
    assert main(["discover", "--help"]) == 0
    assert "--debug" in capsys.readouterr().out


def test_a_seed_out_of_range_in_the_config_exits_2(valid_dataset, tmp_path, capsys):
    config = tmp_path / "study.toml"
    config.write_text("[study]\nseed = -1\n")
    assert main(["validate", str(valid_dataset), "--config", str(config)]) == 2
    assert re.search(r"^milestones validate: error: .*seed", capsys.readouterr().err, re.M)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["discover", "{data}", "--out", "{tmp}/file.txt"], r"file.txt is an existing file"),
        (["discover", "{data}", "--out", "{tmp}/file.txt/run"], r"file.txt is a file, not a"),
        (["discover", "{data}", "--out", "{data}"], r"is the input"),
        (["discover", "{data}", "--out", "{tmp}/mine"], r"mine is a folder of other files"),
        (["score", "{tmp}/fw.json", "{data}", "--out", "{tmp}/mine"], r"mine is a folder: name"),
        (["score", "{tmp}/fw.json", "{data}", "--out", "{data}/s.csv"], r"inside the input"),
        (["score", "{tmp}/fw.json", "{data}", "--out", "{tmp}/fw.json"], r"is the input"),
        (["synth", "--accounts", "20", "--out", "{tmp}/file.txt"], r"cannot write the dataset"),
    ],
)
def test_unusable_out_exits_2_naming_the_path(valid_dataset, tmp_path, capsys, args, message):
    (tmp_path / "file.txt").write_text("keep me")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.md").write_text("keep me")
    (tmp_path / "fw.json").write_text("{}")
    before = sorted(p.name for p in valid_dataset.iterdir())
    argv = [a.format(tmp=tmp_path, data=valid_dataset) for a in args]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert re.search(rf"^milestones {args[0]}: error: .*{message}", err, re.M), err
    assert "Traceback" not in out + err
    assert (tmp_path / "file.txt").read_text() == "keep me"
    assert (tmp_path / "mine" / "notes.md").read_text() == "keep me"
    assert sorted(p.name for p in valid_dataset.iterdir()) == before


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text\twith tab\nand newline", "plain text\twith tab\nand newline"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("clear\x1b[2J\x1b[Hscreen", "clearscreen"),
        ("title\x1b]0;pwned\x07!", "title!"),
        ("link \x1b]8;;http://x\x1b\\here\x1b]8;;\x1b\\", "link here"),
        ("over\rwrite\x08\x07\x00", "overwrite"),
        ("8-bit \x9b31mcsi", "8-bit csi"),
        ("bidi \u202egnp.exe", "bidi gnp.exe"),
        ("café ✓", "café ✓"),
    ],
)
def test_terminal_text(text, shown):
    assert terminal_text(text) == shown


def test_control_characters_from_the_data_are_not_echoed(make_dataset, tmp_path, capsys):
    tables = valid_tables("accounts", "feature_usage")
    tables["accounts"].loc[2, "seats"] = 0
    tables["accounts"].loc[2, "plan"] = "\x1b[2J\x1b]0;owned\x07basic"
    assert main(["validate", str(make_dataset(**tables))]) == 2
    assert main(["validate", str(tmp_path / "no\x1b[31m_such\x07")]) == 2
    out, err = capsys.readouterr()
    assert "seats must be at least 1" in err and "basic" in err
    assert "no_such" in err
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out + err)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_synth_events_writes_an_event_log_that_validate_reads(tmp_path, capsys, fmt):
    out = tmp_path / "ev"
    assert main(["synth", "--accounts", "150", "--events", "--format", fmt, "--out", str(out)]) == 0
    assert "as an event log" in capsys.readouterr().out
    assert (out / "study.toml").exists() and not (out / f"feature_usage.{fmt}").exists()
    assert (out / "events.csv").exists() if fmt == "csv" else (out / "events").is_dir()
    assert main(["validate", str(out), "--config", str(out / "study.toml")]) == 0
    assert "events" in capsys.readouterr().out
