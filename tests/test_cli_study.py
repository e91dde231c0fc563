"""Tests of the study commands of the CLI: ``discover``, ``score`` and ``compare``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re

import pandas as pd
import pytest

from milestone_discovery.cli import main
from milestone_discovery.synth import make_synthetic

FAST = """\
[study]
temporal_validation = false

[features]
n_estimators = 25
n_repeats = 1
shap_sample = 50

[maturity]
n_bootstrap = 30

[journey]
n_bootstrap = 30
"""


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Two ``milestones discover --seed 5`` runs of the same 900-account synthetic dataset.

    The ``dominant`` preset: one strong driver makes findings likely at this size, so the
    run folder has categories and a maturity rule to write and compare.

    Returns the dataset folder, both run folders and what the first run printed (stdout, stderr).
    """
    root = tmp_path_factory.mktemp("cli_study")
    data = make_synthetic(900, seed=5, scenario="dominant").write(root / "data", fmt="csv")
    config = root / "fast.toml"
    config.write_text(FAST)
    runs, printed = [], []
    for name in ("run_1", "run_2"):
        out = root / name
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(
                [
                    "discover",
                    str(data),
                    "--out",
                    str(out),
                    "--config",
                    str(config),
                    "--seed",
                    "5",
                    "--no-report",
                    "--quiet",
                ]
            )
        assert code == 0, stderr.getvalue()
        runs.append(out)
        printed.append((stdout.getvalue(), stderr.getvalue()))
    return data, runs, printed[0]


def test_discover_writes_the_run_folder(cli_runs):
    data, (run, _), _ = cli_runs
    assert {p.name for p in run.iterdir()} == {
        "framework.json",
        "features.csv",
        "accounts.csv",
        "run.json",
        "tables",
    }
    fw = json.loads((run / "framework.json").read_text())
    assert fw["schema_version"] == 2 and fw["seed"] == 5
    assert fw["maturity"]["categories"] and fw["activation"]["threshold"] > 0
    features = pd.read_csv(run / "features.csv")
    assert {"feature", "status", "reason", "prevalence", "importance"} <= set(features.columns)
    assert set(features["feature"]) == {f["feature"] for f in fw["features"]}
    assert (features["status"] == "selected").sum() == sum(
        f["status"] == "selected" for f in fw["features"]
    )
    accounts = pd.read_csv(run / "accounts.csv", dtype={"account_id": str})
    assert len(accounts) == 900 and accounts["account_id"].is_unique
    assert {"stage", "next_step", "eligible", "mature"} <= set(accounts.columns)
    tables = {p.name for p in (run / "tables").glob("*.csv")}
    assert {
        "exclusions.csv",
        "population.csv",
        "model_metrics.csv",
        "maturity_categories.csv",
        "funnel.csv",
        "activation_scan.csv",
        "utilization_scan.csv",
        "setup_steps.csv",
        "journey_exclusions.csv",
    } <= tables
    for name in tables:
        assert len(pd.read_csv(run / "tables" / name)) > 0, name


def test_run_json_is_enough_to_rerun(cli_runs):
    data, (run, _), _ = cli_runs
    info = json.loads((run / "run.json").read_text())
    assert info["dataset"] == str(data)
    assert info["config"]["study"]["seed"] == 5  # --seed overrides the config file
    assert info["config"]["features"]["n_estimators"] == 25  # the config file was applied
    versions = info["versions"]
    assert re.fullmatch(r"3\.\d+\.\d+", versions["python"])
    for package in ("milestone_discovery", "numpy", "pandas", "scikit-learn", "scipy"):
        assert versions[package], package
    files = sorted(p.name for p in data.iterdir() if p.suffix in (".csv", ".parquet"))
    assert sorted(info["input_fingerprint"]) == files
    for name, fp in info["input_fingerprint"].items():
        content = (data / name).read_bytes()
        assert fp["sha256"] == hashlib.sha256(content).hexdigest()
        assert fp["bytes"] == len(content)
    timings = info["timings_seconds"]
    assert {"population", "features", "maturity", "journey", "scoring", "total"} <= set(timings)
    assert all(v >= 0 for v in timings.values())
    assert timings["total"] >= timings["features"]


def test_same_seed_gives_byte_identical_outputs(cli_runs):
    _, (a, b), _ = cli_runs
    assert (a / "framework.json").read_bytes() == (b / "framework.json").read_bytes()
    assert (a / "accounts.csv").read_bytes() == (b / "accounts.csv").read_bytes()
    # features.csv: the same statistics; importances of ~0 can differ by ~1e-17 between runs
    # (parallel forest predictions sum trees in any order), which may reorder ties
    fa, fb = (
        pd.read_csv(r / "features.csv").sort_values("feature", ignore_index=True) for r in (a, b)
    )
    pd.testing.assert_frame_equal(fa, fb, check_exact=False, rtol=0, atol=1e-12)


def test_discover_prints_a_summary(cli_runs):
    _, (run, _), (out, err) = cli_runs
    assert re.search(
        r"^study of \d+ eligible accounts \(retention \d+\.\d%\); \d+ features selected$", out, re.M
    )
    assert re.search(r"^  mature overall: >= \d+ categories", out, re.M)
    assert re.search(r"^  activation: >= \d+ conversations in months 0-2$", out, re.M)
    assert f"outputs in {run}/: accounts.csv, features.csv, framework.json, run.json, tables" in out
    assert err == ""  # --quiet: no progress bars


def test_compare_prints_the_summary(cli_runs, capsys, tmp_path):
    _, (a, b), _ = cli_runs
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Comparing {a} (A) with {b} (B):")
    assert "selected features and categories: unchanged" in out
    assert "thresholds: unchanged" in out
    assert "retention lift by milestone:" in out and "mature overall" in out
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {
        "compare_features.csv",
        "compare_thresholds.csv",
        "compare_lifts.csv",
        "compare_hazard_ratios.csv",
        "compare_segments.csv",
        "compare_expansion.csv",
        "compare_windows.csv",
    }


def test_compare_reports_a_moved_threshold(cli_runs, capsys, tmp_path):
    _, (a, _), _ = cli_runs
    fw = json.loads((a / "framework.json").read_text())
    fw["activation"]["threshold"] = fw["activation"]["threshold_ci"][1] + 50
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "framework.json").write_text(json.dumps(fw))
    assert main(["compare", str(a), str(tmp_path / "b")]) == 0
    assert "threshold activation: conversations:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["score", "{tmp}/missing.json", "{data}", "--out", "{tmp}/s.csv"],
            "framework file not found: .*missing.json",
        ),
        (
            ["score", "{tmp}/bad.json", "{data}", "--out", "{tmp}/s.csv"],
            "framework is not valid JSON",
        ),
        (
            ["compare", "{tmp}/cmp_missing", "{tmp}"],
            r".*cmp_missing is not a run folder: no framework.json",
        ),
    ],
)
def test_user_errors_exit_2_with_a_message(cli_runs, tmp_path, capsys, args, message):
    data, _, _ = cli_runs
    (tmp_path / "bad.json").write_text("{oops")
    command = args[0]
    assert main([a.format(tmp=tmp_path, data=data) for a in args]) == 2
    out, err = capsys.readouterr()
    assert re.search(rf"^milestones {command}: error: {message}", err, re.M)
    assert "--debug" in err
    assert "Traceback" not in out + err
    assert not (tmp_path / "s.csv").exists()


def test_discover_with_too_few_accounts_exits_2(tmp_path, capsys):
    data = make_synthetic(100, seed=1).write(tmp_path / "small", fmt="csv")
    out_dir = tmp_path / "run"
    assert main(["discover", str(data), "--out", str(out_dir), "--no-report", "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert re.search(
        r"^milestones discover: error: only \d+ eligible accounts .*\(need at least 200\)",
        err,
        re.M,
    )
    assert "churned_in_window=" in err and "too_young=" in err  # says why accounts were left out
    assert "Traceback" not in out + err
    assert not out_dir.exists()  # nothing half-written


def test_score_writes_accounts(cli_runs, tmp_path, capsys):
    data, (run, _), _ = cli_runs
    out = tmp_path / "nested" / "scored.csv"
    assert main(["score", str(run / "framework.json"), str(data), "--out", str(out)]) == 0
    assert out.read_bytes() == (run / "accounts.csv").read_bytes()
    printed = capsys.readouterr().out
    assert f"scored 900 accounts with {run / 'framework.json'}: {out}" in printed
