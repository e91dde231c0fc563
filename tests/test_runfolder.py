"""Tests of safe run folders: checks before work, atomic swap, lock, slugs, CSV injection.

The study itself is computed once per module (600 synthetic accounts, quick
settings); ``discover`` tests replace ``run_study`` by a function returning it,
so each of them only loads the dataset and writes the run folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from milestone_discovery import study as study_module
from milestone_discovery.cli import main
from milestone_discovery.config import Config
from milestone_discovery.errors import FileAccessError, RunFolderError
from milestone_discovery.runfolder import (
    RunFolder,
    check_output_path,
    neutralize_cell,
    neutralize_formulas,
    restore_cell,
    restore_formulas,
    slugify,
    unique_slugs,
    write_csv,
)
from milestone_discovery.study import discover, run_study
from milestone_discovery.synth import make_synthetic

RUN_FILES = {"framework.json", "features.csv", "accounts.csv", "run.json", "tables"}


def _fast_config() -> Config:
    config = Config()
    config.study.temporal_validation = False
    config.features.n_estimators = 25
    config.features.n_repeats = 1
    config.features.shap_sample = 50
    config.maturity.n_bootstrap = 30
    config.journey.n_bootstrap = 30
    return config


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """600 synthetic accounts written as a CSV dataset folder."""
    return make_synthetic(600, seed=0).write(tmp_path_factory.mktemp("rf") / "data", fmt="csv")


@pytest.fixture(scope="module")
def computed():
    """The study of the same 600 accounts, computed once."""
    return run_study(make_synthetic(600, seed=0).to_dataset(), _fast_config(), progress=False)


@pytest.fixture
def quick(monkeypatch, computed):
    """``discover`` without the computation: ``run_study`` returns the module's study."""
    monkeypatch.setattr(study_module, "run_study", lambda *a, **k: computed)
    return computed


def _leftovers(folder: Path) -> list[str]:
    """Lock files and staging folders left beside run folders."""
    return sorted(p.name for p in folder.iterdir() if re.search(r"\.(lock|tmp-\d+)$", p.name))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- slugs
@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("maturity_scan__automation", "maturity_scan__automation"),
        ("support/ops", "support_ops"),
        ("Über Café", "uber_cafe"),
        ("../../etc/passwd", "etc_passwd"),
        ("  --x--  ", "x"),
        ("", "table"),
        ("///", "table"),
        ("CON", "con_"),
        ("a\x1b[31mb", "a_31mb"),
        ("x" * 300, "x" * 60),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug
    assert re.fullmatch(r"[a-z0-9_-]{1,60}", slugify(name))


@pytest.mark.parametrize(
    ("names", "slugs"),
    [
        (["support/ops", "support_ops"], ["support_ops", "support_ops-2"]),
        (["A", "a", "a!", "a-2"], ["a", "a-2", "a-3", "a-2-2"]),
        (["y" * 300, "y" * 301], ["y" * 60, "y" * 58 + "-2"]),
        (["ok", "fine"], ["ok", "fine"]),
    ],
)
def test_unique_slugs(names, slugs):
    assert unique_slugs(names) == slugs
    assert all(len(s) <= 60 for s in unique_slugs(names))


# ----------------------------------------------------------------------------- CSV injection
@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),  # already quoted text stays distinguishable
        ("-5", "-5"),  # a number written as text is no formula
        ("+1.5e3", "+1.5e3"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (None, None),
    ],
)
def test_neutralize_cell_and_back(value, written):
    assert neutralize_cell(value) == written
    assert restore_cell(written) == value


def test_neutralize_formulas_leaves_numbers_alone():
    frame = pd.DataFrame(
        {
            "name": ["=1+1", "ok", None, "-x"],
            "n": [-1, 2, 3, -4],
            "x": [-1.5, 0.0, 2.5, -0.1],
            "plan": pd.Categorical(["@a", "b", "b", "@a"]),
            "=label": [True, False, True, False],
        }
    )
    safe = neutralize_formulas(frame)
    assert safe["name"].tolist()[:2] == ["'=1+1", "ok"] and safe["name"].iloc[3] == "'-x"
    assert safe["plan"].cat.categories.tolist() == ["'@a", "b"]
    assert list(safe.columns) == ["name", "n", "x", "plan", "'=label"]
    assert safe["'=label"].dtype == bool
    pd.testing.assert_series_equal(safe["n"], frame["n"])
    pd.testing.assert_series_equal(safe["x"], frame["x"])
    assert frame["name"].iloc[0] == "=1+1"  # the input is not changed
    pd.testing.assert_frame_equal(restore_formulas(safe), frame)
    clean = pd.DataFrame({"a": ["x"], "b": [1]})
    assert neutralize_formulas(clean) is clean  # nothing to do: no copy


def test_write_csv_neutralises_and_leaves_no_temp_file(tmp_path):
    frame = pd.DataFrame({"category": ['=HYPERLINK("http://evil","x")', "ok"], "v": [-5, 3]})
    path = write_csv(frame, tmp_path / "t.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == ["category,v", '"\'=HYPERLINK(""http://evil"",""x"")",-5', "ok,3"]
    back = pd.read_csv(path)
    assert back["v"].tolist() == [-5, 3]  # negative numbers stay numbers
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_write_csv_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("old\n")

    def boom(self, *args, **kwargs):
        Path(args[0]).write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="No space left"):
        write_csv(pd.DataFrame({"a": [1]}), path)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


# ----------------------------------------------------------------------------- checks
@pytest.mark.parametrize(
    ("out", "kind", "message"),
    [
        ("data", "folder", r"--out .*data is the input .*data: outputs must go elsewhere"),
        ("data/run", "folder", r"is inside the input folder .*data: choose a folder outside it"),
        (".", "folder", r"contains the input .*data: choose a folder that does not"),
        ("file.txt", "folder", r"file.txt is an existing file: a run folder is needed"),
        ("file.txt/run", "folder", r"file.txt is a file, not a folder"),
        ("other", "folder", r"other is a folder of other files \(no framework.json or run.json\)"),
        ("/", "folder", r"is a file-system root"),
        ("data/accounts.csv", "file", r"is inside the input folder"),
        ("other", "file", r"other is a folder: name the CSV file to write"),
    ],
)
def test_check_output_path_refuses(tmp_path, monkeypatch, out, kind, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "accounts.csv").write_text("account_id\n")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.md").write_text("mine")
    inputs = [] if out == "/" else ["data"]
    with pytest.raises(RunFolderError, match=message):
        check_output_path(out, inputs, kind=kind)


@pytest.mark.parametrize("out", ["new/nested/run", "empty", "old_run"])
def test_check_output_path_accepts(tmp_path, out):
    (tmp_path / "empty").mkdir()
    (tmp_path / "old_run").mkdir()
    (tmp_path / "old_run" / "framework.json").write_text("{}")
    (tmp_path / "old_run" / "stray.csv").write_text("x")
    assert check_output_path(tmp_path / out, [tmp_path / "data"]) == (tmp_path / out).resolve()


def test_out_inside_dataset_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    data = make_synthetic(50, seed=1).write(tmp_path / "data", fmt="csv")
    before = _snapshot(data)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the check must come before any work")

    monkeypatch.setattr(study_module, "run_study", must_not_run)
    monkeypatch.setattr(study_module, "load_dataset", must_not_run)
    for out in (data, data / "run"):
        t0 = time.perf_counter()
        assert main(["discover", str(data), "--out", str(out), "--quiet"]) == 2
        assert time.perf_counter() - t0 < 2
        err = capsys.readouterr().err
        assert re.search(
            r"^milestones discover: error: --out .*(is the input|is inside)", err, re.M
        )
    with pytest.raises(RunFolderError, match="is inside the input folder"):
        discover(data, data / "run", progress=False, report=False)
    assert _snapshot(data) == before and _leftovers(tmp_path) == []


def test_config_inside_out_is_refused(tmp_path, monkeypatch, capsys, dataset):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    (tmp_path / "run" / "study.toml").write_text("")
    monkeypatch.setattr(study_module, "run_study", lambda *a, **k: 1 / 0)
    args = ["discover", str(dataset), "--out", str(tmp_path / "run"), "--config"]
    assert main([*args, str(tmp_path / "run" / "study.toml")]) == 2
    assert "contains the input" in capsys.readouterr().err
    assert (tmp_path / "run" / "study.toml").exists()


# ----------------------------------------------------------------------------- discover
def test_discover_replaces_the_old_run_as_a_whole(tmp_path, dataset, quick):
    out = tmp_path / "run"
    out.mkdir()
    (out / "framework.json").write_text("{}")
    (out / "report.html").write_text("an older run's report")
    (out / "tables").mkdir()
    (out / "tables" / "stale_table.csv").write_text("x\n1\n")
    discover(dataset, out, progress=False, report=False)
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert not (out / "tables" / "stale_table.csv").exists()
    assert json.loads((out / "framework.json").read_text())["maturity"]
    assert _leftovers(tmp_path) == []


def test_discover_into_a_new_nested_folder(tmp_path, dataset, quick):
    out = tmp_path / "a" / "b" / "run"
    discover(dataset, out, progress=False, report=False)
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert _leftovers(out.parent) == []


def test_report_is_built_inside_the_new_run(tmp_path, dataset, quick):
    out = tmp_path / "my_run"
    discover(dataset, out, progress=False, report=True)
    assert {p.name for p in out.iterdir()} == RUN_FILES | {"report.html"}
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "my_run" in text and ".tmp-" not in text  # the staging folder has the run's name
    assert _leftovers(tmp_path) == []


def _boom(exc):
    def raise_(*args, **kwargs):
        raise exc

    return raise_


@pytest.mark.parametrize(
    ("target", "exc", "expected", "message"),
    [
        ("write_accounts_csv", KeyboardInterrupt(), KeyboardInterrupt, None),
        ("write_accounts_csv", RuntimeError("bug"), RuntimeError, "bug"),
        (
            "write_accounts_csv",
            PermissionError(13, "Permission denied", "x.csv"),
            RunFolderError,
            r"cannot write the run folder --out .*run: x.csv: Permission denied",
        ),
        ("write_csv", OSError(28, "No space left on device"), RunFolderError, "No space left"),
        ("report", KeyboardInterrupt(), KeyboardInterrupt, None),
    ],
)
def test_failed_or_interrupted_write_leaves_the_previous_run(
    tmp_path, dataset, quick, monkeypatch, target, exc, expected, message
):
    out = tmp_path / "run"
    discover(dataset, out, progress=False, report=False)
    (out / "note.txt").write_text("from the previous run")
    before = _snapshot(out)
    if target == "report":
        import milestone_discovery.report as report_module

        monkeypatch.setattr(report_module, "write_report", _boom(exc))
    else:
        monkeypatch.setattr(study_module, target, _boom(exc))
    with pytest.raises(expected, match=message):
        discover(dataset, out, progress=False, report=True)
    assert _snapshot(out) == before
    assert _leftovers(tmp_path) == []


def test_an_unreadable_dataset_is_a_user_error(tmp_path, dataset, monkeypatch, capsys):
    denied = PermissionError(13, "Permission denied", str(dataset / "accounts.csv"))
    monkeypatch.setattr(study_module, "load_dataset", _boom(denied))
    with pytest.raises(
        FileAccessError, match=r"cannot read the dataset .*accounts.csv: Permission"
    ):
        discover(dataset, tmp_path / "run", progress=False, report=False)
    assert main(["discover", str(dataset), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "milestones discover: error: cannot read the dataset" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_failure_before_any_previous_run_leaves_nothing(tmp_path, dataset, quick, monkeypatch):
    monkeypatch.setattr(study_module, "write_accounts_csv", _boom(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        discover(dataset, tmp_path / "run", progress=False, report=False)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_swap_puts_the_previous_run_back(tmp_path, dataset, quick, monkeypatch):
    out = tmp_path / "run"
    discover(dataset, out, progress=False, report=False)
    before = _snapshot(out)
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name == "run" and ".tmp-" in Path(src).parent.name:  # new run into place
            raise OSError(18, "Invalid cross-device link")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(RunFolderError, match="cannot move the new run into --out"):
        discover(dataset, out, progress=False, report=False)
    monkeypatch.undo()
    assert _snapshot(out) == before
    assert _leftovers(tmp_path) == []


def test_a_previous_run_that_cannot_be_put_back_is_kept(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "framework.json").write_text("previous")
    real_rename = os.rename

    def rename(src, dst):
        if Path(dst).name == "run":  # new run into place, and putting the previous one back
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(RunFolderError, match=r"could not be put back and is kept in .*previous"):
        with RunFolder(out) as folder:
            (folder.path / "framework.json").write_text("new")
    monkeypatch.undo()
    kept = list(tmp_path.glob(".run.tmp-*/run.previous/framework.json"))
    assert [p.read_text() for p in kept] == ["previous"]
    assert not (tmp_path / ".run.lock").exists()


# ----------------------------------------------------------------------------- lock
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_run_into_the_same_folder_exits_2(tmp_path, dataset, quick, capsys):
    out = tmp_path / "run"
    with RunFolder(out, inputs=[dataset]) as first:
        (first.path / "framework.json").write_text("{}")
        code = main(["discover", str(dataset), "--out", str(out), "--quiet", "--no-report"])
        assert code == 2
        err = capsys.readouterr().err
        assert re.search(
            rf"^milestones discover: error: another run is writing to --out {re.escape(str(out))} "
            rf"\(process {os.getpid()} on .*lock file .*\.run\.lock\)",
            err,
            re.M,
        )
    assert {p.name for p in out.iterdir()} == {"framework.json"}  # only the first run's files
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("content", ["{pid} {host}\n", "{pid}\n", "", "garbage"])
def test_a_stale_lock_is_taken_over(tmp_path, dataset, quick, content):
    import socket

    lock = tmp_path / ".run.lock"
    lock.write_text(content.format(pid=_dead_pid(), host=socket.gethostname()))
    os.utime(lock, (0, 0))  # long ago: an empty lock is not one being written just now
    discover(dataset, tmp_path / "run", progress=False, report=False)
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "content", ["{pid} {host}\n", "1 some-other-machine\n", ""], ids=["alive", "remote", "fresh"]
)
def test_a_live_lock_is_respected(tmp_path, content):
    import socket

    (tmp_path / ".run.lock").write_text(content.format(pid=os.getpid(), host=socket.gethostname()))
    with (
        pytest.raises(RunFolderError, match="another run is writing to --out"),
        RunFolder(tmp_path / "run"),
    ):
        pass
    assert (tmp_path / ".run.lock").exists() and not (tmp_path / "run").exists()


def test_a_killed_swap_is_repaired(tmp_path):
    """A run killed between 'old run aside' and 'new run in' left its staging folder."""
    staging = tmp_path / f".run.tmp-{_dead_pid()}"
    (staging / "run.previous").mkdir(parents=True)
    (staging / "run.previous" / "framework.json").write_text("previous")
    (staging / "run").mkdir()
    (staging / "run" / "framework.json").write_text("half")
    with pytest.raises(KeyboardInterrupt), RunFolder(tmp_path / "run"):
        raise KeyboardInterrupt
    assert (tmp_path / "run" / "framework.json").read_text() == "previous"
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- data-derived names
def test_table_names_from_data_are_slugged_and_unique(tmp_path, dataset, quick, monkeypatch):
    long_name = "maturity_scan__" + "Category " * 34  # > 300 characters
    scan = pd.DataFrame({"threshold": [1, 2], "lift": [-0.5, 1.25]})
    extra = {
        "maturity_scan__support/ops": scan,
        "maturity_scan__support_ops": scan.assign(lift=[9.0, 9.0]),
        long_name: scan,
        "maturity_scan__=cmd|' /C calc'!A0": pd.DataFrame(
            {"category": ["=cmd|' /C calc'!A0", "@SUM(1)", "fine"], "lift": [-1.0, 0.5, 2.0]}
        ),
    }
    real = study_module.stage_tables
    monkeypatch.setattr(study_module, "stage_tables", lambda s: {**real(s), **extra})
    out = tmp_path / "run"
    discover(dataset, out, progress=False, report=False)
    files = {p.name for p in (out / "tables").iterdir()}
    assert {"maturity_scan__support_ops.csv", "maturity_scan__support_ops-2.csv"} <= files
    assert all(re.fullmatch(r"[a-z0-9_-]{1,60}\.csv", name) for name in files), files
    mapping = json.loads((out / "run.json").read_text())["tables"]
    assert mapping["tables/maturity_scan__support_ops-2.csv"] == "maturity_scan__support_ops"
    assert long_name in mapping.values() and len(mapping) == len(files)
    injected = next(f for f, name in mapping.items() if name.startswith("maturity_scan__=cmd"))
    text = (out / injected).read_text(encoding="utf-8")
    assert "'=cmd|' /C calc'!A0" in text and "'@SUM(1)" in text
    assert pd.read_csv(out / injected)["lift"].tolist() == [-1.0, 0.5, 2.0]
